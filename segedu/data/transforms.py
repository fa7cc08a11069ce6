"""Paired transforms for segmentation, built from torchvision.transforms.v2.

A transform receives ``(tv_tensors.Image, tv_tensors.Mask)`` and moves both the same way: v2 resizes
masks with nearest-neighbour interpolation, fills the mask's new border with the ignore index, and
leaves masks out of photometric changes and normalization. Nothing here is hand-written except the
choice of steps (U-Net's elastic deformation, which torchvision lacks, is `segedu.data.elastic`).
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from .base import IGNORE_INDEX
from .elastic import ElasticDeformation

__all__ = ["train_transforms", "eval_transforms", "isbi_train_transforms", "FILL"]

FILL = {tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}


def train_transforms(size: tuple[int, int], *, scale: tuple[float, float] = (0.35, 1.0), horizontal_flip: bool = True,
                     colour_jitter: float = 0.2, elastic: bool = False, elastic_alpha: float = 34.0,
                     elastic_sigma: float = 4.0) -> v2.Compose:
    """Random crop of a random scale resized to `size` (height, width), flips, colour jitter, optional elastic warp.

    `elastic` adds torchvision's `ElasticTransform`: a per-pixel displacement field of strength `elastic_alpha`
    smoothed by a Gaussian of `elastic_sigma` pixels. That is not U-Net's deformation (Ronneberger et al. 2015,
    section 3.1: a coarse 3x3 grid of displacements of 10 px standard deviation, interpolated bicubically), which
    is `segedu.data.elastic`, used by `isbi_train_transforms`.
    """
    height, width = size
    aspect = width / height
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(size, scale=scale, ratio=(aspect * 3 / 4, aspect * 4 / 3), antialias=True),
    ]
    if horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if elastic:
        steps.append(v2.ElasticTransform(alpha=elastic_alpha, sigma=elastic_sigma, fill=FILL))
    if colour_jitter:
        steps.append(v2.ColorJitter(brightness=colour_jitter, contrast=colour_jitter))
    steps.append(v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True))
    return v2.Compose(steps)


def isbi_train_transforms(tile: int = 256, *, elastic_span: int | None = None) -> v2.Compose:
    """U-Net's augmentation for ISBI 2012 (Ronneberger et al. 2015, section 3.1), at the data's native scale.

    The paper trains on few EM slices and asks for shift and rotation invariance, robustness to deformations and to
    grey-value variations, with random elastic deformation as the key; each step serves one of these:

    - `v2.RandomCrop(tile)`: a random `tile` x `tile` window (shift), never rescaled, so membranes keep their width
      in pixels and the deformation's 10 px mean what they mean on the paper's 512x512 slices;
    - random horizontal and vertical flips and a rotation by 0, 90, 180 or 270 degrees: the slices have no
      preferred orientation; on a square tile torchvision rotates by multiples of 90 degrees with `torch.rot90`,
      an exact permutation of pixels (no interpolation, masks intact);
    - `ElasticDeformation(span=elastic_span)`: the paper's deformation (3x3 grid, displacements ~ N(0, 10 px),
      bicubic), one field moving the image bilinearly and the mask by nearest label, the tile mirrored at its
      border; with `elastic_span=572` (`data.elastic.PAPER_SPAN`) the grid spans a 572 px tile, figure 1's input
      tile, and the tile is a window of it (without it, the grid spans the tile itself);
    - `v2.ColorJitter(brightness=0.2, contrast=0.2)`: grey-value variations, on the image only;
    - `v2.ToDtype`, as in `train_transforms`: float32 image in [0, 1], int64 mask.

    Input: a (tv_tensors.Image, tv_tensors.Mask) pair at least `tile` pixels on each side (a 512x512 slice).
    """
    quarter_turns = [v2.RandomRotation([angle, angle], fill=FILL) for angle in (0, 90, 180, 270)]
    return v2.Compose([
        v2.RandomCrop(tile),
        v2.RandomHorizontalFlip(),
        v2.RandomVerticalFlip(),
        v2.RandomChoice(quarter_turns),
        ElasticDeformation(span=elastic_span),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
    ])


def eval_transforms(size: tuple[int, int] | None = None) -> v2.Compose:
    """Resize image and mask to `size` (height, width), or leave them as they are when size is None."""
    steps: list[v2.Transform] = [v2.Resize(size, antialias=True)] if size is not None else []
    steps.append(v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True))
    return v2.Compose(steps)
