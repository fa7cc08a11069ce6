"""U-Net's elastic deformation (Ronneberger et al. 2015, section 3.1), on batches of tensors and as a v2 transform.

    "We generate smooth deformations using random displacement vectors on a coarse 3 by 3 grid. The displacements
    are sampled from a Gaussian distribution with 10 pixels standard deviation. Per-pixel displacements are then
    computed using bicubic interpolation."

So: (N, 2, 3, 3) displacements ~ N(0, 10 px) (`coarse_displacements`), one per grid point and axis, interpolated
bicubically over the tile (`displacement_field`, `F.interpolate(mode="bicubic", align_corners=True)`: the 3x3 grid
spans the tile from corner to corner and its values are kept at the grid points), and every map of a training
sample moved by that one field (`warp`, `F.grid_sample`): the image bilinearly, the mask by its nearest label (so a
mask stays a label map: every value it takes was in the input), a weight map bilinearly. Each output pixel x takes
the input at x + d(x) (a backward map: no holes).

On batches (the lab's training loop), each sample with its own field:

    generator = torch.Generator().manual_seed(seed + 1_000_000)  # its own, not the batch order's
    images, masks, weights = elastic_deformation(images, masks, weights, generator=generator)

In a data pipeline (torchvision.transforms.v2), one field per call, shared by the image and its mask:

    transform = v2.Compose([v2.RandomCrop(256), ElasticDeformation(), ...])
    image, mask = transform(tv_tensors.Image(image), tv_tensors.Mask(mask))

Where we depart from the paper or have to choose:

- Outside the tile, a pixel displaced out of it reads the tile mirrored at its edge (`padding_mode="reflection"`),
  as U-Net extrapolates the missing context of its border tiles by mirroring (section 2, figure 2), so no void or
  black border appears (torchvision's `ElasticTransform` fills one).
- The interpolation is PyTorch's bicubic convolution (Keys' kernel, a = -0.75, the grid's edge values repeated
  beyond it); the paper does not say which bicubic kernel. Between grid points the field is a weighted sum of
  Gaussian grid values whose squared weights sum to less than 1, so its RMS over the tile is somewhat below 10 px
  (about 7.7 px per axis, 10.9 px in length, on a 128x128 tile; `tests/lab/test_endtoend.py` and
  `tests/test_elastic_transform.py` compute it independently).
- A weight map is moved with its mask rather than recomputed from the moved mask; a smooth deformation keeps the
  distances to the nearest cells close to the moved ones.
- The displacements are in pixels of the tile they are applied to, so the transform belongs at the data's native
  scale (after a crop, before or without any resizing), where 10 px means what it meant for the paper's 512x512
  EM slices.
- The paper does not say what its 3x3 grid spans. We take it to span one input tile, figure 1's 572 px
  (`PAPER_SPAN`), so that its grid points lie 285.5 px apart. A 3x3 grid over a smaller tile bends the tissue more
  sharply for the same 10 px: on a 256 px tile, about 2.2 times. `ElasticDeformation(span=PAPER_SPAN)` draws the
  field over a 572 px square and keeps a random window of the tile's size, so a small tile is warped as a window of
  such a tile would be; without `span` the grid spans the tile itself (the lab's experiments,
  `elastic_deformation`).
"""

from __future__ import annotations

from typing import Any

import PIL.Image
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2
from ..language import tr

__all__ = ["GRID", "DISPLACEMENT_PIXELS", "PAPER_SPAN", "coarse_displacements", "displacement_field", "warp",
           "elastic_deformation", "ElasticDeformation"]

GRID = 3  # "a coarse 3 by 3 grid"
DISPLACEMENT_PIXELS = 10.0  # "10 pixels standard deviation"
PAPER_SPAN = 572  # figure 1's input tile, which we take the coarse grid to span (the paper does not say)


