import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.export.servable_ops import graph_xla_only_ops
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.ops.slice_updates import update_slice
from spn_keras.pipelines import Pipeline
from spn_keras.sampling import CachedSliceSampler


def _decoder(**fields):
  model = SliceDecoder(SliceDecoderConfig.tiny(**fields))
  model.build()
  testing.randomize_weights(model, 0.5)
  return model


def _spn(**fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(**fields))
  model.build()
  testing.randomize_weights(model, 0.5)
  return model


# Every stage kind, RGB and gray, square and non-square, S = 1, 2, 4.
STAGES = {
    "decoder_gray": lambda: _decoder(image_size=(3, 4), bits=2, pixelcnn_layers=3),
    "decoder_rgb": lambda: _decoder(image_size=3, channels=3, bits=2, attention_layers=2),
    "decoder_rgb_uneven_groups": lambda: _decoder(  # colour groups of 3, 2, 2 and 3, 3, 2 maps
        image_size=(2, 3), channels=3, bits=2, pixelcnn_channels=7,
        pixelcnn_residual_channels=8, attention_layers=0),
    "decoder_one_layer": lambda: _decoder(image_size=3, channels=3, pixelcnn_layers=1),
    "decoder_no_attention": lambda: _decoder(image_size=3, channels=3, attention_layers=0),
    "decoder_kernel5": lambda: _decoder(image_size=(4, 5), kernel_size=5, pixelcnn_layers=3),
    "spn_rgb": lambda: _spn(image_size=4, scale=2, channels=3, bits=2),
    "spn_gray_non_square": lambda: _spn(image_size=(4, 6), scale=2, bits=2),
    "spn_one_by_one_slices": lambda: _spn(image_size=4, scale=4, channels=3),
    "spn_rgb_s4_non_square": lambda: _spn(image_size=(8, 4), scale=4, channels=3),
    "spn_baseline": lambda: _spn(image_size=4, scale=1, bits=2),
    "spn_baseline_rgb": lambda: _spn(image_size=(3, 2), scale=1, channels=3, bits=2),
    "depth_upscaler": lambda: _spn(image_size=4, scale=2, channels=3, bits=2,
                                   conditioning_bits=2),
    "depth_upscaler_gray_s4": lambda: _spn(image_size=(4, 8), scale=4, bits=2,
                                           conditioning_bits=1),
    "depth_upscaler_s1": lambda: _spn(image_size=(2, 3), scale=1, channels=3, bits=1,
                                      conditioning_bits=3),
}


def _conditioning(model, batch):
  if not model.conditioning_bits:
    return None
  return np.random.default_rng(0).integers(0, 2**model.conditioning_bits,
                                           (batch,) + model.image_shape, np.uint8)


# The default suite samples one stage of each kind and shape class (a decoder with uneven
# colour groups, with a 5x5 kernel and without attention; SPNs with S = 4 on non-square
# images, with 1x1 slices and with S = 1; a gray depth upscaler with S = 4); the slow set adds
# the other eight (each 3-7 s, most of it XLA compilation).
AGREEMENT_STAGES = ("decoder_rgb_uneven_groups", "decoder_kernel5", "decoder_no_attention",
                    "spn_rgb_s4_non_square", "spn_one_by_one_slices", "spn_baseline_rgb",
                    "depth_upscaler_gray_s4")


@pytest.mark.parametrize("stage", [
    stage if stage in AGREEMENT_STAGES else pytest.param(stage, marks=pytest.mark.slow)
    for stage in sorted(STAGES)])
def test_cached_and_naive_sampling_agree(stage):
  model = STAGES[stage]()
  conditioning = _conditioning(model, 3)
  runs = {
      method: model._sample_slices(3, 1.0, 17, conditioning, method=method,
                                   record_logits=True)
      for method in ("naive", "cached")
  }
  _assert_same_sampling(model, conditioning, runs["naive"], runs["cached"])


@pytest.mark.parametrize("stage", ["decoder_kernel5", "spn_rgb_s4_non_square", "depth_upscaler"])
def test_plain_graph_sampling_agrees_too(stage):
  """`jit_compile=False` runs the same program without XLA: the same images."""
  model = STAGES[stage]()
  conditioning = _conditioning(model, 2)
  naive = model._sample_slices(2, 1.0, 5, conditioning, method="naive", record_logits=True)
  graph = model._sample_slices(2, 1.0, 5, conditioning, record_logits=True, jit_compile=False)
  _assert_same_sampling(model, conditioning, naive, graph)


