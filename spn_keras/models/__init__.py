"""The SPN stages: `SliceDecoder` and `SubscalePixelNetwork`, their configs and their base
class `AutoregressiveImageModel` (likelihood and Keras training; `fit_arguments`: what its
`compile` and `fit` accept).

`SliceEmbedderConfig` (the conditioning network's, from `spn_keras.layers`) is here too: an
`SPNConfig` holds one.
"""

from spn_keras.layers import SliceEmbedderConfig
from spn_keras.models.autoregressive_image_model import AutoregressiveImageModel
from spn_keras.models.configs import SliceDecoderConfig
from spn_keras.models.configs import SPNConfig
from spn_keras.models.slice_decoder import SliceDecoder
from spn_keras.models.subscale_pixel_network import SubscalePixelNetwork

__all__ = ["AutoregressiveImageModel", "SPNConfig", "SliceDecoder", "SliceDecoderConfig",
           "SliceEmbedderConfig", "SubscalePixelNetwork"]
