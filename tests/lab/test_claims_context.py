"""Notebook 10's PSPNet claim (`segedu.lab.claims.context`) on stand-in frames: both arms from the same weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.lab import claims
from segedu.lab.claims import context


def test_pspnet_auxiliary_loss_trains_both_arms_from_the_same_weights_on_stand_in_frames(monkeypatch):
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split))
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator),
                               torch.randint(0, 11, (4, *size), generator=generator))

    from segedu.backbones import build_backbone

    weights, rates, pretrained = [], [], []
    real_train = endtoend.train

    def spy(model, groups, frames_, config, *, seed, **options):
        weights.append((seed, options["auxiliary_weight"], model.head.weight.detach().clone()))
        encoder = {id(p) for p in model.encoder.parameters()}
        rates.append(sorted((group["lr"], all(id(p) in encoder for p in group["params"])) for group in groups))
        first = next(model.encoder.parameters()).detach()
        pretrained.append(torch.equal(first, next(build_backbone("efficientnet_lite0", pretrained=True,
                                                                 output_stride=8).parameters()).detach()))
        return real_train(model, groups, frames_, config, seed=seed, **options)

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    monkeypatch.setattr(endtoend, "train", spy)
    monkeypatch.setattr(claims.Lab, "test_blocks", lambda self: torch.arange(4) // 2)  # the 4 stand-in test frames
    config = dataclasses.replace(endtoend.TrainingConfig(), pspnet_steps=1, batch_size=2, pspnet_size=(32, 48))
    outcome = claims.pspnet_auxiliary_loss(claims.Lab(seeds=(0, 1), training=config))
    assert [(seed, weight) for seed, weight, _ in weights] == [(0, 0.4), (0, 0.0), (1, 0.4), (1, 0.0)]
    assert torch.equal(weights[0][2], weights[1][2]) and not torch.equal(weights[0][2], weights[2][2])
    config_rate = config.learning_rate
    assert rates[0] == [(config_rate * config.fine_tune_factor, True), (config_rate, False)]  # the encoder fine-tuned
    assert all(pretrained)  # every arm starts from the ImageNet encoder
    assert set(outcome.numbers["miou"]) == {"with", "without"} and len(outcome.numbers["step"]["per_seed"]) == 2


def _missed(masks: torch.Tensor, classes: tuple[int, ...], every: int):
    """Per-frame counts of predictions that give every `every`-th pixel of `classes` to Fence (class 7, neither a
    small-object class nor one of the large regions below); every 1: all of them missed, 0: none."""
    from segedu.lab.scoring import score_frames

    predictions = masks.clone()
    if every:
        chosen = torch.isin(masks, torch.tensor(classes)).flatten().nonzero().flatten()
        predictions.view(-1)[chosen[::every]] = 7
    return score_frames(predictions, masks)


LARGE = (3, 0, 1, 5)  # Road, Sky, Building, Tree: the most training pixels in the stand-in below


@pytest.mark.parametrize("missed_by_fcn32s, verdict", [
    ((2, 6, 9), "holds"),  # FCN-32s loses the small objects U-Net and PSPNet find: their gain is on the small ones
    (LARGE, "contradicted"),  # FCN-32s loses parts of the large regions instead: the gain is on the large ones
])
def test_the_unet_pspnet_claim_judges_the_gain_on_small_objects_against_the_large_regions(
        monkeypatch, missed_by_fcn32s, verdict):
    from types import SimpleNamespace

    import segedu.measure
    import segedu.models
    from segedu.lab.claims.verdict import pooled

    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 11, (12, 16, 16), generator=generator)
    train = torch.cat([torch.full((40 - 5 * rank,), c) for rank, c in enumerate(LARGE)] + [torch.arange(11)])
    runs = {"fcn32s": _missed(masks, missed_by_fcn32s, 2), "concat_fusion": _missed(masks, (), 0),
            "pyramid": _missed(masks, (), 0)}
    asked = []

    def lab_runs(kind):
        asked.append(kind)
        return [runs[kind], runs[kind]]

    lab = SimpleNamespace(runs=lab_runs, pooled=lambda kind: pooled(lab_runs(kind)),
                          stride8={"train": SimpleNamespace(masks=train)}, test_blocks=lambda: torch.arange(12) // 3,
                          config=SimpleNamespace(seeds=(0, 1)))
    built = []
    monkeypatch.setattr(segedu.models, "build_model", lambda name, **options: built.append(name) or torch.nn.Identity())
    monkeypatch.setattr(segedu.measure, "saved_activation_bytes", lambda network, inputs, **options: 2 ** 20 * len(built) * len(inputs))
    outcome = claims.unet_pspnet_small_objects(lab)
    assert set(asked) == {"fcn32s", "concat_fusion", "pyramid"} and built == ["fcn32s", "unet", "pspnet"]
    assert outcome.numbers["large"] == list(LARGE) and outcome.numbers["small"] == [2, 6, 9]
    assert outcome.verdict == verdict
    gains = outcome.numbers["gains"]
    # half of a class's pixels given to Fence: about a third of its IoU lost (1/2 of it kept, 1/2 wrong elsewhere)
    shared = "small" if verdict == "holds" else "large"
    assert gains["U-Net"][shared] > 0.3 and gains["PSPNet"][shared] > 0.3
    assert abs(gains["U-Net"]["small" if shared == "large" else "large"]) < 1e-9
    assert outcome.numbers["per_seed_gains"]["PSPNet"][shared] == [pytest.approx(gains["PSPNet"][shared])] * 2
    scores = outcome.numbers["iou"]
    assert scores["U-Net"][shared] - scores["FCN-32s"][shared] == pytest.approx(gains["U-Net"][shared])
    assert outcome.numbers["activation_megabytes"] == {"FCN-32s": 1.0, "U-Net": 2.0, "PSPNet": 3.0}
