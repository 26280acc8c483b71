import json
import re
import shutil

from absl import app
from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import data
from spn_keras import testing
from spn_keras import zoo
from spn_keras.cli import evaluate
from spn_keras.cli import train
from spn_keras.pipelines import load_pipeline
from spn_keras.pipelines.pipeline import STAGES
from spn_keras.pipelines import serialization
from spn_keras.presets.preset_folders import read_pipeline_json

from progress_fakes import FakeClock
from progress_fakes import FakeStream
from progress_fakes import terminal_lines


@pytest.fixture(scope="module")
def tiny_mnist_pipeline(tmp_path_factory):
  """A random-weight `minimal` MDU pipeline for 28x28 gray images (3 + 5 bits), saved as a
  folder (the tool is what these tests are about, not the stages' layers)."""
  pipeline = testing.tiny_mdu_pipeline(28, stddev=0.3, minimal=True)
  path = tmp_path_factory.mktemp("pipelines") / "tiny_mnist"
  pipeline.save(path, metadata={"name": "tiny_mnist", "dataset": "mnist5k"})
  return pipeline, str(path)


def test_spn_eval_matches_pipeline_bits_per_dim(tiny_mnist_pipeline):
  pipeline, path = tiny_mnist_pipeline
  result = evaluate.evaluate(path, split="test", batch_size=8, max_examples=20)
  assert result["num_examples"] == 20 and result["dataset"] == "mnist5k"
  images = next(iter(data.make_dataset("mnist5k", "test", batch_size=20, autotune=False)))
  expected = {k: float(np.mean(v)) for k, v in pipeline.bits_per_dim(images).items()}
  assert set(result["bits_per_dim"]) == set(expected)
  for name, value in expected.items():
    assert abs(result["bits_per_dim"][name] - value) < 1e-5, name


@pytest.mark.parametrize("stage", ["slice_decoder", "size_upscaler", "depth_upscaler"])
def test_one_stage_matches_its_pipeline_term(tiny_mnist_pipeline, stage):
  pipeline, path = tiny_mnist_pipeline
  result = evaluate.evaluate(path, split="test", batch_size=8, max_examples=12, stage=stage)
  images = next(iter(data.make_dataset("mnist5k", "test", batch_size=12, autotune=False)))
  expected = float(np.mean(pipeline.bits_per_dim(images)[stage]))
  assert abs(result["bits_per_dim"][stage] - expected) < 1e-5


