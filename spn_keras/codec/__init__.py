"""Lossless image compression on a model's exact likelihood.

`compress(model, images) -> list[bytes]` and `decompress(model, files) -> uint8 images`, for a
`Pipeline` or a single stage; see `spn_keras.codec.lossless`.
"""

from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import CodecHeader
from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.codec.lossless import CODING_BATCH_SIZE
from spn_keras.codec.lossless import compress
from spn_keras.codec.lossless import decompress

__all__ = ["CodecError", "CodecHeader", "CODING_BATCH_SIZE", "compress", "decompress",
           "quantized_frequencies"]
