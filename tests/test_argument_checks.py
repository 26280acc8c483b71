import numpy as np
import pytest

from spn_keras.argument_checks import check_int


def test_accepts_ints_in_range_and_returns_python_ints():
  assert check_int("n", 3) == 3
  assert check_int("n", np.int64(3)) == 3 and type(check_int("n", np.int64(3))) is int
  assert check_int("n", 0, minimum=0) == 0
  assert check_int("bits", 8, 1, 8) == 8
  assert check_int("n", None, allow_none=True) is None


@pytest.mark.parametrize("value, kwargs, message", [
    (0, {}, "`n` must be a positive int, got 0."),
    (True, {}, "`n` must be a positive int, got True."),
    (2.0, {}, "`n` must be a positive int, got 2.0."),
    ("2", {}, "`n` must be a positive int, got '2'."),
    (None, {}, "`n` must be a positive int, got None."),
    (-1, dict(minimum=0), "`n` must be an int >= 0, got -1."),
    (9, dict(minimum=1, maximum=8), r"`n` must be an int in \[1, 8\], got 9."),
    (0, dict(allow_none=True), "`n` must be a positive int or None, got 0."),
])
def test_refuses_with_a_message_naming_the_argument(value, kwargs, message):
  with pytest.raises(ValueError, match=message):
    check_int("n", value, **kwargs)
