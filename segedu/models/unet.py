"""U-Net (Ronneberger, Fischer, Brox, MICCAI 2015, figure 1).

A contracting path of four down steps (two 3x3 convolutions and ReLU, then 2x2 max pooling; the
channels double from 64 to 1024) and an expanding path that upsamples with a 2x2 transposed
convolution halving the channels, concatenates the encoder's feature map of the same scale (the skip
connection), and applies two 3x3 convolutions; a 1x1 convolution maps 64 channels to the classes.
With 1 input channel and 2 classes it holds 31.0M parameters, as published.

``padding=False`` is the paper's network: unpadded ("valid") 3x3 convolutions shrink every map by 2
pixels, so the skip is centre-cropped to the upsampled map before the concatenation ("copy and crop"),
and a 572x572 input gives 388x388 logits. To predict an image of any size the paper mirrors its borders
(figure 2, "overlap-tile"): the image is extended by reflection by the 92-pixel margin the convolutions
eat, and an image larger than memory allows is cut into output tiles whose inputs overlap
(`UNet.predict_tiles`). `forward` does this with one tile, so its logits still have the input's size.

Departures from the paper, both on by default and both switchable:
- ``padding=True``: padded 3x3 convolutions, so the output has the input's size and no crop is needed;
  the input is reflection-padded to a multiple of 16 and the logits cropped back, so any size works.
- ``batch_norm=True``: batch normalization after every convolution (the paper predates it); it makes
  training from scratch far less sensitive to the learning rate.

``backbone="efficientnet_lite0"`` (any of `segedu.backbones.BACKBONES`, with ``pretrained=True`` for its ImageNet
weights) replaces the contracting path by that network's five levels and the expanding path by
`unet_backbone.BackboneDecoder`: U-Net's skips on a pretrained encoder, the course's CamVid flagship.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import build_backbone
from ..layers import ConvBNReLU, scaled
from .base import SegmentationModel
from .unet_backbone import DECODER_WIDTHS, BackboneDecoder
from ..language import tr

__all__ = ["UNet", "unet", "mirror_pad"]


class DoubleConv(nn.Sequential):
    """Two 3x3 convolutions with ReLU: (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool, padding: bool = True):
        pad = 1 if padding else 0  # valid convolutions: (N, C, H, W) -> (N, C_out, H - 4, W - 4)
        super().__init__(ConvBNReLU(in_channels, out_channels, padding=pad, batch_norm=batch_norm),
                         ConvBNReLU(out_channels, out_channels, padding=pad, batch_norm=batch_norm))


class Up(nn.Module):
    """2x2 transposed convolution halving the channels, concatenation with the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool, padding: bool = True):
        super().__init__()
        self.upsample = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)
        self.conv = DoubleConv(2 * out_channels, out_channels, batch_norm=batch_norm, padding=padding)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        features = self.upsample(features)  # (N, C_out, 2h, 2w)
        top, left = (skip.shape[-2] - features.shape[-2]) // 2, (skip.shape[-1] - features.shape[-1]) // 2
        skip = skip[..., top: top + features.shape[-2], left: left + features.shape[-1]]  # copy and crop
        return self.conv(torch.cat([skip, features], dim=1))  # (N, 2 C_out, 2h, 2w) -> (N, C_out, 2h, 2w)


def mirror_pad(images: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Extend (N, C, H, W) by reflection at its borders, as often as needed when a margin exceeds the image."""
    while left or right or top or bottom:
        height, width = images.shape[-2:]
        step = [min(left, width - 1), min(right, width - 1), min(top, height - 1), min(bottom, height - 1)]
        images = F.pad(images, step, mode="reflect")
        left, right, top, bottom = (a - b for a, b in zip((left, right, top, bottom), step))
    return images


