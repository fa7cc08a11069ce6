"""DeconvNet (Noh, Hong, Han, ICCV 2015, figure 2 and table 1).

VGG16-BN's convolution layers with pooling switches, then VGG's fully connected layers as convolutions
(fc6 a 7x7 convolution to 4096 channels, fc7 1x1), then a mirrored "deconvolution network": a 7x7
transposed convolution back to 512 channels, and five stages of unpooling with the switches followed by
3x3 transposed convolutions, with batch norm after every convolution and deconvolution as in the paper.
About 252M parameters with 21 classes (published: 252M); the paper averages its class probabilities with
FCN-8s's (EDeconvNet) and then applies the dense CRF (segedu.crf); neither is part of the network.

Departures: the paper's fc6 is a valid 7x7 convolution on the 7x7 pool5 map of a 224x224 proposal, which
shrinks it to 1x1 (a 4096-vector describing the whole proposal) and its mirror, a 7x7 deconvolution, grows it
back to 7x7. That is `bottleneck="paper"`, which takes 224x224 inputs only. The default, `bottleneck="padded"`,
pads fc6 and its mirror by 3, so whole images of any size go through and the spatial layout survives the
bottleneck; the weights are the same either way. The input is reflection-padded to a multiple of 32. We apply
it to whole images, not to the paper's object proposals. `fc_channels` narrows fc6/fc7 alone (4096 x `width` by
default): most of the network's weights are there, and a checkpoint the course ships must stay small. The
decoder's stages are SegNet's (`unpooling.DECODER_CHANNELS`), so its last stage has one 64-channel deconvolution
before the classifier where the paper has two (deconv1-1 and deconv1-2): 12 deconvolutions after the unpoolings, not 13.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import scaled
from .base import SegmentationModel
from .unpooling import IndexedVGGEncoder, UnpoolingDecoder
from ..language import tr

__all__ = ["DeconvNet", "deconvnet"]


class DeconvNetDecoder(nn.Module):
    """fc6, fc7 and deconv-fc6 on the pooled features, then the unpooling decoder with the encoder's switches:
    ((N, 512, H/32, W/32), switches) -> (N, scaled(64), H, W)."""

    def __init__(self, channels: int, *, width: float, bottleneck: str = "padded", fc_channels: int | None = None):
        super().__init__()
        if bottleneck not in ("padded", "paper"):
            raise ValueError(tr("DeconvNet bottleneck must be \"padded\" or \"paper\", got {bottleneck!r}",
                                bottleneck=bottleneck))
        if fc_channels is not None and fc_channels < 1:
            raise ValueError(tr("DeconvNet fc_channels must be a positive number of channels, got {fc_channels!r}",
                                fc_channels=fc_channels))
        hidden, pad = fc_channels or scaled(4096, width), 3 if bottleneck == "padded" else 0
        self.paper_bottleneck = bottleneck == "paper"
        self.bottleneck = nn.Sequential(  # padded: (N, 512, h, w) -> (N, 4096, h, w) -> (N, 512, h, w)
            nn.Conv2d(channels, hidden, 7, padding=pad, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.ConvTranspose2d(hidden, channels, 7, padding=pad, bias=False), nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True))  # paper: (N, 512, 7, 7) -> (N, 4096, 1, 1) -> (N, 512, 7, 7)
        self.unpooling = UnpoolingDecoder(channels, width=width, transposed=True)
        self.out_channels = self.unpooling.out_channels

    def forward(self, encoded: tuple[torch.Tensor, list]) -> torch.Tensor:
        features, switches = encoded
        if self.paper_bottleneck and tuple(features.shape[-2:]) != (7, 7):
            size = tuple(32 * side for side in features.shape[-2:])
            raise ValueError(tr("DeconvNet(bottleneck=\"paper\") takes 224x224 inputs, the paper's proposals: its "
                                "fc6 shrinks a 7x7 pool5 map to 1x1, and this input (padded to {size_0}x{size_1}) "
                                "gives {features_shape}x{features_shape_2}. Use bottleneck=\"padded\" for whole "
                                "images",
                                size_0=size[0], size_1=size[1], features_shape=features.shape[-2],
                                features_shape_2=features.shape[-1]))
        return self.unpooling((self.bottleneck(features), switches))


class DeconvNet(SegmentationModel):
    """DeconvNet: encoder (VGG16-BN with switches) -> decoder (fc6/fc7 bottleneck, unpooling and transposed
    convolutions) -> head (1x1 to the classes). (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name, multiple = "deconvnet", 32
    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0, pretrained: bool = False,
                 bottleneck: str = "padded", fc_channels: int | None = None):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = IndexedVGGEncoder(in_channels=in_channels, width=width, pretrained=pretrained)
        self.decoder = DeconvNetDecoder(self.encoder.out_channels, width=width, bottleneck=bottleneck,
                                        fc_channels=fc_channels)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, 1)


def deconvnet(**options) -> DeconvNet:
    """DeconvNet with a VGG16-BN encoder (`pretrained`: torchvision's ImageNet weights); `bottleneck="paper"` for the
    paper's 7x7 -> 1x1 -> 7x7 fc6 on 224x224 proposals."""
    return DeconvNet(**options)
