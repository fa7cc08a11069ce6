"""Paired comparisons with an interval: is model A better than model B on the same test frames, beyond noise?

Segmentation scores such as mIoU are ratios of counts summed over a test set, not means of per-frame scores, so
the bootstrap here resamples frames and re-sums their counts (Efron and Tibshirani 1993, the percentile
interval):

    counts_a, counts_b: (F, ...) additive counts per test frame (confusion matrices, hits and totals)
    for r in 1..R:  draw F frames with replacement (the same draw for A and B: the comparison is paired)
                    difference_r = score(sum of A's drawn counts) - score(sum of B's drawn counts)
    interval     =  the 2.5% and 97.5% quantiles of difference_1..R

A resample is a weight per frame (how often it was drawn), so the R sums are one matrix product, weights (R, F)
@ counts (F, ...). `tests/lab/test_statistics.py` checks the interval's coverage on data with a known difference.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

__all__ = ["Interval", "paired_bootstrap", "miou_of", "accuracy_of", "class_iou_of"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A difference A - B with its bootstrap interval (same unit as the score: fractions for mIoU)."""

    effect: float
    low: float
    high: float
    confidence: float = 0.95
    resamples: int = 0

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def percent(self) -> str:
        """'+4.1 [+3.2, +5.0]' in percentage points."""
        return f"{100 * self.effect:+.1f} [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"


def paired_bootstrap(counts_a: torch.Tensor, counts_b: torch.Tensor, score: Callable[[torch.Tensor], torch.Tensor],
                     *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval:
    """score(A) - score(B) on all frames, and its percentile interval over `resamples` paired resamples of frames.

    counts_a, counts_b: (F, ...) per-frame counts of the two models on the same F frames. `score` maps summed
    counts (R, ...) to R scores (see `miou_of`, `accuracy_of`).
    """
    if counts_a.shape != counts_b.shape or counts_a.ndim < 1 or counts_a.shape[0] < 2:
        raise ValueError(f"paired_bootstrap needs two count tensors of the same shape (F, ...) with F >= 2 frames, "
                         f"got {tuple(counts_a.shape)} and {tuple(counts_b.shape)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    frames = counts_a.shape[0]
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(frames, (resamples, frames), generator=generator)
    weights = torch.zeros(resamples, frames, dtype=torch.float64).scatter_add_(
        1, draws, torch.ones(resamples, frames, dtype=torch.float64))  # (R, F): how often each frame was drawn
    flat_a, flat_b = counts_a.reshape(frames, -1).double(), counts_b.reshape(frames, -1).double()
    shape = counts_a.shape[1:]
    differences = score((weights @ flat_a).view(resamples, *shape)) - score((weights @ flat_b).view(resamples, *shape))
    effect = float(score(flat_a.sum(0).view(1, *shape)) - score(flat_b.sum(0).view(1, *shape)))
    tail = (1 - confidence) / 2
    low, high = torch.quantile(differences, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    return Interval(effect, low, high, confidence, resamples)


def class_iou_of(matrices: torch.Tensor) -> torch.Tensor:
    """(..., K, K) confusion matrices (rows: truth) -> (..., K) IoU; NaN for a class absent from truth and prediction."""
    true_positive = matrices.diagonal(dim1=-2, dim2=-1)
    union = matrices.sum(-1) + matrices.sum(-2) - true_positive
    return torch.where(union > 0, true_positive / union.clamp(min=1e-12), torch.full_like(union, float("nan")))


def miou_of(matrices: torch.Tensor, classes: list[int] | None = None) -> torch.Tensor:
    """(..., K, K) -> (...) mean IoU over `classes` (default: all), NaN classes left out as in `ConfusionMatrix`."""
    iou = class_iou_of(matrices)
    return (iou if classes is None else iou[..., classes]).nanmean(-1)


def accuracy_of(counts: torch.Tensor) -> torch.Tensor:
    """(..., 2) [correct, total] -> (...) accuracy."""
    return counts[..., 0] / counts[..., 1].clamp(min=1e-12)
