"""DeepLab v1, "DeepLab-LargeFOV" (Chen, Papandreou, Kokkinos, Murphy, Yuille, ICLR 2015, section 3 and table 2).

VGG16 made denser with atrous convolution (notebook 05): pool4 and pool5 keep stride 1 (3x3 windows),
the conv5 layers are dilated by 2, and fc6 becomes a 3x3 convolution with 1024 channels dilated by 12
(the large field of view at a fraction of fc6's 4096 7x7 weights), fc7 a 1x1 with 1024. Scores at output
stride 8 are upsampled bilinearly. It is meant to be followed by the fully connected CRF
(segedu.crf.DenseCRF), which sharpens the blurry boundaries of the stride-8 scores. About 20.5M
parameters with 21 classes (published: 20.5M).

Departures: pool5 keeps VGG's max pooling (made 3x3 stride 1) and the extra 3x3 average pooling the
released model adds after it is left out; fc6's weights start random (the paper subsamples VGG's
fc6), the convolutions from ImageNet with `pretrained=True`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..backbones import build_backbone
from ..layers import scaled
from .base import SegmentationModel, resize

__all__ = ["DeepLabV1", "deeplabv1"]


class DeepLabV1(SegmentationModel):
    """DeepLab-LargeFOV: (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "deeplabv1"

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0, pretrained: bool = False,
                 fc6_dilation: int = 12, dropout: float = 0.5):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.backbone = build_backbone("vgg16", in_channels=in_channels, output_stride=8, width=width,
                                       pretrained=pretrained)
        channels, hidden = self.backbone.channels["level5"], scaled(1024, width)
        self.head = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=fc6_dilation, dilation=fc6_dilation), nn.ReLU(inplace=True),
            nn.Dropout(dropout),  # fc6
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True), nn.Dropout(dropout),  # fc7
            nn.Conv2d(hidden, num_classes, 1))  # fc8

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        scores = self.head(self.backbone(images)["level5"])  # (N, K, H/8, W/8)
        return resize(scores, images.shape[-2:])


def deeplabv1(*, num_classes: int, in_channels: int = 3, width: float = 1.0, pretrained: bool = False) -> DeepLabV1:
    """DeepLab-LargeFOV on VGG16 at output stride 8."""
    return DeepLabV1(num_classes=num_classes, in_channels=in_channels, width=width, pretrained=pretrained)