class UNetEncoder(nn.Module):
    """The contracting path: (N, C, H, W) -> [stem (N, 64, H, W), (N, 128, H/2, W/2), ..., bottleneck
    (N, 1024, H/16, W/16)] (padded convolutions; valid ones shrink each map by 4 pixels per DoubleConv)."""

    def __init__(self, channels: list[int], in_channels: int, **options):
        super().__init__()
        self.stem = DoubleConv(in_channels, channels[0], **options)
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(channels[i], channels[i + 1], **options) for i in range(len(channels) - 1))

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = [self.stem(images)]  # (N, 64, H, W)
        for down in self.down:
            features.append(down(self.pool(features[-1])))  # (N, 2C, H/2, W/2) at each step
        return features


class UNetDecoder(nn.Module):
    """The expanding path: up-convolve, concatenate the skip of the same scale, two 3x3 convolutions.
    [skips..., bottleneck] -> (N, 64, H, W)."""

    def __init__(self, channels: list[int], **options):
        super().__init__()
        self.up = nn.ModuleList(Up(channels[i + 1], channels[i], **options) for i in reversed(range(len(channels) - 1)))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        skips, decoded = features[:-1], features[-1]  # the bottleneck (N, 1024, H/16, W/16) is not a skip
        for up in self.up:
            decoded = up(decoded, skips.pop())  # (N, C/2, 2h, 2w)
        return decoded


