"""U-Net (Ronneberger, Fischer, Brox, MICCAI 2015, figure 1).

A contracting path of four down steps (two 3x3 convolutions and ReLU, then 2x2 max pooling; the
channels double from 64 to 1024) and an expanding path that upsamples with a 2x2 transposed
convolution halving the channels, concatenates the encoder's feature map of the same scale (the skip
connection), and applies two 3x3 convolutions; a 1x1 convolution maps 64 channels to the classes.
With 1 input channel and 2 classes it holds 31.0M parameters, as published.

Departures from the paper, both on by default and both switchable:
- ``padding=True``: padded 3x3 convolutions, so the output has the input's size and no crop is needed;
  the input is reflection-padded to a multiple of 16 and the logits cropped back, so any size works.
  The paper's valid convolutions, crop-and-concat and overlap-tile inference arrive with the full
  U-Net notebook.
- ``batch_norm=True``: batch normalization after every convolution (the paper predates it); it makes
  training from scratch far less sensitive to the learning rate.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import ConvBNReLU, scaled
from .base import SegmentationModel, pad_to_multiple

__all__ = ["UNet", "unet"]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions with ReLU: (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool):
        super().__init__(ConvBNReLU(in_channels, out_channels, batch_norm=batch_norm),
                         ConvBNReLU(out_channels, out_channels, batch_norm=batch_norm))


class Up(nn.Module):
    """2x2 transposed convolution halving the channels, concatenation with the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool):
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm=batch_norm)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        features = self.upsample(features)  # (N, C_out, 2h, 2w)
        return self.conv(torch.cat([skip, features], dim=1))  # (N, 2 C_out, 2h, 2w) -> (N, C_out, 2h, 2w)


class UNet(SegmentationModel):
    """U-Net: (N, in_channels, H, W) -> logits (N, num_classes, H, W) for any H, W."""

    name = "unet"

    def __init__(self, *, num_classes: int, in_channels: int = 3, base_channels: int = 64, depth: int = 4,
                 batch_norm: bool = True):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        channels = [base_channels * 2 ** level for level in range(depth + 1)]  # 64, 128, 256, 512, 1024
        self.stem = DoubleConv(in_channels, channels[0], batch_norm=batch_norm)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(channels[i], channels[i + 1], batch_norm=batch_norm) for i in range(depth))
        self.up = nn.ModuleList(Up(channels[i + 1], channels[i], batch_norm=batch_norm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)
        self.multiple = 2 ** depth

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.check_input(images)
        padded, (height, width) = pad_to_multiple(images, self.multiple)
        features = self.stem(padded)  # (N, 64, H, W)
        skips = [features]
        for down in self.down:
            features = down(self.pool(features))  # (N, 2C, H/2, W/2) at each step
            skips.append(features)
        skips.pop()  # the bottleneck (N, 1024, H/16, W/16) is not a skip
        for up in self.up:
            features = up(features, skips.pop())  # (N, C/2, 2h, 2w)
        return self.head(features)[..., :height, :width]  # (N, num_classes, H, W)


def unet(*, num_classes: int, in_channels: int = 3, width: float = 1.0, depth: int = 4, batch_norm: bool = True) -> UNet:
    """The paper's U-Net; `width` scales every layer's channels (0.25 gives 16 base channels)."""
    return UNet(num_classes=num_classes, in_channels=in_channels, base_channels=scaled(64, width), depth=depth,
                batch_norm=batch_norm)
