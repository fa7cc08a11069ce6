"""The encoder-decoder with pooling switches shared by SegNet and DeconvNet (notebook 03).

The encoder is VGG16-BN's 13 convolutions; each of its five 2x2 max poolings also returns its indices
(the "switches": where each maximum came from). The decoder mirrors it: each stage unpools with the
switches of the matching encoder stage, putting every value back where its maximum was and zeros
elsewhere, then densifies the sparse map with 3x3 convolutions (SegNet) or 3x3 transposed
convolutions (DeconvNet), each followed by batch norm and ReLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import build_backbone
from ..layers import scaled

__all__ = ["IndexedVGGEncoder", "UnpoolingDecoder", "DECODER_CHANNELS"]

# decoder stages from the deepest (stage 5) to the first: output channels of each convolution
DECODER_CHANNELS = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64,))


class IndexedVGGEncoder(nn.Module):
    """VGG16-BN in five stages: (N, C, H, W), H and W multiples of 32 -> ((N, 512, H/32, W/32), five
    (indices, size before pooling) pairs, deepest last)."""

    def __init__(self, *, in_channels: int, width: float, pretrained: bool):
        super().__init__()
        backbone = build_backbone("vgg16_bn", in_channels=in_channels, width=width, pretrained=pretrained)
        self.register_buffer("mean", backbone.mean, persistent=False)
        self.register_buffer("std", backbone.std, persistent=False)
        # each level ends with its max pooling; keep the convolutions, pool here with indices
        self.stages = nn.ModuleList(nn.Sequential(*list(level)[:-1]) for level in backbone.levels.values())
        self.out_channels = backbone.channels["level5"]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Size]]]:
        features, switches = (images - self.mean) / self.std, []
        for stage in self.stages:
            features = stage(features)
            size = features.shape[-2:]
            features, indices = F.max_pool2d(features, 2, 2, return_indices=True)  # (N, C, h/2, w/2), int64 indices
            switches.append((indices, size))
        return features, switches


def _block(in_channels: int, out_channels: int, *, transposed: bool) -> nn.Sequential:
    conv = (nn.ConvTranspose2d if transposed else nn.Conv2d)(in_channels, out_channels, 3, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class UnpoolingDecoder(nn.Module):
    """Five stages of unpooling with the encoder's switches, each followed by 3x3 (transposed) convolutions.

    ((N, C, H/32, W/32), switches) -> (N, scaled(64), H, W).
    """

    def __init__(self, in_channels: int, *, width: float, transposed: bool):
        super().__init__()
        stages = []
        for stage_channels in DECODER_CHANNELS:
            blocks = []
            for out_channels in stage_channels:
                blocks.append(_block(in_channels, scaled(out_channels, width), transposed=transposed))
                in_channels = scaled(out_channels, width)
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.out_channels = in_channels

    def forward(self, encoded: tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Size]]]) -> torch.Tensor:
        features, switches = encoded
        for stage, (indices, size) in zip(self.stages, reversed(switches)):
            features = F.max_unpool2d(features, indices, 2, 2, output_size=size)  # (N, C, 2h, 2w), sparse
            features = stage(features)
        return features
