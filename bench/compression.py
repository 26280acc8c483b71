"""Benchmark: lossless compression with the exact likelihood against PNG, WebP and JPEG XL.

Each case codes a set of images with every codec; sizes are in bits per sub-pixel (bits per
dimension: file bytes * 8 / (H*W*C), over all the images), and every codec's output is decoded
and checked equal to the images (`round_trip_exact`).

Cases (the full run):
- `mnist5k_test`: mnist5k's 500 test digits, `mnist28_mdu`; rows `spn` (a file per digit),
  `spn_archive` (one archive of all 500), per-digit PNG, WebP and JPEG XL files, and
  `webp_tar` (a tar of the per-digit WebP files, the usual way to ship a folder of them).
- `photos32_test`: photos32's 520 test patches of 32x32, `photos32_mdu`, a file per patch.
- `photos128_test`: the 512 held-out 128x128 test crops of `crops:PHOTOS@128` (`--photos`: the
  folder of `zoo/photos32_mdu/fetch_training_photos.sh`; the case is left out, with a note on
  stderr, without it), `photos128_mdu`, a file per crop.
- `whole_photos`: scikit-learn's `china` and `flower` (427x640x3; photos32_mdu never trained
  on them: its photos are scikit-image's and Debian's, `zoo/photos32_mdu`) coded whole:
  `spn` tiles each into 280 tiles of 32x32 (`spn_keras.codec.compress`), PNG, WebP and JPEG
  XL code the whole image.

Rows:
- `spn`, `spn_archive`: `spn_keras.codec.compress` / `compress_archive`, then `decompress` /
  `decompress_archive`. `model_bits_per_dim` is the model's bits of the coded sub-pixels: what
  the coder's (24-bit quantized) probabilities of them sum to, the information an ideal coder
  of the tiles would spend (read from the coding program's records: the bench wraps
  `interleaved_rans.encode`, nothing else changes); `exact_bits_per_dim` is
  `Pipeline.bits_per_dim` where the images are the model's size. `header_bits_per_dim` is the
  headers'; `file_over_model_and_header` = file bits / (model bits + header bits) - 1 (the
  coder's overhead: the lanes' states and rounding).
- `png`: Pillow, `optimize=True` (zlib level 9 with filter search).
- `webp`: Pillow, WebP lossless, `method=6`, `quality=100` (the slowest, smallest setting).
- `jpegxl`: JPEG XL lossless, `effort=9`, through `pillow-jxl-plugin` (the `bench` extra:
  `pip install -e ".[bench]"`); left out, with a note on stderr, where it is not installed.
- `webp_tar`: the WebP files in one uncompressed tar (Python's `tarfile`, GNU format).

`encode_s_per_image` and `decode_s_per_image` are the wall time per image, and
`encode_s_per_megapixel` / `decode_s_per_megapixel` per million pixels, on the CPU this runs
on; the spn codec is timed after a warm-up call that compiles its programs for the batch sizes
the case uses (`coding_batch_size`; a fresh process compiles once, or reads TensorFlow's
persistent cache in the command-line tools).

`--spn_max_images=N` codes only the first N images of a case with the spn codec (its time
per image, its files' overhead over the model's bits): the 128x128 crops take about 5 s each
way on 2 cores. The other rows then carry the model's exact bits/dim over all their images
(`Pipeline.bits_per_dim`) as `model_bits_per_dim`.

Usage: python bench/compression.py [--quick] [--max_images=N] [--spn_max_images=N]
  [--cases=a,b] [--photos=DIR]
  --quick: a tiny random-weight pipeline on 8 digits downscaled to 8 x 8 and one 13x19 image
  (CI smoke run; the figures mean nothing).
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tarfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from spn_keras import codec  # noqa: E402
from spn_keras import data  # noqa: E402
from spn_keras import testing  # noqa: E402
from spn_keras import zoo  # noqa: E402
from spn_keras.codec import interleaved_rans  # noqa: E402
from spn_keras.codec.archive_header import ArchiveHeader  # noqa: E402
from spn_keras.codec.codec_header import CodecHeader  # noqa: E402
from spn_keras.codec.frequencies import PRECISION_BITS  # noqa: E402
from spn_keras.codec.tiling import tile_grid  # noqa: E402
from spn_keras.data import embedded  # noqa: E402

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


@contextlib.contextmanager
def recorded_information():
  """Yields a list to which every coded stream's information (bits) is appended: the sum of
  -log2 of the coded sub-pixels' quantized probabilities, as `interleaved_rans.encode` gets
  them. The stream itself is unchanged."""
  information = []
  encode = interleaved_rans.encode

  def recording(starts, frequencies, valid):
    coded = np.asarray(frequencies, np.float64)[np.asarray(valid, bool)]
    information.append(float(-np.log2(coded / 2**PRECISION_BITS).sum()))
    return encode(starts, frequencies, valid)

  interleaved_rans.encode = recording
  try:
    yield information
  finally:
    interleaved_rans.encode = encode


def _dims(images):
  return sum(int(np.prod(image.shape)) for image in images)


def _megapixels(images):
  return sum(image.shape[0] * image.shape[1] for image in images) / 1e6


def _timing(images, encode_s, decode_s):
  return {
      "encode_s_per_image": encode_s / len(images),
      "decode_s_per_image": decode_s / len(images),
      "encode_s_per_megapixel": encode_s / _megapixels(images),
      "decode_s_per_megapixel": decode_s / _megapixels(images),
  }


def _same(decoded, images):
  return len(decoded) == len(images) and all(
      np.array_equal(a, b) for a, b in zip(decoded, images))


def _shapes(images):
  return sorted({tuple(int(side) for side in image.shape) for image in images})


def measure_classic(case, name, encode, decode, images, model_bits_per_dim):
  start = time.perf_counter()
  blobs = [encode(image) for image in images]
  encode_s = time.perf_counter() - start
  start = time.perf_counter()
  decoded = [decode(blob, image.shape[-1]) for blob, image in zip(blobs, images)]
  decode_s = time.perf_counter() - start
  return {
      "case": case, "codec": name, "images": len(images), "image_shapes": _shapes(images),
      "bits_per_dim": 8 * sum(map(len, blobs)) / _dims(images),
      "model_bits_per_dim": model_bits_per_dim,
      **_timing(images, encode_s, decode_s),
      "round_trip_exact": _same(decoded, images),
  }, blobs


def measure_tar(case, name, blobs, images, model_bits_per_dim):
  """The files `blobs` of `images` in one uncompressed tar (sizes only)."""
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
    for index, blob in enumerate(blobs):
      member = tarfile.TarInfo(f"{index:05d}.webp")
      member.size = len(blob)
      tar.addfile(member, io.BytesIO(blob))
  return {
      "case": case, "codec": name, "images": len(images), "image_shapes": _shapes(images),
      "bits_per_dim": 8 * len(buffer.getvalue()) / _dims(images),
      "model_bits_per_dim": model_bits_per_dim,
      "encode_s_per_image": None, "decode_s_per_image": None,
  }


def _exact_bits_per_dim(pipeline, images, batch_size=64):
  """`Pipeline.bits_per_dim` over `images` when they are all the model's size, else None."""
  if any(tuple(image.shape) != tuple(pipeline.image_shape) for image in images):
    return None
  batches = [np.stack(images[start:start + batch_size])
             for start in range(0, len(images), batch_size)]
  return float(np.mean(np.concatenate([pipeline.bits_per_dim(batch)["total"]
                                       for batch in batches])))


