"""Notebook 09's pix2pix claim (`segedu.lab.claims.pix2pix_data`) on stand-ins: every seed trains both painters,
heads learn from each painting, and the verdict compares pix2pix with L1 alone over seeds and held-out slices."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from segedu.lab import pix2pix
from segedu.lab.claims import pix2pix_data
from segedu.lab.scoring import Scores

TILES = {"train": 12, "val": 20}  # the held-out tiles: 5 slices of 4 tiles


class _Painter(SimpleNamespace):
    """A stand-in painter, put in eval mode as `Lab.trained` puts every network it returns."""

    def eval(self):
        return self


def _confusions(accuracy: float, tiles: int, noise: torch.Generator) -> torch.Tensor:
    """(tiles, 2, 2): 100 pixels of each class per tile, `accuracy` of them right, give or take a little."""
    right = (100 * accuracy + torch.randint(-2, 3, (tiles,), generator=noise)).clamp(0, 100).double()
    matrices = torch.zeros(tiles, 2, 2, dtype=torch.float64)
    matrices[:, 0, 0] = matrices[:, 1, 1] = right
    matrices[:, 0, 1] = matrices[:, 1, 0] = 100 - right
    return matrices


@pytest.fixture
def stand_in(monkeypatch):
    """Painters that paint a flat grey (L1 alone) or with texture (pix2pix), and heads whose held-out accuracy is
    set per arm: `calls` records what was trained."""
    calls = {"painters": [], "heads": []}
    accuracy = {"real": 0.9, "mean grey": 0.6, "L1 alone": 0.65, "pix2pix": 0.8}

    def tiles(data, split):
        generator = torch.Generator().manual_seed(TILES[split])
        labels = (torch.rand(TILES[split], 1, 8, 8, generator=generator) > 0.3).float()
        return labels, 0.3 + 0.4 * labels + 0.1 * torch.rand(labels.shape, generator=generator)

    def train_painter(labels, images, *, adversarial, seed):
        calls["painters"].append((adversarial, seed))
        return _Painter(adversarial=adversarial, seed=seed)

    def paint(painter, labels):
        texture = 0.1 * torch.rand(labels.shape, generator=torch.Generator().manual_seed(painter.seed))
        return 0.3 + 0.4 * labels + (texture if painter.adversarial else 0.05)

    def runs(training, labels, held_images, held_labels, *, seeds, epochs):
        calls["heads"].append((tuple(training), seeds, epochs))
        noise = torch.Generator().manual_seed(seeds[0])
        return {name: [Scores(_confusions(accuracy[name], len(held_labels), noise), torch.zeros(len(held_labels), 2))]
                for name in training}

    monkeypatch.setattr(pix2pix, "label_and_image_tiles", tiles)
    monkeypatch.setattr(pix2pix, "build_painter", lambda *, seed: None)  # the stand-in trains without it
    monkeypatch.setattr(pix2pix, "train_painter", train_painter)
    monkeypatch.setattr(pix2pix, "paint", paint)
    monkeypatch.setattr(pix2pix, "painted_data_runs", runs)
    return SimpleNamespace(calls=calls, accuracy=accuracy)


def _lab(seeds=None, models=None):
    """A `Lab` as the claims' command builds it: it computes nothing until a claim asks."""
    from segedu.lab.claims import Lab
    return Lab(seeds=seeds, models=models)


def test_each_seed_trains_both_painters_and_a_head_on_every_kind_of_tile(stand_in):
    pix2pix_data.pix2pix_painted_data(_lab())
    seeds = (0, 1, 2, 3, 4)  # the end-to-end seeds the claims' command uses when none is given
    assert stand_in.calls["painters"] == [(adversarial, seed) for seed in seeds for adversarial in (False, True)]
    assert stand_in.calls["heads"] == [(("real", "mean grey", "L1 alone", "pix2pix"), (seed,),
                                        pix2pix_data.HEAD_EPOCHS) for seed in seeds]


