"""Notebook 10's PSPNet claim (`segedu.lab.claims.context`) on stand-in frames: both arms from the same weights."""

from __future__ import annotations

import dataclasses

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
