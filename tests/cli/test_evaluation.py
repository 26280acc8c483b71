"""The helpers of `spn_keras.cli.evaluation`, called directly on a tiny pipeline and a folder
of 4x4 PNGs (tests/cli/test_evaluate.py runs them through `spn_eval` on 28x28 images)."""

from absl import app
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import data
from spn_keras import testing
from spn_keras.cli import evaluation
from spn_keras.pipelines import Pipeline

STAGES = ("slice_decoder", "size_upscaler", "depth_upscaler")


@pytest.fixture(scope="module")
def pipeline():
  """4x4x1 images at 2 + 2 bits; the depth upscaler at `S = 1`."""
  return testing.tiny_mdu_pipeline(4, low_bits=2, high_bits=2, depth_scale=1, stddev=0.5)


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
  """`(folder: spec, {split: uint8 (N, 4, 4, 1)} in the order the folder is read)`: 6 train
  and 5 test images."""
  folder = tmp_path_factory.mktemp("pngs")
  rng = np.random.default_rng(0)
  wanted = {"train": 6, "test": 5}
  written = {"train": [], "test": []}
  for index in range(1000):
    name = f"image{index:03d}.png"
    split = data.folder_split(name)
    if len(written[split]) < wanted[split]:
      image = rng.integers(0, 256, (4, 4, 1), dtype=np.uint8)
      (folder / name).write_bytes(tf.io.encode_png(image).numpy())
      written[split].append(image)
    if all(len(written[s]) == wanted[s] for s in wanted):
      break
  return f"folder:{folder}", {split: np.stack(images) for split, images in written.items()}


@pytest.fixture(scope="module")
def scored(pipeline):
  """5 random images at the pipeline's bits, and their `bits_per_dim` by the pipeline."""
  images = np.random.default_rng(0).integers(0, 2**pipeline.bits, (5, 4, 4, 1))
  images = tf.constant(images, tf.int32)
  return images, pipeline.bits_per_dim(images)


def _stacked(batches):
  """The batches of a dataset of dicts, concatenated: `{key: numpy array}`."""
  batches = list(batches)
  return {key: np.concatenate([batch[key] for batch in batches]) for key in batches[0]}


@pytest.mark.parametrize("stages, stage, expected", [
    (STAGES, "size_upscaler", True),
    (STAGES, "slice_decoder", False),
    (STAGES, "depth_upscaler", False),
    (("slice_decoder", "size_upscaler"), "size_upscaler", True),
    (("size_upscaler", "depth_upscaler"), "size_upscaler", False),  # no slice decoder
    (("size_upscaler",), "size_upscaler", False),
])
def test_scores_after_first_slice_only_behind_a_slice_decoder(pipeline, stages, stage, expected):
  partial = Pipeline(**{name: pipeline.stages[name] for name in stages})
  assert evaluation.scores_after_first_slice(partial, stage) is expected


@pytest.mark.parametrize("stage", STAGES)
def test_stage_dataset_read_once_holds_each_split_image_once_as_the_stages_view(
    pipeline, png_folder, stage):
  spec, images = png_folder
  dataset = evaluation.stage_dataset(pipeline, stage, spec, "test", 2)
  assert [int(batch["images"].shape[0]) for batch in dataset] == [2, 2, 1]
  view = pipeline.stage_view(stage)
  expected = [view(tf.constant(image)) for image in images["test"]]
  got = _stacked(dataset)
  assert sorted(got) == (["conditioning", "images"] if stage == "depth_upscaler"
                         else ["images"])
  for key, values in got.items():
    np.testing.assert_array_equal(values, np.stack([view[key] for view in expected]))


@pytest.mark.parametrize("spec, message", [
    ("folder:/no/such/folder",
     "--dataset=folder:/no/such/folder: Image folder '/no/such/folder' does not exist or is "
     "not a folder."),
    ("cifar10", "--dataset=cifar10: Unknown dataset spec 'cifar10'. Valid specs"),
])
def test_stage_dataset_names_the_spec_it_cannot_read(pipeline, spec, message):
  with pytest.raises(app.UsageError) as raised:
    evaluation.stage_dataset(pipeline, "slice_decoder", spec, "test", 2)
  assert str(raised.value).startswith(message)