def test_corrupt_weights_are_refused(tiny_mnist_pipeline, tmp_path):
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "copy"
  shutil.copytree(path, copy)
  weights = copy / "depth_upscaler" / "model.weights.h5"
  raw = bytearray(weights.read_bytes())
  raw[len(raw) // 2] ^= 0xFF
  weights.write_bytes(bytes(raw))
  with pytest.raises(ValueError, match="depth_upscaler.*corrupt or not the one recorded"):
    evaluate.evaluate(str(copy), max_examples=2)


def test_record_writes_the_figures_into_the_metadata(tiny_mnist_pipeline, tmp_path):
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "recorded"
  shutil.copytree(path, copy)
  result = evaluate.evaluate(str(copy), max_examples=4, batch_size=4)
  serialization.update_pipeline_metadata(str(copy), evaluate.recorded_figures(result))
  metadata = read_pipeline_json(str(copy))["metadata"]
  assert metadata["test_num_examples"] == 4 and metadata["dataset"] == "mnist5k"
  assert metadata["test_bits_per_dim"] == result["bits_per_dim"]["total"]
  assert metadata["depth_upscaler_test_bits_per_dim"] == result["bits_per_dim"]["depth_upscaler"]
  load_pipeline(str(copy))  # digests still check out


def test_record_names_the_dataset_the_figures_come_from(tiny_mnist_pipeline, tmp_path):
  """A pipeline trained on one dataset and evaluated on another records the second, so that
  a later `spn_eval` without --dataset measures the same figures."""
  _, path = tiny_mnist_pipeline
  copy = tmp_path / "recorded"
  shutil.copytree(path, copy)
  serialization.update_pipeline_metadata(str(copy), {"dataset": "folder:/elsewhere@28"})
  result = evaluate.evaluate(str(copy), dataset="mnist5k", max_examples=4, batch_size=4)
  serialization.update_pipeline_metadata(str(copy), evaluate.recorded_figures(result))
  assert read_pipeline_json(str(copy))["metadata"]["dataset"] == "mnist5k"
  assert evaluate.evaluate(str(copy), max_examples=4, batch_size=4) == result


def _gray_png_folder(folder, shapes_per_split):
  """Writes random gray PNGs into `folder`, named so that `folder:` puts them in their split.

  Args:
    folder: a `pathlib.Path`.
    shapes_per_split: `{"train": [(H, W), ...], "test": [...]}`.

  Returns:
    `{split: [(file name, uint8 (H, W, 1)), ...]}` in the order `folder:` reads them.
  """
  rng = np.random.default_rng(0)
  names = (f"digit{i:03d}.png" for i in range(1000))
  written = {}
  for split, shapes in shapes_per_split.items():
    written[split] = []
    for shape in shapes:
      name = next(n for n in names if data.folder_split(n) == split)
      image = rng.integers(0, 256, size=(*shape, 1), dtype=np.uint8)
      folder.mkdir(parents=True, exist_ok=True)
      (folder / name).write_bytes(tf.io.encode_png(image).numpy())
      written[split].append((name, image))
  return written


def _run_main(main, arguments, capsys):
  """Runs a tool's `main` with `arguments` as its command line; returns what it printed."""
  flags.FLAGS(arguments)
  try:
    main(arguments[:1])
  finally:
    flags.FLAGS.unparse_flags()
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_gray_png_folder_trains_and_evaluates_every_stage_of_a_28x28_pipeline(
    tiny_mnist_pipeline, tmp_path, capsys):
  """Issue 27: 28 x 28 gray PNGs were refused as (B, None, None, 3) by every stage. The
  stages are the `minimal` tiny 28 x 28 gray MDU pipeline's (`--config`; mnist28_mdu's widths
  cost 30 s, attention layers 10 s, and neither changes what the input pipeline reads:
  `tests/cli/test_train.py` trains `--zoo=mnist28_mdu` itself)."""
  _, config = tiny_mnist_pipeline
  images = _gray_png_folder(tmp_path / "digits", {"train": [(28, 28)] * 4,
                                                  "test": [(28, 28)] * 3})
  spec = f"folder:{tmp_path / 'digits'}"
  pipeline_dir = tmp_path / "pipeline"
  for stage in STAGES:
    result = _run_main(train.main, [
        "spn_train", f"--config={config}", f"--stage={stage}", f"--dataset={spec}",
        f"--model_dir={tmp_path / 'runs'}", f"--pipeline_dir={pipeline_dir}",
        "--train_steps=1", "--batch_size=2", "--log_every=1", "--checkpoint_every=1"], capsys)
    assert result["step"] == 1 and result["test_bits_per_dim"] > 0, stage
  result = _run_main(evaluate.main, ["spn_eval", f"--pipeline={pipeline_dir}"], capsys)
  assert result["dataset"] == spec and result["num_examples"] == len(images["test"])
  assert set(result["bits_per_dim"]) == {*STAGES, "total"}
  # spn_train measured each stage on the same test images: spn_eval's terms are those figures.
  metadata = read_pipeline_json(str(pipeline_dir))["metadata"]
  for stage in STAGES:
    assert abs(result["bits_per_dim"][stage] - metadata[f"{stage}_test_bits_per_dim"]) < 1e-4


@pytest.mark.parametrize("stage", [None, "depth_upscaler"])
def test_spn_eval_names_the_file_of_a_wrong_size(tiny_mnist_pipeline, tmp_path, stage, capsys):
  _, path = tiny_mnist_pipeline
  images = _gray_png_folder(tmp_path / "digits", {"test": [(28, 28), (20, 24)]})
  spec = f"folder:{tmp_path / 'digits'}"
  wrong = tmp_path / "digits" / images["test"][1][0]
  arguments = ["spn_eval", f"--pipeline={path}", f"--dataset={spec}", "--batch_size=1"]
  with pytest.raises(app.UsageError, match="^" + re.escape(
      f"Image file {wrong} is 20 x 24 pixels, not the 28 x 28 asked for (`image_shape`) from "
      f"{spec}; add @28 to the spec to crop and resize its images.") + "$"):
    _run_main(evaluate.main, arguments + ([f"--stage={stage}"] if stage else []), capsys)
  assert not capsys.readouterr().out


@pytest.mark.parametrize("stage", [None, "slice_decoder"])
def test_spn_eval_refuses_rgb_data_for_a_gray_pipeline(tiny_mnist_pipeline, stage, capsys):
  _, path = tiny_mnist_pipeline
  arguments = ["spn_eval", f"--pipeline={path}", "--dataset=photos32"]
  with pytest.raises(app.UsageError, match=(
      "Dataset 'photos32' has RGB \\(3-channel\\) images, not the gray \\(1-channel\\) images "
      "asked for")):
    _run_main(evaluate.main, arguments + ([f"--stage={stage}"] if stage else []), capsys)


@pytest.fixture(scope="module")
def partial_mnist28_mdu(tmp_path_factory):
  """mnist28_mdu with random weights, and a folder holding only its depth upscaler (as
  `spn_train --zoo=mnist28_mdu --stage=depth_upscaler --pipeline_dir=...` leaves it)."""
  pipeline = zoo.get("mnist28_mdu").build_pipeline()
  path = str(tmp_path_factory.mktemp("pipelines") / "my_mnist")
  serialization.save_pipeline_stage(path, "depth_upscaler", pipeline.depth_upscaler,
                                    metadata={"name": "mnist28_mdu", "dataset": "mnist5k"})
  images = next(iter(data.make_dataset("mnist5k", "test", batch_size=4, autotune=False)))
  terms = {k: float(np.mean(v)) for k, v in pipeline.bits_per_dim(images).items()}
  return pipeline, path, terms


def test_a_folder_holding_only_a_depth_upscaler_evaluates_it_alone(partial_mnist28_mdu, capsys):
  """Issue 28: the whole pipeline was built first ("A pipeline needs a slice_decoder ...")."""
  _, path, terms = partial_mnist28_mdu
  result = _run_main(evaluate.main, ["spn_eval", f"--pipeline={path}", "--stage=depth_upscaler",
                                     "--max_examples=4", "--batch_size=4"], capsys)
  assert result["num_examples"] == 4 and set(result["bits_per_dim"]) == {"depth_upscaler"}
  # Its view (the low 5 bits given the high 3) is the one of the whole pipeline's term.
  assert abs(result["bits_per_dim"]["depth_upscaler"] - terms["depth_upscaler"]) < 1e-5


def test_without_stage_the_stages_held_are_scored_and_the_missing_ones_named(
    partial_mnist28_mdu, capsys):
  _, path, terms = partial_mnist28_mdu
  result = _run_main(evaluate.main, ["spn_eval", f"--pipeline={path}", "--max_examples=4",
                                     "--batch_size=4"], capsys)
  assert result["missing_stages"] == ["slice_decoder", "size_upscaler"]
  assert set(result["bits_per_dim"]) == {"depth_upscaler"}  # no total
  assert abs(result["bits_per_dim"]["depth_upscaler"] - terms["depth_upscaler"]) < 1e-5


def test_two_of_three_stages_are_scored_and_the_third_named(partial_mnist28_mdu, tmp_path):
  """Issue 28: was "`depth_upscaler` must model images (14, 14, 1), got (28, 28, 1)"."""
  pipeline, path, terms = partial_mnist28_mdu
  copy = tmp_path / "two_stages"
  shutil.copytree(path, copy)
  serialization.save_pipeline_stage(str(copy), "slice_decoder", pipeline.slice_decoder)
  result = evaluate.evaluate(str(copy), max_examples=4, batch_size=4)
  assert result["missing_stages"] == ["size_upscaler"]
  assert set(result["bits_per_dim"]) == {"slice_decoder", "depth_upscaler"}
  for stage, value in result["bits_per_dim"].items():
    assert abs(value - terms[stage]) < 1e-5, stage


def test_a_stage_the_folder_lacks_is_named(partial_mnist28_mdu, capsys):
  _, path, _ = partial_mnist28_mdu
  with pytest.raises(app.UsageError, match=re.escape(
      f"--stage=slice_decoder: {path} holds depth_upscaler only (it lacks slice_decoder, "
      f"size_upscaler).")):
    _run_main(evaluate.main, ["spn_eval", f"--pipeline={path}", "--stage=slice_decoder"], capsys)


def test_partial_stages_of_no_zoo_model_are_refused(tiny_mnist_pipeline, tmp_path):
  pipeline, _ = tiny_mnist_pipeline
  path = str(tmp_path / "partial")
  serialization.save_pipeline_stage(path, "depth_upscaler", pipeline.depth_upscaler,
                                    metadata={"name": "tiny_mnist", "dataset": "mnist5k"})
  with pytest.raises(ValueError, match=re.escape(
      f"{path} holds depth_upscaler only, which do not make a pipeline (A pipeline needs a "
      f"`slice_decoder` or a `size_upscaler` to generate the low-depth image.), and its "
      f"metadata names no zoo model with these stages (name: 'tiny_mnist') to take the "
      f"missing stages' shapes from.")):
    evaluate.evaluate(path, stage="depth_upscaler", max_examples=2)


@pytest.mark.parametrize("flag", ["--zoo", "--pipeline"])
def test_a_zoo_name_is_evaluated_from_any_folder(flag, tmp_path, monkeypatch, capsys):
  """Issue 28: `--zoo` was ignored, `--pipeline=mnist28_mdu` a traceback, and
  `--pipeline=zoo/mnist28_mdu` worked only from the checkout."""
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("SPN_KERAS_HOME", str(tmp_path / "home"))  # the shipped weights
  result = _run_main(evaluate.main, ["spn_eval", f"{flag}=mnist28_mdu", "--split=test",
                                     "--max_examples=3", "--batch_size=3"], capsys)
  assert result["num_examples"] == 3 and "missing_stages" not in result
  bits = result["bits_per_dim"]
  assert set(bits) == {*STAGES, "total"}
  assert abs(sum(bits[stage] for stage in STAGES) - bits["total"]) < 1e-4
  assert 0 < bits["total"] < 3  # trained weights: far below the 8 bits/dim of random ones


@pytest.mark.parametrize("arguments", [["--zoo=mnist28_mdu", "--pipeline=zoo/mnist28_mdu"], []])
def test_exactly_one_of_zoo_and_pipeline(arguments, capsys):
  with pytest.raises(app.UsageError, match="^Give exactly one of --zoo .* and --pipeline "):
    _run_main(evaluate.main, ["spn_eval", *arguments], capsys)
  assert not capsys.readouterr().out


def _batches(sizes, clock, seconds):
  """Batches of `sizes` examples, the i-th taking `seconds[i]` to read."""
  for size, spent in zip(sizes, seconds):
    clock.now += spent
    yield tf.zeros([size, 2, 2, 1])


def test_the_bar_over_batches_measures_after_the_first_and_thins_its_lines():
  clock, stream = FakeClock(), FakeStream(terminal=False)
  # 30 batches of 2: the first takes 10 s (tracing), the others 1 s, but the 5th 11 s.
  seconds = [10.0, 1.0, 1.0, 1.0, 11.0] + [1.0] * 25
  batches = evaluate.batches_with_progress(
      _batches([2] * 30, clock, seconds), "size_upscaler", 30, stream, clock)
  assert len(list(batches)) == 30
  lines = stream.getvalue().splitlines()
  assert lines[0] == "size_upscaler: reading and tracing the first batch..."
  assert lines[1].startswith("size_upscaler batch 1/30 [=>.") and lines[1].endswith(
      "  3% 0:10 elapsed")  # no rate nor ETA from the first batch
  # A line every 3 batches (a tenth), and after the 5th, 10 s after the line before it.
  assert [int(line.split()[2].split("/")[0]) for line in lines[2:-1]] == (
      [3, 5, 6, 9, 12, 15, 18, 21, 24, 27, 30])
  # Batches 2-3: 4 examples in 2 s; 27 batches left at 1 s each.
  assert lines[2].endswith(" 10% 0:12 elapsed, 2.0 examples/s, ETA 0:27")
  assert lines[-1] == "size_upscaler: 60 examples in 30 batches, 0:49 in all, 1.5 examples/s"


def test_the_bar_over_batches_redraws_in_place_on_a_terminal():
  clock, stream = FakeClock(), FakeStream(terminal=True)
  batches = ({"images": images} for images in _batches([4, 4, 1], clock, [5.0, 2.0, 1.0]))
  list(evaluate.batches_with_progress(batches, "pipeline", None, stream, clock))
  text = stream.getvalue()
  assert text.count("\r") == 5 and text.count("\n") == 1  # note, 3 batches, summary
  assert "pipeline batch 3 0:08 elapsed, 1.7 examples/s\x1b[K" in text  # no total: no ETA
  assert terminal_lines(text) == ["pipeline: 9 examples in 3 batches, 0:08 in all, "
                                  "1.7 examples/s", ""]


def test_the_bar_over_batches_says_when_reading_fails():
  def failing():
    yield tf.zeros([2, 2, 2, 1])
    raise ValueError("x.png has the wrong size")

  stream = FakeStream(terminal=True)
  with pytest.raises(ValueError, match="wrong size"):
    list(evaluate.batches_with_progress(failing(), "pipeline", 5, stream, FakeClock()))
  assert terminal_lines(stream.getvalue()) == ["pipeline: stopped after 1 batches", ""]


@pytest.mark.parametrize("silenced", [False, True])
def test_spn_eval_shows_its_bar_on_stderr_and_only_the_json_on_stdout(
    tiny_mnist_pipeline, silenced, capsys):
  """Issue 28: spn_eval printed nothing for 30 s."""
  _, path = tiny_mnist_pipeline
  arguments = ["spn_eval", f"--pipeline={path}", "--max_examples=5", "--batch_size=2"]
  flags.FLAGS(arguments + (["--verbosity=-1"] if silenced else []))
  try:
    evaluate.main(arguments[:1])
  finally:
    flags.FLAGS.unparse_flags()
  out, err = capsys.readouterr()
  assert json.loads(out)["num_examples"] == 5 and out.count("\n") == 1
  shown = [line for line in err.splitlines() if line.startswith("pipeline")]
  if silenced:
    assert not shown
  else:
    assert shown[0] == "pipeline: reading and tracing the first batch..."
    # A line per batch: a tenth of 3 batches is less than one.
    assert [line.split(" [")[0] for line in shown[1:-1]] == [
        "pipeline batch 1/3", "pipeline batch 2/3", "pipeline batch 3/3"]
    assert shown[-1].startswith("pipeline: 5 examples in 3 batches, ")
