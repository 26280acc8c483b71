"""`AutoregressiveImageModel`: the exact likelihood and training shared by every SPN stage.

A stage models `D`-bit images `(H, W, C)` cut into `S*S` slices (`S = 1` for a plain slice
decoder). Subclasses provide three pieces:
- `_slice_context(slices, target, conditioning_slices)`: conditioning-network features for the
  target slice, computed from the slices before it (and the low-depth image), or None;
- `_decode(target_values, context)`: float32 logits `(B, h, w, C, 2**D)` of the target slice
  under teacher forcing;
- `_slice_decoder()`: the `SliceDecoder` that generates each slice (for the samplers).
The exact `log_prob`, `bits_per_dim`, the unbiased training loss and Keras's `compile` / `fit`
/ `evaluate` on that loss are defined here once, from the chain rule over slices, pixels and
channels; sampling and the codec's program (`sample`, `code_slices`, ...) are inherited from
`spn_keras.sampling.StageSampling`.
"""

import random

import keras
from keras import ops
import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_int
from spn_keras.layers import SubscaleSlicer
from spn_keras.models import fit_arguments
from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import nats_to_bits_per_dim
from spn_keras.ops.random_streams import replica_target_slices
from spn_keras.ops.random_streams import stage_seed
from spn_keras.presets import preset_folders
from spn_keras.sampling.stage_sampling import StageSampling


