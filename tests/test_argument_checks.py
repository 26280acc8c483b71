import numpy as np
import pytest

from spn_keras.argument_checks import ArgumentError
from spn_keras.argument_checks import check_bool
from spn_keras.argument_checks import check_float
from spn_keras.argument_checks import check_increasing_ints
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


def test_a_refused_argument_is_a_value_error_that_says_what_was_expected():
  with pytest.raises(ArgumentError) as caught:
    check_int("steps", 0)
  assert isinstance(caught.value, ValueError)
  assert (caught.value.name, caught.value.expected, caught.value.value) == (
      "steps", "a positive int", 0)


def test_check_float_accepts_finite_numbers_in_range_and_returns_python_floats():
  assert check_float("rate", 3) == 3.0 and type(check_float("rate", 3)) is float
  assert check_float("rate", np.float32(0.5), 0, exclusive_minimum=True) == 0.5
  assert check_float("rate", np.int64(2), 0, 2) == 2.0
  assert check_float("momentum", 0, 0, 1, exclusive_maximum=True) == 0.0
  assert check_float("rate", -1e300) == -1e300
  assert check_float("rate", None, 0, allow_none=True) is None


@pytest.mark.parametrize("value, kwargs, message", [
    (float("nan"), {}, "`x` must be a finite number, got nan."),
    (float("inf"), dict(minimum=0), "`x` must be a finite number >= 0, got inf."),
    (np.float32("-inf"), dict(maximum=0),
     r"`x` must be a finite number <= 0, got np.float32\(-inf\)."),
    (0.0, dict(minimum=0, exclusive_minimum=True), "`x` must be a finite number > 0, got 0.0."),
    (-1e-9, dict(minimum=0), "`x` must be a finite number >= 0, got -1e-09."),
    (1, dict(maximum=1, exclusive_maximum=True), "`x` must be a finite number < 1, got 1."),
    (1.0, dict(minimum=0, maximum=1, exclusive_maximum=True),
     r"`x` must be a finite number in \[0, 1\), got 1.0."),
    (0, dict(minimum=0, maximum=1, exclusive_minimum=True),
     r"`x` must be a finite number in \(0, 1\], got 0."),
    (True, {}, "`x` must be a finite number, got True."),
    (np.bool_(False), {}, "`x` must be a finite number, got np.False_."),
    ("1e-3", {}, "`x` must be a finite number, got '1e-3'."),
    ([1.0], {}, r"`x` must be a finite number, got \[1.0\]."),
    (None, {}, "`x` must be a finite number, got None."),
    (-1.0, dict(minimum=0, exclusive_minimum=True, allow_none=True),
     "`x` must be a finite number > 0 or None, got -1.0."),
])
def test_check_float_refuses_with_a_message_naming_the_argument(value, kwargs, message):
  with pytest.raises(ArgumentError, match=message):
    check_float("x", value, **kwargs)


def test_check_increasing_ints():
  assert check_increasing_ints("steps", ()) == ()
  assert check_increasing_ints("steps", [1, np.int64(5), 9]) == (1, 5, 9)
  assert check_increasing_ints("steps", (0, 3), minimum=0) == (0, 3)


@pytest.mark.parametrize("values", [(5, 5), (10, 5), (0, 5), (1, 2.5), (1, True), "12", 3,
                                    None])
def test_check_increasing_ints_refuses_with_a_message_naming_the_argument(values):
  with pytest.raises(ArgumentError, match=r"`steps` must be a tuple of strictly increasing "
                                          r"ints >= 1, got "):
    check_increasing_ints("steps", values)


def test_check_bool():
  assert check_bool("flag", True) is True and check_bool("flag", np.bool_(False)) is False
  for value in (1, 0, "false", None):
    with pytest.raises(ArgumentError, match=f"`flag` must be True or False, got {value!r}."):
      check_bool("flag", value)
