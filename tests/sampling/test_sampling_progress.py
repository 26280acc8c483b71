import io

import numpy as np
import pytest

from spn_keras import testing
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.sampling import SamplingProgress

from progress_fakes import FakeClock
from progress_fakes import FakeStream
from progress_fakes import terminal_lines


def _spn(**fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(**fields))
  model.build()
  return model


def _bar_lines(text):
  """The progress bar's lines in captured stderr (which may hold TensorFlow's warnings too)."""
  return [line for line in text.splitlines() if " slice " in line and "%" in line]


def _sample_two_stages(stream):
  """One cheap slice, then three slices costing 3 each (10 units), on a fake clock; returns
  the ETAs after each slice."""
  clock = FakeClock()
  bar = SamplingProgress([("decoder", 1, 1.0), ("upscaler", 3, 3.0)], stream, clock)
  etas = [bar.eta_seconds()]
  for stage, seconds in [("decoder", 2.0), ("upscaler", 8.0), ("upscaler", 3.0),
                         ("upscaler", 3.0)]:
    clock.now += seconds  # each stage's first slice is slow (its program is compiled)
    bar.slice_done(stage)
    etas.append(bar.eta_seconds())
  assert bar.fraction == 1.0
  return etas


def test_eta_is_measured_after_each_stages_first_slice_and_weighs_slices_by_cost():
  stream = FakeStream(terminal=False)
  etas = _sample_two_stages(stream)
  # No ETA until a slice after a stage's first one is done: 3 s for 3 units, 3 units left.
  # (Measured from the start it would be 13 s / 7 units * 3 units = 5.6 s.)
  assert etas == [None, None, None, pytest.approx(3.0), pytest.approx(0.0)]
  lines = stream.getvalue().splitlines()
  assert lines[0] == ("decoder: preparing the slice program (tracing and compiling on first "
                      "use)...")  # at once, before any slice
  assert lines[1].startswith("decoder slice 1/1 [===>") and lines[1].endswith(
      " 10% 0:02 elapsed")
  assert lines[2].startswith("upscaler: preparing the slice program")
  assert lines[3].startswith("upscaler slice 1/3 [") and lines[3].endswith("40% 0:10 elapsed")
  assert lines[4].startswith("upscaler slice 2/3 [") and lines[4].endswith(
      " 70% 0:13 elapsed, ETA 0:03")
  assert lines[5].endswith("100% 0:16 in all") and len(lines) == 6


def test_eta_allows_for_preparing_the_stages_yet_to_start():
  clock = FakeClock()
  bar = SamplingProgress([("a", 1, 1.0), ("b", 3, 1.0), ("c", 2, 1.0)], FakeStream(False), clock)
  for stage, seconds in [("a", 5.0), ("b", 7.0), ("b", 1.0)]:
    clock.now += seconds
    bar.slice_done(stage)
  # 1 s per unit; the first slices took 4 s and 6 s beyond that: 5 s for c's, and 3 units.
  assert bar.eta_seconds() == pytest.approx(8.0)
  clock.now += 1.0
  bar.slice_done("b")
  clock.now += 6.0
  bar.slice_done("c")
  assert bar.eta_seconds() == pytest.approx(1.0)  # every stage started: 1 unit left


def test_on_a_terminal_each_redraw_clears_the_line():
  stream = FakeStream(terminal=True)
  _sample_two_stages(stream)
  text = stream.getvalue()
  # Every state redraws the same line; only the last one ends it.
  assert text.count("\r") == 6 and text.count("\x1b[K") == 6 and text.count("\n") == 1
  # Longer states (the "preparing" lines, "ETA 0:03") left nothing behind the last one.
  last = terminal_lines(text)
  assert last[1:] == [""] and last[0].startswith("upscaler slice 3/3 [")
  assert last[0].endswith("] 100% 0:16 in all")


def test_a_caller_interleaving_stages_says_when_one_starts():
  stream, clock = FakeStream(terminal=False), FakeClock()
  bar = SamplingProgress([("decoder", 2, 1.0), ("upscaler", 2, 1.0)], stream, clock)
  bar.slice_done("decoder")  # batch 1
  bar.stage_started("upscaler")
  clock.now += 5.0
  bar.slice_done("upscaler")
  bar.stage_started("decoder")  # batch 2: its program is ready, nothing to say
  clock.now += 1.0
  bar.slice_done("decoder")
  assert bar.eta_seconds() == pytest.approx(1.0)  # 1 s per unit, the upscaler's slice left
  notes = [line.split(":")[0] for line in stream.getvalue().splitlines() if "preparing" in line]
  assert notes == ["decoder", "upscaler"]


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
  err = capsys.readouterr().err
  lines = _bar_lines(err)
  notes = [line.split(":")[0] for line in err.splitlines() if "preparing the slice" in line]
  assert notes == ["slice_decoder", "size_upscaler", "depth_upscaler"]
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
