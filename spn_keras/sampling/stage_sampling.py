"""`StageSampling`: how a stage draws images and runs the codec's program, slice by slice.

`AutoregressiveImageModel` inherits these methods: `sample`, `code_slices` (the lossless
codec's path), `slice_sampling_cost`, `sampling_memory_bytes` and `check_sampling_memory`.
They use the stage through its model interface only (`_slice_context`, `_decode`,
`_prepare_conditioning`, `slicer`, `image_shape`, `bits`, `scale`, `name`, `build`); a stage
class provides `_slice_decoder`. Two samplers generate a slice: the naive one (the reference:
the whole decoder runs once per sub-pixel) and `CachedSliceSampler` (incremental, the
default), whose float32 XLA-compiled program the codec also runs (`code_slices`, with the
codec's chooser traced into it).
"""

import os
import random

import numpy as np
import tensorflow as tf

from spn_keras.argument_checks import check_float
from spn_keras.argument_checks import check_int
from spn_keras.argument_checks import check_seed
from spn_keras.ops.likelihood import check_images
from spn_keras.ops.random_streams import stage_seed
from spn_keras.sampling.cached_slice_sampler import CachedSliceSampler
from spn_keras.sampling.cached_slice_sampler import check_compute_dtype
from spn_keras.sampling.sampling_progress import SamplingProgress
from spn_keras.sampling.sub_pixel_choice import choose_sub_pixel
from spn_keras.sampling.sub_pixel_choice import gumbel_noise


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


class StageSampling:
  """The sampling and coding methods of every stage; see the module docstring."""

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

  def code_slices(self, code_slice, num_images, conditioning=None, first_slice=None,
                  progress=None):
    """Runs the codec's slice programs in the subscale order, each slice coded by `code_slice`.

    The path that the lossless codec's encoder and decoder share (`spn_keras.codec`): slice
    after slice, the context is computed from the slices coded so far (later slices are
    zeros, for the encoder as for the decoder) and `code_slice` runs the slice's program
    (`CachedSliceSampler.code`: float32, XLA-compiled) with its own in-graph chooser of the
    sub-pixels' values.

    Args:
      code_slice: `fn(slice_index, run)`: codes slice `slice_index` (a Python int) by calling
        `run(chooser, inputs, chooser_state) -> (values, chooser_state)` once: the slice's
        program (`CachedSliceSampler.code` on the slice's context and batch), whose int32
        values `(B, h, w, C)` become the slice.
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
      sampler = self._cached_sampler(True, "float32")
      log_prob = tf.zeros([num_images], tf.float32)
      for t in range(start, s * s):
        context = self._slice_context(slices, tf.fill([num_images], t), conditioning_slices)
        outputs = []

        def run(chooser, inputs, chooser_state, context=context, outputs=outputs):
          values, coded_log_prob, chooser_state = sampler.code(context, num_images, chooser,
                                                               inputs, chooser_state)
          outputs.append((values, coded_log_prob))
          return values, chooser_state

        code_slice(t, run)
        if len(outputs) != 1:
          raise RuntimeError(f"`code_slice` must run slice {t}'s program once, ran it "
                             f"{len(outputs)} times.")
        values, slice_log_prob = outputs[0]
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
