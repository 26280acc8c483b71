import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.ops import split_bits
from spn_keras.pipelines import Pipeline
from spn_keras.pipelines.stage_plan import StagePlan

# Every valid stage combination: `{stage: (produces, given, slices generated)}` in order.
COMBINATIONS = {
    ("slice_decoder",): {"slice_decoder": ("low", None, 1)},
    ("size_upscaler",): {"size_upscaler": ("low", None, 4)},
    ("size_upscaler", "depth_upscaler"): {"size_upscaler": ("low", None, 4),
                                          "depth_upscaler": ("lsb", "low", 4)},
    ("slice_decoder", "size_upscaler"): {"slice_decoder": ("first_slice", None, 1),
                                         "size_upscaler": ("low", "first_slice", 3)},
    ("slice_decoder", "depth_upscaler"): {"slice_decoder": ("low", None, 1),
                                          "depth_upscaler": ("lsb", "low", 4)},
    ("slice_decoder", "size_upscaler", "depth_upscaler"): {
        "slice_decoder": ("first_slice", None, 1),
        "size_upscaler": ("low", "first_slice", 3),
        "depth_upscaler": ("lsb", "low", 4)},
}


@pytest.fixture(scope="module")
def stages():
  """4x4x1 images at 2 + 2 bits: the tiny MDU stages, and a slice decoder of the whole
  low-depth image (for pipelines without a size upscaler)."""
  mdu = testing.tiny_mdu_pipeline(4, low_bits=2, high_bits=2, stddev=0.5)
  whole = SliceDecoder(SliceDecoderConfig.tiny(image_size=4, channels=1, bits=2))
  whole.build()
  testing.randomize_weights(whole, 0.5, 7)
  return {"mdu": mdu.stages, "whole_image_decoder": whole}


def _pipeline(stages, names):
  kwargs = {name: stages["mdu"][name] for name in names}
  if "size_upscaler" not in names:
    kwargs["slice_decoder"] = stages["whole_image_decoder"]
  return Pipeline(**kwargs)


def _images(pipeline, count=3, seed=0):
  shape = (count, *pipeline.image_shape)
  return tf.constant(np.random.default_rng(seed).integers(0, 2**pipeline.bits, shape), tf.int32)


@pytest.mark.parametrize("names", list(COMBINATIONS))
def test_each_step_produces_and_is_given_its_part(stages, names):
  pipeline = _pipeline(stages, names)
  plan = StagePlan(pipeline)
  assert [step.name for step in plan.steps] == list(names)
  assert {step.name: (step.produces, step.given, step.num_slices)
          for step in plan.steps} == COMBINATIONS[names]
  assert all(step.model is pipeline.stages[step.name] for step in plan.steps)
  assert all(plan.step(step.name) is step for step in plan.steps)


@pytest.mark.parametrize("names", list(COMBINATIONS))
def test_parts_are_the_per_stage_views_of_the_image(stages, names):
  """`split`: the low-depth image, its low bits and slice 0 (SPN_SPEC section 6); `join`
  inverts it, and `inputs` / `view` hand each stage its given part."""
  pipeline = _pipeline(stages, names)
  plan = StagePlan(pipeline)
  images = _images(pipeline)
  parts = plan.split(images)
  low, lsb = images, None
  if pipeline.depth_upscaler is not None:
    low, lsb = split_bits(images, pipeline.low_bits, total_bits=pipeline.bits)
  expected = {"low": low}
  if lsb is not None:
    expected["lsb"] = lsb
  if set(names) >= {"slice_decoder", "size_upscaler"}:
    expected["first_slice"] = low[:, ::2, ::2]
  assert sorted(parts) == sorted(expected)
  for part, values in expected.items():
    np.testing.assert_array_equal(parts[part], values)
  np.testing.assert_array_equal(plan.join(parts), images)
  for step in plan.steps:
    keyword = {None: None, "first_slice": "first_slice", "low": "conditioning"}[step.given]
    assert step.inputs(parts) == ({} if keyword is None else {keyword: parts[step.given]})
    assert step.view(parts).keys() == ({"images", "conditioning"} if step.given == "low"
                                       else {"images"})