def test_train_dataset_fn_repeats_shuffled_per_replica_batches(pipeline, png_folder):
  spec, images = png_folder
  context = tf.distribute.InputContext(num_input_pipelines=1, input_pipeline_id=0,
                                       num_replicas_in_sync=2)

  def first_batches(seed, count=9):  # 18 examples: three passes over the 6 train images
    dataset_fn = evaluation.train_dataset_fn(pipeline, "depth_upscaler", spec, 4, seed=seed)
    return list(dataset_fn(context).take(count))

  batches = first_batches(seed=1)
  assert len(batches) == 9
  assert all(sorted(batch) == ["conditioning", "images"] for batch in batches)
  assert all(batch["images"].shape == (2, 4, 4, 1) for batch in batches)  # 4 over 2 replicas
  view = pipeline.stage_view("depth_upscaler")
  train_views = {view(tf.constant(image))["images"].numpy().tobytes()
                 for image in images["train"]}
  drawn = [image.tobytes() for batch in batches for image in batch["images"].numpy()]
  assert set(drawn) == train_views  # only train images, and each of them
  again = first_batches(seed=1)
  other = first_batches(seed=2)
  assert all(np.array_equal(a["images"], b["images"]) for a, b in zip(batches, again))
  assert not all(np.array_equal(a["images"], b["images"]) for a, b in zip(batches, other))


@pytest.mark.parametrize("stage", STAGES)
def test_evaluate_stage_weighs_each_example_once_in_full_image_dimensions(pipeline, scored,
                                                                         stage):
  """Batches of 3 and 2: the mean over the 5 examples (not of the two batch means), per
  dimension of the full image: the pipeline's own term of the stage."""
  images, terms = scored
  view = pipeline.stage_view(stage, input_bits=pipeline.bits)
  dataset = tf.data.Dataset.from_tensor_slices(images).map(view).batch(3)
  first_slice_given = evaluation.scores_after_first_slice(pipeline, stage)
  bits, count = evaluation.evaluate_stage(pipeline.stages[stage], dataset, pipeline.num_dims,
                                          first_slice_given)
  assert count == 5
  assert bits == pytest.approx(np.mean(terms[stage]), rel=1e-5)
  mean_of_batch_means = (np.mean(terms[stage][:3]) + np.mean(terms[stage][3:])) / 2
  assert bits != pytest.approx(mean_of_batch_means, rel=1e-5)


def test_stage_evaluator_scores_a_size_upscaler_after_the_first_slice(pipeline, scored):
  images, _ = scored
  view = pipeline.stage_view("size_upscaler", input_bits=pipeline.bits)
  dataset = tf.data.Dataset.from_tensor_slices(images).map(view).batch(5)
  model = pipeline.size_upscaler
  result = evaluation.stage_evaluator(pipeline, "size_upscaler", dataset)(model)
  assert list(result) == ["bits_per_dim"]
  given, _ = evaluation.evaluate_stage(model, dataset, pipeline.num_dims, True)
  whole, _ = evaluation.evaluate_stage(model, dataset, pipeline.num_dims, False)
  assert result["bits_per_dim"] == given and given < whole
  alone = Pipeline(size_upscaler=model)  # no slice decoder: every slice is scored
  assert evaluation.stage_evaluator(alone, "size_upscaler", dataset)(model) == {
      "bits_per_dim": whole}


def test_evaluate_pipeline_averages_every_term_over_the_examples(pipeline, scored):
  images, terms = scored
  dataset = tf.data.Dataset.from_tensor_slices(images).batch(3)
  bits, count = evaluation.evaluate_pipeline(pipeline, dataset)
  assert count == 5
  expected = {name: float(np.mean(value)) for name, value in terms.items()}
  assert sorted(bits) == sorted(expected) == sorted([*STAGES, "total"])
  for name, value in expected.items():
    assert bits[name] == pytest.approx(value, rel=1e-5), name
  assert bits["total"] == pytest.approx(sum(bits[name] for name in STAGES), rel=1e-5)
  mean_of_batch_means = (np.mean(terms["total"][:3]) + np.mean(terms["total"][3:])) / 2
  assert bits["total"] != pytest.approx(mean_of_batch_means, rel=1e-5)
