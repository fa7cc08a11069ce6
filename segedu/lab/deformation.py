"""U-Net's elastic deformation (Ronneberger et al. 2015, section 3.1), on batches of tensors.

    "We generate smooth deformations using random displacement vectors on a coarse 3 by 3 grid. The displacements
    are sampled from a Gaussian distribution with 10 pixels standard deviation. Per-pixel displacements are then
    computed using bicubic interpolation."

So: (N, 2, 3, 3) displacements ~ N(0, 10 px) (`coarse_displacements`), one per grid point and axis, interpolated
bicubically over the tile (`displacement_field`, `F.interpolate(mode="bicubic", align_corners=True)`: the 3x3 grid
spans the tile from corner to corner and its values are kept at the grid points), and every map of a training
sample moved by that one field (`warp`, `F.grid_sample`): the image bilinearly, the mask by its nearest label (so a
mask stays a label map: every value it takes was in the input), a weight map bilinearly. Each output pixel x takes
the input at x + d(x) (a backward map: no holes).

    generator = torch.Generator().manual_seed(seed + 1_000_000)  # its own, not the batch order's
    images, masks, weights = elastic_deformation(images, masks, weights, generator=generator)

Where we depart from the paper or have to choose:

- Outside the tile, a pixel displaced out of it reads the tile mirrored at its edge (`padding_mode="reflection"`),
  as U-Net extrapolates the missing context of its border tiles by mirroring (section 2, figure 2), so no void or
  black border appears (torchvision's `ElasticTransform` fills one).
- The interpolation is PyTorch's bicubic convolution (Keys' kernel, a = -0.75, the grid's edge values repeated
  beyond it); the paper does not say which bicubic kernel. Between grid points the field is a weighted sum of
  Gaussian grid values whose squared weights sum to less than 1, so its RMS over the tile is somewhat below 10 px
  (about 7.7 px per axis, 10.9 px in length, on a 128x128 tile; `tests/lab/test_endtoend.py` computes it
  independently).
- A weight map is moved with its mask rather than recomputed from the moved mask; a smooth deformation keeps the
  distances to the nearest cells close to the moved ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GRID", "DISPLACEMENT_PIXELS", "coarse_displacements", "displacement_field", "warp",
           "elastic_deformation"]

GRID = 3  # "a coarse 3 by 3 grid"
DISPLACEMENT_PIXELS = 10.0  # "10 pixels standard deviation"


def coarse_displacements(count: int, generator: torch.Generator, *, grid: int = GRID,
                         standard_deviation: float = DISPLACEMENT_PIXELS) -> torch.Tensor:
    """(count, 2, grid, grid) displacements in pixels, (rows, columns) per grid point, each ~ N(0, sd^2), drawn
    from `generator` only."""
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
    rows = torch.arange(height, dtype=field.dtype).view(1, height, 1) + field[:, 0]  # (N, H, W) source rows
    columns = torch.arange(width, dtype=field.dtype).view(1, 1, width) + field[:, 1]
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
