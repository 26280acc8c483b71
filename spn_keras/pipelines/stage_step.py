"""`StageStep`: one stage of a `StagePlan`: the part of the image it models, given which."""

import dataclasses

# The keyword by which a stage is given each part (`sample`, `code_slices`, `log_prob`).
_GIVEN_KEYWORDS = {"first_slice": "first_slice", "low": "conditioning"}


@dataclasses.dataclass(frozen=True)
class StageStep:
  """One stage run by a pipeline: which part of the image it models, given which other part.

  The parts of a full image `(..., H, W, C)` at `D = d1 + d2` bits (SPN_SPEC section 6):
  `"low"`, its `d1` most significant bits (the low-depth image, `(..., H, W, C)`);
  `"first_slice"`, slice 0 of the low-depth image (`(..., H/S, W/S, C)`, `S` the size
  upscaler's scale); `"lsb"`, its `d2` least significant bits (`(..., H, W, C)`). A stage
  coded alone (`spn_keras.codec`) models the part `"image"`, its own images.

  Attributes:
    name: the stage's name ("slice_decoder", "size_upscaler", "depth_upscaler"; the codec's
      "stage" for a stage coded alone).
    model: the stage, an `AutoregressiveImageModel`.
    produces: the part it models (scores, samples, codes).
    given: the part it is given, or None: `"first_slice"` (size upscaling: slice 0 of
      `produces` is known, only slices `1 ..` are modelled) or `"low"` (depth upscaling: the
      low-depth image is its `conditioning`).
  """

  name: str
  model: object
  produces: str
  given: str | None = None

  @property
  def num_slices(self):
    """The number of slices the stage generates: `S**2`, less slice 0 when it is given."""
    return self.model.scale**2 - int(self.given == "first_slice")

  def inputs(self, parts):
    """The keyword arguments of the stage's `sample` and `code_slices` for this step.

    Args:
      parts: `{part: int tensor}` known so far (batched, `(B, ...)`).

    Returns:
      `{}`, `{"first_slice": (B, h, w, C)}` or `{"conditioning": (B, H, W, C)}`.
    """
    if self.given is None:
      return {}
    return {_GIVEN_KEYWORDS[self.given]: parts[self.given]}

  def log_prob(self, parts):
    """The stage's exact log-likelihood of its part of the images, given the other parts.

    Args:
      parts: `{part: int (B, ...)}` of the images (`StagePlan.split`).

    Returns:
      float32 `(B,)` in nats: `log p(produces | given)`.
    """
    if self.given == "first_slice":
      return self.model.log_prob(parts[self.produces], first_slice_given=True)
    return self.model.log_prob(parts[self.produces], **self.inputs(parts))

  def view(self, parts):
    """What the stage trains and is evaluated on: `{"images": ...}`, plus `"conditioning"`
    for a depth upscaler (the first slice of a size upscaler stays in its `"images"`).

    Args:
      parts: `{part: int tensor}` of one image or a batch (`StagePlan.split`).

    Returns:
      dict of int tensors.
    """
    view = {"images": parts[self.produces]}
    if self.given == "low":
      view["conditioning"] = parts["low"]
    return view