def test_a_second_seed_set_trains_its_own_painters(stand_in):
    """A replication (`--seed 5 ... --seed 9`) trains and pools the painters of the seeds it was given."""
    outcome = pix2pix_data.pix2pix_painted_data(_lab(seeds=(5, 6, 7)))
    assert stand_in.calls["painters"] == [(adversarial, seed) for seed in (5, 6, 7) for adversarial in (False, True)]
    assert outcome.seeds == (5, 6, 7) and outcome.numbers["step"]["seeds"] == 3


def test_the_verdict_is_pix2pix_against_l1_alone_in_held_out_miou(stand_in):
    outcome = pix2pix_data.pix2pix_painted_data(_lab())
    # mIoU of two classes each right on a share a of its pixels: IoU = a / (2 - a), the same for both classes
    expected = {name: a / (2 - a) for name, a in stand_in.accuracy.items()}
    assert outcome.verdict == "holds"
    assert outcome.effect == pytest.approx(expected["pix2pix"] - expected["L1 alone"], abs=0.01)
    assert outcome.numbers["to_real"]["effect"] == pytest.approx(expected["pix2pix"] - expected["real"], abs=0.01)
    assert outcome.numbers["step"]["seeds"] == 5 and outcome.numbers["step"]["blocks"] == 5
    assert outcome.numbers["texture"]["L1 alone"] == pytest.approx(0.0, abs=1e-5)
    assert outcome.numbers["texture"]["pix2pix"] > 0.1


def test_painters_no_better_than_l1_alone_do_not_hold(stand_in):
    stand_in.accuracy["pix2pix"] = stand_in.accuracy["L1 alone"]
    assert pix2pix_data.pix2pix_painted_data(_lab()).verdict == "contradicted"


SLICE_TILES = 2  # the stand-in slices' tiles
SCARCE_ACCURACY = {"5 real slices": 0.7, "+ pix2pix paintings": 0.8, "+ mean grey paintings": 0.75,
                   "+ real images": 0.9}


@pytest.fixture
def scarce(monkeypatch):
    """`pix2pix_scarce_data` on stand-ins: 25 training slices of two 8x8 tiles, a painter that records what it
    learns from, and U-Net runs whose held-out predictions are right on a share of pixels set per arm; `seen` keeps
    every seed's arms."""
    from segedu.lab import endtoend
    from segedu.lab.claims import pix2pix_data as claim
    from segedu.lab.endtoend import Frames

    generator = torch.Generator().manual_seed(0)
    masks = (torch.rand(25 * SLICE_TILES, 8, 8, generator=generator) > 0.4).long()
    images = 0.3 + 0.4 * masks[:, None].float() + 0.1 * torch.rand(len(masks), 1, 8, 8, generator=generator)
    seen = {"painters": [], "arms": []}

    def isbi_tiles(split, *, size, slices=None):
        count = len(masks) if slices is None else slices * SLICE_TILES
        return Frames(images[:count], masks[:count])

    def train_painter(labels, images, *, adversarial, seed):
        seen["painters"].append((len(labels), adversarial, seed))
        return _Painter(seed=seed)

    def paint(painter, labels):
        return 0.3 + 0.4 * labels + 0.1 * torch.rand(labels.shape, generator=torch.Generator().manual_seed(7))

    def unet_runs(lab, frames, arms):
        held = (torch.rand(5, 256, 256, generator=torch.Generator().manual_seed(1)) > 0.5).long()
        runs = {"_masks": held}
        for seed in lab.training.seeds:
            options = arms(seed)
            seen["arms"].append(options)
            noise = torch.Generator().manual_seed(seed)
            for name, option in options.items():
                right = torch.rand(held.shape, generator=noise) < SCARCE_ACCURACY[name] + 0.02 * seed / 5
                runs.setdefault(name, []).append(torch.where(right, held, 1 - held))
        return runs

    monkeypatch.setattr(endtoend, "isbi_tiles", isbi_tiles)
    monkeypatch.setattr(pix2pix, "build_painter", lambda *, seed: None)
    monkeypatch.setattr(pix2pix, "train_painter", train_painter)
    monkeypatch.setattr(pix2pix, "paint", paint)
    monkeypatch.setattr(claim, "unet_runs", unet_runs)
    lab = _lab()
    return SimpleNamespace(lab=lab, seen=seen, images=images, masks=masks, claim=claim)


