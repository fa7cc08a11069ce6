"""Notebook 07's experiments (`segedu.lab.claims.fcn`) on stand-ins: objects by size, lost and fragmented."""

from __future__ import annotations

import pytest
import torch

from segedu.lab import claims


def test_object_statistics_bin_objects_by_size_and_count_lost_and_fragmented_pixels():
    masks = torch.zeros(2, 100, 120, dtype=torch.long)
    masks[0, 0:10, 0:10] = 8  # a small car (100 px)
    masks[0, 20:40, 20:40] = 9  # a medium pedestrian (400 px)
    masks[1, 20:90, 30:100] = 8  # a large car (4900 px)
    masks[1, 0:1, 0:3] = 2  # 3 px of pole: too small to count
    predictions = masks.clone()
    predictions[0, 0:10, 0:10] = 0  # the small car lost
    predictions[1, 20:55, 30:100] = 3  # the large car's top half labelled road: fragmented, recall 0.5
    statistics, regions = claims.object_statistics(predictions, masks, classes=(2, 8, 9))
    small, medium, large = statistics[0, 0], statistics[0, 1], statistics[1, 2]
    assert small.tolist() == [0.0, 1.0, 0.0] and medium.tolist() == [1.0, 1.0, 0.0]
    assert large.tolist() == [0.5, 1.0, 1.0]
    assert statistics.sum().item() == small.sum() + medium.sum() + large.sum()  # nothing else counted
    again, _ = claims.object_statistics(predictions, masks, classes=(2, 8, 9), regions=regions)
    assert torch.equal(again, statistics)


def test_the_object_size_claim_reads_recall_and_fragmentation_per_size(monkeypatch):
    """fcn_object_sizes on a stand-in lab: FCN-32s loses the small objects and breaks the large ones, FCN-8s
    neither; the claim holds for the first and reports both."""
    from types import SimpleNamespace

    from segedu.lab import frozen

    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 100, 120, dtype=torch.long)
    for frame in range(6):
        top = int(torch.randint(0, 10, (1,), generator=generator))
        masks[frame, top:top + 8, 0:8] = 9  # a small pedestrian (64 px)
        masks[frame, 30:50, 10:30] = 8  # a medium car (400 px)
        masks[frame, 20:90, 40:110] = 8  # a large car (4900 px)
    worse = masks.clone()
    worse[:, 0:20, 0:8] = 0  # FCN-32s: the pedestrians lost
    worse[:, 20:50, 40:110] = 3  # and the large cars' top halves labelled road
    predictions = {"fcn32s": worse, "fcn8s": masks}
    monkeypatch.setattr(frozen, "predict_head", lambda head, cache: torch.nn.functional.one_hot(
        predictions[head], 11).permute(0, 3, 1, 2).float())
    lab = SimpleNamespace(stride32={"test": SimpleNamespace(masks=masks)}, head=lambda kind, seed: kind,
                          config=SimpleNamespace(seeds=(0, 1)), test_blocks=lambda: torch.arange(6) // 2)
    outcome = claims.fcn_object_sizes(lab)
    table = outcome.numbers["table"]
    assert table["fcn32s"]["small"] == {"recall": 0.0, "fragmented": 0.0, "objects": 6}
    assert table["fcn32s"]["large"]["fragmented"] == 1.0 and table["fcn32s"]["medium"]["recall"] == 1.0
    assert table["fcn8s"]["small"]["recall"] == 1.0 and table["fcn8s"]["large"]["fragmented"] == 0.0
    assert outcome.verdict == "holds" and outcome.effect == pytest.approx(1.0)
    steps = outcome.numbers["steps"]
    assert [s["verdict"] for s in steps.values()] == ["holds", "holds"]
    assert all((s["seeds"], s["frames"], s["blocks"]) == (2, 6, 3) for s in steps.values())  # blocks of 2 frames
