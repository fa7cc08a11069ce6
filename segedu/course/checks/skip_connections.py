"""Checks of notebook 04, skip connections: U-Net's centre crop and FCN-8s' fusion of score maps."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F

from ..messages import tr
from .harness import _generator, _randn, compare


# ---- 04 Skip connections ------------------------------------------------------------------------

def check_center_crop(function: Callable) -> None:
    """function(features (N, C, H, W), size (h, w)) -> the central h x w window, top = (H - h) // 2."""
    generator = _generator(40)
    cases = [(f"{h}x{w} -> {th}x{tw}", (_randn(generator, 2, 3, h, w), (th, tw)), {})
             for h, w, th, tw in [(8, 8, 4, 4), (9, 7, 6, 6), (5, 12, 5, 3), (64, 64, 56, 56)]]

    def reference(features, size):
        top, left = (features.shape[-2] - size[0]) // 2, (features.shape[-1] - size[1]) // 2
        return features[..., top: top + size[0], left: left + size[1]]

    compare("center_crop", function, reference, cases,
            hint=("the crop keeps the centre: as many rows are dropped above as below (one more below when the "
                  "difference is odd)",
                  "top = (H - h) // 2 and the same for left; then slice the last two dimensions"))


def check_fcn8s_fuse(function: Callable) -> None:
    """function(score32, score16, score8, output_size) -> FCN-8s fusion: upsample score32 bilinearly to
    score16's size and add; upsample that to score8's size and add; upsample to output_size."""
    generator, cases = _generator(41), []
    for k, (h, w) in [(3, (32, 32)), (5, (37, 45)), (2, (97, 131))]:
        sizes = [(-(-h // s), -(-w // s)) for s in (32, 16, 8)]  # ceil: odd sizes do not halve exactly
        scores = [_randn(generator, 2, k, *size) for size in sizes]
        cases.append((tr("{classes} classes, input {size}", classes=k, size=f"{h}x{w}"), (*scores, (h, w)), {}))

    def reference(score32, score16, score8, output_size):
        up = lambda x, like: F.interpolate(x, size=like, mode="bilinear", align_corners=False)  # noqa: E731
        fused16 = score16 + up(score32, score16.shape[-2:])  # (N, K, H/16, W/16)
        fused8 = score8 + up(fused16, score8.shape[-2:])  # (N, K, H/8, W/8)
        return up(fused8, output_size)  # (N, K, H, W)

    compare("fcn8s_fuse", function, reference, cases,
            hint=("FCN-8s adds scores: bring the coarser map to the next map's size, add, repeat, then upsample to "
                  "the output",
                  "on odd input sizes a 2x upsampling does not land on the next map's size: resize to that map's "
                  "exact size instead of by a factor",
                  "F.interpolate with size= and mode='bilinear', align_corners=False, as the reference does"))
