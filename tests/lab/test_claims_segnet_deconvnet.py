"""Notebook 08's experiments (`segedu.lab.claims.segnet_deconvnet`) on stand-ins: instance-wise inference, and the
three DeconvNet claims on one set of networks trained on tiny frames."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.lab import claims


def test_instance_wise_inference_covers_the_frame_and_aggregates_as_said():
    windows = claims.proposal_windows((96, 128))
    assert windows[0] == (0, 0, 96, 128) and len(windows) == 10
    covered = torch.zeros(96, 128)
    for top, left, height, width in windows[1:]:
        assert (height, width) == (48, 64) and top + height <= 96 and left + width <= 128
        covered[top:top + height, left:left + width] += 1
    assert covered.min() >= 1  # the half-size windows alone reach every pixel

    class Constant(torch.nn.Module):  # the same scores everywhere, whatever the input
        def forward(self, images):
            return torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(len(images), 2, *images.shape[-2:])

    combined = claims.instance_wise(Constant(), torch.rand(1, 3, 96, 128))
    probability = torch.tensor([0.0, 1.0]).softmax(0)
    assert torch.allclose(combined["max"][0, :, 50, 70], probability)  # the max of equal windows is one of them
    counts = 1 + covered  # the whole frame, and each window over the pixel
    assert torch.allclose(combined["sum"][0, 1], probability[1] * counts)


def test_the_deconvnet_claims_run_end_to_end_on_tiny_stand_in_frames(monkeypatch, tmp_path):
    """The three DeconvNet experiments share one set of trained networks; a smoke run on random frames with a
    car in each, two steps, one seed: every number they report is there and the two-stage arm trains on crops."""
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split) + size[0])
        masks = torch.randint(0, 8, (4, *size), generator=generator)
        masks[:, size[0] // 4: size[0] // 2, size[1] // 4: size[1] // 2] = 8  # a car in every frame
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator), masks)

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    monkeypatch.setattr(claims.Lab, "test_blocks", lambda self: torch.arange(4) // 2)  # the 4 stand-in test frames
    config = dataclasses.replace(endtoend.TrainingConfig(), scratch_steps=2, batch_size=2, vgg_width=0.0625,
                                 camvid_size=(32, 48), seeds=(0,))
    lab = claims.Lab(seeds=(0,), training=config, models=tmp_path)
    two_stage = claims.deconvnet_two_stage(lab)
    assert set(two_stage.numbers["test_miou"]) == {"one stage", "two stages", "fcn8s"}
    assert set(two_stage.numbers["train_miou"]) == {"one stage", "two stages", "fcn8s"}
    assert two_stage.numbers["crops"] == 4 and len(two_stage.numbers["step"]["per_seed"]) == 1
    for name, (gap,) in two_stage.numbers["gap"].items():  # one seed: its gap is the pooled difference
        difference = 100 * (two_stage.numbers["train_miou"][name] - two_stage.numbers["test_miou"][name])
        assert gap == pytest.approx(difference)
    ensemble = claims.deconvnet_fcn_ensemble(lab)  # reuses the networks trained above
    assert set(ensemble.numbers["miou"]) == {"deconvnet", "fcn8s", "ensemble"}
    assert len(lab.shared("deconvnet", lambda: pytest.fail("the networks were not kept"))["models"]) == 1
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == ["deconvnet-seed0.pt", "deconvnet-two-stage-seed0.pt", "fcn8s-seed0.pt"]

    def no_training(*args, **kwargs):
        raise AssertionError("a kept network was trained again")

    monkeypatch.setattr(endtoend, "train", no_training)  # a second process finds all three kept
    again = claims.deconvnet_two_stage(claims.Lab(seeds=(0,), training=config, models=tmp_path))
    assert again.numbers["test_miou"] == two_stage.numbers["test_miou"]
    assert again.numbers["train_miou"] == two_stage.numbers["train_miou"]
