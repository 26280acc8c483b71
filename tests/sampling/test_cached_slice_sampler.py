import keras
import numpy as np
import pytest
import tensorflow as tf

from spn_keras import testing
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig
from spn_keras.models import SubscalePixelNetwork
from spn_keras.pipelines import Pipeline


def _decoder(**fields):
  model = SliceDecoder(SliceDecoderConfig.tiny(**fields))
  model.build()
  testing.randomize_weights(model, 0.5)
  return model


def _spn(**fields):
  model = SubscalePixelNetwork(SPNConfig.tiny(**fields))
  model.build()
  testing.randomize_weights(model, 0.5)
  return model


STAGES = {
    "decoder_gray": lambda: _decoder(image_size=(3, 4), bits=2, pixelcnn_layers=3),
    "decoder_rgb": lambda: _decoder(image_size=3, channels=3, bits=2, attention_layers=2),
    "decoder_no_attention": lambda: _decoder(image_size=3, channels=3, attention_layers=0),
    "decoder_kernel5": lambda: _decoder(image_size=(4, 5), kernel_size=5, pixelcnn_layers=3),
    "spn_rgb": lambda: _spn(image_size=4, scale=2, channels=3, bits=2),
    "spn_one_by_one_slices": lambda: _spn(image_size=4, scale=4, channels=3),
    "spn_baseline": lambda: _spn(image_size=4, scale=1, bits=2),
    "depth_upscaler": lambda: _spn(image_size=4, scale=2, channels=3, bits=2,
                                   conditioning_bits=2),
}


def _conditioning(model, batch):
  if not model.conditioning_bits:
    return None
  return np.random.default_rng(0).integers(0, 2**model.conditioning_bits,
                                           (batch,) + model.image_shape, np.uint8)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_cached_and_naive_sampling_agree(stage):
  model = STAGES[stage]()
  conditioning = _conditioning(model, 3)
  runs = {
      method: model._sample_slices(3, 1.0, 17, conditioning, method=method,
                                   record_logits=True)
      for method in ("naive", "cached")
  }
  naive, cached = runs["naive"], runs["cached"]
  np.testing.assert_array_equal(cached[0], naive[0])  # identical images
  np.testing.assert_allclose(cached[1], naive[1], rtol=1e-5, atol=1e-4)
  for cached_logits, naive_logits in zip(cached[2], naive[2]):
    np.testing.assert_allclose(cached_logits, naive_logits, atol=1e-4)
  # And both are the model's teacher-forced logits on the images they produced.
  images = model.slicer.merge(cached[0])
  logits_as_image = model.sub_pixel_logits(images, conditioning)  # (B, H, W, C, K)
  teacher = model.slicer.slice(tf.reshape(logits_as_image, [*images.shape[:3], -1]))
  for t, logits in enumerate(cached[2]):
    np.testing.assert_allclose(tf.reshape(logits, teacher[:, t].shape), teacher[:, t],
                               atol=1e-4)


def test_size_upscaling_agrees_too():
  model = STAGES["spn_rgb"]()
  first = np.random.default_rng(1).integers(0, 4, (2, 2, 2, 3), np.uint8)
  cached = model.sample(2, seed=4, first_slice=first)
  naive = model.sample(2, seed=4, first_slice=first, method="naive")
  np.testing.assert_array_equal(cached, naive)


def test_pipeline_methods_agree():
  pipeline = Pipeline(
      slice_decoder=_decoder(image_size=2, bits=2),
      size_upscaler=_spn(image_size=4, scale=2, bits=2),
      depth_upscaler=_spn(image_size=4, scale=2, bits=2, conditioning_bits=2))
  np.testing.assert_array_equal(pipeline.sample(2, seed=8),
                                pipeline.sample(2, seed=8, method="naive"))


def test_cached_sampler_follows_the_distribution():
  model = _spn(image_size=2, scale=2)
  testing.randomize_weights(model, 1.0)
  probs = np.exp(np.asarray(model.log_prob(testing.all_images((2, 2, 1), 1)), np.float64))
  num = 4000
  samples = np.asarray(model.sample(num, seed=21, method="cached"))
  freq = np.bincount(samples.reshape(num, 4) @ (2**np.arange(3, -1, -1)), minlength=16) / num
  assert 0.5 * np.abs(freq - probs).sum() < 0.05


def test_progress_bar(capsys):
  model = STAGES["spn_rgb"]()
  model.sample(1, seed=0, progress=True)
  assert "row" in capsys.readouterr().out


def test_mixed_bfloat16_cached_sampling():
  keras.config.set_dtype_policy("mixed_bfloat16")
  model = SubscalePixelNetwork(SPNConfig.tiny(image_size=4, scale=2, channels=3))
  images, log_prob = model.sample(2, seed=1, return_log_prob=True)
  assert images.shape == (2, 4, 4, 3) and np.all(np.isfinite(log_prob))


def test_unknown_method():
  with pytest.raises(ValueError, match="`method` must be 'cached' or 'naive'"):
    STAGES["spn_baseline"]().sample(1, method="fast")