@pytest.mark.parametrize("names", list(COMBINATIONS))
def test_step_log_probs_are_the_stages_own(stages, names):
  """Each step scores what the stage scores by hand (the pipeline's terms before the plan)."""
  pipeline = _pipeline(stages, names)
  plan = StagePlan(pipeline)
  images = _images(pipeline, seed=1)
  low, lsb = images, None
  if pipeline.depth_upscaler is not None:
    low, lsb = split_bits(images, pipeline.low_bits, total_bits=pipeline.bits)
  expected = {}
  if pipeline.size_upscaler is None:
    expected["slice_decoder"] = pipeline.slice_decoder.log_prob(low)
  elif pipeline.slice_decoder is None:
    expected["size_upscaler"] = pipeline.size_upscaler.log_prob(low)
  else:
    expected["slice_decoder"] = pipeline.slice_decoder.log_prob(low[:, ::2, ::2])
    expected["size_upscaler"] = pipeline.size_upscaler.log_prob(low, first_slice_given=True)
  if lsb is not None:
    expected["depth_upscaler"] = pipeline.depth_upscaler.log_prob(lsb, conditioning=low)
  parts = plan.split(images)
  assert [step.name for step in plan.steps] == list(expected)
  for step in plan.steps:
    np.testing.assert_array_equal(step.log_prob(parts), expected[step.name])


def test_run_feeds_each_step_what_the_steps_before_it_produced(stages):
  names = ("slice_decoder", "size_upscaler", "depth_upscaler")
  pipeline = _pipeline(stages, names)
  plan = StagePlan(pipeline)
  images = _images(pipeline, seed=2)
  parts = plan.split(images)
  calls = []

  def run_step(step, inputs):
    calls.append((step.name, {key: value.numpy() for key, value in inputs.items()}))
    return parts[step.produces]

  np.testing.assert_array_equal(plan.run(run_step), images)
  assert [(name, sorted(inputs)) for name, inputs in calls] == [
      ("slice_decoder", []), ("size_upscaler", ["first_slice"]),
      ("depth_upscaler", ["conditioning"])]
  np.testing.assert_array_equal(calls[1][1]["first_slice"], parts["first_slice"])
  np.testing.assert_array_equal(calls[2][1]["conditioning"], parts["low"])


@pytest.mark.parametrize("names, known, expected", [
    (("slice_decoder", "size_upscaler", "depth_upscaler"), ("first_slice",),
     {"size_upscaler": ("low", "first_slice", 3), "depth_upscaler": ("lsb", "low", 4)}),
    (("slice_decoder", "size_upscaler", "depth_upscaler"), ("low",),
     {"depth_upscaler": ("lsb", "low", 4)}),
    (("size_upscaler",), ("first_slice",), {"size_upscaler": ("low", "first_slice", 3)}),
    (("size_upscaler", "depth_upscaler"), ("low",), {"depth_upscaler": ("lsb", "low", 4)}),
    (("slice_decoder", "depth_upscaler"), ("low",), {"depth_upscaler": ("lsb", "low", 4)}),
])
def test_a_plan_from_known_parts_runs_the_stages_after_them(stages, names, known, expected):
  """`upscale`: a thumbnail is slice 0 of the size upscaler, even without a slice decoder."""
  plan = StagePlan(_pipeline(stages, names), known)
  assert {step.name: (step.produces, step.given, step.num_slices)
          for step in plan.steps} == expected


def test_unknown_known_parts_are_refused(stages):
  with pytest.raises(ValueError, match="`known` must name parts"):
    StagePlan(_pipeline(stages, ("size_upscaler",)), ("lsb",))


@pytest.mark.parametrize("names, expected", [
    (("slice_decoder", "size_upscaler", "depth_upscaler"),
     {(2, 2, 1): (("first_slice",), ["size_upscaler", "depth_upscaler"]),
      (4, 4, 1): (("low",), ["depth_upscaler"])}),
    (("size_upscaler",), {(2, 2, 1): (("first_slice",), ["size_upscaler"])}),
    (("size_upscaler", "depth_upscaler"),
     {(2, 2, 1): (("first_slice",), ["size_upscaler", "depth_upscaler"]),
      (4, 4, 1): (("low",), ["depth_upscaler"])}),
    (("slice_decoder", "depth_upscaler"), {(4, 4, 1): (("low",), ["depth_upscaler"])}),
    (("slice_decoder",), {}),
])
def test_upscale_plans_start_from_the_part_an_input_of_each_shape_is(stages, names, expected):
  """`Pipeline.upscale_plan`, which `upscale`, `spn_sample --upscale` and the exported upscaling
  signatures follow: slice-size inputs are slice 0, full-size ones the low-depth image."""
  pipeline = _pipeline(stages, names)
  assert [tuple(shape) for shape in pipeline.upscale_shapes] == list(expected)
  for shape, (known, stage_names) in expected.items():
    plan = pipeline.upscale_plan(shape)
    assert (plan.known, plan.stage_names) == (known, stage_names)
  with pytest.raises(ValueError, match=r"`images` must have shape \(B, h, w, C\) in .*\(B, 3, 3, 1\)"):
    pipeline.upscale_plan((3, 3, 1))
