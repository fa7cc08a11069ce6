"""`Shapes`: synthetic scenes where colour says nothing and shape says everything.

Each scene is generated from ``(seed, split, index)`` alone, so it is identical on every machine
and costs about 2 ms at 64x64 on a CPU core. Objects of four classes (disc, square, triangle, ring) with radii
from 7% to 35% of the image overlap one another on a textured background. Objects and background
draw their colours and stripe textures from the same distribution and share pixel noise, so no
colour threshold separates the classes: a model must look at outlines and context (a ring and a
disc differ only by the hole in the middle). Used by the fast profile and whenever no real data is
at hand.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import SegmentationDataset, Transforms
from ..language import tr

__all__ = ["Shapes", "render_scene"]

_SPLIT_OFFSET = {"train": 0, "val": 1_000_000, "test": 2_000_000}
_LENGTH = {"train": 512, "val": 128, "test": 128}


def _texture(generator: torch.Generator, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Two random colours mixed by a random stripe pattern: (3, H, W) in [0, 1]."""
    first, second = torch.rand(3, 1, 1, generator=generator), torch.rand(3, 1, 1, generator=generator)
    angle = torch.rand(1, generator=generator).item() * math.pi
    frequency = 1 + 5 * torch.rand(1, generator=generator).item()
    phase = 2 * math.pi * torch.rand(1, generator=generator).item()
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * frequency * (x * math.cos(angle) + y * math.sin(angle)) + phase)
    return first * stripes + second * (1 - stripes)  # (3, H, W)


def _inside(kind: int, u: torch.Tensor, v: torch.Tensor, radius: float) -> torch.Tensor:
    """Boolean (H, W): pixels inside a shape of `kind` centred at u = v = 0 (coordinates already rotated)."""
    distance = torch.sqrt(u * u + v * v)
    if kind == 1:  # disc
        return distance < radius
    if kind == 2:  # square
        return torch.maximum(u.abs(), v.abs()) < radius * 0.8
    if kind == 3:  # equilateral triangle: three half-planes
        inside = torch.ones_like(u, dtype=torch.bool)
        for k in range(3):
            theta = math.pi / 2 + 2 * math.pi * k / 3
            inside &= u * math.cos(theta) + v * math.sin(theta) < radius * 0.5
        return inside
    return (distance < radius) & (distance > radius * 0.55)  # ring


def render_scene(generator: torch.Generator, size: int, *, instances: bool = False):
    """One scene: image float32 (3, size, size) in [0, 1], mask int64 (size, size) with classes 0..4; with
    `instances`, also an int64 (size, size) map of instance ids (0 background, 1.. the objects in drawing order;
    a later object hides what it covers, and an object hidden entirely keeps no pixel)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")  # (H, W) each
    image = _texture(generator, y, x)
    mask = torch.zeros(size, size, dtype=torch.int64)
    ids = torch.zeros(size, size, dtype=torch.int64)
    for number in range(1, int(torch.randint(2, 6, (1,), generator=generator)) + 1):
        kind = int(torch.randint(1, 5, (1,), generator=generator))
        centre_y, centre_x = torch.rand(2, generator=generator).tolist()
        radius = math.exp(math.log(0.07) + (math.log(0.35) - math.log(0.07)) * torch.rand(1, generator=generator).item())
        angle = 2 * math.pi * torch.rand(1, generator=generator).item()
        dy, dx = y - centre_y, x - centre_x
        u, v = dx * math.cos(angle) + dy * math.sin(angle), -dx * math.sin(angle) + dy * math.cos(angle)
        inside = _inside(kind, u, v, radius)
        image = torch.where(inside, _texture(generator, y, x), image)
        mask[inside] = kind
        ids[inside] = number
    image = image + 0.05 * torch.randn(3, size, size, generator=generator)
    return (image.clamp_(0, 1), mask, ids) if instances else (image.clamp_(0, 1), mask)


class Shapes(SegmentationDataset):
    """Synthetic shape scenes, deterministic in (seed, split, index).

    Args:
        split: "train" (512 scenes), "val" (128) or "test" (128); the splits never share a scene.
        size: side of the square scenes in pixels.
        length: number of scenes (default: the split's size above).
        seed: changes every scene.
        transforms: paired torchvision.transforms.v2 callable.
    """

    class_names = ("background", "disc", "square", "triangle", "ring")
    palette = ((40, 40, 40), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200))

    def __init__(self, split: str = "train", *, size: int = 64, length: int | None = None, seed: int = 0,
                 transforms: Transforms | None = None):
        if split not in _SPLIT_OFFSET:
            raise ValueError(tr("Shapes split must be one of {_SPLIT_OFFSET}, got {split!r}",
                                _SPLIT_OFFSET=tuple(_SPLIT_OFFSET), split=split))
        if size < 16:
            raise ValueError(tr("Shapes size must be at least 16 pixels, got {size}", size=size))
        super().__init__(transforms=transforms)
        self.split, self.size, self.seed = split, size, seed
        self.length = _LENGTH[split] if length is None else length

    def __len__(self) -> int:
        return self.length

    def load(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        if not 0 <= index < self.length:
            raise IndexError(tr("Shapes index {index} out of range for length {length}",
                                index=index, length=self.length))
        generator = torch.Generator().manual_seed(self.seed * 10_000_019 + _SPLIT_OFFSET[self.split] + index)
        image, mask = render_scene(generator, self.size)
        image_uint8 = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, 3)
        return image_uint8, mask, f"Shapes[{self.split}][{index}]"

    def validate(self) -> None:
        """Generated labels are valid by construction."""