def measure_spn(case, pipeline, images, archive=False):
  """The spn codec's row: files (one per image) or one archive."""
  compress = codec.compress_archive if archive else codec.compress
  decompress = codec.decompress_archive if archive else codec.decompress
  with recorded_information() as information:
    start = time.perf_counter()
    coded = compress(pipeline, images)
    encode_s = time.perf_counter() - start
  start = time.perf_counter()
  decoded = decompress(pipeline, coded)
  decode_s = time.perf_counter() - start
  blobs = [coded] if archive else coded
  header = ArchiveHeader if archive else CodecHeader
  header_bits = sum(8 * len(header.from_bytes(blob)[0].to_bytes()) for blob in blobs)
  file_bits = 8 * sum(map(len, blobs))
  model_bits = sum(information)
  tiles = sum(int(np.prod(tile_grid(image.shape, pipeline.image_shape))) for image in images)
  dims = _dims(images)
  return {
      "case": case, "codec": "spn_archive" if archive else "spn", "images": len(images),
      "image_shapes": _shapes(images), "tiles": tiles,
      "bits_per_dim": file_bits / dims,
      "model_bits_per_dim": model_bits / dims,
      "exact_bits_per_dim": _exact_bits_per_dim(pipeline, images),
      "header_bits_per_dim": header_bits / dims,
      "file_over_model_and_header": file_bits / (model_bits + header_bits) - 1,
      **_timing(images, encode_s, decode_s),
      "round_trip_exact": _same(list(decoded), images),
      "coding_batch_sizes": sorted({codec.coding_batch_size(tiles)} if archive else {
          codec.coding_batch_size(int(np.prod(tile_grid(image.shape, pipeline.image_shape))))
          for image in images}),
  }


def _warm_up(pipeline, images, archive):
  """Compiles the spn codec's programs for the batch sizes `images` will use."""
  if archive:
    codec.decompress_archive(pipeline, codec.compress_archive(pipeline, images))
    return
  seen = {}
  for image in images:
    tiles = int(np.prod(tile_grid(image.shape, pipeline.image_shape)))
    seen.setdefault(codec.coding_batch_size(tiles), image)
  codec.decompress(pipeline, codec.compress(pipeline, list(seen.values())))


