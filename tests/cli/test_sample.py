import json

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.cli import sample

FLAGS = flags.FLAGS


def test_spn_sample_writes_a_png_grid(tmp_path):
  output = str(tmp_path / "grid.png")
  result = sample.sample("mnist28_mdu", weights="random", num_images=4, seed=1, output=output)
  grid = tf.io.decode_png(tf.io.read_file(output)).numpy()
  # A 2x2 grid of 28x28 digits, 56x56, zoomed 10x by default to at least 512 pixels.
  assert result["images"] == 4 and result["zoom"] == 10 and grid.shape == (560, 560, 1)
  assert result["stages"] == ["slice_decoder", "size_upscaler", "depth_upscaler"]


def test_spn_sample_upscales_a_real_thumbnail(tmp_path):
  thumbnail = np.random.default_rng(0).integers(0, 256, (14, 14, 1), np.uint8)
  path = str(tmp_path / "thumb.png")
  tf.io.write_file(path, tf.io.encode_png(thumbnail))
  output = str(tmp_path / "up.png")
  sample.sample("mnist28_mdu", weights="random", seed=0, output=output, upscale=path, zoom=1)
  image = tf.io.decode_png(tf.io.read_file(output)).numpy()
  assert image.shape == (28, 28, 1)
  # The thumbnail's 3 most significant bits are slice 0 of the upscaled image.
  np.testing.assert_array_equal(image[::2, ::2] >> 5, thumbnail >> 5)


def test_spn_sample_command_line_takes_out_and_temperature(tmp_path, capsys):
  output = tmp_path / "grid.png"
  FLAGS(["spn_sample", "--zoo=mnist28_mdu", "--weights=random", "--num_images=2",
         f"--out={output}", "--temperature=0.9,1.0,1.0", "--noprogress"])
  try:
    assert FLAGS.output == str(output) and FLAGS.temperatures == ["0.9", "1.0", "1.0"]
    sample.main(["spn_sample"])
  finally:
    FLAGS.unparse_flags()
  assert json.loads(capsys.readouterr().out)["output"] == str(output)
  assert tf.io.decode_png(tf.io.read_file(str(output))).numpy().shape == (280, 560, 1)


def test_default_zoom_makes_the_longer_side_at_least_512_pixels():
  assert sample.default_zoom(112, 112) == 5  # 16 MNIST digits: 560x560
  assert sample.default_zoom(28, 56) == 10
  assert sample.default_zoom(100, 512) == 1 and sample.default_zoom(1024, 64) == 1


def test_zoom_repeats_every_pixel(pipeline_dir, tmp_path):
  grids = {}
  for zoom in (1, 3, None):
    output = str(tmp_path / f"{zoom}.png")
    result = sample.sample(pipeline_dir, num_images=3, seed=0, output=output, zoom=zoom)
    grids[result["zoom"]] = tf.io.decode_png(tf.io.read_file(output)).numpy()
  # 3 images of 2x2 pixels: a 2x2 grid of images, 4x4 pixels; by default zoomed 128x to 512.
  assert sorted(grids) == [1, 3, 128] and grids[1].shape == (4, 4, 1)
  for zoom, grid in grids.items():
    np.testing.assert_array_equal(grid, grids[1].repeat(zoom, axis=0).repeat(zoom, axis=1))


@pytest.mark.parametrize("zoom", [0, -2, 1.5, True])
def test_bad_zoom_is_refused(pipeline_dir, tmp_path, zoom):
  with pytest.raises(ValueError, match="`zoom` must be a positive int or None"):
    sample.sample(pipeline_dir, num_images=1, output=str(tmp_path / "x.png"), zoom=zoom)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_zoom_flag_is_refused_naming_the_flag(value):
  try:
    with pytest.raises(flags.IllegalFlagValueError, match=f"--zoom={value}"):
      FLAGS(["spn_sample", "--zoo=mnist28_mdu", f"--zoom={value}"])
  finally:
    FLAGS.unparse_flags()


