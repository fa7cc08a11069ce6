"""DeepLab v1, "DeepLab-LargeFOV" (Chen, Papandreou, Kokkinos, Murphy, Yuille, ICLR 2015, section 3 and table 2).

VGG16 made denser with atrous convolution (notebook 05): pool4 and pool5 keep stride 1 (3x3 windows),
the conv5 layers are dilated by 2, and fc6 becomes a 3x3 convolution with 1024 channels dilated by 12
(the large field of view at a fraction of fc6's 4096 7x7 weights), fc7 a 1x1 with 1024. Scores at output
stride 8 are upsampled bilinearly. It is meant to be followed by the fully connected CRF
(segedu.crf.DenseCRF), which sharpens the blurry boundaries of the stride-8 scores. About 20.5M
parameters with 21 classes (published: 20.5M).

``backbone="efficientnet_lite0", pretrained=True`` puts the same LargeFOV classifier on another encoder at output
stride 8 (one of the EfficientNet-Lite family, whose ImageNet weights are available offline; VGG16's are not).

Departures: pool5 keeps VGG's max pooling (made 3x3 stride 1) and the extra 3x3 average pooling the
released model adds after it is left out; fc6's weights start random (the paper subsamples VGG's
fc6), the convolutions from ImageNet with `pretrained=True`.
"""

from __future__ import annotations

from torch import nn

from ..backbones import build_backbone
from ..layers import scaled
from .base import OnLevel, SegmentationModel

__all__ = ["DeepLabV1", "deeplabv1"]


class DeepLabV1(SegmentationModel):
    """DeepLab-LargeFOV: encoder (VGG16 at output stride 8) -> decoder (fc6 3x3 dilated by `fc6_dilation`, fc7
    1x1, on level5) -> head (fc8, 1x1 to the classes), upsampled bilinearly.
    (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "deeplabv1"
    minimum_size = 8  # three stride-2 poolings leave one pixel of a 7x7 input, which the stride-1 pool4 cannot take
    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0, pretrained: bool = False,
                 fc6_dilation: int = 12, dropout: float = 0.5, backbone: str = "vgg16"):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=8, width=width,
                                      pretrained=pretrained)
        channels, hidden = self.encoder.channels["level5"], scaled(1024, width)
        self.decoder = OnLevel(
            "level5",
            nn.Conv2d(channels, hidden, 3, padding=fc6_dilation, dilation=fc6_dilation), nn.ReLU(inplace=True),
            nn.Dropout(dropout),  # fc6
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True), nn.Dropout(dropout))  # fc7
        self.head = nn.Conv2d(hidden, num_classes, 1)  # fc8


def deeplabv1(**options) -> DeepLabV1:
    """DeepLab-LargeFOV on VGG16 (or `backbone`) at output stride 8."""
    return DeepLabV1(**options)
