"""PSPNet, the pyramid scene parsing network (Zhao, Shi, Qi, Wang, Jia, CVPR 2017, figure 3).

A dilated ResNet keeps the last two stages at output stride 8 (notebook 05); the pyramid pooling module
(segedu.layers.PyramidPooling, notebook 06) adds context pooled over 1x1, 2x2, 3x3 and 6x6 grids; a 3x3
convolution and a 1x1 classifier give the scores, upsampled bilinearly to the image. An auxiliary head
after ResNet's fourth stage (res4, the paper's res4b22 block; level4 here) adds a deeply supervised loss during
training (section 4, "Deep Supervision for ResNet-Based FCN", and figure 4; weight 0.4, section 5.1), and is
dropped at inference.

Departures: torchvision's ResNet has the single 7x7 stem convolution, not the paper's three 3x3
convolutions; the default backbone is ResNet-50 (the paper's ImageNet and ablation model; its VOC
and Cityscapes results use ResNet-101, `backbone="resnet101"`).
"""

from __future__ import annotations

from torch import nn

from ..backbones import build_backbone
from ..layers import ConvBNReLU, PyramidPooling, scaled
from .base import OnLevel, SegmentationModel

__all__ = ["PSPNet", "pspnet"]


class PSPNet(SegmentationModel):
    """PSPNet: encoder (dilated backbone) -> decoder (pyramid pooling, 3x3 ConvBNReLU, dropout on level5) -> head
    (1x1 to the classes), upsampled bilinearly; with `auxiliary`, an auxiliary head on level4 while training.
    (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name = "pspnet"
    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 8,
                 bins: tuple[int, ...] = (1, 2, 3, 6), width: float = 1.0, pretrained: bool = False,
                 auxiliary: bool = True):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=output_stride, width=width,
                                      pretrained=pretrained)
        pyramid = PyramidPooling(self.encoder.channels["level5"], tuple(bins))  # (N, C, h, w) -> (N, 2C, h, w)
        hidden = scaled(512, width)
        self.decoder = OnLevel("level5", pyramid, ConvBNReLU(pyramid.out_channels, hidden), nn.Dropout(0.1))
        self.head = nn.Conv2d(hidden, num_classes, 1)
        if auxiliary:  # deep supervision on level4 (section 4), weight TrainConfig.aux_weight = 0.4
            channels = scaled(256, width)
            self.auxiliary_head = nn.Sequential(ConvBNReLU(self.encoder.channels["level4"], channels), nn.Dropout(0.1),
                                                nn.Conv2d(channels, num_classes, 1))


def pspnet(**options) -> PSPNet:
    """PSPNet on a dilated `backbone` at `output_stride` 8 (or 16), pyramid bins 1, 2, 3, 6."""
    return PSPNet(**options)