def test_weights_random_with_a_folder_samples_random_weights(pipeline_dir, tmp_path):
  trained = sample.sample(pipeline_dir, num_images=4, seed=3, output=str(tmp_path / "t.png"))
  random = sample.sample(pipeline_dir, weights="random", num_images=4, seed=3,
                         output=str(tmp_path / "r.png"))
  assert random["metadata"]["weights"] == "random" and "weights" not in trained["metadata"]
  assert (tf.io.read_file(str(tmp_path / "t.png")).numpy()
          != tf.io.read_file(str(tmp_path / "r.png")).numpy())


@pytest.mark.parametrize("kwargs, message", [
    (dict(temperatures=["abc"]), "--temperatures must be one number or one per stage"),
    (dict(upscale="missing.png"), "--upscale: no image file at `missing.png`"),
    (dict(upscale="."), "--upscale: no image file at `.`"),
    (dict(output="no_such_folder/x.png"), "--output must be a PNG file in an existing folder"),
])
def test_bad_arguments_are_refused_before_any_work(pipeline_dir, tmp_path, monkeypatch, kwargs,
                                                   message):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sample.zoo, "load", lambda *args, **kwargs: pytest.fail("loaded"))
  with pytest.raises(ValueError, match=message):
    sample.sample(pipeline_dir, **{"output": "x.png", **kwargs})
  assert not list(tmp_path.iterdir())


def test_an_upscale_file_that_is_not_an_image_is_named(pipeline_dir, tmp_path):
  path = tmp_path / "notes.png"
  path.write_text("not a png")
  with pytest.raises(ValueError, match=f"--upscale: cannot read `{path}` as a PNG/JPEG"):
    sample.sample(pipeline_dir, output=str(tmp_path / "x.png"), upscale=str(path))


@pytest.fixture(scope="module")
def mdu_dir(tmp_path_factory):
  """A tiny `minimal` three-stage pipeline of 4x4 gray 8-bit images (3 + 5 bits; slices 2x2),
  a folder."""
  path = str(tmp_path_factory.mktemp("pipelines") / "tiny_mdu")
  testing.tiny_mdu_pipeline(4, depth_scale=1, stddev=0.3, minimal=True).save(
      path, metadata={"name": "mdu"})
  return path


def _write_png(path, image):
  tf.io.write_file(str(path), tf.io.encode_png(image))
  return str(path)


def _tiles(grid, rows, columns, size=4):
  """The `rows * columns` images of a zoom-1 grid of `size`-pixel images, row by row."""
  assert grid.shape == (rows * size, columns * size, 1)
  return [grid[r * size:(r + 1) * size, c * size:(c + 1) * size]
          for r in range(rows) for c in range(columns)]


