"""Every model: logits at the input's size (odd sizes too), backward, determinism, published parameter counts."""

from __future__ import annotations

import pytest
import torch

from segedu.checkpoint import LEGACY_NAMES, upgrade_state_dict
from segedu.models import MODELS, SegmentationModel, build_model, convolutionalize, model_options, rebuild_model

SMALL = {"width": 0.0625}
AUXILIARY = {"pspnet": {}, "fcn": {"auxiliary": True}}  # the models that can carry an auxiliary head


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("size", [(97, 131), (64, 64), (33, 17)])
def test_logits_are_one_tensor_of_the_input_size_in_both_modes(name, size):
    model = build_model(name, num_classes=7, **SMALL, **AUXILIARY.get(name, {}))
    images = torch.randn(2, 3, *size)
    for mode in (True, False):
        model.train(mode)
        output = model(images)
        assert type(output) is torch.Tensor and output.shape == (2, 7, *size)
    logits, auxiliary = model.train()(images, auxiliary=True)
    assert logits.shape == (2, 7, *size)
    if name in AUXILIARY:
        assert auxiliary.shape == (2, 7, *size)
    else:
        assert auxiliary is None


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_is_encoder_decoder_head(name):
    model = build_model(name, num_classes=3, **SMALL)
    assert isinstance(model, SegmentationModel)
    parts = {part for part, _ in model.named_children()}
    assert {"encoder", "decoder", "head"} <= parts <= {"encoder", "decoder", "head", "auxiliary_head"}
    assert type(model).forward is SegmentationModel.forward or name == "unet"  # U-Net adds overlap-tile, then defers
    counted = sum(p.numel() for part in parts for p in getattr(model, part).parameters())
    assert counted == model.num_parameters()  # nothing lives outside the parts


@pytest.mark.parametrize("name", list(MODELS))
def test_freeze_encoder_keeps_weights_and_statistics_and_unfreeze_undoes_it(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3, **SMALL).freeze_encoder()
    before = {key: value.clone() for key, value in model.encoder.state_dict().items()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and not any(p.requires_grad for p in model.encoder.parameters())
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    model.train()
    assert not model.encoder.training and model.decoder.training
    model(torch.randn(2, 3, 40, 48)).logsumexp(1).mean().backward()
    optimizer.step()
    after = model.encoder.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before), "weights or batch-norm statistics moved"
    model.unfreeze_encoder()
    assert model.encoder.training and all(p.requires_grad for p in model.encoder.parameters())


@pytest.mark.parametrize("name", list(MODELS))
def test_every_constructor_option_reaches_build_model_and_the_spec_rebuilds(name):
    options = model_options(name)
    assert "width" in options
    model = build_model(name, num_classes=4, in_channels=2, **SMALL)
    rebuilt = rebuild_model(model.build_spec)
    assert type(rebuilt) is type(model) and rebuilt.build_spec == model.build_spec
    assert [k for k in rebuilt.state_dict()] == [k for k in model.state_dict()]


def test_options_the_builders_used_to_drop_now_arrive():
    assert [branch.dilation for branch in build_model("deeplabv2", num_classes=3, rates=(2, 4), **SMALL).head] == \
        [(2, 2), (4, 4)]
    model = build_model("deeplabv1", num_classes=3, fc6_dilation=4, dropout=0.2, **SMALL)
    assert model.decoder[0].dilation == (4, 4) and model.decoder[2].p == 0.2


def test_a_model_built_from_its_class_rebuilds_from_its_checkpoint(tmp_path):
    from segedu.checkpoint import load_model, save_checkpoint
    from segedu.models import DeepLabV2

    model = DeepLabV2(num_classes=3, backbone="resnet18", rates=(3, 5), width=0.125).eval()
    save_checkpoint(tmp_path / "model.pt", {"model_spec": model.build_spec, "model": model.state_dict()})
    loaded, _ = load_model(tmp_path / "model.pt")
    image = torch.rand(1, 3, 40, 40)
    assert torch.equal(loaded(image), model(image))
    with pytest.raises(TypeError, match="keyword arguments only"):
        DeepLabV2(3)


@pytest.mark.parametrize("name", ["fcn8s", "unet", "deeplabv3plus", "pspnet", "deconvnet", "deeplabv1"])
def test_checkpoints_written_before_the_rename_still_load(name):
    model = build_model(name, num_classes=3, **SMALL, **({"backbone": "resnet18"} if name in ("deeplabv3plus", "pspnet") else {}))
    legacy = {_legacy_key(type(model), key): value for key, value in model.state_dict().items()}
    assert set(legacy) != set(model.state_dict())
    fresh = rebuild_model(model.build_spec)
    fresh.load_state_dict(upgrade_state_dict(fresh, legacy))
    assert all(torch.equal(value, fresh.state_dict()[key]) for key, value in model.state_dict().items())


def _legacy_key(model_class, key: str) -> str:
    """Today's key -> the name the same weight had before encoder/decoder/head (the inverse of `renamed`)."""
    for old, new in sorted(LEGACY_NAMES[model_class.__name__].items(), key=lambda item: -len(item[1])):
        if key.startswith(new):
            return old + key[len(new):]
    return key


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_of_one_in_eval_mode_is_deterministic(name):
    model = build_model(name, num_classes=3, in_channels=1, **SMALL).eval()
    image = torch.randn(1, 1, 45, 61)
    with torch.no_grad():
        first = model(image)
        assert torch.equal(first, model(image))
    assert first.shape == (1, 3, 45, 61)


