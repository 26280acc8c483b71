import numpy as np
import tensorflow as tf

from spn_keras.cli import sample


def test_spn_sample_writes_a_png_grid(tmp_path):
  output = str(tmp_path / "grid.png")
  result = sample.sample("mnist28_mdu", weights="random", num_images=4, seed=1, output=output)
  grid = tf.io.decode_png(tf.io.read_file(output)).numpy()
  assert result["images"] == 4 and grid.shape == (56, 56, 1)
  assert result["stages"] == ["slice_decoder", "size_upscaler", "depth_upscaler"]


def test_spn_sample_upscales_a_real_thumbnail(tmp_path):
  thumbnail = np.random.default_rng(0).integers(0, 256, (14, 14, 1), np.uint8)
  path = str(tmp_path / "thumb.png")
  tf.io.write_file(path, tf.io.encode_png(thumbnail))
  output = str(tmp_path / "up.png")
  sample.sample("mnist28_mdu", weights="random", seed=0, output=output, upscale=path)
  image = tf.io.decode_png(tf.io.read_file(output)).numpy()
  assert image.shape == (28, 28, 1)
  # The thumbnail's 3 most significant bits are slice 0 of the upscaled image.
  np.testing.assert_array_equal(image[::2, ::2] >> 5, thumbnail >> 5)
