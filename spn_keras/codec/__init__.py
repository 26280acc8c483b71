"""Lossless image compression on a model's exact likelihood.

`compress(model, images) -> list[bytes]` and `decompress(model, files) -> uint8 images`, one
file per image of any size, and `compress_archive(model, images) -> bytes` /
`decompress_archive(model, blob)` for many images of one size in one file; for a `Pipeline`
or a single stage. See `spn_keras.codec.lossless` and `spn_keras.codec.archive`.
"""

from spn_keras.codec.archive import compress_archive
from spn_keras.codec.archive import decompress_archive
from spn_keras.codec.archive_header import ArchiveHeader
from spn_keras.codec.codec_error import CodecError
from spn_keras.codec.codec_header import CodecHeader
from spn_keras.codec.coding_batches import coding_batch_size
from spn_keras.codec.frequencies import quantized_frequencies
from spn_keras.codec.lossless import compress
from spn_keras.codec.lossless import decompress

__all__ = ["ArchiveHeader", "CodecError", "CodecHeader", "coding_batch_size", "compress",
           "compress_archive", "decompress", "decompress_archive", "quantized_frequencies"]
