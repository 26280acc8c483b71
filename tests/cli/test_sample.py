import json

from absl import flags
import numpy as np
import tensorflow as tf

from spn_keras.cli import sample

FLAGS = flags.FLAGS


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
  assert tf.io.decode_png(tf.io.read_file(str(output))).numpy().shape == (28, 56, 1)
