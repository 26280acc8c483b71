import dataclasses

import pytest

from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig


def test_json_round_trip():
  for config in (SliceDecoderConfig.tiny(image_size=(2, 3)), SPNConfig.tiny(scale=1),
                 SPNConfig(), SliceDecoderConfig()):
    assert type(config).from_json(config.to_json()) == config


def test_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    SPNConfig.tiny().bits = 3


def test_decoder_config_of_an_spn():
  config = SPNConfig.tiny(image_size=(8, 4), scale=4, channels=3, pixelcnn_channels=9)
  decoder = config.decoder_config()
  assert decoder.image_size == (2, 1) and decoder.channels == 3
  assert decoder.pixelcnn_channels == 9
  assert decoder.context_channels == config.embedder_attention_channels
  assert SPNConfig.tiny(scale=1).decoder_config().context_channels == 0
  assert SPNConfig.tiny(scale=1, bits=1, conditioning_bits=1).has_context


def test_tiny_is_valid_down_to_one_by_one_slices():
  assert SPNConfig.tiny(image_size=2, scale=2).slice_size == (1, 1)
  assert SliceDecoderConfig.tiny(image_size=1).height == 1


@pytest.mark.parametrize("fields, message", [
    (dict(scale=3), "must divide"),
    (dict(bits=0), "bits"),
    (dict(bits=6, conditioning_bits=3), "at most 8"),
    (dict(channels=2), "channels"),
    (dict(image_size="big"), "image_size"),
    (dict(conditioning_bits=-1), "conditioning_bits"),
    (dict(kernel_size=4), "kernel_size"),
    (dict(pixelcnn_channels=2, channels=3), "pixelcnn_channels"),
])
def test_bad_configs(fields, message):
  with pytest.raises(ValueError, match=message):
    SPNConfig.tiny(**fields)


def test_unknown_field():
  with pytest.raises(ValueError, match="Unknown SPNConfig fields"):
    SPNConfig.from_dict({"image_size": 4, "depth": 3})
