import json

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

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
