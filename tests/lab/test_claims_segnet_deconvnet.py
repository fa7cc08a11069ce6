"""Notebook 08's experiments (`segedu.lab.claims.segnet_deconvnet` and `deconvnet_proposals`) run end to end on the
CamVid stand-in: every number they report is there, and the DeconvNets are trained as each claim says (instance-wise
inference and two stages on object crops; the ensemble's members are the heads the other claims share; the second
stage on proposal crops of the first stage's objects)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.data.classes import CAMVID_THINGS
from segedu.lab import claims
from segedu.lab.claims import deconvnet_proposals, segnet_deconvnet


@pytest.mark.slow
def test_the_segnet_and_deconvnet_claims_run_on_the_stand_in(monkeypatch):
    monkeypatch.setattr(segnet_deconvnet, "LABEL_SIZE", (64, 96))  # score at the heads' own size, quickly
    monkeypatch.setattr(segnet_deconvnet, "OBJECT_PIXELS", 16)
    lab = claims.Lab(seeds=(0, 1), data="streets", subset={"train": 96, "test": 24}, small_frames=8)
    lab.config = dataclasses.replace(lab.config, image_size=(64, 96), epochs=1, hidden=8)
    steps = segnet_deconvnet.head_steps(lab)
    assert steps == 12  # one epoch of the 96 frames in batches of 8

    segnet = claims.segnet_vs_fcn(lab)
    assert set(segnet.numbers["miou"]) == {"segnet", "fcn8s"} and len(segnet.numbers["miou_step"]["per_seed"]) == 2
    assert segnet.numbers["decoder_parameters"]["segnet"] > segnet.numbers["decoder_parameters"]["fcn8s"]
    assert segnet.numbers["memory"]["fcn8s"]["parameters"] > 3 * segnet.numbers["memory"]["segnet"]["parameters"]

    ensemble = claims.deconvnet_fcn_ensemble(lab)
    assert set(ensemble.numbers["miou"]) == {"deconvnet", "fcn8s", "ensemble"}
    assert ensemble.numbers["miou"]["fcn8s"] == segnet.numbers["miou"]["fcn8s"]  # the same FCN-8s heads

    instance = claims.deconvnet_instance_wise(lab)
    proposals = lab.shared("test proposals", lambda: pytest.fail("the proposals were not kept"))
    assert instance.numbers["proposals"] == len(proposals["windows"]) > 0
    assert proposals["masks"].shape[-2:] == (64, 96)
    things = torch.tensor(CAMVID_THINGS)  # each centred crop keeps its labels, its object among them
    assert all(torch.isin(crop, things).any() for crop in proposals["cache"].masks.long())
    assert set(instance.numbers["steps"]) == {"proposals, max - whole frame", "proposals, sum - whole frame"}

    two_stage = claims.deconvnet_two_stage(lab)
    assert set(two_stage.numbers["test_miou"]) == set(two_stage.numbers["train_miou"]) == {"one stage", "two stages"}
    crops = lab.shared("object crops of 8 frames", lambda: pytest.fail("the crops were not kept"))
    assert two_stage.numbers["crops"] == len(crops) > 0 and len(lab.shared("small frames", None)) == 8
    for name, gaps in two_stage.numbers["gap"].items():
        assert len(gaps) == 2
    assert len(two_stage.numbers["step"]["per_seed"]) == 2

    easy_first = claims.deconvnet_easy_first(lab)  # the same crops and frames, in turns or crops first
    assert easy_first.numbers["test_miou"]["crops first"] == two_stage.numbers["test_miou"]["two stages"]
    assert set(easy_first.numbers["test_miou"]) == {"crops first", "mixed"} and easy_first.numbers["crops"] == len(crops)
    assert len(easy_first.numbers["step"]["per_seed"]) == 2

    misalignment = claims.deconvnet_misalignment(lab)  # the same centred crops, then proposal crops of their objects
    assert misalignment.numbers["proposal_crops"] == deconvnet_proposals.PROPOSALS_PER_OBJECT * len(crops)
    assert misalignment.numbers["test_proposals"] == len(proposals["windows"])  # one per object of the test frames
    assert set(misalignment.numbers["miou"]) == {f"{arm}, {kind}" for arm in ("centred only", "two stages")
                                                 for kind in ("proposals", "centred", "whole frames")}
    assert set(misalignment.numbers["beside"]) == {"centred", "whole frames"}
    assert 0.5 <= misalignment.numbers["test_overlap"] < 1  # misaligned, yet overlapping their object's crop enough
    assert len(misalignment.numbers["step"]["per_seed"]) == 2


def test_a_learners_lab_overfits_its_little_data_as_the_claims_do():
    """DeconvNet's two stages fight overfitting, so their frames must be seen many times. A step draws a batch of 8,
    or all the frames when there are fewer: the claims' 32 frames in 12 epochs of CamVid's 367 are seen 138 times
    each; the fast profile's 4 epochs of 120 frames (60 steps) would show 32 frames only 15 times, too few to overfit,
    so a learner's lab takes 4 frames, seen 60 times (every step takes all 4). The full profile is the claims'."""
    claims_lab = claims.Lab()
    fast, full = claims.Lab.for_learner("streets", "fast"), claims.Lab.for_learner("streets", "full")
    assert segnet_deconvnet.few_frames(claims_lab) == segnet_deconvnet.few_frames(full) == 32
    assert segnet_deconvnet.few_frames(fast) == 4
    assert segnet_deconvnet.few_frames(claims.Lab(small_frames=5)) == 5

    def seen(lab, training_frames, frames):  # how many times each of `frames` is seen in the lab's head steps
        batch = lab.config.batch_size
        steps = lab.config.epochs * -(-training_frames // batch)
        return steps * min(batch, frames) / frames

    assert seen(claims_lab, 367, 32) == 138
    assert seen(fast, fast.subset["train"], 4) == 60
    assert seen(fast, fast.subset["train"], 32) == 15  # what the claims' 32 frames would get at the fast scale
