import dataclasses

import pytest

from spn_keras import zoo
from spn_keras.models import SliceDecoderConfig
from spn_keras.models import SPNConfig


def test_json_round_trip():
  for config in (SliceDecoderConfig.tiny(image_size=(2, 3)), SPNConfig.tiny(scale=1),
                 SPNConfig(), SliceDecoderConfig()):
    assert type(config).from_json(config.to_json()) == config


def test_frozen():
  with pytest.raises(dataclasses.FrozenInstanceError):
    SPNConfig.tiny().bits = 3


def test_an_spn_sets_the_fields_of_its_parts_that_it_determines():
  config = SPNConfig.tiny(image_size=(8, 4), scale=4, channels=3,
                          decoder=dict(pixelcnn_channels=9, bits=7, channels=1))
  decoder, embedder = config.decoder, config.embedder
  assert decoder.image_size == (2, 1) and decoder.channels == 3 and decoder.bits == 1
  assert decoder.pixelcnn_channels == 9
  assert decoder.context_channels == embedder.attention_channels
  assert (embedder.scale, embedder.channels, embedder.bits) == (4, 3, 1)
  assert SPNConfig.tiny(scale=1).decoder.context_channels == 0
  assert SPNConfig.tiny(scale=1, bits=1, conditioning_bits=1).has_context
  assert SPNConfig.tiny(scale=1, conditioning_bits=1).embedder.conditioning_bits == 1
  # Replacing an SPN field updates its parts.
  assert dataclasses.replace(config, scale=2).decoder.image_size == (4, 2)
  with pytest.raises(TypeError, match="`decoder` must be a SliceDecoderConfig"):
    SPNConfig(decoder={"pixelcnn_channels": 9})


def test_spn_config_round_trips_and_reads_the_flat_dicts_of_earlier_versions():
  config = zoo.get("mnist28_mdu").stages["depth_upscaler"]
  assert SPNConfig.from_json(config.to_json()) == config
  assert isinstance(config.to_dict()["decoder"], dict)
  # A pipeline folder written before SPNConfig held its parts has the flat form.
  flat = {"image_size": 28, "channels": 1, "bits": 5, "scale": 2, "conditioning_bits": 3,
          "value_embedding_dim": 8, "attention_layers": 2, "attention_heads": 4,
          "attention_channels": 64, "attention_ffn_channels": 128, "pixelcnn_layers": 6,
          "pixelcnn_channels": 64, "pixelcnn_residual_channels": 128, "kernel_size": 3,
          "embedding_dim": 8, "embedder_conv_layers": 2, "embedder_conv_channels": 64,
          "embedder_residual_channels": 128, "embedder_attention_layers": 1,
          "embedder_attention_heads": 4, "embedder_attention_channels": 64,
          "embedder_attention_ffn_channels": 128}
  assert SPNConfig.from_dict(flat) == config


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
    (dict(decoder=dict(kernel_size=4)), "kernel_size"),
    (dict(decoder=dict(pixelcnn_channels=2), channels=3), "pixelcnn_channels"),
    (dict(embedder=dict(conv_layers=0)), "conv_layers"),
])
def test_bad_configs(fields, message):
  with pytest.raises(ValueError, match=message):
    SPNConfig.tiny(**fields)


def test_unknown_field():
  with pytest.raises(ValueError, match="Unknown SPNConfig fields"):
    SPNConfig.from_dict({"image_size": 4, "depth": 3})
