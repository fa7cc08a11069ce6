"""The learner's weight-map and momentum comparisons (notebook 09): the tiles, their features and weight maps, and
heads that train with their arm's loss, or their momentum, and nothing else different."""

import pytest
import torch

import segedu.data
from segedu.backbones import build_backbone
from segedu.lab.endtoend import class_balance_map
import segedu.lab.membrane_heads
from segedu.lab.membrane_heads import (ARMS, LEVELS, MOMENTA, MembraneTiles, membrane_tiles, momentum_runs,
                                       predict_membranes, train_membrane_head, weight_map_runs)
from segedu.losses import border_weight_map


def _slice(seed: int, side: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey slice (1, side, side) and its mask: square cells (1) of 30 px, membranes (0) 2 px wide between them."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(side, side, dtype=torch.long)
    for start in range(0, side, 32):
        mask[start:start + 2, :] = 0
        mask[:, start:start + 2] = 0
    image = torch.where(mask == 1, 0.7, 0.2) + 0.05 * torch.randn(side, side, generator=generator)
    return image.clamp(0, 1)[None], mask


def test_tiles_keep_each_slices_tiles_together_with_their_features_and_weight_maps(monkeypatch):
    slices = [_slice(0), _slice(1)]
    monkeypatch.setattr(segedu.data, "build_dataset", lambda data, split, image_size=None: slices)
    tiles = membrane_tiles("membranes", "train", size=128)
    assert len(tiles) == 8 and tiles.per_slice == 4
    assert tiles.blocks().tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    # tile 5 is the second slice's top right quarter, and its features are the encoder's of that quarter
    assert torch.equal(tiles.images[5], slices[1][0][:, :128, 128:])
    assert torch.equal(tiles.masks[5], slices[1][1][:128, 128:])
    encoder = build_backbone("efficientnet_lite0", pretrained=True, output_stride=32).eval()
    with torch.no_grad():
        expected = encoder(slices[1][0][None, :, :128, 128:].repeat(1, 3, 1, 1))
    for level, stride in zip(LEVELS, (2, 4, 8)):
        assert tiles.features[level].shape[-2:] == (128 // stride, 128 // stride)
        torch.testing.assert_close(tiles.features[level][5].float(), expected[level][0], atol=2e-2, rtol=1e-2)
    assert tiles.weights["unweighted"] is None
    for index in (0, 5):
        mask = tiles.masks[index]
        torch.testing.assert_close(tiles.weights["class balance"][index], class_balance_map(mask))
        torch.testing.assert_close(tiles.weights["weight map"][index], border_weight_map(mask, w0=10.0, sigma=5.0))
    # the border term lifts a membrane between two cells (row 32) above class balancing alone, not a cell's middle
    border_term = tiles.weights["weight map"][0] - tiles.weights["class balance"][0]
    assert border_term[32, 50] > 5.0 and border_term[16, 16].abs() < 0.1


def test_tiles_of_colour_images_are_refused_with_the_data_named(monkeypatch):
    monkeypatch.setattr(segedu.data, "build_dataset",
                        lambda data, split, image_size=None: [(torch.zeros(3, 128, 128), torch.zeros(128, 128))])
    with pytest.raises(ValueError, match="streets train has 3-channel images"):
        membrane_tiles("streets", "train")


def _tiles(weights: dict, count: int = 16, side: int = 32) -> MembraneTiles:
    """Random features over tiles whose masks hold both classes; `weights` {arm: (T, S, S) or None}."""
    generator = torch.Generator().manual_seed(7)
    masks = (torch.rand(count, side, side, generator=generator) > 0.3).long()
    features = {level: torch.randn(count, channels, side // stride, side // stride, generator=generator).half()
                for level, channels, stride in zip(LEVELS, (16, 24, 40), (2, 4, 8))}
    return MembraneTiles(torch.rand(count, 1, side, side, generator=generator), masks, features,
                         {name: value(masks) if callable(value) else value for name, value in weights.items()},
                         per_slice=4)


def test_each_arm_learns_from_the_pixels_its_map_weighs():
    tiles = _tiles({"membranes only": lambda masks: (masks == 0).float(),
                    "cells only": lambda masks: (masks == 1).float()})
    membranes = predict_membranes(train_membrane_head(tiles, "membranes only", seed=0, epochs=5), tiles)
    cells = predict_membranes(train_membrane_head(tiles, "cells only", seed=0, epochs=5), tiles)
    assert membranes.shape == tiles.masks.shape
    assert (membranes == 0).float().mean() > 0.95
    assert (cells == 1).float().mean() > 0.95


def test_arms_with_one_seed_start_alike_and_see_the_same_batches():
    tiles = _tiles({"unweighted": None, "ones": lambda masks: torch.ones(masks.shape)})
    plain = train_membrane_head(tiles, "unweighted", seed=3, epochs=2)
    ones = train_membrane_head(tiles, "ones", seed=3, epochs=2)  # sum(1 * CE) / sum(1) is the plain mean
    other_seed = train_membrane_head(tiles, "unweighted", seed=4, epochs=2)
    for name, value in plain.state_dict().items():
        torch.testing.assert_close(ones.state_dict()[name], value, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(other_seed.state_dict()["mix.2.weight"], plain.state_dict()["mix.2.weight"])


def test_an_unknown_arm_is_named():
    with pytest.raises(ValueError, match="no arm 'border'; the tiles have unweighted"):
        train_membrane_head(_tiles({"unweighted": None}), "border", seed=0)


def test_runs_score_every_arm_and_seed_on_the_same_held_out_cells():
    train = _tiles({"unweighted": None,
                    "class balance": lambda masks: torch.stack([class_balance_map(m) for m in masks]),
                    "weight map": lambda masks: torch.stack([border_weight_map(m) for m in masks])})
    test = _tiles({"unweighted": None}, count=8)
    runs = weight_map_runs(train, test, seeds=(0, 1))
    assert tuple(runs) == ARMS
    cells = runs["unweighted"]["merged"][0][:, 1]
    for arm in ARMS:
        for measure in ("merged", "split"):
            assert len(runs[arm][measure]) == 2
            for counts in runs[arm][measure]:
                assert counts.shape == (8, 2)
                assert torch.equal(counts[:, 1], cells)  # [cells merged (or split), cells] per tile
                assert (counts[:, 0] <= counts[:, 1]).all()


def test_both_momenta_take_the_same_first_step_and_then_average_differently():
    """Bias-corrected SGD at one effective step: after one tile, momentum 0.99 and 0.9 have moved the head alike
    (plain SGD's buffer would make 0.99's first step a tenth of 0.9's); after more tiles they differ."""
    one_tile, tiles = _tiles({"unweighted": None}, count=1), _tiles({"unweighted": None})
    after_one = [train_membrane_head(one_tile, "unweighted", seed=2, batch_size=1, momentum=momentum,
                                     effective_step=0.1).state_dict() for momentum in MOMENTA]
    untrained = train_membrane_head(one_tile, "unweighted", seed=2, batch_size=1, momentum=0.9,
                                    effective_step=0.0).state_dict()
    for name, value in after_one[0].items():
        torch.testing.assert_close(after_one[1][name], value, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(after_one[0]["mix.2.weight"], untrained["mix.2.weight"])  # it did move
    after_all = [train_membrane_head(tiles, "unweighted", seed=2, batch_size=1, momentum=momentum,
                                     effective_step=0.1).state_dict() for momentum in MOMENTA]
    assert not torch.allclose(after_all[0]["mix.2.weight"], after_all[1]["mix.2.weight"], atol=1e-4)
    with pytest.raises(ValueError, match="needs its effective_step"):
        train_membrane_head(tiles, "unweighted", seed=2, momentum=0.9)


def test_momentum_runs_train_on_one_tile_per_step_and_score_every_held_out_pixel(monkeypatch):
    train, test = _tiles({"unweighted": None}), _tiles({"unweighted": None}, count=8)
    runs_seen, steps = [], []  # per run: the tiles it learnt from, in order; the optimizers' step sizes
    original, sgd = segedu.lab.membrane_heads.train_steps, segedu.lab.membrane_heads.momentum_sgd

    def watched(model, optimizer, *args, **kwargs):
        runs_seen.append([])
        return original(model, optimizer, *args, **kwargs,
                        after_step=lambda loss, inputs, targets: runs_seen[-1].append(targets[0].clone()))

    monkeypatch.setattr(segedu.lab.membrane_heads, "train_steps", watched)
    monkeypatch.setattr(segedu.lab.membrane_heads, "momentum_sgd", lambda groups, momentum, step: steps.append(
        step) or sgd(groups, momentum, step))
    runs = momentum_runs(train, test, seeds=(0, 1))
    assert tuple(runs) == MOMENTA == (0.99, 0.9)
    assert steps == [segedu.lab.membrane_heads.MOMENTUM_STEP] * 4
    assert [len(seen) for seen in runs_seen] == [len(train)] * 4  # 2 momenta x 2 seeds, one pass of one tile a step
    assert all(len(tile) == 1 for seen in runs_seen for tile in seen)
    for seed in (0, 1):  # runs in the order 0.99 seed 0, 0.99 seed 1, 0.9 seed 0, 0.9 seed 1
        assert all(torch.equal(a, b) for a, b in zip(runs_seen[seed], runs_seen[2 + seed]))  # the same tiles in order
    assert not all(torch.equal(a, b) for a, b in zip(runs_seen[0], runs_seen[1]))  # another seed, another order
    for scores in runs.values():
        assert len(scores) == 2
        for run in scores:
            assert run.confusions.shape == (8, 2, 2)
            assert torch.equal(run.confusions.sum((1, 2)), torch.full((8,), 32 * 32, dtype=run.confusions.dtype))
