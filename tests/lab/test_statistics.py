"""The statistics behind each verdict (`segedu.lab.statistics`): the paired bootstrap's interval and the boundary
band it is computed on."""

from __future__ import annotations

import pytest
import torch

from segedu.lab.statistics import accuracy_of, miou_of, paired_bootstrap
from segedu.metrics import ConfusionMatrix, boundary_band, frame_confusions


def _hits(rate: torch.Tensor, generator: torch.Generator, pixels: int = 200) -> torch.Tensor:
    """(F,) per-frame accuracy -> (F, 2) [correct, total] counts drawn from it."""
    correct = torch.binomial(torch.full_like(rate, float(pixels)), rate, generator=generator)
    return torch.stack([correct, torch.full_like(rate, float(pixels))], 1)


def test_the_paired_interval_covers_a_known_difference_and_excludes_zero_only_when_there_is_one():
    generator = torch.Generator().manual_seed(0)
    covered, excluded_when_equal = 0, 0
    for trial in range(40):
        difficulty = torch.rand(60, generator=generator) * 0.6 + 0.2  # frames differ a lot: pairing matters
        a = _hits((difficulty + 0.05).clamp(max=1), generator)
        b = _hits(difficulty, generator)
        interval = paired_bootstrap(a, b, accuracy_of, resamples=500, seed=trial)
        covered += interval.low <= 0.05 <= interval.high
        same = paired_bootstrap(_hits(difficulty, generator), b, accuracy_of, resamples=500, seed=trial)
        excluded_when_equal += same.excludes_zero
    assert covered >= 34  # a 95% interval: about 38 of 40; well below 34 means it is too narrow
    assert excluded_when_equal <= 6  # equal models: about 2 of 40 false alarms
    assert interval.low > 0  # a 5-point gain on 60 paired frames is clear


def test_paired_bootstrap_refuses_mismatched_counts_and_equals_the_direct_score():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(torch.ones(5, 2), torch.ones(4, 2), accuracy_of)
    predictions, targets = torch.randint(0, 3, (6, 8, 8)), torch.randint(0, 3, (6, 8, 8))
    confusions = frame_confusions(predictions, targets, 3)
    interval = paired_bootstrap(confusions, frame_confusions(targets, targets, 3), miou_of)
    assert interval.effect == pytest.approx(ConfusionMatrix(3).update(predictions, targets).miou() - 1.0)


def test_the_boundary_band_is_the_pixels_near_another_labelled_class():
    target = torch.zeros(1, 12, 12, dtype=torch.long)
    target[:, :, 6:] = 1  # a vertical edge between columns 5 and 6
    target[:, :2] = 255  # void rows make no boundary and are never scored
    band = boundary_band(target, width=2)[0]
    assert band[2:, 4:8].all() and not band[2:, :4].any() and not band[2:, 8:].any() and not band[:2].any()
    with pytest.raises(ValueError, match="at least 1 pixel"):
        boundary_band(target, width=0)
