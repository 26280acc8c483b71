"""`AutoregressiveImageModel`: exact likelihood and sampling shared by every SPN stage.

A stage models `D`-bit images `(H, W, C)` cut into `S*S` slices (`S = 1` for a plain slice
decoder). Subclasses provide two pieces:
- `_slice_context(slices, target, conditioning_slices)`: conditioning-network features for the
  target slice, computed from the slices before it (and the low-depth image), or None;
- `_decode(target_values, context)`: float32 logits `(B, h, w, C, 2**D)` of the target slice
  under teacher forcing.
Everything else (exact `log_prob`, `bits_per_dim`, the unbiased training loss, Keras's
`compile` / `fit` / `evaluate` on that loss, and the sampler) is defined here once, from the
chain rule over slices, pixels and channels.
"""

import functools
import os
import random

import keras
from keras import ops
import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_float
from spn_keras.argument_checks import check_int
from spn_keras.argument_checks import check_seed
from spn_keras.layers import SubscaleSlicer
from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import nats_to_bits_per_dim
from spn_keras.presets import preset_folders
from spn_keras.sampling import CachedSliceSampler
from spn_keras.sampling import SamplingProgress
from spn_keras.sampling.cached_slice_sampler import check_compute_dtype
from spn_keras.sampling.sub_pixel_choice import choose_sub_pixel
from spn_keras.sampling.sub_pixel_choice import gumbel_noise

# `keras.Model.compile` arguments a stage sets itself (its loss is its likelihood).
_COMPILE_ARGUMENTS_NOT_ACCEPTED = ("loss", "loss_weights", "metrics", "weighted_metrics")


def stage_seed(seed, stream):
  """The stateless seed `(2,)` of random stream `stream` (a stage, a slice) under `seed`."""
  return tf.random.experimental.stateless_fold_in(
      tf.constant([0, 0], tf.int64) + tf.cast(seed, tf.int64), stream)


def _checked_seed(seed):
  """`seed` checked: None, an int in [0, 2**63), a pair of them (a stateless seed `(2,)`), or a
  tensor (a traced graph's input, as it is)."""
  if tf.is_tensor(seed) or seed is None:
    return seed
  if isinstance(seed, (tuple, list, np.ndarray)) and len(seed) == 2:
    return [check_seed("seed", value, allow_none=False) for value in seed]
  return check_seed("seed", seed)


def _physical_memory_bytes():
  """This machine's memory in bytes, or None where the system does not say."""
  try:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (AttributeError, OSError, ValueError):
    return None


def replica_target_slices(seed, step, global_batch_size, local_batch_size, first, num_slices):
  """This replica's target slices for training step `step`: int32 `(local_batch_size,)`.

  The slices are drawn for the whole global batch from `(seed, step)`, uniformly in
  `[first, num_slices)`, and replica `r` takes entries `[r * local, (r + 1) * local)`, so that
  a training run does not depend on how the batch is split over replicas. `spn_train` and
  `fit` both draw their slices here.

  Args:
    seed: int (or int tensor) seed of the run.
    step: int64 scalar tensor, the training step (the first is 1).
    global_batch_size: examples per step over all replicas.
    local_batch_size: this replica's examples (int or int32 scalar tensor).
    first: the first slice that may be drawn (1 for a pipeline's size upscaler).
    num_slices: `S*S`.
  """
  replica = tf.distribute.get_replica_context().replica_id_in_sync_group
  targets = tf.random.stateless_uniform(
      [global_batch_size], tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]), first,
      num_slices, dtype=tf.int32)
  return tf.slice(targets, [replica * local_batch_size], [local_batch_size])


