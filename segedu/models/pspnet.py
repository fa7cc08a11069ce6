"""PSPNet, the pyramid scene parsing network (Zhao, Shi, Qi, Wang, Jia, CVPR 2017, figure 3).

A dilated ResNet keeps the last two stages at output stride 8 (notebook 05); the pyramid pooling module
(segedu.layers.PyramidPooling, notebook 06) adds context pooled over 1x1, 2x2, 3x3 and 6x6 grids; a 3x3
convolution and a 1x1 classifier give the scores, upsampled bilinearly to the image. An auxiliary head
on the third stage (level4) adds a deeply supervised loss during training (section 3.3, weight 0.4), and
is dropped at inference.

Departures: torchvision's ResNet has the single 7x7 stem convolution, not the paper's three 3x3
convolutions; the default backbone is ResNet-50 (the paper's ImageNet and ablation model; its VOC
and Cityscapes results use ResNet-101, `backbone="resnet101"`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import build_backbone
from ..layers import ConvBNReLU, PyramidPooling, scaled
from .base import SegmentationModel, resize, with_auxiliary

__all__ = ["PSPNet", "pspnet"]


class PSPNet(SegmentationModel):
    """PSPNet: (N, in_channels, H, W) -> logits (N, num_classes, H, W); {'out', 'aux'} while training with `auxiliary`."""

    name = "pspnet"

    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 8,
                 bins: tuple[int, ...] = (1, 2, 3, 6), width: float = 1.0, pretrained: bool = False,
                 auxiliary: bool = True):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.backbone = build_backbone(backbone, in_channels=in_channels, output_stride=output_stride, width=width,
                                       pretrained=pretrained)
        channels = self.backbone.channels["level5"]
        self.pyramid = PyramidPooling(channels, bins)  # (N, C, h, w) -> (N, 2C, h, w)
        hidden = scaled(512, width)
        self.head = nn.Sequential(ConvBNReLU(self.pyramid.out_channels, hidden), nn.Dropout(0.1),
                                  nn.Conv2d(hidden, num_classes, 1))
        auxiliary_channels = self.backbone.channels["level4"]
        self.auxiliary = nn.Sequential(ConvBNReLU(auxiliary_channels, scaled(256, width)), nn.Dropout(0.1),
                                       nn.Conv2d(scaled(256, width), num_classes, 1)) if auxiliary else None

    def forward(self, images: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        self.check_input(images)
        features = self.backbone(images)
        logits = resize(self.head(self.pyramid(features["level5"])), images.shape[-2:])  # (N, K, H, W)
        auxiliary = None
        if self.auxiliary is not None and self.training:
            auxiliary = resize(self.auxiliary(features["level4"]), images.shape[-2:])
        return with_auxiliary(self, logits, auxiliary)


def pspnet(*, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 8,
           width: float = 1.0, pretrained: bool = False, auxiliary: bool = True) -> PSPNet:
    """PSPNet on a dilated `backbone` at `output_stride` 8 (or 16), pyramid bins 1, 2, 3, 6."""
    return PSPNet(num_classes=num_classes, in_channels=in_channels, backbone=backbone, output_stride=output_stride,
                  width=width, pretrained=pretrained, auxiliary=auxiliary)