def test_plain_graph_programs_use_ordinary_kernels_only():
  """With `jit_compile=False` the slice program writes its state with the portable
  `update_slice`: no `Xla*` op, which TF Serving could not run; the XLA-compiled default (and
  the codec's program, never exported) keeps `XlaDynamicUpdateSlice`."""
  decoder = STAGES["decoder_rgb"]()._slice_decoder()  # attention caches, 3 gated layers
  h, w, channels = 3, 3, 3
  noise = tf.TensorSpec([None, h, w, channels, 4], tf.float32)
  scalar = tf.TensorSpec([], tf.float32)
  rows = tf.TensorSpec([], tf.int32)

  def xla_ops(function, *specs):
    graph = function.get_concrete_function(*specs).graph.as_graph_def()
    return {op for _, op in graph_xla_only_ops(graph)}

  plain, compiled = CachedSliceSampler(decoder, jit_compile=False), CachedSliceSampler(decoder)
  assert xla_ops(plain._slice_fn, None, noise, scalar, rows, True) == set()
  assert xla_ops(compiled._slice_fn, None, noise, scalar, rows, True) == {
      "XlaDynamicUpdateSlice"}


def _assert_same_sampling(model, conditioning, naive, cached):
  """Same slices, log-probabilities and step logits; the logits are the teacher-forced ones."""
  np.testing.assert_array_equal(cached[0], naive[0])  # identical images
  np.testing.assert_allclose(cached[1], naive[1], rtol=1e-5, atol=1e-4)
  for cached_logits, naive_logits in zip(cached[2], naive[2]):
    np.testing.assert_allclose(cached_logits, naive_logits, atol=1e-4)
  # And both are the model's teacher-forced logits on the images they produced.
  images = model.slicer.merge(cached[0])
  logits_as_image = model.sub_pixel_logits(images, conditioning)  # (B, H, W, C, K)
  teacher = model.slicer.slice(tf.reshape(logits_as_image, [*images.shape[:3], -1]))
  for t, logits in enumerate(cached[2]):
    np.testing.assert_allclose(tf.reshape(logits, teacher[:, t].shape), teacher[:, t],
                               atol=1e-4)


# The default suite upscales with S = 4 on a non-square image; the slow set with S = 2, RGB
# and gray.
@pytest.mark.parametrize("stage, slice_shape", [
    pytest.param("spn_rgb", (2, 2, 3), marks=pytest.mark.slow),
    pytest.param("spn_gray_non_square", (2, 3, 1), marks=pytest.mark.slow),
    ("spn_rgb_s4_non_square", (2, 1, 3))])
def test_size_upscaling_agrees_too(stage, slice_shape):
  model = STAGES[stage]()
  first = np.random.default_rng(1).integers(0, 2**model.bits, (2,) + slice_shape, np.uint8)
  cached = model.sample(2, seed=4, first_slice=first)
  naive = model.sample(2, seed=4, first_slice=first, method="naive")
  np.testing.assert_array_equal(cached, naive)
  np.testing.assert_array_equal(model.slicer.slice(cached)[:, 0], first)


def test_pipeline_methods_agree():
  pipeline = Pipeline(
      slice_decoder=_decoder(image_size=2, bits=2),
      size_upscaler=_spn(image_size=4, scale=2, bits=2),
      depth_upscaler=_spn(image_size=4, scale=2, bits=2, conditioning_bits=2))
  np.testing.assert_array_equal(pipeline.sample(2, seed=8),
                                pipeline.sample(2, seed=8, method="naive"))


def test_cached_sampler_follows_the_distribution():
  model = _spn(image_size=2, scale=2)
  testing.randomize_weights(model, 1.0)
  probs = np.exp(np.asarray(model.log_prob(testing.all_images((2, 2, 1), 1)), np.float64))
  num = 4000
  samples = np.asarray(model.sample(num, seed=21, method="cached"))
  freq = np.bincount(samples.reshape(num, 4) @ (2**np.arange(3, -1, -1)), minlength=16) / num
  assert 0.5 * np.abs(freq - probs).sum() < 0.05


def test_bfloat16_sampling_runs_and_mostly_agrees():
  """`compute_dtype="bfloat16"` is documented as not bit-identical: valid, close images."""
  model = _decoder(image_size=4, channels=3, bits=3)
  exact = np.asarray(model.sample(4, seed=3))
  approx = np.asarray(model.sample(4, seed=3, compute_dtype="bfloat16"))
  assert approx.shape == exact.shape and approx.max() < 8
  assert np.mean(approx == exact) > 0.5


