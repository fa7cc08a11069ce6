"""Deep contextual networks (Chen, Qi, Cheng, Heng, "Deep Contextual Networks for Neuronal Structure Segmentation",
AAAI 2016, figure 1), the network that led the ISBI 2012 challenge after U-Net.

One encoder; classifiers at several depths, each with its own transposed convolution back to full resolution;
their scores summed:

    scores_l = upsample_l( conv1x1_l( features at level l ) )    (N, K, H, W) for l in levels 3, 4, 5
    logits   = scores_3 + scores_4 + scores_5                    the fused, multi-level contextual output

Shallow levels see little context but keep the detail, deep ones see a wide context at stride 32. Training
supervises every branch (deep supervision): the loss is the fused output's cross-entropy plus each branch's own,
with weights that the paper lowers during training (`deep_supervision_loss`).

In the lineage it sits beside FCN (04, 07) and hypercolumns: FCN also sums the scores of three levels, but
upsamples them step by step, 2x at a time, and supervises only the sum; here each level goes to full resolution
on its own and is trained to segment by itself. Its neighbour on ISBI 2012, U-Net (09), concatenates features
instead of summing scores.

Departures: the encoder is the course's VGG-16 with batch norm (`width` narrows it) rather than the paper's
six-convolution network, the branches read levels 3-5 (strides 8-32) instead of the paper's three pooling stages
(strides 4-16), and the upsampling is a transposed convolution initialized bilinear (FCN's initialization).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import build_backbone
from ..layers import bilinear_kernel
from .base import SegmentationModel, fit_to_size, pad_to_multiple

__all__ = ["DeepContextualNet", "dcn", "deep_supervision_loss"]

LEVELS = ("level3", "level4", "level5")


class ContextBranch(nn.Module):
    """One depth's classifier: {level: (N, C, H/s, W/s)} -> scores (N, K, H, W) by a 1x1 convolution and a learned
    transposed convolution of stride s (kernel 2s, initialized to bilinear interpolation)."""

    def __init__(self, level: str, channels: int, num_classes: int, stride: int):
        super().__init__()
        self.level = level
        self.score = nn.Conv2d(channels, num_classes, 1)
        self.upsample = nn.ConvTranspose2d(num_classes, num_classes, 2 * stride, stride=stride, padding=stride // 2,
                                           bias=False)
        with torch.no_grad():
            self.upsample.weight.copy_(bilinear_kernel(num_classes, num_classes, 2 * stride))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.upsample(self.score(features[self.level]))


class ContextDecoder(nn.Module):
    """{level: features} -> every branch's full-resolution scores, stacked: (N, L, K, H, W)."""

    def __init__(self, channels: dict[str, int], strides: dict[str, int], num_classes: int):
        super().__init__()
        self.branches = nn.ModuleList(ContextBranch(level, channels[level], num_classes, strides[level])
                                      for level in LEVELS)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack([branch(features) for branch in self.branches], 1)


class SumBranches(nn.Module):
    """(N, L, K, H, W) -> (N, K, H, W): the fused output is the sum of the branches' scores."""

    def forward(self, branches: torch.Tensor) -> torch.Tensor:
        return branches.sum(1)


class DeepContextualNet(SegmentationModel):
    """Encoder (VGG-16-BN levels) -> decoder (a classifier and a transposed convolution per depth) -> head (their
    sum). (N, in_channels, H, W) -> logits (N, num_classes, H, W); `branch_logits` gives each depth's own."""

    name, multiple = "dcn", 32

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone("vgg16_bn", in_channels=in_channels, width=width)
        self.decoder = ContextDecoder(self.encoder.channels, self.encoder.strides, num_classes)
        self.head = SumBranches()

    def branch_logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> each branch's scores (N, 3, K, H, W), shallowest first: what deep supervision trains."""
        self.check_input(images)
        padded, size = pad_to_multiple(images, self.multiple)
        branches = self.decoder(self.encoder(padded))  # (N, 3, K, H', W')
        return torch.stack([fit_to_size(branches[:, index], padded.shape[-2:], size)
                            for index in range(branches.shape[1])], 1)


def deep_supervision_loss(model: DeepContextualNet, images: torch.Tensor, targets: torch.Tensor, *,
                          branch_weight: float, ignore_index: int = 255) -> torch.Tensor:
    """The paper's loss: cross-entropy of the fused output + `branch_weight` x each branch's own cross-entropy
    (the paper decays the branch weights towards 0 as training goes on)."""
    branches = model.branch_logits(images)  # (N, 3, K, H, W)
    fused = F.cross_entropy(branches.sum(1), targets, ignore_index=ignore_index)
    auxiliary = sum(F.cross_entropy(branches[:, index], targets, ignore_index=ignore_index)
                    for index in range(branches.shape[1]))
    return fused + branch_weight * auxiliary


def dcn(**options) -> DeepContextualNet:
    """Deep contextual network (Chen et al. 2016); `width` narrows the VGG-16-BN encoder."""
    return DeepContextualNet(**options)
