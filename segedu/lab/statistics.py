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
import math
from typing import Callable

import torch

__all__ = ["Interval", "paired_bootstrap", "two_level_bootstrap", "student_quantile", "sequence_blocks", "slice_blocks",
           "miou_of", "accuracy_of", "class_iou_of"]


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


def student_quantile(probability: float, degrees: int) -> float:
    """The `probability` quantile (> 0.5) of Student's t with `degrees` degrees of freedom: its density integrated
    on a fine grid and the integral inverted by bisection (agrees with tables to 3 decimals; no scipy needed)."""
    if not 0.5 < probability < 1 or degrees < 1:
        raise ValueError(f"student_quantile needs 0.5 < probability < 1 and degrees >= 1, got {probability}, {degrees}")
    nu = torch.tensor(float(degrees), dtype=torch.float64)
    log_norm = torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)

    def upper_mass(x: float) -> float:  # P(0 < T < x)
        grid = torch.linspace(0, x, 20001, dtype=torch.float64)
        density = torch.exp(log_norm - (nu + 1) / 2 * torch.log1p(grid ** 2 / nu))
        return float(torch.trapezoid(density, grid))

    low, high = 0.0, 1.0
    while upper_mass(high) < probability - 0.5:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if upper_mass(middle) < probability - 0.5 else (low, middle)
    return (low + high) / 2


def two_level_bootstrap(runs_a: torch.Tensor, runs_b: torch.Tensor, score: Callable[[torch.Tensor], torch.Tensor], *,
                        blocks: torch.Tensor | None = None, resamples: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> Interval:
    """score(A) - score(B) on the counts of every seed and frame, with an interval that sees both sources of noise:
    the training run and the test frames.

    runs_a, runs_b: (S, F, ...) per-seed, per-frame counts of the two arms on the same F frames; seed s of A is
    paired with seed s of B (the same initial weights and batches). blocks: (F,) the block of each frame (frames
    of one block are correlated: consecutive frames of a video, tiles of one slice); default, each its own.

        for r in 1..R:  draw S seeds with replacement, then draw the blocks with replacement (the same draws for A
                        and B: the comparison is paired on both levels)
                        difference_r = score(A's drawn counts summed) - score(B's drawn counts summed)

    With few seeds the percentile interval of difference_1..R is too narrow (resampling 5 values underestimates
    their spread by sqrt(4/5) and the normal quantile is not Student's), so its two arms are stretched about the
    effect by t(S-1) / z * sqrt(S / (S-1)): the small-sample correction of a mean over S runs. One seed: frames
    only, no stretch.
    """
    if runs_a.shape != runs_b.shape or runs_a.ndim < 2 or runs_a.shape[1] < 2:
        raise ValueError(f"two_level_bootstrap needs two count tensors of the same shape (S, F, ...) with F >= 2 "
                         f"frames, got {tuple(runs_a.shape)} and {tuple(runs_b.shape)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie between 0 and 1, got {confidence}")
    seeds, frames = runs_a.shape[:2]
    blocks = torch.arange(frames) if blocks is None else torch.as_tensor(blocks)
    if blocks.shape != (frames,):
        raise ValueError(f"blocks must give one block per frame ({frames}), got shape {tuple(blocks.shape)}")
    _, block_of = torch.unique(blocks, return_inverse=True)  # blocks numbered 0..B-1
    count = int(block_of.max()) + 1
    generator = torch.Generator().manual_seed(seed)

    def drawn(size: int) -> torch.Tensor:  # (R, size): how often each of `size` items was drawn
        draws = torch.randint(size, (resamples, size), generator=generator)
        return torch.zeros(resamples, size, dtype=torch.float64).scatter_add_(
            1, draws, torch.ones(resamples, size, dtype=torch.float64))

    seed_weights = drawn(seeds) if seeds > 1 else torch.ones(resamples, 1, dtype=torch.float64)
    frame_weights = drawn(count)[:, block_of]  # (R, F): a frame counts as often as its block was drawn
    shape = runs_a.shape[2:]
    flat_a, flat_b = runs_a.reshape(seeds, frames, -1).double(), runs_b.reshape(seeds, frames, -1).double()
    differences = []
    for chunk in range(0, resamples, 250):  # (R, S, F) weights on (S, F, k) counts, a chunk at a time
        weights = seed_weights[chunk:chunk + 250, :, None] * frame_weights[chunk:chunk + 250, None, :]
        summed_a = torch.einsum("rsf,sfk->rk", weights, flat_a).view(-1, *shape)
        summed_b = torch.einsum("rsf,sfk->rk", weights, flat_b).view(-1, *shape)
        differences.append(score(summed_a) - score(summed_b))
    differences = torch.cat(differences)
    effect = float(score(flat_a.sum((0, 1)).view(1, *shape)) - score(flat_b.sum((0, 1)).view(1, *shape)))
    tail = (1 - confidence) / 2
    low, high = torch.quantile(differences, torch.tensor([tail, 1 - tail], dtype=torch.float64)).tolist()
    stretch = 1.0
    if seeds > 1:
        normal = math.sqrt(2) * float(torch.erfinv(torch.tensor(1 - 2 * tail, dtype=torch.float64)))
        stretch = student_quantile(1 - tail, seeds - 1) / normal * math.sqrt(seeds / (seeds - 1))
    return Interval(effect, effect - stretch * (effect - low), effect + stretch * (high - effect), confidence,
                    resamples)


def sequence_blocks(names: list[str], *, length: int = 10) -> torch.Tensor:
    """(F,) block ids of video frames named 'SEQUENCE_NUMBER.png' in their order: runs of `length` consecutive
    frames of one sequence (CamVid's test frames come from two drives at 1 Hz, too few to resample as sequences,
    so a block is `length` seconds of one drive)."""
    ids, previous, run, block = [], None, 0, -1
    for name in names:
        sequence = name.rsplit("/", 1)[-1].split("_")[0]
        if sequence != previous or run == length:
            block, run, previous = block + 1, 0, sequence
        ids.append(block)
        run += 1
    return torch.tensor(ids)


def slice_blocks(tiles: int, per_slice: int) -> torch.Tensor:
    """(tiles,) block ids of tiles cut slice by slice (`segedu.lab.endtoend.tile`'s order): one block per slice."""
    if tiles % per_slice:
        raise ValueError(f"{tiles} tiles do not divide into slices of {per_slice}")
    return torch.arange(tiles) // per_slice


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
