"""FRRN: full-resolution residual networks (Pohlen, Hermans, Mathias, Leibe, CVPR 2017, figures 2-3, table 1).

Two streams run side by side. The **residual stream** stays at the input's full resolution and only ever adds
residuals, so boundary detail is never pooled away; the **pooling stream** goes down and up like an
encoder-decoder and carries the context. A full-resolution residual unit (FRRU) couples them at scale s:

    pooling' = conv3x3-BN-ReLU x 2 ( concat(pooling, maxpool_s(residual)) )    (N, C, H/s, W/s)
    residual' = residual + upsample_s( conv1x1(pooling') )                    (N, 32, H, W)

FRRN A (table 1): a 5x5 convolution and three residual units (48 channels), the split (a 1x1 convolution makes
the 32-channel residual stream), FRRUs of 96, 192, 384 and 384 channels at scales 2, 4, 8 and 16 on the way
down (3, 4, 2, 2 of them), of 192, 192 and 96 channels at 8, 4 and 2 on the way up (2 each), the streams
concatenated, three residual units and a 1x1 classifier. With 11 classes this is 17.7M parameters.

In the lineage it answers what FCN's skips (04, 07) and U-Net's concatenations (09) approximate: instead of
recovering detail from stored encoder maps, it keeps a full-resolution stream all the way through.

Departures: the pooling stream upsamples with bilinear interpolation (the paper: unpooling by nearest-neighbour
repetition), `width` narrows every layer, and the input is reflection-padded to a multiple of 16.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvBNReLU, scaled
from .base import SegmentationModel

__all__ = ["FRRN", "frrn", "FRRU"]


class ResidualUnit(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))): two 3x3 convolutions, (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(ConvBNReLU(channels, channels), nn.Conv2d(channels, channels, 3, padding=1,
                                                                            bias=False), nn.BatchNorm2d(channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.body(features)


class FRRU(nn.Module):
    """A full-resolution residual unit at `scale`: (pooling (N, C_in, H/s, W/s), residual (N, R, H, W)) ->
    (pooling (N, C_out, H/s, W/s), residual (N, R, H, W))."""

    def __init__(self, in_channels: int, out_channels: int, residual_channels: int, scale: int):
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(ConvBNReLU(in_channels + residual_channels, out_channels),
                                  ConvBNReLU(out_channels, out_channels))
        self.back = nn.Conv2d(out_channels, residual_channels, 1)  # what flows back into the residual stream

    def forward(self, streams: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pooling, residual = streams
        pooled = F.max_pool2d(residual, self.scale)  # (N, R, H/s, W/s)
        pooling = self.body(torch.cat([pooling, pooled], 1))  # (N, C_out, H/s, W/s)
        back = F.interpolate(self.back(pooling), size=residual.shape[-2:], mode="bilinear", align_corners=False)
        return pooling, residual + back


class FRRNEncoder(nn.Module):
    """Images (N, C, H, W) -> (pooling stream at H/16, residual stream at H): the stem, the split, the way down."""

    def __init__(self, *, in_channels: int, width: float, stages: tuple[tuple[int, int], ...]):
        super().__init__()
        stem, residual = scaled(48, width), scaled(32, width)
        self.stem = nn.Sequential(ConvBNReLU(in_channels, stem, kernel_size=5, padding=2),
                                  *[ResidualUnit(stem) for _ in range(3)])
        self.split = nn.Conv2d(stem, residual, 1)  # the residual stream's 32 channels
        self.down = nn.ModuleList()
        channels, scale = stem, 1
        for count, out in stages:  # each stage: max-pool the pooling stream, then `count` FRRUs at the new scale
            scale *= 2
            out = scaled(out, width)
            self.down.append(nn.Sequential(*[FRRU(channels if i == 0 else out, out, residual, scale)
                                             for i in range(count)]))
            channels = out
        self.out_channels, self.residual_channels, self.scale = channels, residual, scale

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(images)  # (N, 48, H, W)
        pooling, residual = features, self.split(features)  # (N, 48, H, W), (N, 32, H, W)
        for stage in self.down:
            pooling, residual = stage((F.max_pool2d(pooling, 2), residual))
        return pooling, residual  # (N, 384, H/16, W/16), (N, 32, H, W)


class FRRNDecoder(nn.Module):
    """(pooling, residual) -> (N, 48, H, W): the way up, then both streams concatenated and three residual units."""

    def __init__(self, encoder: FRRNEncoder, *, width: float, stages: tuple[tuple[int, int], ...]):
        super().__init__()
        channels, scale, residual = encoder.out_channels, encoder.scale, encoder.residual_channels
        self.up = nn.ModuleList()
        for count, out in stages:
            scale //= 2
            out = scaled(out, width)
            self.up.append(nn.Sequential(*[FRRU(channels if i == 0 else out, out, residual, scale)
                                           for i in range(count)]))
            channels = out
        stem = scaled(48, width)
        self.merge = nn.Conv2d(channels + residual, stem, 1)
        self.refine = nn.Sequential(*[ResidualUnit(stem) for _ in range(3)])
        self.out_channels = stem

    def forward(self, streams: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        pooling, residual = streams
        for stage in self.up:
            pooling = F.interpolate(pooling, scale_factor=2, mode="bilinear", align_corners=False)
            pooling, residual = stage((pooling, residual))
        pooling = F.interpolate(pooling, size=residual.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(self.merge(torch.cat([pooling, residual], 1)))  # (N, 48, H, W)


class FRRN(SegmentationModel):
    """FRRN A: encoder (stem, split, FRRUs down to 1/16) -> decoder (FRRUs up, streams merged) -> head (1x1).
    (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    name, multiple = "frrn", 16
    down = ((3, 96), (4, 192), (2, 384), (2, 384))  # (FRRUs, channels) at scales 2, 4, 8, 16
    upward = ((2, 192), (2, 192), (2, 96))  # at scales 8, 4, 2

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = FRRNEncoder(in_channels=in_channels, width=width, stages=self.down)
        self.decoder = FRRNDecoder(self.encoder, width=width, stages=self.upward)
        self.head = nn.Conv2d(self.decoder.out_channels, num_classes, 1)


def frrn(**options) -> FRRN:
    """FRRN A (Pohlen et al. 2017); `width` narrows every layer."""
    return FRRN(**options)
