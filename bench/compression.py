"""Benchmark: lossless compression with the exact likelihood against PNG, WebP and JPEG XL.

For each test split, every image is compressed one file per image by each codec, and the mean
file size is reported in bits per sub-pixel (bits per dimension: file bytes * 8 / (H*W*C)):

- `spn`: `spn_keras.codec.compress` with the shipped pipeline (`mnist28_mdu` on mnist5k's 500
  test digits, `photos32_mdu` on photos32's 520 test patches), and `decompress` of every file,
  checked equal to the image (`round_trip_exact`). The row carries the pipeline's exact test
  bits/dim (`model_bits_per_dim`, `Pipeline.bits_per_dim`), the per-file header
  (`header_bits_per_dim`) and the coder's payload overhead over the exact bits
  (`payload_overhead`: payload bits / exact bits - 1).
- `png`: Pillow, `optimize=True` (zlib level 9 with filter search).
- `webp`: Pillow, WebP lossless, `method=6`, `quality=100` (the slowest, smallest setting).
- `jpegxl`: JPEG XL lossless, `effort=9`, through `pillow-jxl-plugin` (the `bench` extra:
  `pip install -e ".[bench]"`); left out, with a note on stderr, where it is not installed.

Every codec's files are decoded and checked equal to the images. `encode_s_per_image` and
`decode_s_per_image` are the wall time per image (the spn codec codes
`spn_keras.codec.CODING_BATCH_SIZE` images together; the others one at a time), on the CPU this
runs on.

Usage: python bench/compression.py [--quick] [--max_images=N]
  --quick: a tiny random-weight pipeline on 8 digits downscaled to 8 x 8 (CI smoke run; the
  figures mean nothing).
"""

import argparse
import io
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from spn_keras import codec  # noqa: E402
from spn_keras import testing  # noqa: E402
from spn_keras import zoo  # noqa: E402
from spn_keras.data import embedded  # noqa: E402
from spn_keras.codec.codec_header import CodecHeader  # noqa: E402

try:
  import pillow_jxl  # noqa: E402, F401  (registers the JXL format with Pillow)
  HAS_JPEGXL = True
except ImportError:
  HAS_JPEGXL = False


def _pillow_codec(format_name, **options):
  def encode(image):
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
        buffer, format=format_name, **options)
    return buffer.getvalue()

  def decode(blob, channels):
    # WebP stores a gray image as RGB with equal channels: the first is the gray value.
    decoded = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    return decoded[..., :channels]

  return encode, decode


def classic_codecs():
  """`{name: (encode(image) -> bytes, decode(bytes, channels) -> image)}`, Pillow codecs."""
  codecs = {
      "png": _pillow_codec("PNG", optimize=True),
      "webp": _pillow_codec("WEBP", lossless=True, method=6, quality=100),
  }
  if HAS_JPEGXL:
    codecs["jpegxl"] = _pillow_codec("JXL", lossless=True, effort=9)
  else:
    print("pillow-jxl-plugin is not installed: no JPEG XL row (pip install -e \".[bench]\").",
          file=sys.stderr)
  return codecs


def measure_classic(case, name, encode, decode, images, model_bits_per_dim):
  dims = int(np.prod(images.shape[1:]))
  start = time.perf_counter()
  blobs = [encode(image) for image in images]
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  decoded = np.stack([decode(blob, images.shape[-1]) for blob in blobs])
  decode_s = time.perf_counter() - start
  return {
      "case": case, "codec": name, "images": len(images),
      "bits_per_dim": float(np.mean([8 * len(blob) for blob in blobs])) / dims,
      "model_bits_per_dim": model_bits_per_dim,
      "encode_s_per_image": encode_s / len(images),
      "decode_s_per_image": decode_s / len(images),
      "round_trip_exact": bool(np.array_equal(decoded, images)),
  }


def measure_spn(case, pipeline, images):
  dims = int(np.prod(images.shape[1:]))
  exact_bits = pipeline.bits_per_dim(images)["total"] * dims  # (N,) bits per image
  start = time.perf_counter()
  blobs = codec.compress(pipeline, images)
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  decoded = codec.decompress(pipeline, blobs)
  decode_s = time.perf_counter() - start
  header_bits = np.array([8 * len(CodecHeader.from_bytes(blob)[0].to_bytes()) for blob in blobs])
  file_bits = np.array([8 * len(blob) for blob in blobs])
  return {
      "case": case, "codec": "spn", "images": len(images),
      "bits_per_dim": float(file_bits.mean()) / dims,
      "model_bits_per_dim": float(exact_bits.mean()) / dims,
      "header_bits_per_dim": float(header_bits.mean()) / dims,
      "payload_overhead": float((file_bits - header_bits).sum() / exact_bits.sum() - 1),
      "file_over_model_and_header": float(file_bits.sum() / (exact_bits + header_bits).sum()
                                          - 1),
      "encode_s_per_image": encode_s / len(images),
      "decode_s_per_image": decode_s / len(images),
      "round_trip_exact": bool(np.array_equal(decoded, images)),
      "coding_batch_size": codec.CODING_BATCH_SIZE,
  }


def cases(quick, max_images):
  """`[(case, pipeline, images)]`."""
  if quick:
    digits = embedded.mnist5k_images("test")[:8, ::4, ::4][:, :7, :7]
    images = np.pad(digits, ((0, 0), (0, 1), (0, 1), (0, 0)))
    return [("quick_tiny_8x8", testing.tiny_mdu_pipeline(8, stddev=0.3), images)]
  return [
      ("mnist5k_test", zoo.load("mnist28_mdu"), embedded.mnist5k_images("test")[:max_images]),
      ("photos32_test", zoo.load("photos32_mdu"),
       embedded.photos32_test_patches()[:max_images]),
  ]


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke run (tiny, meaningless).")
  parser.add_argument("--max_images", type=int, default=None,
                      help="Images per split (default: all of them).")
  args = parser.parse_args()
  others = classic_codecs()
  for case, pipeline, images in cases(args.quick, args.max_images):
    images = np.asarray(images, np.uint8)
    spn = measure_spn(case, pipeline, images)
    print(json.dumps(spn), flush=True)
    for name, (encode, decode) in others.items():
      print(json.dumps(measure_classic(case, name, encode, decode, images,
                                       spn["model_bits_per_dim"])), flush=True)


if __name__ == "__main__":
  main()
