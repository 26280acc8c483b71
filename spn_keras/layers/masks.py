"""Numpy masks that make convolutions autoregressive over pixels and colour channels.

The ordering of sub-pixels is raster order over pixels and, inside a pixel, colour channels
0, 1, 2 (R, G, B) [paper eq. 1]. Feature maps of a channel-masked layer are split into
`color_channels` contiguous groups (`channel_groups`); group `k` carries information about
colour channel `k` of the current pixel (PixelCNN, van den Oord et al. 2016b, section 3.4).
Groups need not be of equal size, so that Table 4's 256-channel layers work on RGB images.

Masks are numpy arrays rather than `tf.constant`s: constants created in `build()` get captured
across graphs and break SavedModel export.
"""

import numpy as np

from spn_keras.argument_checks import check_channels

MASK_TYPES = ("A", "B")


def check_mask_type(mask_type):
  """Raises `ValueError` unless `mask_type` is "A" or "B"."""
  if mask_type not in MASK_TYPES:
    raise ValueError(f"`mask_type` must be 'A' or 'B', got {mask_type!r}.")


def check_grouping(name, channels, color_channels):
  """Raises `ValueError` unless `channels` feature maps can hold `color_channels` groups."""
  check_channels("color_channels", color_channels)
  if channels < color_channels:
    raise ValueError(
        f"`{name}` ({channels}) must be at least `color_channels` ({color_channels}): "
        "feature maps are split into one group per colour channel.")


def channel_groups(channels, color_channels):
  """Colour group of each of `channels` feature maps: contiguous, sizes differing by <= 1.

  Returns:
    int array `(channels,)`; entry `i` is `i * color_channels // channels`.
  """
  check_grouping("channels", channels, color_channels)
  return np.arange(channels) * color_channels // channels


def group_bounds(channels, color_channels):
  """`[(start, end), ...]`: the contiguous feature-map range of each colour group.

  Returns:
    list of `color_channels` pairs; group `k` is `channels[start:end]` of `channel_groups`.
  """
  groups = channel_groups(channels, color_channels)
  return [(int(np.argmax(groups == k)), int(len(groups) - np.argmax(groups[::-1] == k)))
          for k in range(color_channels)]


def channel_group_mask(in_group, out_group, mask_type):
  """Mask of the centre tap of a kernel over the colour-channel groups.

  Args:
    in_group: int array `(in_channels,)`, the colour group of each input feature map.
    out_group: int array `(out_channels,)`, the colour group of each output feature map.
    mask_type: "A": output group k sees input groups < k (the first layer, which must not see
      the sub-pixel it predicts); "B": groups <= k (later layers).

  Returns:
    float32 array `(in_channels, out_channels)` of zeros and ones.
  """
  check_mask_type(mask_type)
  in_group, out_group = np.asarray(in_group), np.asarray(out_group)
  if mask_type == "A":
    allowed = in_group[:, None] < out_group[None, :]
  else:
    allowed = in_group[:, None] <= out_group[None, :]
  return allowed.astype(np.float32)


def raster_kernel_mask(kernel_size, in_group, out_group, mask_type):
  """Mask of a full `kh x kw` kernel centred on the current pixel (PixelCNN masks A and B).

  Taps in rows above the centre and left of the centre in the centre row are fully open, the
  centre tap is masked over channel groups, and every later tap is closed.

  Args:
    kernel_size: `(kh, kw)`, both odd.
    in_group: colour group of each input feature map (`channel_groups`).
    out_group: colour group of each output feature map.
    mask_type: "A" or "B", see `channel_group_mask`.

  Returns:
    float32 array `(kh, kw, in_channels, out_channels)`.
  """
  kh, kw = kernel_size
  center = channel_group_mask(in_group, out_group, mask_type)
  mask = np.zeros((kh, kw) + center.shape, np.float32)
  mask[:kh // 2] = 1.0
  mask[kh // 2, :kw // 2] = 1.0
  mask[kh // 2, kw // 2] = center
  return mask


def normalize_kernel_size(kernel_size):
  """Returns `(kh, kw)` from an int or a pair, both positive and odd."""
  if isinstance(kernel_size, (int, np.integer)):
    kernel_size = (int(kernel_size), int(kernel_size))
  kernel_size = tuple(int(k) for k in kernel_size)
  if len(kernel_size) != 2 or any(k < 1 or k % 2 == 0 for k in kernel_size):
    raise ValueError(
        f"`kernel_size` must be an odd positive int or a pair of them, got {kernel_size!r}.")
  return kernel_size
