"""Argument validation shared by the layers, models, data pipelines and tools.

Bad input gets a `ValueError` (an `ArgumentError`) that names the argument and says what was
expected.
"""

import math
import numbers

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
    ArgumentError: `value` is not an int in range (a `ValueError`).
  """
  if value is None and allow_none:
    return None
  if _is_int(value) and value >= minimum and (maximum is None or value <= maximum):
    return int(value)
  if maximum is not None:
    expected = f"an int in [{minimum}, {maximum}]"
  elif minimum == 1:
    expected = "a positive int"
  else:
    expected = f"an int >= {minimum}"
  if allow_none:
    expected += " or None"
  raise ArgumentError(name, expected, value)


class ArgumentError(ValueError):
  """A refused argument: "`name` must be <expected>, got <value>."

  A command-line tool can say the same of the flag that set the argument.

  Attributes:
    name: the argument's name.
    expected: what it must be, e.g. "a positive int".
    value: what it was.
  """

  def __init__(self, name, expected, value):
    super().__init__(f"`{name}` must be {expected}, got {value!r}.")
    self.name = name
    self.expected = expected
    self.value = value


def _is_int(value):
  """Whether `value` is a Python or numpy int (booleans are not)."""
  return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_float(name, value, minimum=None, maximum=None, exclusive_minimum=False,
                exclusive_maximum=False, allow_none=False):
  """Returns `value` as a float if it is a finite real number in range; raises otherwise.

  Python and numpy ints and floats are accepted; booleans, strings, NaN and infinities are
  refused.

  Args:
    name: the argument's name, quoted in the error.
    value: the value to check.
    minimum: the smallest allowed value, or None for no bound.
    maximum: the largest allowed value, or None for no bound.
    exclusive_minimum: `value` must be greater than `minimum`, not equal to it.
    exclusive_maximum: `value` must be less than `maximum`, not equal to it.
    allow_none: accept None (and return it).

  Returns:
    `float(value)`, or None when `value` is None and `allow_none`.

  Raises:
    ArgumentError: `value` is not a finite number in range.
  """
  if value is None and allow_none:
    return None
  is_real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
  if is_real and math.isfinite(value):
    above = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    below = maximum is None or (value < maximum if exclusive_maximum else value <= maximum)
    if above and below:
      return float(value)
  if minimum is not None and maximum is not None:
    expected = (f"a finite number in {'(' if exclusive_minimum else '['}{minimum}, "
                f"{maximum}{')' if exclusive_maximum else ']'}")
  elif minimum is not None:
    expected = f"a finite number {'>' if exclusive_minimum else '>='} {minimum}"
  elif maximum is not None:
    expected = f"a finite number {'<' if exclusive_maximum else '<='} {maximum}"
  else:
    expected = "a finite number"
  if allow_none:
    expected += " or None"
  raise ArgumentError(name, expected, value)


def check_increasing_ints(name, values, minimum=1):
  """Returns `values` as a tuple of ints if they strictly increase from `minimum` or more.

  Args:
    name: the argument's name, quoted in the error.
    values: a tuple or list (possibly empty) of Python or numpy ints.
    minimum: the smallest allowed value.

  Returns:
    The values, a tuple of Python ints.

  Raises:
    ArgumentError: `values` is not a tuple or list of strictly increasing ints >= `minimum`.
  """
  if (isinstance(values, (tuple, list)) and all(_is_int(value) for value in values)
      and all(value >= minimum for value in values)
      and all(low < high for low, high in zip(values, values[1:]))):
    return tuple(int(value) for value in values)
  raise ArgumentError(name, f"a tuple of strictly increasing ints >= {minimum}", values)


def check_bool(name, value):
  """Returns `value` as a bool if it is a Python or numpy bool; raises otherwise.

  Raises:
    ArgumentError: `value` is not a bool (an int or a string such as "false" is refused).
  """
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  raise ArgumentError(name, "True or False", value)


SEED_RANGE = 2**63  # seeds are int64 in the stateless random ops


def check_seed(name, value, allow_none=True):
  """Returns `value` as an int if it is an int seed in `[0, 2**63)`; raises otherwise.

  A float (`1.5`), a string, a list or an int too large for int64 is refused rather than
  truncated or misread.

  Args:
    name: the argument's name, quoted in the error.
    value: the value to check.
    allow_none: accept None (a seed drawn at random; returned as None).

  Returns:
    `int(value)`, or None.

  Raises:
    ArgumentError: `value` is not such an int.
  """
  if value is None and allow_none:
    return None
  if _is_int(value) and 0 <= value < SEED_RANGE:
    return int(value)
  raise ArgumentError(name, "an int in [0, 2**63)" + (" or None" if allow_none else ""), value)


def check_channels(name, value, allow_none=False):
  """Returns `value` as an int if it is 1 (gray) or 3 (RGB); raises otherwise (`True` too).

  Raises:
    ArgumentError: `value` is not 1 or 3.
  """
  if value is None and allow_none:
    return None
  if _is_int(value) and value in (1, 3):
    return int(value)
  raise ArgumentError(name, "1 (gray) or 3 (RGB)" + (" or None" if allow_none else ""), value)
