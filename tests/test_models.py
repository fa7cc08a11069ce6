"""Every model: logits at the input's size (odd sizes too), backward, determinism, published parameter counts."""

from __future__ import annotations

import pytest
import torch

from segedu.models import MODELS, build_model, convolutionalize

SMALL = {"width": 0.0625}


def logits_of(output):
    """Models with an auxiliary head return {'out', 'aux'} while training."""
    return output["out"] if isinstance(output, dict) else output


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("size", [(97, 131), (64, 64), (33, 17)])
def test_logits_have_the_input_size(name, size):
    model = build_model(name, num_classes=7, **SMALL)
    output = model(torch.randn(2, 3, *size))
    assert logits_of(output).shape == (2, 7, *size)
    if isinstance(output, dict):
        assert output["aux"].shape == (2, 7, *size)


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
    model = build_model(name, num_classes=4, **SMALL)
    output = model(torch.randn(2, 3, 40, 52))
    loss = sum(logits.logsumexp(1).mean() for logits in (output.values() if isinstance(output, dict) else [output]))
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


def test_fcn_final_upsampling_is_fixed_and_skips_start_at_zero():
    model = build_model("fcn8s", num_classes=5, **SMALL)
    names = [name for name, _ in model.named_parameters()]
    assert not any(name.startswith("upsample.") for name in names)  # the 8x bilinear upsampling is not learned
    assert all(torch.count_nonzero(skip.weight) == 0 for skip in model.skips.values())
    assert len(model.upsample2) == 2


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
    with pytest.raises(ValueError, match="does not take the options"):
        build_model("unet", num_classes=2, dilation=3)
    with pytest.raises(ValueError, match="unknown model 'fcn4s'"):
        build_model("fcn4s", num_classes=2)
    with pytest.raises(ValueError, match="unknown backbone 'resnet34'"):
        build_model("pspnet", num_classes=2, backbone="resnet34")
    with pytest.raises(ValueError, match="output_stride 16 or 32"):
        build_model("pspnet", num_classes=2, backbone="mobilenet_v3_large")
    with pytest.raises(ValueError, match="width 1 only"):
        build_model("deeplabv3", num_classes=2, backbone="efficientnet_lite0", pretrained=True, width=0.5)