def test_upscale_draws_num_images_upscalings_of_each_input(mdu_dir, tmp_path):
  inputs = np.random.default_rng(0).integers(0, 256, (2, 2, 2, 1), np.uint8)
  np.save(tmp_path / "thumbs.npy", inputs)
  output = str(tmp_path / "up.png")
  result = sample.sample(mdu_dir, num_images=3, seed=0, output=output,
                         upscale=str(tmp_path / "thumbs.npy"), zoom=1)
  assert result["images"] == 6 and result["inputs"] == 2 and result["per_input"] == 3
  assert result["stages"] == ["size_upscaler", "depth_upscaler"] and result["from_bits"] == 8
  # One row per input, its three upscalings, each keeping its 3 bits as slice 0.
  tiles = _tiles(tf.io.decode_png(tf.io.read_file(output)).numpy(), rows=2, columns=3)
  for i, tile in enumerate(tiles):
    np.testing.assert_array_equal(tile[::2, ::2] >> 5, inputs[i // 3] >> 5)
  assert any((tile != tiles[0]).any() for tile in tiles[1:3])  # three draws, not one


def test_upscale_makes_one_upscaling_per_input_by_default(mdu_dir, tmp_path):
  path = _write_png(tmp_path / "thumb.png", np.full((2, 2, 1), 200, np.uint8))
  result = sample.sample(mdu_dir, seed=0, output=str(tmp_path / "up.png"), upscale=path)
  assert result["images"] == 1 and result["per_input"] == 1


def test_a_full_size_input_keeps_its_from_bits_and_only_depth_upscaling_runs(mdu_dir, tmp_path):
  image = np.random.default_rng(1).integers(0, 256, (4, 4, 1), np.uint8)
  path = _write_png(tmp_path / "digit.png", image)
  output = str(tmp_path / "depth.png")
  result = sample.sample(mdu_dir, num_images=2, seed=0, output=output, upscale=path,
                         from_bits=3, zoom=1)
  assert result["stages"] == ["depth_upscaler"] and result["images"] == 2
  tiles = _tiles(tf.io.decode_png(tf.io.read_file(output)).numpy(), rows=1, columns=2)
  for tile in tiles:
    np.testing.assert_array_equal(tile >> 5, image >> 5)  # the 3 given bits, kept
  assert any((tile != image).any() for tile in tiles)  # the 5 others, sampled


_TAKES = (r"this pipeline upscales images of 2x2x1 \(slice size, at least 3 significant bits: "
          r"size then depth upscaling\) or 4x4x1 \(full size with --from_bits=3: depth "
          r"upscaling\)\.$")


@pytest.mark.parametrize("shape, from_bits, message", [
    ((4, 4, 1), None, r"^--upscale: a full-size 4x4x1 input keeps its 3 most significant bits "
     r"and has the other 5 sampled: give --from_bits=3 to say so \(got none\); " + _TAKES),
    ((4, 4, 1), 4, r"\(got --from_bits=4\); " + _TAKES),
    ((3, 3, 1), None, r"^--upscale: the input images are 3x3x1; " + _TAKES),
    ((2, 2, 3), None, r"^--upscale: the input images are 2x2x3; " + _TAKES),
    ((2, 2, 1), 2, r"^--from_bits must be at least 3 for a slice-size input"),
    ((2, 2, 1), 9, r"^--from_bits must be in \[1, 8\] \(the input's depth\), got 9\.$"),
], ids=["full_size_without_from_bits", "full_size_other_from_bits", "other_size",
        "other_channels", "slice_too_few_bits", "from_bits_above_the_input's"])
def test_upscale_refuses_inputs_it_does_not_upscale(mdu_dir, tmp_path, shape, from_bits,
                                                    message):
  path = _write_png(tmp_path / "in.png", np.zeros(shape, np.uint8))
  output = tmp_path / "up.png"
  with pytest.raises(ValueError, match=message):
    sample.sample(mdu_dir, output=str(output), upscale=path, from_bits=from_bits)
  assert not output.exists()


def test_upscale_refuses_a_pipeline_without_upscaling_stages(pipeline_dir, tmp_path):
  path = _write_png(tmp_path / "in.png", np.zeros((2, 2, 1), np.uint8))
  with pytest.raises(ValueError, match=r"^--upscale: this pipeline \(stages \['slice_decoder'\]\) "
                                       "has no stage that upscales"):
    sample.sample(pipeline_dir, output=str(tmp_path / "up.png"), upscale=path)


def test_from_bits_needs_upscale(pipeline_dir, tmp_path):
  with pytest.raises(ValueError, match=r"^--from_bits goes with --upscale"):
    sample.sample(pipeline_dir, output=str(tmp_path / "x.png"), from_bits=3)


def test_command_line_upscales_with_a_pipeline_folder_and_from_bits(mdu_dir, tmp_path, capsys):
  path = _write_png(tmp_path / "digit.png", np.full((4, 4, 1), 255, np.uint8))
  output = tmp_path / "depth.png"
  FLAGS(["spn_sample", f"--pipeline={mdu_dir}", f"--upscale={path}", "--from_bits=3",
         f"--output={output}", "--noprogress"])
  try:
    sample.main(["spn_sample"])
  finally:
    FLAGS.unparse_flags()
  result = json.loads(capsys.readouterr().out)
  assert result["stages"] == ["depth_upscaler"] and result["images"] == 1  # --num_images unset
  assert result["from_bits"] == 3 and output.exists()
