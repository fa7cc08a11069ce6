"""The contract of every segedu model: ``(N, C_in, H, W) -> logits (N, num_classes, H, W)``, for any H and W.

A model is a sentence: encoder -> decoder -> head. Models that cannot produce every size natively
(strided encoders need H and W divisible by their output stride) pad the input and crop the logits,
so learners never meet a size error.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import measure

__all__ = ["SegmentationModel", "pad_to_multiple", "resize", "with_auxiliary"]


def pad_to_multiple(images: torch.Tensor, multiple: int, *, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) at the bottom and right so H and W become multiples of `multiple`; return the original (H, W)."""
    height, width = images.shape[-2:]
    pad_bottom, pad_right = -height % multiple, -width % multiple
    if pad_bottom or pad_right:
        # reflection needs the pad to be smaller than the side; fall back to replication for tiny inputs
        usable = mode if pad_bottom < height and pad_right < width else "replicate"
        images = F.pad(images, (0, pad_right, 0, pad_bottom), mode=usable)
    return images, (height, width)


class SegmentationModel(nn.Module):
    """Base class: subclasses set `num_classes`, `in_channels` and `name` and implement `forward`."""

    name: str = "model"

    def __init__(self, *, num_classes: int, in_channels: int):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be at least 1, got {in_channels}")
        self.num_classes, self.in_channels = num_classes, in_channels

    def check_input(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects images of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(images.shape)}")

    def num_parameters(self) -> int:
        return measure.num_parameters(self)


def resize(logits: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize of (N, K, h, w) logits to (N, K, *size); a no-op when the size already matches."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def with_auxiliary(module: nn.Module, logits: torch.Tensor, auxiliary: torch.Tensor | None) -> torch.Tensor | dict:
    """What a model with an auxiliary head returns: {'out', 'aux'} while training (segedu.engine adds the
    auxiliary loss, weighted by TrainConfig.aux_weight), the main logits alone in eval mode."""
    if module.training and auxiliary is not None:
        return {"out": logits, "aux": auxiliary}
    return logits
