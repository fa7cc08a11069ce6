"""U-Net's expanding path on a pretrained encoder (`segedu.models.unet_backbone`), and freezing an encoder's early
levels only (`SegmentationModel.freeze_encoder(through=...)`)."""

from __future__ import annotations

import pytest
import torch

from segedu.backbones import build_backbone
from segedu.engine import TrainConfig, fit
from segedu.models import build_model


def small_unet(**options):
    torch.manual_seed(0)
    return build_model("unet", num_classes=5, backbone="efficientnet_lite0", **options)


def test_unet_on_a_pretrained_backbone_starts_from_the_imagenet_weights_and_keeps_any_input_size():
    model = small_unet(pretrained=True).eval()
    reference = build_backbone("efficientnet_lite0", pretrained=True)
    for (name, ours), theirs in zip(model.encoder.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(ours, theirs), name
    assert model(torch.rand(1, 3, 70, 100)).shape == (1, 5, 70, 100)


def test_the_decoder_reads_every_skip_down_to_stride_4():
    model = small_unet().eval()
    kept = {}
    model.encoder.register_forward_hook(lambda module, inputs, output: kept.update(output))
    images = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        model(images)
    features = {level: value.clone().requires_grad_(True) for level, value in kept.items()}
    model.decoder(features).sum().backward()
    for level in ("level5", "level4", "level3", "level2"):
        assert features[level].grad.abs().sum() > 0, f"the decoder ignores {level}"
    assert features["level1"].grad is None  # stride 2 is not a skip: the path stops at stride 4


def test_a_backbone_unet_refuses_the_papers_own_options():
    with pytest.raises(ValueError, match="needs a backbone"):
        build_model("unet", num_classes=2, pretrained=True)
    with pytest.raises(ValueError, match="leave them at their defaults"):
        build_model("unet", num_classes=2, backbone="efficientnet_lite0", padding=False)


def test_freezing_through_level3_keeps_the_early_levels_and_trains_the_rest():
    model = small_unet(pretrained=True).freeze_encoder("level3").train()
    levels = model.encoder.levels
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    for name in ("level1", "level2", "level3"):
        assert not any(p.requires_grad for p in levels[name].parameters())
        assert not any(m.training for m in levels[name].modules()), f"{name}'s batch norm would update its statistics"
    for name in ("level4", "level5"):
        assert all(p.requires_grad for p in levels[name].parameters()) and levels[name].training
    recorded = []
    levels["level3"].register_forward_hook(lambda module, inputs, output: recorded.append(output.requires_grad))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.rand(2, 3, 64, 64)).logsumexp(1).mean().backward()
    optimizer.step()
    assert recorded == [False]  # no graph through the frozen levels: they cost no backward pass
    after = model.state_dict()
    for name, tensor in before.items():
        frozen = name.startswith(("encoder.levels.level1.", "encoder.levels.level2.", "encoder.levels.level3."))
        if frozen:
            assert torch.equal(tensor, after[name]), f"{name} changed"
    assert any(not torch.equal(tensor, after[name]) for name, tensor in before.items()
               if name.startswith("encoder.levels.level4.")), "level 4 did not learn"
    model.unfreeze_encoder()
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_freezing_through_an_unknown_level_names_the_levels():
    with pytest.raises(ValueError, match="level1, level2, level3, level4, level5"):
        small_unet().freeze_encoder("level9")


def test_fit_freezes_through_the_configured_level(tmp_path):
    from segedu.data import build_dataset

    data = build_dataset("shapes", "train", image_size=(64, 64), subset=8)
    model = build_model("unet", num_classes=data.num_classes, backbone="efficientnet_lite0")
    first = model.encoder.levels["level2"].state_dict()
    first = {k: v.clone() for k, v in first.items()}
    fit(model, data, None, TrainConfig(epochs=1, batch_size=4, freeze_encoder="level2", progress=False,
                                       channels_last=False))
    assert all(torch.equal(v, model.encoder.levels["level2"].state_dict()[k]) for k, v in first.items())
    assert not any(p.requires_grad for p in model.encoder.levels["level1"].parameters())