class AutoregressiveImageModel(keras.Model):
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
    classes = {}
    pending = [cls]
    while pending:
      stage_class = pending.pop()
      classes[stage_class.__name__] = stage_class
      pending.extend(stage_class.__subclasses__())
    folder, expected_sha256 = preset_folders.resolve_stage_preset(preset, classes)
    found = preset_folders.stage_class_name(str(folder))
    if found not in classes:
      raise ValueError(f"Preset {preset!r} is a {found} stage, not a {cls.__name__}: load it "
                       f"with `{found}.from_preset({str(preset)!r})`.")
    return preset_folders.load_stage(str(folder), classes, expected_sha256)

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
    fixed = [name for name in _COMPILE_ARGUMENTS_NOT_ACCEPTED if kwargs.get(name) is not None]
    if fixed:
      raise ValueError(f"{type(self).__name__}.compile does not take {', '.join(fixed)}: the "
                       f"loss is the model's negative log-likelihood, logged with "
                       f"`bits_per_dim`.")
    for name in _COMPILE_ARGUMENTS_NOT_ACCEPTED:
      kwargs.pop(name, None)
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

  def _fit_batch(self, data):
    """`(images, conditioning or None)` of a batch given to `fit` or `evaluate`."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    if y is not None or sample_weight is not None:
      raise ValueError(f"{type(self).__name__} models images: `fit` and `evaluate` take image "
                       f"batches (or dicts with 'images' and 'conditioning'), without "
                       f"targets or sample weights.")
    if isinstance(x, dict):
      unknown = set(x) - {"images", "conditioning"}
      if "images" not in x or unknown:
        raise ValueError(f"A batch dict must have the key 'images' and, for a depth upscaler, "
                         f"'conditioning'; got keys {sorted(x)}.")
      return x["images"], x.get("conditioning")
    return x, None

  def _update_fit_metrics(self, nats):
    """Adds a batch's negative log-likelihoods `(B,)` (nats) to the metrics; their values."""
    loss_metric, bits_metric = self.__dict__["_fit_metrics"]
    loss_metric.update_state(nats)
    bits_metric.update_state(nats_to_bits_per_dim(-nats, self.num_dims))
    return {metric.name: metric.result() for metric in (loss_metric, bits_metric)}

  def train_step(self, data):
    """One optimizer step on the unbiased loss (see `compile`); Keras calls it per replica."""
    images, conditioning = self._fit_batch(data)
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
    images, conditioning = self._fit_batch(data)
    first_slice_given = self.__dict__["_fit_settings"]["first_slice_given"]
    return self._update_fit_metrics(-self.log_prob(images, conditioning, first_slice_given))

  def get_build_config(self):
    return {"built": True} if self.built else {}

  def build_from_config(self, config):
    if config.get("built"):
      self.build()

  # Sampling.
  def _slice_decoder(self):
    """The `SliceDecoder` that generates each slice (the model itself for a slice decoder)."""
    raise NotImplementedError

  @tf.function(reduce_retracing=True, autograph=False)  # explicit loops: no AutoGraph
  def _sample_slice_naive(self, slices, target, conditioning_slices, temperature, noise,
                          record_logits, max_steps=None):
    """Generates slice `target` (a scalar) by recomputing the decoder at every sub-pixel.

    The reference sampler: the context is computed once (it does not depend on the slice
    being generated), then the whole decoder runs on the partially generated slice once per
    sub-pixel. Sub-pixel `(r, c, ch)` takes `argmax(logits / T + noise[r, c, ch])`.
    `max_steps` (int tensor, for benchmarks) stops after that many sub-pixels.

    Returns:
      `(values (B, h, w, C), log_prob (B,), logits (B, h, w, C, K) or None)`.
    """
    batch = tf.shape(slices)[0]
    h, w, channels = slices.shape[2], slices.shape[3], slices.shape[4]
    context = self._slice_context(slices, tf.fill([batch], target), conditioning_slices)
    state = dict(values=tf.zeros([batch, h, w, channels], tf.int32),
                 log_prob=tf.zeros([batch], tf.float32))
    if record_logits:
      state["logits"] = tf.zeros(tf.shape(noise), tf.float32)

    def step(i, state):
      r, col, ch = i // (w * channels), (i // channels) % w, i % channels
      logits = self._decode(state["values"], context)[:, r, col, ch]  # (B, K)
      return i + 1, choose_sub_pixel(state, logits, noise, temperature, r, col, ch)

    num_steps = h * w * channels
    if max_steps is not None:
      num_steps = tf.minimum(num_steps, max_steps)
    _, state = tf.while_loop(lambda i, _: i < num_steps, step, (tf.constant(0), state))
    return state["values"], state["log_prob"], state.get("logits")

  def _sample_slice_cached(self, slices, target, conditioning_slices, temperature, noise,
                           record_logits, jit_compile=True, compute_dtype=None):
    """Generates slice `target` with `CachedSliceSampler`; same returns as the naive one."""
    batch = tf.shape(slices)[0]
    context = self._slice_context(slices, tf.fill([batch], target), conditioning_slices)
    return self._cached_sampler(jit_compile, compute_dtype).sample(context, noise, temperature,
                                                                   record_logits)

  def _cached_sampler(self, jit_compile, compute_dtype):
    """The stage's `CachedSliceSampler` of these settings (made once, traced once)."""
    key = (jit_compile, compute_dtype)
    samplers = self.__dict__.setdefault("_cached_samplers", {})
    if key not in samplers:
      samplers[key] = CachedSliceSampler(self._slice_decoder(), jit_compile, compute_dtype)
    return samplers[key]

  def slice_sampling_cost(self):
    """Relative cost of sampling one slice: about the multiply-adds per image.

    Every decoder weight is used once per pixel, the attention stack reads its key/value
    caches (`2 * h*w * attention_channels` per layer and pixel) and the conditioning
    network runs once per slice (each weight once per position). Used to weigh slices of
    different stages in `SamplingProgress`.

    Returns:
      float.
    """
    if not self.built:  # the parameters must exist to be counted
      self.build()
    decoder = self._slice_decoder()
    c = decoder.config
    positions = c.height * c.width
    per_pixel = decoder.count_params() + 2 * c.attention_layers * positions * c.attention_channels
    embedder = getattr(self, "embedder", None)
    return float(positions * (per_pixel + (embedder.count_params() if embedder else 0)))

  def sampling_memory_bytes(self, num_images):
    """A lower bound on the memory that sampling `num_images` images takes at once, in bytes.

    Counts what grows with the batch and must exist together: the Gumbel noise of one slice
    `(B, h, w, C, 2**bits)` float32, the slices `(B, S*S, h, w, C)` int32, the conditioning
    network's context `(B, h, w, context_channels)` and the decoder's key/value caches
    `(B, h*w, attention_channels)` per attention layer, float32. Activations come on top.

    Args:
      num_images: the batch size, a Python int.

    Returns:
      int.
    """
    height, width, channels = self.image_shape
    c = self._slice_decoder().config
    positions = c.height * c.width
    per_image = (positions * channels * 2**self.bits * 4 + height * width * channels * 4
                 + positions * c.context_channels * 4
                 + 2 * c.attention_layers * positions * c.attention_channels * 4)
    return num_images * per_image

  def check_sampling_memory(self, num_images):
    """Refuses a `num_images` whose `sampling_memory_bytes` exceed this machine's memory.

    Raises:
      ValueError: naming `num_images`, the memory needed and the largest batch that fits.
    """
    needed = self.sampling_memory_bytes(num_images)
    available = _physical_memory_bytes()
    if available is not None and needed > available:
      per_image = self.sampling_memory_bytes(1)
      raise ValueError(
          f"`num_images` ({num_images:,}) needs at least {needed / 2**30:,.1f} GiB to sample "
          f"({per_image / 2**10:,.1f} KiB per image) and this machine has "
          f"{available / 2**30:,.1f} GiB: sample at most {available // per_image:,} images "
          f"at a time.")

  def _initial_slices(self, num_images, first_slice):
    """The slices before any is generated or coded, and the first slice index to do.

    Returns:
      `(slices, start)`: int32 `(B, S*S, h, w, C)` zeros, with slice 0 set to `first_slice`
      (size upscaling: only slices `1 ..` follow, `start = 1`) when it is given.
    """
    height, width, channels = self.image_shape
    s = self.scale
    h, w = height // s, width // s
    slices = tf.zeros([num_images, s * s, h, w, channels], tf.int32)
    if first_slice is None:
      return slices, 0
    if s == 1:
      raise ValueError("`first_slice` needs `scale` > 1 (size upscaling).")
    first_slice = check_images("first_slice", first_slice, self.bits, (h, w, channels))
    if not tf.is_tensor(num_images) and first_slice.shape[0] != num_images:
      raise ValueError(f"`first_slice` must hold `num_images` ({num_images}) slices, "
                       f"got {first_slice.shape[0]}.")
    return tf.concat([first_slice[:, None], slices[:, 1:]], axis=1), 1

  def _sample_slices(self, num_images, temperature, seed, conditioning=None, first_slice=None,
                     method="cached", record_logits=False, progress=False, jit_compile=True,
                     compute_dtype=None):
    """Generates the slices of `num_images` images; the work behind `sample`.

    Returns:
      `(slices (B, S*S, h, w, C) int32, log_prob (B,), logits)`, where `logits` is a list
      (one per generated slice) of the step logits `(B, h, w, C, K)` when `record_logits`.
    """
    if method not in ("cached", "naive"):
      raise ValueError(f"`method` must be 'cached' or 'naive', got {method!r}.")
    check_compute_dtype(compute_dtype)
    # Tensors come from a traced graph (a SavedModel signature): checked when it runs, before
    # anything uses them (so that the check's message, not another op's, reports a bad value).
    if tf.is_tensor(num_images):
      with tf.control_dependencies([tf.debugging.assert_positive(
          num_images, message="`num_images` must be positive")]):
        num_images = tf.identity(num_images)
    else:
      check_int("num_images", num_images)
      self.check_sampling_memory(num_images)
    if tf.is_tensor(temperature):
      with tf.control_dependencies([tf.debugging.assert_positive(
          temperature, message="`temperature` must be > 0")]):
        temperature = tf.identity(temperature)
    else:
      check_float("temperature", temperature, minimum=0, exclusive_minimum=True)
    seed = _checked_seed(seed)
    if seed is None:
      seed = random.SystemRandom().randrange(2**62)
    if not self.built:
      self.build()
    conditioning_slices = self._prepare_conditioning(conditioning, num_images)
    height, width, channels = self.image_shape
    s = self.scale
    h, w = height // s, width // s
    slices, start = self._initial_slices(num_images, first_slice)
    if progress is True:
      bar = SamplingProgress([(self.name, s * s - start, self.slice_sampling_cost())])
      progress = lambda: bar.slice_done(self.name)  # noqa: E731
    temperature = tf.cast(temperature, tf.float32)
    log_prob = tf.zeros([num_images], tf.float32)
    all_logits = [] if record_logits else None
    batch_index = tf.range(num_images)
    for t in range(start, s * s):
      noise = gumbel_noise([num_images, h, w, channels, 2**self.bits], stage_seed(seed, t))
      target = tf.constant(t)
      if method == "cached":
        values, slice_log_prob, logits = self._sample_slice_cached(
            slices, target, conditioning_slices, temperature, noise, record_logits,
            jit_compile, compute_dtype)
      else:
        values, slice_log_prob, logits = self._sample_slice_naive(
            slices, target, conditioning_slices, temperature, noise, record_logits)
      if progress:
        progress()
      where = tf.stack([batch_index, tf.fill([num_images], t)], axis=1)
      slices = tf.tensor_scatter_nd_update(slices, where, values)
      log_prob += slice_log_prob
      if record_logits:
        all_logits.append(logits)
    return slices, log_prob, all_logits

  def code_slices(self, sub_pixel_values, num_images, conditioning=None, first_slice=None,
                  progress=None):
    """Runs each slice's cached program with every sub-pixel value chosen by a Python callable.

    The path that the lossless codec's encoder and decoder share (`spn_keras.codec`): slice
    after slice in the subscale order, the context is computed from the slices coded so far
    (later slices are zeros, for the encoder as for the decoder) and the slice's program
    (`CachedSliceSampler.code`, float32, a plain graph on the CPU) asks `sub_pixel_values`
    for each sub-pixel's value given its logits.

    Args:
      sub_pixel_values: `fn(slice_index, logits, row, col, channel) -> values`: the float32
        numpy logits `(B, 2**bits)` of sub-pixel `(row, col, channel)` of slice `slice_index`
        (Python ints, the slice's own coordinates); returns its `(B,)` int values.
      num_images: `B`, a Python int.
      conditioning: depth upscalers only: int `(B, H, W, C)` most significant bits.
      first_slice: size upscaling: int `(B, h, w, C)` slice 0, given; only slices `1 ..` are
        coded.
      progress: None, or a callable called with no arguments after each slice.

    Returns:
      `(images, log_prob)`: int32 `(B, H, W, C)`, the values chosen merged into images, and
      float32 `(B,)` the model's log-probability of the coded slices in nats.
    """
    check_int("num_images", num_images)
    if not self.built:
      self.build()
    with tf.device("/CPU:0"):
      conditioning_slices = self._prepare_conditioning(conditioning, num_images)
      s = self.scale
      slices, start = self._initial_slices(num_images, first_slice)
      sampler = self._cached_sampler(False, "float32")
      log_prob = tf.zeros([num_images], tf.float32)
      for t in range(start, s * s):
        context = self._slice_context(slices, tf.fill([num_images], t), conditioning_slices)
        values, slice_log_prob = sampler.code(context, num_images,
                                              functools.partial(sub_pixel_values, t))
        slices = tf.concat([slices[:, :t], values[:, None], slices[:, t + 1:]], axis=1)
        log_prob += slice_log_prob
        if progress:
          progress()
      return self.slicer.merge(slices), log_prob

  def sample(self, num_images, temperature=1.0, seed=None, conditioning=None, first_slice=None,
             return_log_prob=False, method="cached", progress=False, jit_compile=True,
             compute_dtype=None):
    """Draws images from the model, slice by slice, pixel by pixel, R, G, B.

    Args:
      num_images: batch size `B`; inside a traced graph (a SavedModel signature) also an
        int32 scalar tensor.
      temperature: `T > 0`; logits are divided by `T` (1.0 samples the model exactly); inside
        a traced graph also a float32 scalar tensor.
      seed: int or `(2,)` stateless seed: the same seed gives the same images, with either
        method. None draws one.
      conditioning: depth upscalers only: int `(B, H, W, C)` most significant bits.
      first_slice: size upscaling: int `(B, h, w, C)` slice 0, taken as given; only slices
        `1 ..` are generated.
      return_log_prob: also return, per image, the sum of the model's log-probabilities
        (at temperature 1) of the values chosen, in nats.
      method: "cached" (incremental, `CachedSliceSampler`) or "naive" (recomputes the decoder
        for every sub-pixel; the reference).
      progress: True shows a progress bar over the slices (`SamplingProgress`); a callable is
        called with no arguments after each slice (a pipeline's bar over all its stages).
      jit_compile: "cached" only: compile each slice's generation with XLA (the default and,
        on the CPUs measured, the faster); False runs it as a plain TensorFlow graph. Both
        give the same images.
      compute_dtype: "cached" only: the sampler's arithmetic dtype; default the model's
        compute dtype. "bfloat16" is faster where the hardware has bfloat16 units but not
        bit-identical to float32: the images of a seed may differ from float32's.

    Returns:
      uint8 `(B, H, W, C)` with values in `[0, 2**bits)`; with `return_log_prob`, a pair
      `(images, log_prob)`.
    """
    slices, log_prob, _ = self._sample_slices(num_images, temperature, seed, conditioning,
                                              first_slice, method, progress=progress,
                                              jit_compile=jit_compile,
                                              compute_dtype=compute_dtype)
    images = tf.cast(self.slicer.merge(slices), tf.uint8)
    return (images, log_prob) if return_log_prob else images