def test_scarce_data_painters_learn_from_the_few_slices_and_paint_the_other_label_maps(scarce):
    scarce.claim.pix2pix_scarce_data(scarce.lab)
    few = scarce.lab.training.few_slices * SLICE_TILES
    seeds = scarce.lab.training.seeds
    assert scarce.seen["painters"] == [(few, True, seed) for seed in seeds]
    arms = scarce.seen["arms"][0]
    assert len(arms["5 real slices"]["frames"]) == few and arms["5 real slices"]["other_batches"]
    painted = arms["+ pix2pix paintings"]["frames"]
    new_labels = scarce.masks[few:, None].float()
    assert torch.equal(painted.images[:few], scarce.images[:few]) and torch.equal(painted.masks, scarce.masks)
    assert torch.equal(painted.images[few:], paint_stand_in(new_labels))
    grey = arms["+ mean grey paintings"]["frames"].images[few:]
    for label in (0, 1):  # each class in its mean grey on the 5 real slices, not on all 25
        expected = scarce.images[:few][scarce.masks[:few, None] == label].mean()
        assert torch.allclose(grey[new_labels == label], expected)
    assert torch.equal(arms["+ real images"]["frames"].images, scarce.images)


def paint_stand_in(labels):
    return pix2pix.paint(None, labels)


def test_scarce_data_verdict_is_paintings_against_the_few_slices_alone(scarce):
    outcome = scarce.claim.pix2pix_scarce_data(scarce.lab)
    # two balanced classes, each pixel right with probability a: IoU a / (2 - a) for both classes
    iou = {name: a / (2 - a) for name, a in SCARCE_ACCURACY.items()}
    assert outcome.verdict == "holds"
    assert outcome.effect == pytest.approx(iou["+ pix2pix paintings"] - iou["5 real slices"] + 0.004, abs=0.01)
    reported = outcome.numbers["reported"]
    assert reported["+ pix2pix paintings - + mean grey paintings"]["effect"] == pytest.approx(
        iou["+ pix2pix paintings"] - iou["+ mean grey paintings"], abs=0.01)
    assert reported["+ real images - + pix2pix paintings"]["effect"] > 0.05
    assert 0.2 < outcome.numbers["texture"] < 2


def test_scarce_data_paintings_that_add_nothing_do_not_hold_and_harmful_ones_contradict(scarce, monkeypatch):
    monkeypatch.setitem(SCARCE_ACCURACY, "+ pix2pix paintings", SCARCE_ACCURACY["5 real slices"])
    assert scarce.claim.pix2pix_scarce_data(scarce.lab).verdict != "holds"
    monkeypatch.setitem(SCARCE_ACCURACY, "+ pix2pix paintings", SCARCE_ACCURACY["5 real slices"] - 0.05)
    assert scarce.claim.pix2pix_scarce_data(scarce.lab).verdict == "contradicted"


def test_a_models_folder_keeps_each_painter_by_kind_seed_and_tiles(tmp_path, monkeypatch):
    """`kept_painter`: each (kind, seed) trains once per set of tiles; a second lab on the same folder loads it, and
    tiles of other pixels train a painter of their own."""
    trainings = []

    def train_painter(labels, images, *, adversarial, seed):  # a real painter, untrained: kept and loaded alike
        trainings.append((adversarial, seed))
        return pix2pix.build_painter(seed=seed)

    monkeypatch.setattr(pix2pix, "train_painter", train_painter)
    labels = (torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    images = 0.2 + 0.6 * labels
    for _ in range(2):
        for adversarial in (False, True):
            pix2pix_data.kept_painter(_lab(models=tmp_path), labels, images, adversarial=adversarial, seed=3)
    assert trainings == [(False, 3), (True, 3)]
    pix2pix_data.kept_painter(_lab(models=tmp_path), labels, images + 0.1, adversarial=True, seed=3)
    assert trainings == [(False, 3), (True, 3), (True, 3)]
