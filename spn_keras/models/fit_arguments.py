"""What a stage's Keras `compile`, `fit` and `evaluate` accept (`AutoregressiveImageModel`'s).

The loss is the stage's own likelihood, so `compile` takes no loss or metrics, and a batch is
images (with a depth upscaler's conditioning), its own target: no targets, no sample weights.
"""

import keras

# `keras.Model.compile` arguments a stage sets itself (its loss is its likelihood).
_COMPILE_ARGUMENTS_NOT_ACCEPTED = ("loss", "loss_weights", "metrics", "weighted_metrics")


def compile_arguments(class_name, kwargs):
  """The `keras.Model.compile` arguments `kwargs` less the loss and metrics ones, checked.

  Args:
    class_name: the stage's class name, for the message.
    kwargs: dict, `compile`'s keyword arguments.

  Returns:
    dict: `kwargs` without `loss`, `loss_weights`, `metrics` and `weighted_metrics`.

  Raises:
    ValueError: one of those four is given (not None).
  """
  fixed = [name for name in _COMPILE_ARGUMENTS_NOT_ACCEPTED if kwargs.get(name) is not None]
  if fixed:
    raise ValueError(f"{class_name}.compile does not take {', '.join(fixed)}: the loss is the "
                     f"model's negative log-likelihood, logged with `bits_per_dim`.")
  return {name: value for name, value in kwargs.items()
          if name not in _COMPILE_ARGUMENTS_NOT_ACCEPTED}


def fit_batch(class_name, data):
  """The images and conditioning of a batch given to `fit` or `evaluate`.

  Args:
    class_name: the stage's class name, for the message.
    data: what Keras gives `train_step` / `test_step`: an image batch `(B, H, W, C)` or a dict
      `{"images": ..., "conditioning": ...}` (conditioning for a depth upscaler only).

  Returns:
    `(images (B, H, W, C), conditioning (B, H, W, C) or None)`.

  Raises:
    ValueError: targets or sample weights are given; a dict with other keys.
  """
  x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
  if y is not None or sample_weight is not None:
    raise ValueError(f"{class_name} models images: `fit` and `evaluate` take image batches (or "
                     f"dicts with 'images' and 'conditioning'), without targets or sample "
                     f"weights.")
  if isinstance(x, dict):
    unknown = set(x) - {"images", "conditioning"}
    if "images" not in x or unknown:
      raise ValueError(f"A batch dict must have the key 'images' and, for a depth upscaler, "
                       f"'conditioning'; got keys {sorted(x)}.")
    return x["images"], x.get("conditioning")
  return x, None
