import io

import numpy as np
import pytest

from spn_keras import testing
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.sampling import SamplingProgress


def _spn(**fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(**fields))
  model.build()
  return model


class _Clock:
  """A clock the test advances by hand."""

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    return self.now


def _bar_lines(text):
  """The progress bar's lines in captured stderr (which may hold TensorFlow's warnings too)."""
  return [line for line in text.splitlines() if " slice " in line and "%" in line]


def test_eta_weighs_slices_by_their_cost():
  clock, stream = _Clock(), io.StringIO()
  # One cheap slice, then three slices costing 3 each: 10 units in all.
  bar = SamplingProgress([("decoder", 1, 1.0), ("upscaler", 3, 3.0)], stream, clock)
  assert bar.eta_seconds() is None
  clock.now += 2.0  # the cheap slice took 2 s: 2 s per unit
  bar.slice_done("decoder")
  assert bar.fraction == pytest.approx(0.1)
  assert bar.eta_seconds() == pytest.approx(18.0)  # 9 units left at 2 s each
  clock.now += 6.0
  bar.slice_done("upscaler")
  assert bar.eta_seconds() == pytest.approx(12.0)  # 8 s for 4 units; 6 left
  lines = stream.getvalue().splitlines()
  assert lines[0].startswith("decoder slice 1/1 [") and "10%" in lines[0]
  assert "0:08 elapsed, ETA 0:12" in lines[1] and "upscaler slice 1/3" in lines[1]
  clock.now += 12.0
  bar.slice_done("upscaler")
  bar.slice_done("upscaler")
  assert bar.fraction == 1.0 and stream.getvalue().splitlines()[-1].endswith("0:20 in all")


def test_bad_stage_and_too_many_slices():
  bar = SamplingProgress([("decoder", 1, 1.0)], io.StringIO())
  with pytest.raises(ValueError, match="Unknown stage 'upscaler'"):
    bar.slice_done("upscaler")
  bar.slice_done("decoder")
  with pytest.raises(ValueError, match="only 1 slices"):
    bar.slice_done("decoder")


def test_progress_bar_counts_slices(capsys):
  model = _spn(image_size=4, scale=2, channels=3, bits=2)
  model.sample(1, seed=0, progress=True)
  lines = _bar_lines(capsys.readouterr().err)
  assert len(lines) == 4 and "slice 4/4" in lines[-1] and "100%" in lines[-1]


def test_progress_callback_runs_once_per_slice():
  calls = []
  _spn(image_size=(8, 4), scale=4, channels=3).sample(1, seed=0, progress=lambda: calls.append(1))
  assert len(calls) == 16


def test_pipeline_sample_shows_one_bar_over_all_stages(capsys):
  pipeline = testing.tiny_mdu_pipeline(4, low_bits=2, high_bits=2, stddev=0.5)
  images = pipeline.sample(2, seed=3, progress=True)
  lines = _bar_lines(capsys.readouterr().err)
  # 1 decoder slice, 3 size-upscaler slices (slice 0 is given), 4 depth-upscaler slices.
  assert [line.split(" [")[0] for line in lines] == (
      ["slice_decoder slice 1/1"] + [f"size_upscaler slice {i}/3" for i in (1, 2, 3)]
      + [f"depth_upscaler slice {i}/4" for i in (1, 2, 3, 4)])
  percents = [int(line.split("] ")[1].split("%")[0]) for line in lines]
  assert percents == sorted(percents) and percents[-1] == 100
  np.testing.assert_array_equal(images, pipeline.sample(2, seed=3))  # same images without it
  upscaled = pipeline.upscale(np.asarray(images)[:, ::2, ::2], seed=1, progress=True)
  lines = _bar_lines(capsys.readouterr().err)
  assert len(lines) == 7 and lines[0].startswith("size_upscaler slice 1/3")
  assert upscaled.shape == (2, 4, 4, 1)
