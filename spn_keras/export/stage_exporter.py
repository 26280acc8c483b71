"""`StageExporter`: one stage (`SliceDecoder` or `SubscalePixelNetwork`) as a SavedModel."""

import tensorflow as tf

from spn_keras.export import common
from spn_keras.export import warmup_requests
from spn_keras.ops.likelihood import nats_to_bits_per_dim


class StageExporter:
  """Exports one stage as a SavedModel that TF Serving, or TensorFlow alone, can run.

  The stage is scored and sampled as a model of its own images (`H, W, C` and `bits` of its
  config), as its `log_prob` and `sample` methods do; a depth upscaler also takes
  `conditioning`, uint8 `(B, H, W, C)` holding the `conditioning_bits` most significant bits.
  The batch `B` is dynamic; values out of range (images, a temperature that is not positive
  and finite, `num_images` < 1, a negative seed) fail at run time with a message naming the
  input.

  - `log_prob` (also `serving_default`): `images (B, H, W, C)` [, `conditioning`] -> float32
    `(B,)` `bits_per_dim` (per dimension of the stage's images) and `nats`.
  - `sample`: `num_images` int32 `()` (a depth upscaler: `conditioning` instead, one image per
    conditioning image), `temperature` float32 `()`, `seed` int64 `()` -> uint8
    `images (B, H, W, C)`: the images of `model.sample(...)` for the seed (the cached
    sampler, run as a plain graph: see `common.SERVED_SAMPLER`).

  Assets: `export.json` (as for a pipeline, with `kind` "stage") and `<stage>.config.json`.

  Args:
    model: a `SliceDecoder` or `SubscalePixelNetwork`; built if it is not (random weights).
    name: the stage's name in the assets, e.g. "depth_upscaler".
  """

  def __init__(self, model, name="stage"):
    self.model = model
    self.name = name
    if not model.built:
      model.build()

  def _outputs(self, nats):
    return {"bits_per_dim": nats_to_bits_per_dim(nats, self.model.num_dims), "nats": nats}

  def functions(self):
    """The signatures as `tf.function`s with input signatures (traced on first use).

    Returns:
      `{"log_prob": tf.function, "sample": tf.function}`.
    """
    model = self.model
    images_spec = tf.TensorSpec((None,) + model.image_shape, tf.uint8, name="images")
    generation = [tf.TensorSpec([], tf.float32, name="temperature"),
                  tf.TensorSpec([], tf.int64, name="seed")]

    def images_of(images):
      return common.checked_values("images", images, model.bits)

    def checked_generation(temperature, seed):
      temperature = common.checked_temperatures(temperature[None], [self.name])[self.name]
      return temperature, common.checked_scalar("seed", seed, 0)

    if model.conditioning_bits:
      conditioning_spec = tf.TensorSpec((None,) + model.image_shape, tf.uint8,
                                        name="conditioning")

      def conditioning_of(conditioning):
        return common.checked_values("conditioning", conditioning, model.conditioning_bits)

      def log_prob(images, conditioning):
        return self._outputs(model.log_prob(images_of(images), conditioning_of(conditioning)))

      def sample(conditioning, temperature, seed):
        temperature, seed = checked_generation(temperature, seed)
        return {"images": model.sample(tf.shape(conditioning)[0], temperature, seed,
                                       conditioning=conditioning_of(conditioning),
                                       **common.SERVED_SAMPLER)}

      log_prob_specs, sample_specs = [images_spec, conditioning_spec], [conditioning_spec]
    else:

      def log_prob(images):
        return self._outputs(model.log_prob(images_of(images)))

      def sample(num_images, temperature, seed):
        temperature, seed = checked_generation(temperature, seed)
        return {"images": model.sample(num_images, temperature, seed, **common.SERVED_SAMPLER)}

      log_prob_specs = [images_spec]
      sample_specs = [tf.TensorSpec([], tf.int32, name="num_images")]
    return {
        "log_prob": tf.function(log_prob, input_signature=log_prob_specs, autograph=False),
        "sample": tf.function(sample, input_signature=sample_specs + generation,
                              autograph=False),
    }

  def export(self, path, version=1, overwrite=False, metadata=None, warmup=True):
    """Writes the SavedModel `<path>/<version>` (TF Serving's layout).

    Args:
      path: the model's base folder (TF Serving's model base path).
      version: positive int, the version folder.
      overwrite: replace an existing version folder (atomically); by default an existing one
        is an error.
      metadata: JSON-serializable dict stored in `export.json` (zoo name, dataset).
      warmup: also write TF Serving's warm-up records,
        `<version>/assets.extra/tf_serving_warmup_requests`: one request per signature on a
        batch of 1 (`spn_keras.export.warmup_requests`; needs the `serving` extra).

    Returns:
      The version folder written.

    Raises:
      ValueError: `version` is not a positive int.
      FileExistsError: the version folder exists and `overwrite` is False.
      ImportError: `warmup` without tensorflow-serving-api (before anything is traced).
    """
    model = self.model
    functions = self.functions()
    extra_files = warmup_requests.warmup_file(functions) if warmup else {}
    inputs = "images, conditioning" if model.conditioning_bits else "images"
    first = "conditioning" if model.conditioning_bits else "num_images"
    signatures = {"log_prob": f"{inputs} -> bits_per_dim, nats",
                  "sample": f"{first}, temperature, seed -> images",
                  "serving_default": "log_prob"}
    stages = {self.name: model}
    assets = common.export_assets("stage", stages, dict(metadata or {}), signatures,
                                  image_shape=list(model.image_shape), bits=model.bits,
                                  conditioning_bits=model.conditioning_bits)
    return common.write_saved_model(path, version, functions, "log_prob", assets, overwrite,
                                    extra_files)
