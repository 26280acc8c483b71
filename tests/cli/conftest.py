"""Fixtures of the command-line tool tests."""

import pytest

from spn_keras import testing
from spn_keras.models import SliceDecoder
from spn_keras.models import SliceDecoderConfig
from spn_keras.pipelines import Pipeline


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
  """A slice decoder of 2x2 gray 2-bit images, random weights, as a pipeline folder."""
  decoder = SliceDecoder(SliceDecoderConfig.tiny(image_size=2, bits=2))
  decoder.build()
  testing.randomize_weights(decoder, 0.5)
  path = tmp_path_factory.mktemp("pipelines") / "tiny"
  Pipeline(slice_decoder=decoder).save(str(path), metadata={"name": "tiny"})
  return str(path)
