"""`stage_temperatures` directly; tests/pipelines/test_pipeline.py checks the same errors as
`Pipeline.sample` raises them."""

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.pipelines.stage_temperatures import stage_temperatures

NAMES = ["slice_decoder", "size_upscaler", "depth_upscaler"]


@pytest.mark.parametrize("temperatures, expected", [
    (0.9, {"slice_decoder": 0.9, "size_upscaler": 0.9, "depth_upscaler": 0.9}),
    (np.float32(0.5), {"slice_decoder": 0.5, "size_upscaler": 0.5, "depth_upscaler": 0.5}),
    (np.array(2.0), {"slice_decoder": 2.0, "size_upscaler": 2.0, "depth_upscaler": 2.0}),
    ((0.99, 1.0, 0.8), {"slice_decoder": 0.99, "size_upscaler": 1.0, "depth_upscaler": 0.8}),
    (np.array([0.7, 0.8, 0.9]), {"slice_decoder": 0.7, "size_upscaler": 0.8,
                                 "depth_upscaler": 0.9}),
    ({"size_upscaler": 0.5}, {"slice_decoder": 1.0, "size_upscaler": 0.5, "depth_upscaler": 1.0}),
])
def test_every_form_gives_one_float_per_stage(temperatures, expected):
  result = stage_temperatures(NAMES, temperatures)
  assert list(result) == NAMES
  assert result == pytest.approx(expected)


def test_scalar_tensors_of_a_traced_graph_are_kept():
  scalar = tf.constant(0.5)
  assert all(value is scalar for value in stage_temperatures(NAMES, scalar).values())
  per_stage = [tf.constant(t) for t in (0.5, 0.6, 0.7)]
  result = stage_temperatures(NAMES, per_stage)
  assert [result[name] for name in NAMES] == per_stage


@pytest.mark.parametrize("temperatures, error, match", [
    ((1.0, 1.0), ValueError, r"one value per stage \['slice_decoder', 'size_upscaler', "
                             r"'depth_upscaler'\], got 2"),
    ({"decoder": 1.0}, ValueError, r"names unknown stages \['decoder'\]"),
    (-1.0, ValueError, "`temperatures` must be a finite number > 0"),
    ({"depth_upscaler": 0.0}, ValueError,
     r"`temperatures\['depth_upscaler'\]` must be a finite number > 0"),
    ("1.0", TypeError, "`temperatures` must be a positive number, a sequence"),
])
def test_mistakes_name_the_stage_and_what_is_expected(temperatures, error, match):
  with pytest.raises(error, match=match):
    stage_temperatures(NAMES, temperatures)