def coarse_displacements(count: int, generator: torch.Generator | None, *, grid: int = GRID,
                         standard_deviation: float = DISPLACEMENT_PIXELS) -> torch.Tensor:
    """(count, 2, grid, grid) displacements in pixels, (rows, columns) per grid point, each ~ N(0, sd^2), drawn
    from `generator` only (torch's default generator when None)."""
    return standard_deviation * torch.randn(count, 2, grid, grid, generator=generator)


def displacement_field(coarse: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, 2, g, g) grid displacements -> (N, 2, H, W) per-pixel displacements in pixels (rows, columns): bicubic
    interpolation with the grid's corners on the tile's corner pixels (align_corners=True)."""
    return F.interpolate(coarse, size=size, mode="bicubic", align_corners=True)


def warp(maps: torch.Tensor, field: torch.Tensor, *, mode: str) -> torch.Tensor:
    """(N, C, H, W) float maps moved by the (N, 2, H, W) field: output(x) = maps(x + field(x)), sampled with `mode`
    ("bilinear" or "nearest"), a point outside the tile read from the tile mirrored about its edge pixels (column
    W - 1 + k reads column W - 1 - k)."""
    height, width = maps.shape[-2:]
    rows = torch.arange(height, dtype=field.dtype, device=field.device).view(1, height, 1) + field[:, 0]
    columns = torch.arange(width, dtype=field.dtype, device=field.device).view(1, 1, width) + field[:, 1]
    # grid_sample's coordinates, align_corners=True: -1 is the first pixel's centre, +1 the last one's; (x, y) order
    grid = torch.stack([2 * columns / max(width - 1, 1) - 1, 2 * rows / max(height - 1, 1) - 1], -1)
    return F.grid_sample(maps, grid.to(maps.dtype), mode=mode, padding_mode="reflection", align_corners=True)


def elastic_deformation(images: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor | None = None, *,
                        generator: torch.Generator, grid: int = GRID,
                        standard_deviation: float = DISPLACEMENT_PIXELS
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """images (N, C, H, W) float, masks (N, H, W) integer labels, weights (N, H, W) or None, each sample moved by
    its own random field (`coarse_displacements` from `generator`, `displacement_field`): images and weights
    bilinearly, masks by nearest label. Returns the three in the same shapes and dtypes."""
    count, _, height, width = images.shape
    field = displacement_field(coarse_displacements(count, generator, grid=grid,
                                                    standard_deviation=standard_deviation), (height, width))
    moved_images = warp(images, field, mode="bilinear")
    moved_masks = warp(masks[:, None].float(), field, mode="nearest")[:, 0].round().to(masks.dtype)
    moved_weights = None if weights is None else warp(weights[:, None], field, mode="bilinear")[:, 0]
    return moved_images, moved_masks, moved_weights


class ElasticDeformation(v2.Transform):
    """U-Net's elastic deformation as a torchvision v2 transform: one coarse field per call, shared by all inputs.

    `make_params` draws `grid` x `grid` displacements ~ N(0, `standard_deviation` px) per axis (from `generator`, or
    from torch's default generator like torchvision's own random transforms, so DataLoader workers draw different
    fields) and interpolates them bicubically over the inputs' (H, W); `transform` then moves every input by that
    one field: images (tv_tensors.Image, Video, or a lone plain tensor) bilinearly, returned in their own dtype
    (integer ones rounded and clamped to their range), and tv_tensors.Mask by nearest label, so every output label,
    the ignore index included, occurs in the input. Outside the tile the input is mirrored. With probability
    1 - `p` the inputs are returned unchanged. Leading dimensions (..., H, W) are all moved by the same field.
    With `span` (pixels, at least the inputs' larger side) the grid spans a `span` x `span` square instead of the
    inputs, and the inputs take a random window of that field (drawn from `generator`): `span=PAPER_SPAN` warps a
    small tile as a window of a 572 px tile, figure 1's input tile, which we take the paper's grid to span.

    A `generator` given here is copied into each DataLoader worker with the same state, so workers would repeat
    each other's fields; leave it None in a multi-worker pipeline. PIL images, bounding boxes and key points are
    refused (convert images with v2.ToImage() first).
    """

    def __init__(self, grid: int = GRID, standard_deviation: float = DISPLACEMENT_PIXELS, p: float = 1.0, *,
                 span: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if int(grid) != grid or grid < 1:
            raise ValueError(tr("grid must be a positive integer, got {grid!r}", grid=grid))
        if not standard_deviation >= 0:
            raise ValueError(tr("standard_deviation must be >= 0 pixels, got {standard_deviation!r}",
                                standard_deviation=standard_deviation))
        if not 0.0 <= p <= 1.0:
            raise ValueError(tr("p must be a probability in [0, 1], got {p!r}", p=p))
        if span is not None and (int(span) != span or span < 1):
            raise ValueError(tr("span must be a positive whole number of pixels or None, got {span!r}", span=span))
        self.grid, self.standard_deviation, self.p = int(grid), float(standard_deviation), float(p)
        self.span = None if span is None else int(span)
        self.generator = generator

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        for inpt in flat_inputs:
            if isinstance(inpt, PIL.Image.Image):
                raise TypeError(tr("{self_type} moves tensors; convert PIL images with v2.ToImage() first",
                                   self_type=type(self).__name__))
            if isinstance(inpt, tv_tensors.TVTensor) and not isinstance(
                    inpt, (tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask)):
                raise TypeError(tr("{self_type} moves images and masks only, not {inpt_type}",
                                   self_type=type(self).__name__,
                                   inpt_type=type(inpt).__name__))

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        sizes = {tuple(v2.functional.get_size(inpt)) for inpt in flat_inputs}
        if len(sizes) != 1:
            raise ValueError(tr("{self_type} needs inputs of one size (H, W), got {sizes}",
                                self_type=type(self).__name__, sizes=sorted(sizes)))
        (size,) = sizes
        if self.span is not None and self.span < max(size):  # refused on every call, deformed or not
            raise ValueError(tr("{self_type}: span={span} px is smaller than the inputs ({height}x{width}); the grid "
                                "must span at least the tile", self_type=type(self).__name__, span=self.span,
                                height=size[0], width=size[1]))
        if self.p < 1.0 and torch.rand(1, generator=self.generator).item() >= self.p:
            return dict(field=None)
        coarse = coarse_displacements(1, self.generator, grid=self.grid, standard_deviation=self.standard_deviation)
        if self.span is None:
            return dict(field=displacement_field(coarse, size))  # (1, 2, H, W), one for every input of this call
        canvas = displacement_field(coarse, (self.span, self.span))  # (1, 2, span, span): one whole input tile
        top, left = (int(torch.randint(self.span - side + 1, (1,), generator=self.generator)) for side in size)
        return dict(field=canvas[..., top:top + size[0], left:left + size[1]])  # a random window of it

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        field = params["field"]
        if field is None:
            return inpt
        plain = inpt.as_subclass(torch.Tensor)
        height, width = plain.shape[-2:]
        is_mask = isinstance(inpt, tv_tensors.Mask)
        # masks in float64, exact for any integer label up to 2**53; images in float32 (float64 kept)
        work = torch.float64 if is_mask or plain.dtype == torch.float64 else torch.float32
        maps = plain.reshape(-1, 1, height, width).to(work)
        field = field.to(device=plain.device, dtype=work).expand(maps.shape[0], -1, -1, -1)
        moved = warp(maps, field, mode="nearest" if is_mask else "bilinear").reshape(plain.shape)
        if is_mask or not plain.dtype.is_floating_point:
            moved = moved.round()
            if not is_mask and plain.dtype != torch.bool:
                info = torch.iinfo(plain.dtype)
                moved = moved.clamp(info.min, info.max)
        return tv_tensors.wrap(moved.to(plain.dtype), like=inpt) if isinstance(inpt, tv_tensors.TVTensor) \
            else moved.to(plain.dtype)
