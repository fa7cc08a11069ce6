"""DeepLab v3 (Chen, Papandreou, Schroff, Adam, arXiv 1706.05587, section 3.3 and figure 5) and
DeepLab v3+ (Chen, Zhu, Papandreou, Schroff, Adam, ECCV 2018, figure 2).

v3: a dilated ResNet at output stride 16 (or 8) and ASPP with batch norm (segedu.layers.ASPP, notebook 06):
a 1x1 branch, three 3x3 branches dilated by 6, 12, 18 (doubled at output stride 8) and image-level
pooling, concatenated and projected to 256 channels, then a 1x1 classifier. Scores are upsampled
bilinearly: at stride 16 they are blurry at object boundaries.

v3+: the same encoder, with depthwise separable ASPP branches, and a decoder: the encoder's output is
upsampled 4x and concatenated with stride-4 features reduced to 48 channels by a 1x1 convolution; two
3x3 depthwise separable convolutions refine the boundaries before the classifier and a final 4x
upsampling.

Departures: the default backbone is ResNet-50 (v3 reports ResNet-101, v3+ an aligned Xception, neither
shipped by torchvision); the image-pooling branch has no batch norm (so a batch of one can train,
notebook 06); no multi-grid rates in the last block and no multi-scale or flipped inference.
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import build_backbone
from ..layers import ASPP, ConvBNReLU, DepthwiseSeparableConv2d, scaled
from .base import OnLevel, SegmentationModel, resize
from ..language import tr

__all__ = ["DeepLabV3", "DeepLabV3Plus", "deeplabv3", "deeplabv3plus"]


def _rates(output_stride: int) -> tuple[int, int, int]:
    if output_stride not in (8, 16):
        raise ValueError(tr("DeepLab v3 runs at output_stride 8 or 16, got {output_stride}",
                            output_stride=output_stride))
    return (6, 12, 18) if output_stride == 16 else (12, 24, 36)


class DeepLabV3(SegmentationModel):
    """DeepLab v3: encoder (dilated backbone at output stride 16 or 8) -> decoder (ASPP on level5) -> head (1x1
    classifier), upsampled bilinearly. (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "deeplabv3"
    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 16,
                 width: float = 1.0, pretrained: bool = False):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=output_stride, width=width,
                                      pretrained=pretrained)
        channels = scaled(256, width)
        self.decoder = OnLevel("level5", ASPP(self.encoder.channels["level5"], channels, _rates(output_stride),
                                              dropout=0.1))
        self.head = nn.Conv2d(channels, num_classes, 1)


class DeepLabV3PlusDecoder(nn.Module):
    """Separable ASPP on level5, upsampled 4x and concatenated with level2 reduced to 48 channels, refined by two
    depthwise separable 3x3 convolutions: {"level2", "level5"} -> (N, 256, H/4, W/4)."""

    def __init__(self, channels: dict[str, int], output_stride: int, width: float):
        super().__init__()
        hidden, low_level = scaled(256, width), scaled(48, width)
        self.aspp = ASPP(channels["level5"], hidden, _rates(output_stride), separable=True, dropout=0.1)
        self.reduce = ConvBNReLU(channels["level2"], low_level, 1)
        self.refine = nn.Sequential(DepthwiseSeparableConv2d(hidden + low_level, hidden),
                                    DepthwiseSeparableConv2d(hidden, hidden))
        self.out_channels = hidden

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        details = self.reduce(features["level2"])  # (N, 48, H/4, W/4)
        context = resize(self.aspp(features["level5"]), details.shape[-2:])  # (N, 256, H/4, W/4)
        return self.refine(torch.cat([context, details], dim=1))  # (N, 256, H/4, W/4)


class DeepLabV3Plus(SegmentationModel):
    """DeepLab v3+: encoder (dilated backbone) -> decoder (separable ASPP fused with stride-4 details) -> head
    (1x1 classifier), upsampled bilinearly. (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "deeplabv3plus"
    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 16,
                 width: float = 1.0, pretrained: bool = False):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=output_stride, width=width,
                                      pretrained=pretrained)
        self.decoder = DeepLabV3PlusDecoder(self.encoder.channels, output_stride, width)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, 1)


def deeplabv3(**options) -> DeepLabV3:
    """DeepLab v3 with ASPP (batch norm, image pooling) on a dilated `backbone` at output stride 16 or 8."""
    return DeepLabV3(**options)


def deeplabv3plus(**options) -> DeepLabV3Plus:
    """DeepLab v3+: separable ASPP and a decoder with stride-4 features."""
    return DeepLabV3Plus(**options)
