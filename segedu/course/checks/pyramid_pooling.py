"""Checks of notebook 06, pyramid pooling: adaptive average pooling and PSPNet's pyramid of pooled maps."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..messages import tr
from .harness import Case, _generator, _randn, compare


# ---- 06 Pyramid pooling -------------------------------------------------------------------------

def _pyramid_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(f"{n}x{c}x{h}x{w}", (_randn(generator, n, c, h, w),), {}) for n, c, h, w in
            [(1, 2, 6, 6), (2, 3, 7, 9), (1, 1, 13, 5), (1, 2, 4, 4)]]


def check_adaptive_avg_pool2d(function: Callable) -> None:
    """function(input (N, C, H, W), bins) -> (N, C, bins, bins) as F.adaptive_avg_pool2d(input, bins)."""
    cases = [(tr("{shape}, {bins} bins", shape=d, bins=bins), args, {"bins": bins})
             for d, args, _ in _pyramid_cases(60) for bins in (1, 2, 3, 6)]
    compare("adaptive_avg_pool2d", function, lambda x, bins: F.adaptive_avg_pool2d(x, bins), cases,
            hint=("each of the bins x bins cells averages one window of the input; the windows cover the whole map "
                  "and may overlap when H is not a multiple of bins",
                  "bin i covers rows floor(i * H / bins) up to ceil((i + 1) * H / bins), exclusive; likewise columns"))


def check_pyramid_pool(function: Callable) -> None:
    """function(features (N, C, H, W), bins) -> (N, C (1 + len(bins)), H, W): the features, then for each bin
    count the adaptive average pooled map upsampled bilinearly (align_corners=False) back to H x W."""
    cases = [(f"{d}, bins {bins}", args, {"bins": bins}) for d, args, _ in _pyramid_cases(61)
             for bins in ((1, 2, 3, 6), (1, 3))]

    def reference(features, bins):
        size = features.shape[-2:]
        return torch.cat([features] + [F.interpolate(F.adaptive_avg_pool2d(features, b), size=size, mode="bilinear",
                                                     align_corners=False) for b in bins], dim=1)

    compare("pyramid_pool", function, reference, cases,
            hint=("the output stacks, along the channels, the features themselves and one pooled-and-upsampled copy "
                  "per bin count",
                  "pool with F.adaptive_avg_pool2d, bring each back to H x W with bilinear interpolation "
                  "(align_corners=False), then concatenate along dimension 1"))
