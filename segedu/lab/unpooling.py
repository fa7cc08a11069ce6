"""SegNet's and DeconvNet's decoders on the frozen pretrained encoder: unpooling with the encoder's switches.

The claims of notebook 08 compare decoders, so the encoder must be the same, pretrained and good (Badrinarayanan
et al. 2017 and Noh et al. 2015 both start from ImageNet VGG-16). Here it is the frozen EfficientNet-Lite0 of
`segedu.lab.frozen`, whose levels 3, 4 and 5 (strides 8, 16, 32) are cached once; each decoder trains on them in
a minute, like FCN-8s's head on the same levels.

EfficientNet downsamples with strided convolutions and keeps no max-pooling switches, so the switches are taken
where SegNet takes them, from the encoder's own maps: a 2x2 max pooling of level 4 (stride 16 -> 32) and of
level 3 (stride 8 -> 16) records, per channel, which of the four positions held the largest activation
(`switches`). The decoder brings its map to that level's channels and puts each value back at its switch
(`torch.nn.functional.max_unpool2d`), zeros elsewhere: the sparse map the next layers densify.

    segnet      level 5 -> 3x3 ConvBNReLU to level 4's channels -> unpool (level 4's switches) -> two 3x3
                ConvBNReLUs to level 3's channels -> unpool (level 3's switches) -> 3x3 ConvBNReLU -> 1x1 scores
                (SegNet's decoder: unpooling, then convolutions; no fully connected layers)
    deconvnet   level 5 -> "fc6", a convolution as large as the whole 6x8 map (to 1x1, `bottleneck` channels)
                -> "fc7" (1x1) -> a transposed convolution as large as the map back to 6x8 -> then SegNet's
                stages with 3x3 *transposed* convolutions ("deconvolution" layers) after each unpooling
                (DeconvNet: the fc6/fc7 bottleneck of VGG kept, a mirrored decoder of unpooling and deconvolution)

    (N, C5, h/32, w/32), (N, C4, h/16, w/16), (N, C3, h/8, w/8) -> scores (N, K, h/8, w/8)

Departures: both decoders stop at stride 8, where FCN-8s's head stops (the cache keeps levels 3-5), and the scores
are upsampled bilinearly to the image; the papers unpool on to full resolution with the switches of pools 1 and 2.
Widths are narrowed (`hidden` channels; DeconvNet's bottleneck 256 instead of 4096), and fc6/fc7 have no batch norm
(their 1x1 maps would be normalized over a batch of as few as one crop). The encoder is frozen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvBNReLU

__all__ = ["UNPOOLING_HEADS", "UnpoolingHead", "switches", "unpool"]

UNPOOLING_HEADS = ("segnet", "deconvnet")
LEVELS = ("level5", "level4", "level3")  # coarsest first, as `frozen.Head` reads them


def switches(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) encoder map -> (N, C, ceil(H/2), ceil(W/2)) int64: the flat index in H x W of each 2x2 window's
    largest value, per channel (a 2x2 max pooling's switches; a last odd row or column is a window of its own)."""
    return F.max_pool2d(features, 2, stride=2, ceil_mode=True, return_indices=True)[1]


def unpool(values: torch.Tensor, indices: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) values, (N, C, h, w) switches -> (N, C, *size): each value at its switch, zeros elsewhere."""
    return F.max_unpool2d(values, indices, 2, stride=2, output_size=tuple(size))


class TransposedConvBNReLU(nn.Sequential):
    """DeconvNet's "deconvolution" layer: a 3x3 transposed convolution (stride 1), batch norm, ReLU.
    (N, C_in, H, W) -> (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.ConvTranspose2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class UnpoolingHead(nn.Module):
    """SegNet's (`kind="segnet"`) or DeconvNet's (`kind="deconvnet"`) decoder on cached levels 3-5 (module
    docstring). channels: {level: C}; coarsest: level 5's (h, w), the size of DeconvNet's fc6 kernel.
    {level: (N, C, h, w)} -> (N, K, h3, w3) scores at level 3's size."""

    def __init__(self, kind: str, channels: dict[str, int], num_classes: int, hidden: int, *,
                 coarsest: tuple[int, int] = (6, 8), bottleneck: int = 256):
        super().__init__()
        if kind not in UNPOOLING_HEADS:
            raise ValueError(f"unknown unpooling head {kind!r}; choose one of {', '.join(UNPOOLING_HEADS)}")
        self.kind, self.levels = kind, LEVELS
        c5, c4, c3 = (channels[level] for level in LEVELS)
        layer = TransposedConvBNReLU if kind == "deconvnet" else ConvBNReLU
        if kind == "deconvnet":  # fc6 and fc7 as convolutions, and the deconvolution that undoes fc6
            self.top = nn.Sequential(
                nn.Conv2d(c5, bottleneck, tuple(coarsest)), nn.ReLU(inplace=True),  # no batch norm on a 1x1 map
                nn.Conv2d(bottleneck, bottleneck, 1), nn.ReLU(inplace=True),
                nn.ConvTranspose2d(bottleneck, hidden, tuple(coarsest), bias=False), nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True), layer(hidden, c4))
        else:
            self.top = ConvBNReLU(c5, c4)
        self.middle = nn.Sequential(layer(c4, hidden), layer(hidden, c3))  # after unpooling to stride 16
        self.bottom = nn.Sequential(layer(c3, hidden), nn.Conv2d(hidden, num_classes, 1))  # after stride 8

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        level4, level3 = features["level4"], features["level3"]
        x = self.top(features["level5"])  # (N, C4, h5, w5)
        x = self.middle(unpool(x, switches(level4), level4.shape[-2:]))  # (N, C3, h4, w4)
        return self.bottom(unpool(x, switches(level3), level3.shape[-2:]))  # (N, K, h3, w3)
