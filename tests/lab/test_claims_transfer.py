"""Notebook 11's backbone claims (`segedu.lab.claims.transfer_backbones`) on stand-ins: the verdict of the
truncated ResNets, and the training loop every backbone shares."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.lab import claims
from segedu.lab.claims import transfer_backbones


def _scores_with_errors(masks: torch.Tensor, wrong_every: int) -> "object":
    """Per-frame Scores of predictions equal to `masks` but for every `wrong_every`-th pixel, set to another class."""
    from segedu.lab.scoring import score_frames

    predictions = masks.clone().flatten()
    predictions[::wrong_every] = (predictions[::wrong_every] + 1) % 11
    return score_frames(predictions.view_as(masks), masks)


@pytest.mark.parametrize("truncated_errors, truncated_gflops, verdict", [
    (1000, 1.0, "holds"),         # as accurate and cheaper: holds
    (3, 1.0, "contradicted"),     # a third of its pixels wrong: loses far more than 2 points
    (1000, 9.0, "contradicted"),  # as accurate but costlier: the cost condition fails whatever the interval
])
def test_truncated_resnets_holds_only_when_cheaper_and_within_the_loss(monkeypatch, truncated_errors,
                                                                       truncated_gflops, verdict):
    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 11, (12, 16, 16), generator=generator)

    def runs(lab, backbones):
        names = [name for name, _ in backbones]
        assert names == ["resnet10", "resnet18", "resnet26", "resnet50"]
        full = {"resnet18", "resnet50"}
        scores = {f"{name} (scratch)": [_scores_with_errors(masks, 1000 if name in full else truncated_errors)
                                        for _ in lab.training.seeds] for name in names}
        cost = {name: {"gflops": 5.0 if name in full else truncated_gflops,
                       "milliseconds": 20.0 if name in full else 10.0, "activation_megabytes": 1.0,
                       "parameters": 1e6} for name in names}
        return scores, cost

    monkeypatch.setattr(transfer_backbones, "backbone_runs", runs)
    monkeypatch.setattr(claims.Lab, "test_blocks", lambda self: torch.arange(12) // 3)  # 4 blocks of 3 frames
    outcome = claims.truncated_resnets(claims.Lab(seeds=(0, 1)))
    assert outcome.verdict == verdict
    steps = outcome.numbers["steps"]
    assert set(steps) == {"resnet10 - resnet18", "resnet26 - resnet50"}  # truncated - full: "not worse" by 2 points
    assert (steps["resnet10 - resnet18"]["effect"] < -0.1) is (truncated_errors == 3)  # a fraction
    assert steps["resnet10 - resnet18"]["verdict"] == ("contradicted" if truncated_errors == 3 else "holds")
    assert steps["resnet10 - resnet18"]["blocks"] == 4


def test_backbone_runs_train_each_backbone_per_seed_on_stand_in_frames(monkeypatch):
    """The training loop shared by `backbones_accuracy` and `truncated_resnets`, one step on random frames; the cost
    measurement is stubbed (it is `segedu.measure`'s, tested there)."""
    from types import SimpleNamespace

    from segedu import measure
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split))
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator),
                               torch.randint(0, 11, (4, *size), generator=generator))

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    measured = []
    monkeypatch.setattr(measure, "measure", lambda model, size, **options: measured.append(size) or SimpleNamespace(
        gflops=1.0, milliseconds=2.0, activation_megabytes=3.0, parameters=4))
    config = dataclasses.replace(endtoend.TrainingConfig(), steps=1, batch_size=2, camvid_size=(32, 48))
    runs, cost = transfer_backbones.backbone_runs(claims.Lab(seeds=(0, 1), training=config), [("resnet10", False)])
    assert list(runs) == ["resnet10 (scratch)"] and len(runs["resnet10 (scratch)"]) == 2
    assert runs["resnet10 (scratch)"][0].confusions.shape == (4, 11, 11)
    assert measured == [(360, 480)] and cost["resnet10"]["gflops"] == 1.0
