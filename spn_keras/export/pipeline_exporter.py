"""`PipelineExporter`: a `Pipeline` as a SavedModel for TF Serving."""

import numpy as np
import tensorflow as tf

from spn_keras.export import common
from spn_keras.export import warmup_requests
from spn_keras.ops.likelihood import nats_to_bits_per_dim

UPSCALE_SIGNATURES = ("upscale", "upscale_depth")


class PipelineExporter:
  """Exports a `Pipeline` as a SavedModel that TF Serving, or TensorFlow alone, can run.

  Each signature is one traced graph over a dynamic batch `B`. Images are uint8 holding values
  of the pipeline's `bits` (plain 8-bit images for an 8-bit pipeline); values out of range
  fail at run time with a message naming the input.

  - `log_prob` (also `serving_default`): `images (B, H, W, C)` -> float32 `(B,)`
    `<stage>_bits_per_dim` and `<stage>_nats` for every stage and for `total`: what
    `Pipeline.bits_per_dim` and `Pipeline.log_prob` return.
  - `sample`: `num_images` int32 `()` (at least 1), `temperatures` float32 `(num_stages,)`
    (one per stage, in generation order), `seed` int64 `()` (at least 0) ->
    `images (num_images, H, W, C)`: the images of `Pipeline.sample(num_images, temperatures,
    seed)`, the same for a seed.
  - `upscale`: `images` of the first shape of `Pipeline.upscale_shapes` (the slice size when
    the pipeline has a size upscaler, else the full size), `temperatures` (one per stage it
    runs, `stages_run("upscale")`: the size and depth upscalers of an MDU pipeline), `seed`
    -> `images (B, H, W, C)`: `Pipeline.upscale(images, temperatures=..., seed=...)`.
  - `upscale_depth`: the same for full-size images, when the pipeline upscales both (it has a
    size and a depth upscaler); one temperature, the depth upscaler's.

  Inputs are checked when a signature runs (TF Serving does not hold a request to the
  signature's shapes): a wrong number of temperatures, a temperature that is not positive
  and finite, `num_images` < 1, a negative seed or values out of range fail with an
  `InvalidArgument` error whose message names the input and what it must be.

  Sampling runs the cached sampler inside the graph (as a plain graph, not XLA-compiled:
  `common.SERVED_SAMPLER`): the graph calls each stage's slice program once per slice, and
  draws the stateless Gumbel noise of `seed` with the shapes the Python sampler uses, so a
  served `sample` gives the images of `Pipeline.sample` for the same seed.

  Assets: `export.json` (format, package, TensorFlow and Keras versions, the zoo name, the
  pipeline's metadata, its stages, image shape, bits and signatures) and `<stage>.config.json`
  for every stage (its `config.json` in a pipeline folder).

  Args:
    pipeline: a `Pipeline`; stages that are not built are built (random weights).
  """

  def __init__(self, pipeline):
    self.pipeline = pipeline
    for model in pipeline.stages.values():
      if not model.built:
        model.build()

  def stages_run(self, signature):
    """The stages a sampling signature runs, in generation order: one temperature each.

    Args:
      signature: "sample", "upscale" or "upscale_depth".

    Returns:
      list of stage names: every stage for `sample`; for `upscale` and `upscale_depth` the
      steps of `Pipeline.upscale_plan` for their input shape (the stages after the slice
      decoder; the depth upscaler).
    """
    pipeline = self.pipeline
    if signature == "sample":
      return list(pipeline.stages)
    shape = dict(zip(UPSCALE_SIGNATURES, pipeline.upscale_shapes))[signature]
    return pipeline.upscale_plan(shape).stage_names

  def _log_prob(self, images):
    pipeline = self.pipeline
    nats = pipeline.log_prob(common.checked_values("images", images, pipeline.bits))
    outputs = {}
    for name, value in nats.items():
      outputs[f"{name}_bits_per_dim"] = nats_to_bits_per_dim(value, pipeline.num_dims)
      outputs[f"{name}_nats"] = value
    return outputs

  def _sample(self, num_images, temperatures, seed):
    temperatures = common.checked_temperatures(temperatures, self.stages_run("sample"))
    # `num_images` < 1 is refused by the stages' own check.
    return {"images": self.pipeline.sample(num_images, temperatures,
                                           common.checked_scalar("seed", seed, 0),
                                           **common.SERVED_SAMPLER)}

  def _upscaler(self, signature):
    """The traced function of an upscaling signature, which runs `stages_run(signature)`."""

    def upscale(images, temperatures, seed):
      images = common.checked_values("images", images, self.pipeline.bits)
      temperatures = common.checked_temperatures(temperatures, self.stages_run(signature))
      return {"images": self.pipeline.upscale(images, temperatures=temperatures,
                                              seed=common.checked_scalar("seed", seed, 0),
                                              **common.SERVED_SAMPLER)}

    return upscale

  def functions(self):
    """The signatures as `tf.function`s with input signatures (traced on first use).

    Returns:
      `{signature name: tf.function}`: `log_prob`, `sample` and the `upscale` signatures the
      pipeline has (see the class docstring).
    """
    pipeline = self.pipeline
    # Any length: `common.checked_temperatures` refuses a wrong count with a clear message.
    generation = [tf.TensorSpec([None], tf.float32, name="temperatures"),
                  tf.TensorSpec([], tf.int64, name="seed")]
    functions = {
        "log_prob": tf.function(self._log_prob, autograph=False, input_signature=[
            tf.TensorSpec((None,) + pipeline.image_shape, tf.uint8, name="images")]),
        "sample": tf.function(self._sample, autograph=False, input_signature=[
            tf.TensorSpec([], tf.int32, name="num_images")] + generation),
    }
    for name, shape in zip(UPSCALE_SIGNATURES, pipeline.upscale_shapes):
      functions[name] = tf.function(self._upscaler(name), autograph=False, input_signature=[
          tf.TensorSpec((None,) + shape, tf.uint8, name="images")] + generation)
    return functions

  def export(self, path, version=1, overwrite=False, metadata=None, warmup=True):
    """Writes the SavedModel `<path>/<version>` (TF Serving's layout).

    Args:
      path: the model's base folder (TF Serving's model base path).
      version: positive int, the version folder.
      overwrite: replace an existing version folder (atomically); by default an existing one
        is an error.
      metadata: JSON-serializable dict merged over `pipeline.metadata` in `export.json`.
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
    pipeline = self.pipeline
    functions = self.functions()
    extra_files = {}
    if warmup:
      # One temperature per stage a sampling signature runs (the spec's length is open).
      extra_files = warmup_requests.warmup_file(functions, {
          name: {"temperatures": np.ones(len(self.stages_run(name)), np.float32)}
          for name in functions if name != "log_prob"})
    upscale = {name: f"images {shape} -> images" for name, shape in
               zip(UPSCALE_SIGNATURES, pipeline.upscale_shapes)}
    signatures = {
        "log_prob": "images -> <stage>_bits_per_dim, <stage>_nats (stages and total)",
        "sample": "num_images, temperatures (one per stage), seed -> images",
        **upscale,
        "serving_default": "log_prob",
    }
    assets = common.export_assets(
        "pipeline", pipeline.stages, {**pipeline.metadata, **(metadata or {})}, signatures,
        image_shape=list(pipeline.image_shape), bits=pipeline.bits, low_bits=pipeline.low_bits)
    return common.write_saved_model(path, version, functions, "log_prob", assets, overwrite,
                                    extra_files)
