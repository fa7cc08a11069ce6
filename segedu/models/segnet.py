"""SegNet (Badrinarayanan, Kendall, Cipolla, TPAMI 2017, figure 2).

An encoder of VGG16-BN's 13 convolutions whose max poolings keep their indices, and a decoder that mirrors
it: each stage upsamples by unpooling with the indices of the matching encoder stage (no learning, no
stored feature maps: 2 bits per window would do, notebook 03), then densifies the sparse map with 3x3
convolutions, batch norm and ReLU. A last 3x3 convolution gives the class scores (the paper's softmax
classifier follows). With 11 classes (CamVid) it holds 29.4M parameters, as published (table 6).

Departures: the input is reflection-padded to a multiple of 32 and the logits cropped back, so any size
works (the paper trains at 360x480, which the five poolings reach through Caffe's ceil rounding);
`width` narrows every layer for the fast profile.
"""

from __future__ import annotations

from torch import nn

from .base import SegmentationModel
from .unpooling import IndexedVGGEncoder, UnpoolingDecoder

__all__ = ["SegNet", "segnet"]


class SegNet(SegmentationModel):
    """SegNet: encoder (VGG16-BN keeping its pooling switches) -> decoder (unpooling with them, 3x3 convolutions)
    -> head (3x3 convolution to the classes). (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name, multiple = "segnet", 32

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0, pretrained: bool = False):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = IndexedVGGEncoder(in_channels=in_channels, width=width, pretrained=pretrained)
        self.decoder = UnpoolingDecoder(self.encoder.out_channels, width=width, transposed=False)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, 3, padding=1)  # conv1_1_D


def segnet(**options) -> SegNet:
    """SegNet with a VGG16-BN encoder (`pretrained`: torchvision's ImageNet weights, as the paper initializes)."""
    return SegNet(**options)
