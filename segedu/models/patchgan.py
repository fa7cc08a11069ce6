"""pix2pix's discriminator, the 70x70 PatchGAN (Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with
Conditional Adversarial Networks", CVPR 2017, section 3.2.2 and appendix 6.1.2).

pix2pix trains a U-Net to turn one image into another (here: a membrane label map into an EM slice). An L1 loss
alone asks, at every pixel, for the median of the outputs that fit the input there, so what the input does not
determine (the texture inside a cell) comes out as a smooth, typical grey. The discriminator asks for realism
instead: it sees the input stacked with an output, real or generated, and says for every 70x70 patch whether the
pair looks real:

    (N, in_channels, H, W) input and output stacked -> C64 -> C128 -> C256 -> C512 -> (N, 1, H/8 - 2, W/8 - 2)

Ck is a 4x4 convolution with k channels, batch norm (none in the first) and LeakyReLU of slope 0.2; the first three
halve the map, the fourth keeps it (as in the authors' code: the paper's text says stride 2 for all); a last 4x4
convolution gives one logit per patch. Each logit sees a 70x70 window of the input (1 + 3 + 3, then x2 + 2 three
times: 4, 7, 16, 34, 70), so the loss judges local texture and leaves the layout to the L1 term; in the paper's
table 3 it scored better than 1x1 (a pixel at a time) and than the whole image (286x286).

Departures: `width` narrows every layer (the course trains at 0.25 on a CPU), the weights start from PyTorch's default
initialization (the paper draws them from N(0, 0.02)), and the last layer gives logits, not probabilities (the loss
applies the sigmoid, `binary_cross_entropy_with_logits`, which is the same and stable).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import scaled

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """A pair (N, in_channels, H, W) (the input and an output, stacked along channels) -> one logit per 70x70 patch,
    (N, 1, H/8 - 2, W/8 - 2) for H, W multiples of 8: above 0 says "real pair", below 0 "generated"."""

    def __init__(self, in_channels: int, *, width: float = 1.0):
        super().__init__()
        channels = [scaled(count, width) for count in (64, 128, 256, 512)]
        layers: list[nn.Module] = []
        previous = in_channels
        for index, count in enumerate(channels):
            stride = 2 if index < 3 else 1
            normalized = index > 0  # C64, the first, has no batch norm
            layers.append(nn.Conv2d(previous, count, 4, stride, 1, bias=not normalized))
            if normalized:
                layers.append(nn.BatchNorm2d(count))
            layers.append(nn.LeakyReLU(0.2))
            previous = count
        layers.append(nn.Conv2d(previous, 1, 4, 1, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.layers(pairs)
