"""`StageStep` on its own: what tests/pipelines/test_stage_plan.py leaves out (the plan's steps,
the keys of `view` and `log_prob` against each stage's own are checked there)."""

import dataclasses
import types

import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.pipelines.stage_plan import StagePlan
from spn_keras.pipelines.stage_step import StageStep


@pytest.fixture(scope="module")
def plan_and_parts():
  """The tiny MDU pipeline's plan on 4x4x1 images at 2 + 2 bits, the depth upscaler at
  `S = 1`, and the parts of three images."""
  pipeline = testing.tiny_mdu_pipeline(4, low_bits=2, high_bits=2, depth_scale=1, stddev=0.5)
  plan = StagePlan(pipeline)
  images = tf.constant(np.random.default_rng(3).integers(0, 16, (3, 4, 4, 1)), tf.int32)
  return plan, plan.split(images)


class _RecordingModel:
  """A stand-in stage: records how `log_prob` is called, returns one value per image."""

  def __init__(self, scale=2):
    self.scale = scale
    self.calls = []

  def log_prob(self, images, **kwargs):
    self.calls.append((images, kwargs))
    return -tf.ones([3])


@pytest.mark.parametrize("scale, given, expected", [
    (1, None, 1), (1, "low", 1), (2, None, 4), (2, "first_slice", 3), (3, None, 9),
    (3, "first_slice", 8), (4, "low", 16), (4, "first_slice", 15),
])
def test_num_slices_is_the_scale_squared_less_a_given_first_slice(scale, given, expected):
  step = StageStep("stage", types.SimpleNamespace(scale=scale), "low", given)
  assert step.num_slices == expected


def test_a_step_is_frozen_and_given_nothing_by_default():
  step = StageStep("stage", None, "image")
  assert step.given is None
  with pytest.raises(dataclasses.FrozenInstanceError):
    step.given = "low"


def test_view_hands_each_stage_its_own_tensors(plan_and_parts):
  """The values, not only the keys: a size upscaler's first slice stays in its images."""
  plan, parts = plan_and_parts
  views = {step.name: step.view(parts) for step in plan.steps}
  expected = {"slice_decoder": {"images": "first_slice"}, "size_upscaler": {"images": "low"},
              "depth_upscaler": {"images": "lsb", "conditioning": "low"}}
  assert {name: sorted(view) for name, view in views.items()} == {
      name: sorted(keys) for name, keys in expected.items()}
  for name, keys in expected.items():
    assert all(views[name][key] is parts[part] for key, part in keys.items()), name


def test_view_of_one_unbatched_image(plan_and_parts):
  """`Pipeline.stage_view` maps it over a dataset's single images."""
  plan, parts = plan_and_parts
  one = {part: values[1] for part, values in parts.items()}
  view = plan.step("depth_upscaler").view(one)
  assert {key: tuple(value.shape) for key, value in view.items()} == {
      "images": (4, 4, 1), "conditioning": (4, 4, 1)}
  np.testing.assert_array_equal(view["images"], parts["lsb"][1])


def test_inputs_take_only_the_given_part(plan_and_parts):
  plan, parts = plan_and_parts
  extra = {**parts, "other": tf.zeros([1])}
  assert plan.step("slice_decoder").inputs(extra) == {}
  assert plan.step("size_upscaler").inputs(extra) == {"first_slice": parts["first_slice"]}
  assert plan.step("depth_upscaler").inputs(extra) == {"conditioning": parts["low"]}


def test_inputs_without_the_given_part_name_it(plan_and_parts):
  plan, parts = plan_and_parts
  with pytest.raises(KeyError, match="'low'"):
    plan.step("depth_upscaler").inputs({"lsb": parts["lsb"]})
  with pytest.raises(KeyError, match="'first_slice'"):
    plan.step("size_upscaler").inputs({"low": parts["low"]})


@pytest.mark.parametrize("given, expected_keywords", [
    (None, {}),
    ("first_slice", {"first_slice_given": True}),
    ("low", {"conditioning": "low"}),
])
def test_log_prob_calls_the_stage_on_its_part_with_its_keywords(given, expected_keywords):
  """A size upscaler given slice 0 scores slices `1 ..` of its images (`first_slice_given`),
  not the first slice as an input; a depth upscaler is given the low-depth image."""
  parts = {"low": tf.fill([3, 4, 4, 1], 1), "lsb": tf.fill([3, 4, 4, 1], 2),
           "first_slice": tf.fill([3, 2, 2, 1], 3)}
  model = _RecordingModel()
  produces = "lsb" if given == "low" else "low"
  np.testing.assert_array_equal(StageStep("stage", model, produces, given).log_prob(parts),
                                [-1.0, -1.0, -1.0])
  [(images, kwargs)] = model.calls
  assert images is parts[produces]
  assert kwargs == {key: parts[value] if key == "conditioning" else value
                    for key, value in expected_keywords.items()}


def test_a_given_first_slice_is_not_scored(plan_and_parts):
  """`log p(slices 1 .. | slice 0)` is the full `log p(slices 0 ..)` less `log p(slice 0)`
  (< 0): higher for every image; the same stage given nothing scores all of its slices."""
  plan, parts = plan_and_parts
  step = plan.step("size_upscaler")
  alone = StageStep(step.name, step.model, step.produces)  # the same stage, nothing given
  given_first, whole = step.log_prob(parts).numpy(), alone.log_prob(parts).numpy()
  assert given_first.shape == whole.shape == (3,)
  assert np.all(given_first > whole)
  np.testing.assert_array_equal(whole, step.model.log_prob(parts["low"]))
