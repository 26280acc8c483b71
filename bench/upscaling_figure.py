"""Figure: real 32x32 photos upscaled 4x by `photos128_mdu`, next to the true 128x128 crops.

Each row is one held-out 128x128 test crop (`crops:PHOTOS@128`, split "test": crops of the
photos `photos128_mdu` never trained on), picked at evenly spaced positions of the split (no
choice by eye): its 32x32 thumbnail (every 4th pixel of every 4th row, the SPN's first slice,
shown enlarged), `--samples` upscalings of the thumbnail (`Pipeline.upscale`, the path of
`spn_sample --upscale`: the size upscaler draws the other 15 slices of the 3-bit image, the
depth upscaler the 5 low bits), and the true crop. The thumbnail's 8-bit values go in; the
pipeline keeps their 3 most significant bits, so the upscalings may differ from the thumbnail
in the low bits of its own pixels too.

Prints one JSON line (the rows, the seconds of upscaling, the exact bits/dim of the true crops
under the pipeline) and writes the PNG.

  bash zoo/photos32_mdu/fetch_training_photos.sh $PHOTOS
  python bench/upscaling_figure.py --photos=$PHOTOS --output=zoo/photos128_mdu/upscaling.png
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from spn_keras import data  # noqa: E402
from spn_keras import zoo  # noqa: E402
from spn_keras.visualization import upscaling_grid  # noqa: E402


def test_crops(photos, size):
  """The `crops:PHOTOS@size` test split as uint8 `(N, size, size, 3)`."""
  dataset = data.make_dataset(f"crops:{photos}@{size}", "test", batch_size=64, autotune=False)
  return np.concatenate([batch.numpy() for batch in dataset])


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--photos", required=True, type=os.path.expanduser,
                      help="The folder of zoo/photos32_mdu/fetch_training_photos.sh.")
  parser.add_argument("--pipeline", default="photos128_mdu", help="Zoo name or folder.")
  parser.add_argument("--rows", type=int, default=6, help="Test crops (rows of the figure).")
  parser.add_argument("--samples", type=int, default=4, help="Upscalings of each crop.")
  parser.add_argument("--seed", type=int, default=0, help="Sampling seed.")
  parser.add_argument("--output", default="upscaling.png", help="The PNG to write.")
  args = parser.parse_args()
  if args.rows < 1 or args.samples < 1:
    parser.error(f"--rows and --samples must be positive, got {args.rows} and {args.samples}")
  if not os.path.isdir(args.photos):
    parser.error(f"--photos: no folder at {args.photos!r}")
  pipeline = zoo.load(args.pipeline)
  size = pipeline.image_shape[0]
  scale = pipeline.size_upscaler.scale
  crops = test_crops(args.photos, size)
  picked = np.linspace(0, len(crops) - 1, args.rows).round().astype(int)
  originals = crops[picked]
  thumbnails = originals[:, ::scale, ::scale]  # slice 0 of the subscale ordering
  start = time.perf_counter()
  upscalings = pipeline.upscale(np.repeat(thumbnails, args.samples, axis=0), input_bits=8,
                                seed=args.seed)
  seconds = time.perf_counter() - start
  per_row = upscalings.reshape(args.rows, args.samples, *originals.shape[1:])
  grid = upscaling_grid(thumbnails, per_row, originals)[0]
  Image.fromarray(grid).save(args.output)
  bits = pipeline.bits_per_dim(originals)
  print(json.dumps({
      "pipeline": args.pipeline, "photos": args.photos, "test_crops": int(len(crops)),
      "rows": picked.tolist(), "samples": args.samples, "seed": args.seed,
      "upscale_s": round(seconds, 1),
      "upscale_s_per_image": round(seconds / upscalings.shape[0], 2),
      "originals_bits_per_dim": {stage: [round(float(v), 4) for v in values]
                                 for stage, values in bits.items()},
      "output": args.output}))


if __name__ == "__main__":
  main()
