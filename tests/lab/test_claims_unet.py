"""Notebook 09's trained claims (`segedu.lab.claims.unet`) on stand-in ISBI slices: the weight map's three arms and
their two judged comparisons, the elastic and momentum claims, all paired (same initial weights, same batches)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.lab import claims
from segedu.lab.claims import preregistration, unet
from segedu.lab.claims.verdict import Rule, combined

SLICE = 32  # stand-in slices of 32x32, cut into 16x16 tiles


def _stand_in_tiles(split, *, size, slices=None, weights=False, channels=1):
    """`endtoend.isbi_tiles` on random cell patterns: a few cells per slice separated by 1-2 px membranes."""
    from segedu.lab import endtoend
    from segedu.losses import border_weight_map

    generator = torch.Generator().manual_seed(len(split))
    count = {"train": 3, "val": 2}[split] if slices is None else slices
    masks = torch.ones(count, SLICE, SLICE, dtype=torch.long)
    for index in range(count):
        for line in torch.randint(3, SLICE - 3, (3,), generator=generator).tolist():
            masks[index, :, line:line + 2] = 0
        masks[index, int(torch.randint(3, SLICE - 3, (1,), generator=generator)), :] = 0
    images = (0.7 * masks + 0.3 * torch.rand(count, SLICE, SLICE, generator=generator))[:, None]
    size = min(size, SLICE)
    images, masks = endtoend.tile(images, size), endtoend.tile(masks, size)
    maps = torch.stack([border_weight_map(mask) for mask in masks]) if weights else None
    return endtoend.Frames(images.repeat(1, channels, 1, 1), masks, maps)


@pytest.fixture
def stand_in(monkeypatch):
    """Stand-in tiles, tiny settings (two seeds, a few steps of a narrow U-Net; one 32x32 tile per momentum step,
    so that batch norm sees more than one value at the 2x2 bottleneck), the splits rule declared, and a
    record of every training: (seed, options, frames, initial weights)."""
    from segedu.lab import endtoend

    monkeypatch.setattr(endtoend, "isbi_tiles", _stand_in_tiles)
    monkeypatch.setitem(preregistration.RULES, "unet_weight_map_splits", Rule("not worse", 0.02))
    trained, real_train = [], endtoend.train

    def spy(model, groups, frames, config, *, seed, **options):
        initial = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
        trained.append({"seed": seed, "options": options, "frames": frames, "initial": initial, "steps": config.steps,
                        "batch_size": config.batch_size})
        return real_train(model, groups, frames, config, seed=seed, **options)

    monkeypatch.setattr(endtoend, "train", spy)
    config = dataclasses.replace(endtoend.TrainingConfig(), tile=16, momentum_tile=32, unet_width=0.0625,
                                 unet_steps=2, weight_map_steps=3, momentum_steps=4, batch_size=2, few_slices=2)
    return claims.Lab(seeds=(0, 1), training=config), trained


def _paired(trained, arms):
    """Every seed trains each arm once, in order, from one initial weight vector; the seeds start apart."""
    assert [run["seed"] for run in trained] == [seed for seed in (0, 1) for _ in arms]
    for first in range(0, len(trained), len(arms)):
        runs = trained[first:first + len(arms)]
        assert all(torch.equal(run["initial"], runs[0]["initial"]) for run in runs)
    assert not torch.equal(trained[0]["initial"], trained[len(arms)]["initial"])


def test_the_weight_map_claim_trains_three_arms_and_judges_the_border_term_on_merges_and_splits(stand_in):
    from segedu.lab.endtoend import class_balance_map
    from segedu.losses import border_weight_map

    lab, trained = stand_in
    outcome = claims.unet_weight_map_training(lab)
    _paired(trained, unet.WEIGHT_MAP_ARMS)
    full, balance, plain = trained[:3]
    assert full["options"] == {"weighted": True} and balance["options"] == {"weighted": True} and plain["options"] == {}
    assert torch.equal(full["frames"].images, balance["frames"].images)
    assert torch.equal(full["frames"].masks, balance["frames"].masks)
    assert torch.allclose(full["frames"].weights, torch.stack([border_weight_map(m) for m in full["frames"].masks]))
    assert torch.allclose(balance["frames"].weights,
                          torch.stack([class_balance_map(m) for m in balance["frames"].masks]))
    assert not torch.allclose(full["frames"].weights, balance["frames"].weights)  # the border term is there
    assert {run["steps"] for run in trained} == {lab.training.weight_map_steps}
    numbers = outcome.numbers
    for measure in ("merged_rate", "split_rate", "miou"):
        assert set(numbers[measure]) == set(unet.WEIGHT_MAP_ARMS)
    merged, split = numbers["merged_step"], numbers["split_step"]
    # class balance - weight map: positive when the border term merges (splits) fewer cells
    assert merged["effect"] == pytest.approx(numbers["merged_rate"]["class balance"]
                                             - numbers["merged_rate"]["weight map"])
    assert split["effect"] == pytest.approx(numbers["split_rate"]["class balance"] - numbers["split_rate"]["weight map"])
    assert merged["rule"] == dataclasses.asdict(preregistration.RULES["unet_weight_map_training"])
    assert split["rule"] == {"test": "not worse", "margin": 0.02}
    assert (merged["seeds"], merged["frames"], merged["blocks"]) == (2, 8, 2)  # 2 held-out slices of 4 tiles
    assert outcome.verdict == combined([merged["verdict"], split["verdict"]])
    assert (outcome.effect, outcome.interval) == (merged["effect"], tuple(merged["interval"]))
    assert "verdict" not in numbers["miou_step"] and "verdict" not in numbers["class_balance_merged_step"]


def test_the_weight_map_claim_names_a_missing_rule_before_training(stand_in, monkeypatch):
    lab, trained = stand_in
    monkeypatch.delitem(preregistration.RULES, "unet_weight_map_splits")
    with pytest.raises(KeyError, match="'unet_weight_map_splits'.*preregistration.py"):
        claims.unet_weight_map_training(lab)
    assert trained == []  # nothing was trained for a claim that could not be judged


def test_the_elastic_claim_compares_the_papers_deformation_with_none_on_few_slices(stand_in):
    lab, trained = stand_in
    outcome = claims.unet_elastic_few_slices(lab)
    _paired(trained, ("elastic", "plain"))
    assert [run["options"] for run in trained[:2]] == [{"elastic": True}, {}]
    assert len(trained[0]["frames"]) == lab.training.few_slices * (SLICE // 16) ** 2
    assert {run["steps"] for run in trained} == {lab.training.unet_steps}
    assert set(outcome.numbers["miou"]) == {"elastic", "plain"}
    assert outcome.numbers["step"]["seeds"] == 2 and outcome.verdict == outcome.numbers["step"]["verdict"]


def test_the_momentum_claim_compares_two_momenta_one_tile_per_step(stand_in):
    lab, trained = stand_in
    outcome = claims.unet_momentum_one_tile(lab)
    _paired(trained, ("momentum 0.99", "momentum 0.9"))
    assert [run["options"] for run in trained[:2]] == [{"momentum": 0.99}, {"momentum": 0.9}]
    assert {(run["steps"], run["batch_size"]) for run in trained} == {(lab.training.momentum_steps, 1)}
    assert trained[0]["frames"].images.shape[-1] == lab.training.momentum_tile
    assert set(outcome.numbers["miou"]) == {"momentum 0.99", "momentum 0.9"}
    assert "bias-corrected" in outcome.summary


def test_a_claim_without_a_declared_rule_fails_with_the_key_named(monkeypatch):
    monkeypatch.delitem(preregistration.RULES, "unet_momentum_one_tile")
    with pytest.raises(KeyError, match="unet_momentum_one_tile"):
        unet.registered_rule("unet_momentum_one_tile")