def test_mixed_bfloat16_cached_sampling():
  keras.config.set_dtype_policy("mixed_bfloat16")
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, channels=3))
  images, log_prob = model.sample(2, seed=1, return_log_prob=True)
  assert images.shape == (2, 4, 4, 3) and np.all(np.isfinite(log_prob))


def test_unknown_method():
  with pytest.raises(ValueError, match="`method` must be 'cached' or 'naive'"):
    STAGES["spn_baseline"]().sample(1, method="fast")


# The default suite codes a decoder, a size upscaler (S = 4, non-square) and a depth upscaler;
# the slow set the other stages of STAGES.
CODING_STAGES = ("decoder_kernel5", "spn_rgb_s4_non_square", "depth_upscaler")


def _teacher_forced_chooser(step_logits, row, col, channel, inputs, state):
  """Takes the values fed in `inputs["known"]`; records the step logits and the order in
  which the program asks for the sub-pixels."""
  order = update_slice(state["order"], (state["step"], 0),
                       tf.stack([row, col, tf.constant(channel)])[None])
  logits = update_slice(state["logits"], (0, row, col, channel, 0),
                        step_logits[:, None, None, None])
  return (inputs["known"][:, row, col, channel],
          dict(step=state["step"] + 1, order=order, logits=logits))


def _code_teacher_forced(model, known, **inputs):
  """`code_slices` with `_teacher_forced_chooser` on `known` slices `(B, S*S, h, w, C)`.

  Returns:
    `(coded images, log_prob, {slice: (order (h*w*C, 3), logits (B, h, w, C, K))})`.
  """
  asked = {}

  def code_slice(slice_index, run):
    values = known[:, slice_index]
    state = dict(step=tf.constant(0), order=tf.zeros([values[0].size, 3], tf.int32),
                 logits=tf.zeros(values.shape + (2**model.bits,)))
    _, state = run(_teacher_forced_chooser, dict(known=tf.constant(values)), state)
    asked[slice_index] = (state["order"].numpy(), state["logits"].numpy())

  coded, log_prob = model.code_slices(code_slice, known.shape[0], **inputs)
  return coded, log_prob, asked


@pytest.mark.parametrize("stage", [
    stage if stage in CODING_STAGES else pytest.param(stage, marks=pytest.mark.slow)
    for stage in sorted(STAGES)])
def test_coding_program_is_teacher_forced_on_the_values_it_is_fed(stage):
  """`code_slices` (the codec's path) runs a chooser on each sub-pixel in the model's order
  with the teacher-forced logits, and scores exactly what it was fed: `log_prob` of the
  images."""
  model = STAGES[stage]()
  conditioning = _conditioning(model, 2)
  images = np.random.default_rng(3).integers(0, 2**model.bits, (2,) + model.image_shape,
                                             np.int32)
  known = np.asarray(model.slicer.slice(images))
  logits_as_image = model.sub_pixel_logits(images, conditioning)
  teacher = np.asarray(model.slicer.slice(tf.reshape(logits_as_image, [*images.shape[:3], -1])))
  teacher = teacher.reshape(known.shape + (2**model.bits,))
  coded, log_prob, asked = _code_teacher_forced(model, known, conditioning=conditioning)
  np.testing.assert_array_equal(coded, images)
  s2, h, w, channels = known.shape[1:]
  assert sorted(asked) == list(range(s2))
  raster = [(r, c, g) for r in range(h) for c in range(w) for g in range(channels)]
  for slice_index, (order, logits) in asked.items():
    assert [tuple(step) for step in order] == raster
    np.testing.assert_allclose(logits, teacher[:, slice_index], atol=1e-4)
  np.testing.assert_allclose(log_prob, model.log_prob(images, conditioning), rtol=1e-5,
                             atol=1e-4)


def test_coding_program_with_a_given_first_slice():
  model = STAGES["spn_rgb"]()
  images = np.random.default_rng(4).integers(0, 4, (2, 4, 4, 3), np.int32)
  known = np.asarray(model.slicer.slice(images))
  coded, log_prob, asked = _code_teacher_forced(model, known, first_slice=known[:, 0])
  np.testing.assert_array_equal(coded, images)
  assert sorted(asked) == [1, 2, 3]
  np.testing.assert_allclose(log_prob, model.log_prob(images, first_slice_given=True),
                             rtol=1e-5, atol=1e-4)


def test_a_code_slice_that_does_not_run_the_program_is_an_error():
  model = STAGES["spn_rgb"]()
  with pytest.raises(RuntimeError, match="must run slice 0's program once, ran it 0 times"):
    model.code_slices(lambda slice_index, run: None, 2)