class AutoregressiveImageModel(StageSampling, keras.Model):
  """Base class of `SliceDecoder` and `SubscalePixelNetwork`; see the module docstring.

  Args:
    config: an instance of the subclass's `config_class` (or its dict form).
    **kwargs: passed to `keras.Model`.
  """

  config_class = None  # the frozen dataclass a subclass is built from

  def __init__(self, config, **kwargs):
    if isinstance(config, dict):
      config = self.config_class.from_dict(config)
    if not isinstance(config, self.config_class):
      raise TypeError(f"`config` must be a {self.config_class.__name__}, "
                      f"got {type(config).__name__}.")
    super().__init__(**kwargs)
    self.config = config
    self.slicer = SubscaleSlicer(self.scale, name="slicer")

  def get_config(self):
    return {**super().get_config(), "config": self.config.to_dict()}

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    return cls(cls.config_class.from_dict(config.pop("config")), **config)

  @classmethod
  def from_preset(cls, preset):
    """A stage with its trained weights, by preset name or folder (keras-hub style).

    Args:
      preset: `"<pipeline>/<stage>"`, e.g. `"mnist28_mdu/depth_upscaler"`: that stage of the
        pretrained pipeline `spn_keras.zoo.load("<pipeline>")` loads (from
        `$SPN_KERAS_HOME/<pipeline>`, else the one shipped with the package);
        `"<pipeline>"` alone when that pipeline has exactly one stage of this class
        (`SliceDecoder.from_preset("mnist28_mdu")`); a stage folder (`config.json` and
        `model.weights.h5`); or a pipeline folder with one stage of this class.

    Returns:
      The stage, an instance of this class (of any stage class when called on
      `AutoregressiveImageModel`), built, its weights checked against the sha256 that its
      pipeline recorded.

    Raises:
      ValueError: an unknown preset; a stage of another class (the message names the class
        to load it with); a corrupt weights file.
      FileNotFoundError: a stage folder without its files.
    """
    return preset_folders.load_stage_preset(preset, cls)

  @property
  def image_shape(self):
    """`(H, W, C)` of the images this stage models."""
    return (self.config.height, self.config.width, self.config.channels)

  @property
  def bits(self):
    """Bits per value that this stage models."""
    return self.config.bits

  @property
  def scale(self):
    """`S`: number of slices along each axis (1 for a slice decoder)."""
    return getattr(self.config, "scale", 1)

  @property
  def conditioning_bits(self):
    """Bits of the low-depth image this stage is conditioned on (0: none)."""
    return getattr(self.config, "conditioning_bits", 0)

  @property
  def num_dims(self):
    """`H * W * C`, the dimensions of one image."""
    return int(np.prod(self.image_shape))

  def __repr__(self):
    """`SubscalePixelNetwork(28x28x1, 5 bits given 3, S=2, 977,280 parameters)`: the shape,
    bits (given the conditioning bits), `S` when > 1, and parameters once built."""
    height, width, channels = self.image_shape
    given = f" given {self.conditioning_bits}" if self.conditioning_bits else ""
    scale = f", S={self.scale}" if self.scale > 1 else ""
    parameters = f", {self.count_params():,} parameters" if self.built else ""
    return (f"{type(self).__name__}({height}x{width}x{channels}, {self.bits} bits{given}"
            f"{scale}{parameters})")

  def _slice_context(self, slices, target, conditioning_slices):
    raise NotImplementedError

  def _decode(self, target_values, context):
    raise NotImplementedError

  # Input handling.
  def _prepare(self, images, conditioning, images_name="images"):
    """Validates inputs; returns `(slices, conditioning_slices or None)`, int32."""
    images = check_images(images_name, images, self.bits, self.image_shape)
    return self.slicer.slice(images), self._prepare_conditioning(conditioning, images.shape[0])

  def check_conditioning(self, conditioning, batch_size):
    """`conditioning` checked for `batch_size` images of this stage.

    Args:
      conditioning: a depth upscaler's int `(B, H, W, C)` most significant bits; None for
        the other stages.
      batch_size: `B` (a Python int, or None or a traced tensor: not checked).

    Returns:
      int32 `(B, H, W, C)`, or None for a stage that is not a depth upscaler.

    Raises:
      ValueError: conditioning missing, given to a stage that takes none, or of another shape,
        depth or batch size.
    """
    if self.conditioning_bits == 0:
      if conditioning is not None:
        raise ValueError("`conditioning` must be None: this stage is not a depth upscaler "
                         "(conditioning_bits = 0).")
      return None
    if conditioning is None:
      raise ValueError(f"`conditioning` is required: this stage upscales depth given the "
                       f"{self.conditioning_bits} most significant bits (B, H, W, C).")
    conditioning = check_images("conditioning", conditioning, self.conditioning_bits,
                                self.image_shape)
    static_batch = isinstance(batch_size, (int, np.integer))  # not None, not a traced tensor
    if static_batch and conditioning.shape[0] not in (None, batch_size):
      raise ValueError(f"`conditioning` must have batch size {batch_size} (one per image), "
                       f"got {conditioning.shape[0]}.")
    return conditioning

  def _prepare_conditioning(self, conditioning, batch_size):
    conditioning = self.check_conditioning(conditioning, batch_size)
    return None if conditioning is None else self.slicer.slice(conditioning)

  # Likelihood.
  def _target_logits(self, slices, target, conditioning_slices):
    """Logits `(B, h, w, C, K)` of slice `target` (`(B,)` int) given everything before it."""
    context = self._slice_context(slices, target, conditioning_slices)
    target_values = ops.take_along_axis(slices, target[:, None, None, None, None], axis=1)[:, 0]
    return self._decode(target_values, context), target_values

  @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: no AutoGraph
  def _slice_log_prob(self, slices, target, conditioning_slices):
    logits, values = self._target_logits(slices, target, conditioning_slices)
    log_probs = tf.nn.log_softmax(logits)  # (B, h, w, C, K)
    chosen = tf.gather(log_probs, values, batch_dims=4)  # (B, h, w, C)
    return tf.reduce_sum(chosen, axis=[1, 2, 3])

  def log_prob(self, images, conditioning=None, first_slice_given=False):
    """Exact log-likelihood of `images` in nats: the sum over all slices (SPN_SPEC section 5).

    Args:
      images: int `(B, H, W, C)` values in `[0, 2**bits)`.
      conditioning: depth upscalers only: int `(B, H, W, C)` most significant bits.
      first_slice_given: score slices `1 ..` only, i.e. `log p(slices >= 1 | slice 0)`: the
        size-upscaling term of a pipeline (SPN_SPEC section 6).

    Returns:
      float32 `(B,)` log-probabilities in nats.
    """
    slices, conditioning_slices = self._prepare(images, conditioning)
    first = self._first_scored_slice(first_slice_given)
    batch = tf.shape(slices)[0]
    total = tf.zeros([batch], tf.float32)
    for t in range(first, self.scale**2):
      total += self._slice_log_prob(slices, tf.fill([batch], t), conditioning_slices)
    return total

  def sub_pixel_logits(self, images, conditioning=None):
    """Teacher-forced logits of every sub-pixel, in image layout.

    Entry `[:, r, c, ch]` is the model's distribution of sub-pixel `(r, c, ch)` given every
    sub-pixel before it in the subscale ordering (it must not depend on any other): the
    object the causality tests perturb.

    Args:
      images, conditioning: as in `log_prob`.

    Returns:
      float32 `(B, H, W, C, 2**bits)`.
    """
    slices, conditioning_slices = self._prepare(images, conditioning)
    batch = tf.shape(slices)[0]
    per_slice = [
        self._target_logits(slices, tf.fill([batch], t), conditioning_slices)[0]
        for t in range(self.scale**2)
    ]
    stacked = tf.stack(per_slice, axis=1)  # (B, S*S, h, w, C, K)
    h, w, channels, num_values = stacked.shape[2:]
    merged = self.slicer.merge(tf.reshape(stacked, [batch, self.scale**2, h, w,
                                                       channels * num_values]))
    return tf.reshape(merged, [batch, h * self.scale, w * self.scale, channels, num_values])

  def bits_per_dim(self, images, conditioning=None, first_slice_given=False):
    """`-log p(images) / (H * W * C * ln 2)`: float32 `(B,)`; arguments as in `log_prob`."""
    return nats_to_bits_per_dim(self.log_prob(images, conditioning, first_slice_given),
                                self.num_dims)

  def training_loss(self, images, conditioning=None, seed=None, target_slice=None,
                    first_slice_given=False):
    """Unbiased estimate of `-log p(images)` from one random slice per example (nats).

    Each example picks a target slice uniformly at random; its loss is the number of slices it
    could pick times the slice's negative log-likelihood (SPN_SPEC section 5). For `S = 1` it
    is exact.

    Args:
      images, conditioning: as in `log_prob`.
      seed: optional stateless seed (int or `(2,)`) for the choice of slices.
      target_slice: optional int `(B,)` slices to use instead of a random choice (a
        distributed trainer draws them for the global batch, so that the choice does not
        depend on how the batch is split over replicas).
      first_slice_given: estimate `-log p(slices >= 1 | slice 0)` instead, the term a size
        upscaler contributes to a pipeline (`log_prob(..., first_slice_given=True)`): targets
        are drawn from slices `1 ..` and the loss is `S*S - 1` times the slice's.

    Returns:
      float32 `(B,)`.
    """
    slices, conditioning_slices = self._prepare(images, conditioning)
    batch = tf.shape(slices)[0]
    first = self._first_scored_slice(first_slice_given)
    num_slices = self.scale**2
    if target_slice is not None:
      target = tf.cast(target_slice, tf.int32)
    elif seed is None:
      target = tf.random.uniform([batch], first, num_slices, dtype=tf.int32)
    else:
      target = tf.random.stateless_uniform([batch], stage_seed(seed, 0), first, num_slices,
                                           dtype=tf.int32)
    logits, values = self._target_logits(slices, target, conditioning_slices)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(values, logits)  # (B, h, w, C)
    return float(num_slices - first) * tf.reduce_sum(nll, axis=[1, 2, 3])

  def _first_scored_slice(self, first_slice_given):
    """1 when slice 0 is given (a pipeline's size upscaler), else 0."""
    if first_slice_given and self.scale == 1:
      raise ValueError("`first_slice_given=True` needs `scale` > 1: with one slice nothing "
                       "would be left to score.")
    return int(bool(first_slice_given))

  # Keras training: `compile`, `fit`, `evaluate`.
  def compile(self, optimizer="rmsprop", first_slice_given=False, seed=None, **kwargs):
    """Configures `fit` and `evaluate` for this stage's own likelihood.

    `fit` minimizes the unbiased loss of `training_loss` (SPN_SPEC section 5): one target
    slice per example, drawn from `(seed, step)` exactly as `spn_train` draws them, times the
    number of slices it could be. `evaluate` reports the exact negative log-likelihood
    (`log_prob`, every slice). Both log `loss` (nats per image) and `bits_per_dim`. A batch is
    an integer image batch `(B, H, W, C)` or, for a depth upscaler, a dict
    `{"images": ..., "conditioning": ...}`; targets and sample weights are refused (the
    images are their own targets).

    Args:
      optimizer: as in `keras.Model.compile` (Table 4's is RMSprop with Polyak averaging:
        `keras.optimizers.RMSprop(1e-4, rho=0.95, momentum=0.9, use_ema=True,
        ema_momentum=0.9999)`).
      first_slice_given: train and evaluate `log p(slices >= 1 | slice 0)`, the term a size
        upscaler contributes to a multidimensional-upscaling pipeline (its slice 0 is the
        slice decoder's); needs `scale > 1`.
      seed: int seed of the target slices; None draws one (`fit` is then not repeatable).
      **kwargs: the other `keras.Model.compile` arguments (`run_eagerly`, `jit_compile`,
        `steps_per_execution`, ...). `loss`, `loss_weights`, `metrics` and
        `weighted_metrics` are not accepted: the loss is the model's likelihood.
        `jit_compile` defaults to False (Keras's "auto" would pick XLA on a GPU): a plain
        step checks that the values given to `fit` lie in the stage's range, an
        XLA-compiled one cannot (`tf.debugging` asserts do nothing under XLA), so ask for
        XLA explicitly, on data you have checked (`spn_train --jit_compile` checks each
        batch before its compiled step).

    Raises:
      ValueError: a loss or metrics were given; `first_slice_given` with `scale = 1`.
    """
    kwargs = fit_arguments.compile_arguments(type(self).__name__, kwargs)
    self._first_scored_slice(first_slice_given)
    if seed is None:
      seed = random.SystemRandom().randrange(2**31)
    check_int("seed", seed, minimum=0)
    if not self.built:
      self.build()
    kwargs.setdefault("jit_compile", False)
    super().compile(optimizer=optimizer, **kwargs)
    # Stored outside Keras's attribute tracking: the metrics are not weights of the stage and
    # must not enter its checkpoints.
    self.__dict__["_fit_settings"] = {"first_slice_given": bool(first_slice_given),
                                      "seed": int(seed)}
    self.__dict__["_fit_metrics"] = (keras.metrics.Mean(name="loss"),
                                     keras.metrics.Mean(name="bits_per_dim"))

  @property
  def metrics(self):
    """After `compile`: the `loss` (nats per image) and `bits_per_dim` means."""
    fit_metrics = self.__dict__.get("_fit_metrics")
    return list(fit_metrics) if fit_metrics else super().metrics

  def get_compile_config(self):
    config = super().get_compile_config()
    if config and "_fit_settings" in self.__dict__:
      config.update(self.__dict__["_fit_settings"])
    return config

  def compile_from_config(self, config):
    config = keras.saving.deserialize_keras_object(dict(config))
    self.compile(**config)
    if self.built:  # create the optimizer's variables, so that its saved state loads
      self.optimizer.build(self.trainable_variables)

  def _update_fit_metrics(self, nats):
    """Adds a batch's negative log-likelihoods `(B,)` (nats) to the metrics; their values."""
    loss_metric, bits_metric = self.__dict__["_fit_metrics"]
    loss_metric.update_state(nats)
    bits_metric.update_state(nats_to_bits_per_dim(-nats, self.num_dims))
    return {metric.name: metric.result() for metric in (loss_metric, bits_metric)}

  def train_step(self, data):
    """One optimizer step on the unbiased loss (see `compile`); Keras calls it per replica."""
    images, conditioning = fit_arguments.fit_batch(type(self).__name__, data)
    settings = self.__dict__["_fit_settings"]
    first_slice_given = settings["first_slice_given"]
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    local_batch = tf.shape(images)[0]
    step = self.optimizer.iterations + 1  # counted from 1, as `spn_train` counts
    targets = replica_target_slices(
        settings["seed"], step, local_batch * num_replicas, local_batch,
        self._first_scored_slice(first_slice_given), self.scale**2)
    with tf.GradientTape() as tape:
      nats = self.training_loss(images, conditioning, target_slice=targets,
                                first_slice_given=first_slice_given)
      # The optimizer sums the replicas' gradients: each replica gives its share of the mean.
      loss = self.optimizer.scale_loss(tf.reduce_mean(nats) / num_replicas)
    # Dense gradients, as `spn_train` applies them: the embeddings' gradients come as
    # `IndexedSlices` (a row per use), on which Keras's RMSprop takes a different step.
    gradients = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.trainable_variables)]
    self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
    return self._update_fit_metrics(nats)

  def test_step(self, data):
    """The exact negative log-likelihood of a batch (every scored slice)."""
    images, conditioning = fit_arguments.fit_batch(type(self).__name__, data)
    first_slice_given = self.__dict__["_fit_settings"]["first_slice_given"]
    return self._update_fit_metrics(-self.log_prob(images, conditioning, first_slice_given))

  def get_build_config(self):
    return {"built": True} if self.built else {}

  def build_from_config(self, config):
    if config.get("built"):
      self.build()