@pytest.mark.parametrize("name", list(MODELS))
def test_backward_reaches_every_parameter(name):
    model = build_model(name, num_classes=4, **SMALL, **AUXILIARY.get(name, {}))
    logits, auxiliary = model(torch.randn(2, 3, 40, 52), auxiliary=True)
    loss = sum(output.logsumexp(1).mean() for output in (logits, auxiliary) if output is not None)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# (model, classes, options, published parameters): FCN table 1, SegNet table 6, DeconvNet table 1 text,
# U-Net (the paper's network: valid convolutions, no batch norm), DeepLab-LargeFOV table 2
PUBLISHED = [
    ("fcn32s", 21, {}, 134.5e6), ("fcn16s", 21, {}, 134.5e6), ("fcn8s", 21, {}, 134.5e6),
    ("segnet", 11, {}, 29.4e6), ("deconvnet", 21, {}, 252e6),
    ("unet", 2, {"in_channels": 1, "batch_norm": False, "padding": False}, 31.0e6),
    ("unet", 2, {"in_channels": 1, "batch_norm": False}, 31.0e6),
    ("deeplabv1", 21, {}, 20.5e6),
]


@pytest.mark.parametrize("name, num_classes, options, published", PUBLISHED)
def test_parameter_count_matches_the_paper(name, num_classes, options, published):
    count = build_model(name, num_classes=num_classes, **options).num_parameters()
    assert abs(count - published) / published < 0.01, f"{name}: {count / 1e6:.2f}M, published {published / 1e6}M"


def test_deconvnet_fc_channels_narrow_fc6_and_fc7_alone():
    """The shipped DeconvNet (width 0.25, fc6/fc7 of 128 channels): 512/4 pooled channels -> 128 -> 128 -> 128."""
    wide, narrow = (build_model("deconvnet", num_classes=11, width=0.25, **options) for options in ({}, {"fc_channels": 128}))
    fc6, fc7, deconv6 = (narrow.decoder.bottleneck[index] for index in (0, 3, 6))
    assert (fc6.in_channels, fc6.out_channels, fc7.out_channels, deconv6.out_channels) == (128, 128, 128, 128)
    assert wide.decoder.bottleneck[0].out_channels == 1024  # 4096 x 0.25 by default
    assert narrow.encoder.state_dict().keys() == wide.encoder.state_dict().keys()
    assert narrow(torch.randn(1, 3, 64, 96)).shape == (1, 11, 64, 96)
    with pytest.raises(ValueError, match="fc_channels must be a positive number of channels, got 0"):
        build_model("deconvnet", num_classes=11, fc_channels=0)


def test_fcn_final_upsampling_is_fixed_and_skips_start_at_zero():
    model = build_model("fcn8s", num_classes=5, **SMALL)
    names = [name for name, _ in model.named_parameters()]
    assert not any(name.startswith("head.") for name in names)  # the 8x bilinear upsampling (the head) is not learned
    assert all(torch.count_nonzero(skip.weight) == 0 for skip in model.decoder.skips.values())
    assert len(model.decoder.upsample2) == 2


def test_convolutionalize_computes_the_classifier_at_every_window():
    torch.manual_seed(0)
    linear = torch.nn.Linear(4 * 3 * 3, 6)
    conv = convolutionalize(linear, in_channels=4)
    features = torch.randn(2, 4, 7, 9)
    scores = conv(features)  # padding 1: the window centred at (row, column)
    for row, column in [(1, 1), (3, 5), (5, 7)]:
        window = features[:, :, row - 1: row + 2, column - 1: column + 2].flatten(1)
        assert torch.allclose(scores[:, :, row, column], linear(window), atol=1e-5)
    with pytest.raises(ValueError, match="not a square window"):
        convolutionalize(torch.nn.Linear(10, 2), in_channels=4)


def test_unet_valid_convolutions_follow_the_paper_and_tiles_agree():
    torch.manual_seed(0)
    model = build_model("unet", num_classes=2, in_channels=1, padding=False, batch_norm=False, width=0.0625)
    model = model.double().eval()
    assert model.input_size_for(388) == 572 and model.output_size_for(512) == 516
    with torch.no_grad():
        assert model.core(torch.rand(1, 1, 572, 572, dtype=torch.float64)).shape == (1, 2, 388, 388)
        image = torch.rand(1, 1, 150, 170, dtype=torch.float64)
        whole = model(image)  # one tile, borders mirrored
        tiled = model.predict_tiles(image, tile_size=52)  # 3x4 output tiles of 52, each with 92 pixels of context
    assert whole.shape == (1, 2, 150, 170)
    assert torch.allclose(whole, tiled, atol=1e-10)


def test_wrong_input_channels_and_options_are_clear_errors():
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, H, W\)"):
        build_model("unet", num_classes=2, in_channels=1, **SMALL)(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"does not take the option\(s\) \['dilation'\]; it takes: width=1.0"):
        build_model("unet", num_classes=2, dilation=3)
    with pytest.raises(ValueError, match=r"'fcn8s' does not take the option\(s\) \['stride'\]"):
        build_model("fcn8s", num_classes=2, stride=16)
    with pytest.raises(ValueError, match="unknown model 'fcn4s'"):
        build_model("fcn4s", num_classes=2)
    with pytest.raises(ValueError, match="unknown backbone 'resnet34'"):
        build_model("pspnet", num_classes=2, backbone="resnet34")
    with pytest.raises(ValueError, match="output_stride 16 or 32"):
        build_model("pspnet", num_classes=2, backbone="mobilenet_v3_large")
    with pytest.raises(ValueError, match="width 1 only"):
        build_model("deeplabv3", num_classes=2, backbone="efficientnet_lite0", pretrained=True, width=0.5)
