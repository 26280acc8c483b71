import math

import numpy as np
import pytest
import tensorflow as tf

from spn_keras.ops.likelihood import check_images
from spn_keras.ops.likelihood import check_integer_dtype
from spn_keras.ops.likelihood import nats_to_bits_per_dim


def test_nats_to_bits_per_dim():
  np.testing.assert_allclose(nats_to_bits_per_dim(-4 * math.log(2.0) * 3, 4), 3.0)


def test_check_images_returns_int32_and_names_what_is_wrong():
  images = np.zeros((2, 4, 4, 1), np.uint8)
  assert check_images("images", images, 3, (4, 4, 1)).dtype == tf.int32
  with pytest.raises(TypeError, match="`images` must have an integer dtype .* got float32"):
    check_images("images", images.astype(np.float32), 3)
  with pytest.raises(ValueError, match="`images` must have rank 4"):
    check_images("images", images[0], 3)
  with pytest.raises(ValueError, match=r"`images` must have shape \(B, 4, 4, 3\)"):
    check_images("images", images, 3, (4, 4, 3))
  images[0, 0, 0, 0] = 9
  with pytest.raises(ValueError, match=r"values must be in \[0, 8\) \(3 bits\), got values "
                                       r"in \[0, 9\]"):
    check_images("images", images, 3)


def test_check_integer_dtype():
  assert check_integer_dtype("x", np.arange(3, dtype=np.int16)).dtype == tf.int16
  with pytest.raises(TypeError, match="`x` must have an integer dtype"):
    check_integer_dtype("x", [0.5])
