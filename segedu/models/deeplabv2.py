"""DeepLab v2 (Chen, Papandreou, Kokkinos, Murphy, Yuille, TPAMI 2018, section 3.2 and figure 7).

A dilated ResNet at output stride 8 and "ASPP-L": four parallel 3x3 classifiers dilated by 6, 12, 18
and 24 look at the same features with four fields of view, and their class scores are summed (not
concatenated: that came with v3). Scores are upsampled bilinearly; the paper then applies the dense CRF.

Departures: the default backbone is ResNet-50 (the paper's best model uses ResNet-101,
`backbone="resnet101"`); no multi-scale input fusion (the paper's MSC, section 3.2: the image at scales 0.5,
0.75 and 1 through shared weights, the score maps fused by their maximum at each position, in training and at
test time; `segedu.predict` averages scales instead, as v3 does at test time).
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import build_backbone
from .base import OnLevel, SegmentationModel

__all__ = ["DeepLabV2", "deeplabv2"]


class SummedASPP(nn.ModuleList):
    """DeepLab v2's ASPP: (N, C, h, w) -> sum over rates of Conv3x3_rate(features), (N, num_classes, h, w)."""

    def __init__(self, in_channels: int, num_classes: int, rates: tuple[int, ...]):
        super().__init__(nn.Conv2d(in_channels, num_classes, 3, padding=rate, dilation=rate) for rate in rates)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.stack([branch(features) for branch in self]).sum(0)


class DeepLabV2(SegmentationModel):
    """DeepLab v2: encoder (dilated backbone at output stride 8) -> decoder (level5 as it is) -> head (ASPP-L: the
    class scores of four dilated 3x3 classifiers, summed), upsampled bilinearly.
    (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "deeplabv2"
    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50",
                 rates: tuple[int, ...] = (6, 12, 18, 24), width: float = 1.0, pretrained: bool = False):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=8, width=width,
                                      pretrained=pretrained)
        self.decoder = OnLevel("level5")  # ASPP-L classifies the encoder's features directly
        self.head = SummedASPP(self.encoder.channels["level5"], num_classes, tuple(rates))


def deeplabv2(**options) -> DeepLabV2:
    """DeepLab v2 with ASPP-L (rates 6, 12, 18, 24) on a dilated `backbone` at output stride 8."""
    return DeepLabV2(**options)
