"""Scoring many heads on the same frames computes the frames' boundary band once, with the same counts."""

from __future__ import annotations

import types

import pytest
import torch

from segedu import metrics
from segedu.lab.claims import Lab
from segedu.lab.scoring import score_frames


def _frames(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    masks = torch.randint(0, 4, (3, 20, 24), generator=generator)
    masks[:, :5] = 255  # void rows
    predictions = torch.randint(0, 4, (3, 20, 24), generator=generator)
    return predictions, masks


def test_a_band_passed_in_gives_the_counts_of_the_band_computed_here():
    predictions, masks = _frames()
    computed = score_frames(predictions, masks, num_classes=4, band_width=2)
    given = score_frames(predictions, masks, num_classes=4, band_width=2,
                         band=metrics.boundary_band(masks, width=2))
    assert torch.equal(given.confusions, computed.confusions) and torch.equal(given.band, computed.band)
    assert computed.band[:, 1].sum() > 0  # the band is not empty: the comparison means something
    everywhere = score_frames(predictions, masks, num_classes=4, band=torch.ones(3, 20, 24, dtype=torch.bool))
    assert everywhere.band[:, 1].tolist() == [20 * 24] * 3  # the band given is the band counted
    with pytest.raises(ValueError, match=r"the band is \(3, 20, 23\), the masks \(3, 20, 24\)"):
        score_frames(predictions, masks, num_classes=4, band=torch.ones(3, 20, 23, dtype=torch.bool))


def test_the_lab_computes_a_test_cache_s_band_once(monkeypatch):
    calls = []
    original = metrics.boundary_band
    monkeypatch.setattr(metrics, "boundary_band", lambda masks, width: calls.append(width) or original(masks,
                                                                                                        width=width))
    lab = Lab(data="streets", seeds=(0,))
    first, second = (types.SimpleNamespace(masks=torch.zeros(2, 20, 24, dtype=torch.uint8)) for _ in range(2))
    first.masks[..., 8:] = 1  # one edge at column 8, the other at column 16: other bands
    second.masks[..., 16:] = 1
    band = lab.band(first)
    assert lab.band(first) is band and calls == [lab.config.band_width]
    assert torch.equal(band, original(first.masks.long(), width=lab.config.band_width))
    assert not torch.equal(lab.band(second), band) and len(calls) == 2  # another cache, its own band


def test_the_lab_scores_every_head_on_a_test_cache_with_its_one_band(monkeypatch):
    from segedu.lab import frozen

    lab = Lab(data="streets", seeds=(0, 1))
    test = types.SimpleNamespace(masks=torch.zeros(2, 20, 24, dtype=torch.uint8))
    test.masks[..., 8:] = 1
    monkeypatch.setattr(lab, "caches", lambda kind: {"test": test})
    monkeypatch.setattr(lab, "head", lambda kind, seed: None)
    monkeypatch.setattr(frozen, "predict_head", lambda head, cache: torch.randn(2, 11, 20, 24))
    calls = []
    original = metrics.boundary_band
    monkeypatch.setattr(metrics, "boundary_band", lambda masks, width: calls.append(width) or original(masks,
                                                                                                        width=width))
    for kind in ("fcn32s", "fcn8s"):
        for seed in (0, 1):
            assert lab.scores(kind, seed).band[:, 1].tolist() == [2 * lab.config.band_width * 20] * 2
    assert len(calls) == 1  # four heads scored, one band