def whole_photos():
  """scikit-learn's two sample photos, 427x640x3."""
  from sklearn.datasets import load_sample_images  # the `data` extra
  return [np.asarray(image, np.uint8) for image in load_sample_images().images]


def cases(quick, max_images, names, photos=None):
  """`[(case, pipeline, images, spn rows: "files" / "archive", tar of WebP files)]`."""
  if quick:
    digits = embedded.mnist5k_images("test")[:8, ::4, ::4][:, :7, :7]
    small = list(np.pad(digits, ((0, 0), (0, 1), (0, 1), (0, 0))))
    tiny = testing.tiny_mdu_pipeline(8, stddev=0.3)
    odd = np.random.default_rng(0).integers(0, 256, (13, 19, 1), np.uint8)
    return [("quick_tiny_8x8", tiny, small, ("files", "archive"), True),
            ("quick_tiny_13x19", tiny, [odd], ("files",), False)]
  chosen = []
  if "mnist5k_test" in names:
    chosen.append(("mnist5k_test", zoo.load("mnist28_mdu"),
                   list(embedded.mnist5k_images("test")[:max_images]), ("files", "archive"),
                   True))
  if "photos32_test" in names:
    chosen.append(("photos32_test", zoo.load("photos32_mdu"),
                   list(embedded.photos32_test_patches()[:max_images]), ("files",), False))
  if "photos128_test" in names:
    if photos:
      crops = data.make_dataset(f"crops:{photos}@128", "test", autotune=False)
      crops = [crop.numpy() for crop in crops]
      chosen.append(("photos128_test", zoo.load("photos128_mdu"), crops[:max_images],
                     ("files",), False))
    else:
      print("compression: photos128_test left out: give --photos=DIR (the folder of "
            "zoo/photos32_mdu/fetch_training_photos.sh)", file=sys.stderr)
  if "whole_photos" in names:
    chosen.append(("whole_photos", zoo.load("photos32_mdu"), whole_photos()[:max_images],
                   ("files",), False))
  return chosen


CASES = ("mnist5k_test", "photos32_test", "photos128_test", "whole_photos")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--quick", action="store_true", help="CI smoke run (tiny, meaningless).")
  parser.add_argument("--max_images", type=int, default=None,
                      help="Images per case (default: all of them).")
  parser.add_argument("--spn_max_images", type=int, default=None,
                      help="Images the spn codec codes, the first of each case's (default: "
                           "all); the other codecs code all of them.")
  parser.add_argument("--cases", default=None,
                      help=f"Comma-separated cases among {', '.join(CASES)} (default: all).")
  parser.add_argument("--photos", default=None, type=os.path.expanduser,
                      help="The training photos' folder (photos128_test's held-out crops).")
  args = parser.parse_args()
  names = args.cases.split(",") if args.cases else list(CASES)
  unknown = sorted(set(names) - set(CASES))
  if unknown:
    parser.error(f"--cases: unknown {unknown}; expected some of {list(CASES)}")
  for name in ("max_images", "spn_max_images"):
    if getattr(args, name) is not None and getattr(args, name) < 1:
      parser.error(f"--{name} must be a positive number of images, got {getattr(args, name)}")
  if args.photos is not None and not os.path.isdir(args.photos):
    parser.error(f"--photos: no folder at {args.photos!r}")
  if args.cases and "photos128_test" in names and args.photos is None:
    parser.error("--cases=photos128_test needs --photos=DIR (the folder of "
                 "zoo/photos32_mdu/fetch_training_photos.sh)")
  others = classic_codecs()
  chosen = cases(args.quick, args.max_images, names, args.photos)
  for case, pipeline, images, spn_rows, tar in chosen:
    images = [np.asarray(image, np.uint8) for image in images]
    spn_images = images[:args.spn_max_images]
    model_bits_per_dim = None
    for row in spn_rows:
      _warm_up(pipeline, spn_images, row == "archive")
      result = measure_spn(case, pipeline, spn_images, archive=row == "archive")
      model_bits_per_dim = model_bits_per_dim or result["model_bits_per_dim"]
      print(json.dumps(result), flush=True)
    if len(spn_images) < len(images):  # the other rows' model figure: over all their images
      model_bits_per_dim = _exact_bits_per_dim(pipeline, images)
    for name, (encode, decode) in others.items():
      result, blobs = measure_classic(case, name, encode, decode, images, model_bits_per_dim)
      print(json.dumps(result), flush=True)
      if tar and name == "webp":
        print(json.dumps(measure_tar(case, "webp_tar", blobs, images, model_bits_per_dim)),
              flush=True)


if __name__ == "__main__":
  main()
