"""Checks of notebook 09, U-Net: the border weight map and the cross-entropy it weights."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..messages import tr
from .harness import _generator, _randn, compare


# ---- 09 U-Net -----------------------------------------------------------------------------------

def _cell_masks(seed: int) -> list[torch.Tensor]:
    generator, masks = _generator(seed), []
    for height, width, cells in [(12, 14, 2), (16, 16, 3), (10, 20, 4)]:
        mask = torch.zeros(height, width, dtype=torch.int64)
        for _ in range(cells):
            top = int(torch.randint(0, height - 3, (), generator=generator))
            left = int(torch.randint(0, width - 3, (), generator=generator))
            mask[top: top + 3, left: left + 3] = 1
        masks.append(mask)
    return masks


def check_border_weight_map(function: Callable) -> None:
    """function(mask (H, W) of 0 background / 1 cell, w0, sigma) -> (H, W) float32, U-Net's equation 2:
    w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2)); w_c balances the class frequencies (each class weighs the
    inverse of its pixel share, scaled so the mean weight is 1); d1, d2: distances to the nearest and the second
    nearest cell (connected components). With fewer than two cells only w_c."""
    from ...losses import border_weight_map

    cases = [(tr("{shape} mask, {cells} cell pixels, w0 {w0}, sigma {sigma}", shape=tuple(mask.shape),
                 cells=int(mask.sum()), w0=w0, sigma=sigma), (mask, w0, sigma), {})
             for mask, (w0, sigma) in zip(_cell_masks(90), [(10.0, 5.0), (10.0, 2.0), (5.0, 3.0)])]
    single = torch.zeros(8, 8, dtype=torch.int64)
    single[2:5, 2:5] = 1
    cases.append((tr("one cell only: no border term"), (single, 10.0, 5.0), {}))
    compare("border_weight_map_by_hand", function,
            lambda mask, w0, sigma: border_weight_map(mask, w0=w0, sigma=sigma), cases,
            hint=("two terms: a class-balancing weight per pixel, and a bump that is large where two cells come close",
                  "label the cells with connected_components; for every pixel compute its distance to each cell, "
                  "keep the smallest two (torch.cdist and topk help), and apply the exponential with 2 sigma^2",
                  "class weights: count the pixels of each class; weight = total / (count * number of classes "
                  "present), so the mean weight is 1"), atol=1e-4)


def check_weighted_cross_entropy(function: Callable) -> None:
    """function(logits (N, K, H, W), masks (N, H, W), weights (N, H, W)) -> scalar: the per-pixel cross-entropy
    weighted by `weights`, divided by the sum of the labelled pixels' weights (pixels labelled 255 count in neither)."""
    from ...losses import weighted_cross_entropy

    generator, cases = _generator(91), []
    for n, k, (height, width) in [(1, 2, (4, 5)), (2, 3, (6, 6)), (2, 2, (8, 3))]:
        masks = torch.randint(0, k, (n, height, width), generator=generator)
        masks[torch.rand(masks.shape, generator=generator) < 0.1] = 255
        weights = torch.rand(n, height, width, generator=generator) * 5
        cases.append((f"{n}x{k}x{height}x{width}", (_randn(generator, n, k, height, width), masks, weights), {}))
    compare("weighted_cross_entropy_by_hand", function, weighted_cross_entropy, cases,
            hint=("each pixel's cross-entropy counts as often as its weight says; the result is a weighted mean",
                  "ask F.cross_entropy for one loss per pixel instead of their mean (its reduction argument) and tell "
                  "it which label means 'no label'; multiply by the weights, then divide by the total weight, not by "
                  "the number of pixels",
                  "pixels labelled 255 have no label: leave their weights out of the total as well"))
