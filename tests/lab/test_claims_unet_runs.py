"""`claims.unet.unet_runs` on stand-ins (no training): arms may be a function of the seed, and an arm may train on a
set of another size only when it says so; with a models folder each arm's network is kept and trained once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segedu.lab import endtoend
from segedu.lab.claims import Lab, unet
from segedu.lab.endtoend import Frames, TrainingConfig


@pytest.fixture
def trained(monkeypatch):
    """Stand-ins for the U-Net, its training and its predictions; returns the list of (tiles, options) trained."""
    calls = []
    monkeypatch.setattr("segedu.models.build_model", lambda *args, **kwargs: nn.Linear(1, 1))
    monkeypatch.setattr(endtoend, "isbi_tiles", lambda split, *, size: Frames(torch.zeros(2, 1, 4, 4),
                                                                              torch.zeros(2, 4, 4, dtype=torch.long)))
    monkeypatch.setattr(endtoend, "train", lambda model, groups, frames, config, *, seed, **options:
                        calls.append((len(frames), seed, options)) or model)
    monkeypatch.setattr(endtoend, "predict", lambda model, images, *, batch_size: torch.zeros(len(images), 4, 4))
    return calls


def tiles(count: int) -> Frames:
    return Frames(torch.zeros(count, 1, 4, 4), torch.zeros(count, 4, 4, dtype=torch.long))


def test_an_arm_on_fewer_tiles_is_refused_unless_it_says_its_batches_differ(trained):
    lab = Lab(training=TrainingConfig(seeds=(0,)))
    with pytest.raises(ValueError, match="'small'"):
        unet.unet_runs(lab, tiles(8), {"small": {"frames": tiles(4)}})
    runs = unet.unet_runs(lab, tiles(8), {"small": {"frames": tiles(4), "other_batches": True},
                                          "same size": {"frames": tiles(8), "other_batches": True}})
    assert [(count, options) for count, _, options in trained] == [(4, {}), (8, {})]  # the flag never reaches train
    assert set(runs) == {"small", "same size", "_masks"}


def test_arms_given_as_a_function_are_drawn_once_per_seed(trained):
    lab = Lab(training=TrainingConfig(seeds=(3, 5)))
    asked = []

    def arms(seed):
        asked.append(seed)
        return {"plain": {}, "elastic": {"elastic": True}}

    runs = unet.unet_runs(lab, tiles(8), arms)
    assert asked == [3, 5]
    assert [(seed, options) for _, seed, options in trained] == [(3, {}), (3, {"elastic": True}), (5, {}),
                                                                 (5, {"elastic": True})]
    assert len(runs["plain"]) == len(runs["elastic"]) == 2


def test_with_a_models_folder_each_arm_and_seed_trains_once(trained, tmp_path):
    """`Lab.trained` keeps each arm's U-Net per seed, keyed by its options, steps and tiles: a second run loads
    them all; other options, other tiles or other steps train again."""
    def run(frames=tiles(8), arms=None, **settings):
        lab = Lab(training=TrainingConfig(seeds=(0, 1), **settings), models=tmp_path)
        unet.unet_runs(lab, frames, arms or {"plain": {}, "elastic": {"elastic": True}})
        return lab

    run()
    assert len(trained) == 4
    again = run()
    assert len(trained) == 4 and len(again.loaded) == 4
    run(arms={"plain": {}, "elastic": {"elastic": True, "momentum": 0.9}})  # the elastic arm's options changed
    assert len(trained) == 6
    other = tiles(8)
    other.images[0, 0, 0, 0] = 1.0  # one pixel of other data
    run(frames=other)
    assert len(trained) == 10
    run(unet_steps=7)
    assert len(trained) == 14
