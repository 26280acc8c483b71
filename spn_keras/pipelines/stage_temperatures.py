"""`stage_temperatures`: the sampling temperature of each stage, from the forms that
`Pipeline.sample` and `Pipeline.upscale` accept."""

import numbers

import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_float


def _as_temperature(value, name="temperatures"):
  """A positive finite float, or a scalar float tensor as it is (a temperature input of a
  traced graph, checked when it runs)."""
  if tf.is_tensor(value):
    return value
  if isinstance(value, np.ndarray) and value.ndim == 0:  # np.array(0.9): a number too
    value = value.item()
  return check_float(name, value, minimum=0, exclusive_minimum=True)


def _is_number(value):
  return isinstance(value, (numbers.Real, np.number)) or (
      isinstance(value, np.ndarray) and value.ndim == 0)


def stage_temperatures(names, temperatures):
  """`{stage: T}` for the stages `names`.

  Args:
    names: list of the pipeline's stage names, in generation order.
    temperatures: one positive number (or scalar tensor) for every stage, a sequence with one
      per stage in `names`' order, or a dict `{stage: T}` (missing stages: 1.0). Scalar
      tensors (the inputs of a traced graph) are kept as they are.

  Returns:
    dict `{name: float or scalar tensor}` with one entry per name.

  Raises:
    ValueError: a temperature that is not positive and finite, a sequence of the wrong length
      or a dict naming other stages.
    TypeError: `temperatures` has none of these forms.
  """
  if _is_number(temperatures) or (tf.is_tensor(temperatures) and temperatures.shape.rank == 0):
    value = _as_temperature(temperatures)
    return {name: value for name in names}
  if isinstance(temperatures, dict):
    unknown = set(temperatures) - set(names)
    if unknown:
      raise ValueError(f"`temperatures` names unknown stages {sorted(unknown)}; "
                       f"stages are {names}.")
    return {name: _as_temperature(temperatures.get(name, 1.0), f"temperatures[{name!r}]")
            for name in names}
  if not isinstance(temperatures, (tuple, list, np.ndarray)):
    raise TypeError(f"`temperatures` must be a positive number, a sequence of one per stage "
                    f"{names}, or a dict {{stage: T}}, got {temperatures!r}.")
  if len(temperatures) != len(names):
    raise ValueError(f"`temperatures` must have one value per stage {names}, "
                     f"got {len(temperatures)}.")
  return {name: _as_temperature(value, f"temperatures[{i}] ({name})")
          for i, (name, value) in enumerate(zip(names, temperatures))}
