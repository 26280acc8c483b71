"""Argument validation shared by the layers, models, data pipelines and tools.

Bad input gets a `ValueError` that names the argument and says what was expected.
"""

import numpy as np


def check_int(name, value, minimum=1, maximum=None, allow_none=False):
  """Returns `value` as an int if it is an int in `[minimum, maximum]`; raises otherwise.

  Booleans are refused (`True` is an `int` in Python, never a meaningful size); numpy integers
  are accepted.

  Args:
    name: the argument's name, quoted in the error.
    value: the value to check.
    minimum: the smallest allowed value.
    maximum: the largest allowed value, or None for no bound.
    allow_none: accept None (and return it).

  Returns:
    `int(value)`, or None when `value` is None and `allow_none`.

  Raises:
    ValueError: `value` is not an int in range.
  """
  if value is None and allow_none:
    return None
  is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
  if is_int and value >= minimum and (maximum is None or value <= maximum):
    return int(value)
  if maximum is not None:
    expected = f"an int in [{minimum}, {maximum}]"
  elif minimum == 1:
    expected = "a positive int"
  else:
    expected = f"an int >= {minimum}"
  if allow_none:
    expected += " or None"
  raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