class UNet(SegmentationModel):
    """U-Net: encoder (contracting path) -> decoder (expanding path with copy-and-crop skips) -> head (1x1).
    (N, in_channels, H, W) -> logits (N, num_classes, H, W) for any H, W."""

    name = "unet"
    def __init__(self, *, num_classes: int, in_channels: int = 3, width: float = 1.0, depth: int = 4,
                 batch_norm: bool = True, padding: bool = True, backbone: str | None = None, pretrained: bool = False,
                 decoder_widths: tuple[int, ...] | None = None, dropout: float = 0.0):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        if backbone is not None or pretrained:
            self._on_backbone(backbone, width=width, depth=depth, batch_norm=batch_norm, padding=padding,
                              pretrained=pretrained, decoder_widths=decoder_widths, dropout=dropout)
            return
        if dropout:
            raise ValueError(tr("dropout belongs to U-Net on a backbone (backbone='efficientnet_lite0')"))
        if decoder_widths is not None:
            raise ValueError(tr("decoder_widths belongs to U-Net on a backbone (backbone='efficientnet_lite0'); the "
                                "paper's own expanding path mirrors its contracting path"))
        channels = [scaled(64, width) * 2 ** level for level in range(depth + 1)]  # 64, 128, 256, 512, 1024
        options = {"batch_norm": batch_norm, "padding": padding}
        self.encoder = UNetEncoder(channels, in_channels, **options)
        self.decoder = UNetDecoder(channels, **options)
        self.head = nn.Conv2d(channels[0], num_classes, kernel_size=1)
        self.depth, self.padding = depth, padding
        self.multiple = 2 ** depth  # padded convolutions: every map halves exactly `depth` times

    def _on_backbone(self, backbone: str | None, *, width: float, depth: int, batch_norm: bool, padding: bool,
                     pretrained: bool, decoder_widths: tuple[int, ...] | None = None, dropout: float = 0.0) -> None:
        """The contracting path is `backbone`'s five levels (stride 32), the expanding path `BackboneDecoder`."""
        if backbone is None:
            raise ValueError(tr("UNet(pretrained=True) needs a backbone (e.g. backbone='efficientnet_lite0'): the "
                                "paper's own contracting path has no pretrained weights"))
        if depth != 4 or not padding or not batch_norm:
            raise ValueError(tr("UNet on backbone {backbone!r}: depth, padding and batch_norm belong to the paper's "
                                "own contracting path; leave them at their defaults (got depth={depth}, "
                                "padding={padding}, batch_norm={batch_norm})",
                                backbone=backbone, depth=depth, padding=padding, batch_norm=batch_norm))
        self.encoder = build_backbone(backbone, in_channels=self.in_channels, width=width, pretrained=pretrained)
        widths = tuple(decoder_widths or DECODER_WIDTHS)
        if len(widths) == 5:  # the last step's skip is the input itself
            self.encoder.keep_input()
        self.decoder = BackboneDecoder(self.encoder.channels, widths, dropout=dropout)
        self.head = nn.Conv2d(self.decoder.out_channels, self.num_classes, kernel_size=1)
        self.depth, self.padding = depth, True
        self.multiple = 32  # the encoder halves every map five times

    def input_size_for(self, output_size: int) -> int | None:
        """Valid convolutions: the input side that yields `output_size` logits, or None if none does (572 for 388)."""
        size = output_size
        for _ in range(self.depth):  # undo the expanding path: two convolutions, then a 2x upsampling
            size += 4
            if size % 2:
                return None
            size //= 2
        size += 4  # the bottleneck's two convolutions
        for _ in range(self.depth):  # undo the contracting path: 2x2 pooling, then two convolutions
            size = size * 2 + 4
        return size

    def output_size_for(self, size: int) -> int:
        """The smallest valid output side covering `size` pixels (388 for 388, 516 for 512); with padding, the
        next multiple of 2**depth."""
        if self.padding:
            return -(-size // self.multiple) * self.multiple
        while self.input_size_for(size) is None:
            size += 1
        return size

    def forward(self, images: torch.Tensor, *, auxiliary: bool = False):
        """Padded convolutions: the base class's sentence. Valid ones: overlap-tile with one tile (`predict_tiles`)."""
        if self.padding:
            return super().forward(images, auxiliary=auxiliary)
        self.check_input(images)
        logits = self.predict_tiles(images, tile_size=None)
        return (logits, None) if auxiliary else logits

    def predict_tiles(self, images: torch.Tensor, tile_size: int | None = 388) -> torch.Tensor:
        """Overlap-tile prediction (figure 2): logits for (N, C, H, W) computed tile by tile, each tile seeing
        its context; borders are mirrored. `tile_size` None predicts the whole image as one tile."""
        height, width = images.shape[-2:]
        tile_height, tile_width = (self.output_size_for(height), self.output_size_for(width)) if tile_size is None \
            else (self.output_size_for(tile_size),) * 2
        if self.padding:  # padded convolutions need a margin of context only for tiling
            margin_height = margin_width = 0
        else:
            margin_height = (self.input_size_for(tile_height) - tile_height) // 2  # 92 for depth 4
            margin_width = (self.input_size_for(tile_width) - tile_width) // 2
        # tiles start at multiples of 2**depth so every tile pools on the same grid as the whole image would;
        # valid tiles (388 = 4 mod 16) therefore overlap by 4 pixels, which they predict identically
        step_height, step_width = tile_height - tile_height % self.multiple, tile_width - tile_width % self.multiple
        rows = max(1, -(-(height - tile_height) // step_height) + 1)
        columns = max(1, -(-(width - tile_width) // step_width) + 1)
        canvas_height, canvas_width = (rows - 1) * step_height + tile_height, (columns - 1) * step_width + tile_width
        extended = mirror_pad(images, margin_width, margin_width + canvas_width - width,
                              margin_height, margin_height + canvas_height - height)
        logits = images.new_empty(images.shape[0], self.num_classes, canvas_height, canvas_width)
        for top in range(0, rows * step_height, step_height):
            for left in range(0, columns * step_width, step_width):
                tile = extended[..., top: top + tile_height + 2 * margin_height,
                                left: left + tile_width + 2 * margin_width]
                logits[..., top: top + tile_height, left: left + tile_width] = self.core(tile)
        return logits[..., :height, :width]  # (N, K, H, W)


def unet(**options) -> UNet:
    """U-Net; `width` scales every layer's channels (0.25 gives 16 base channels). The paper's configuration is
    ``padding=False, batch_norm=False``."""
    return UNet(**options)
