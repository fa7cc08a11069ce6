"""Production building blocks on torch.nn, shared by the full models: ConvBNReLU, the bilinear
kernel of FCN's upsampling, bilinear resizing as two matrix products, depthwise separable convolution
(DeepLabv3+), PSPNet's pyramid pooling module and DeepLab's atrous spatial pyramid pooling (ASPP)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .language import tr

__all__ = ["ConvBNReLU", "scaled", "bilinear_kernel", "resize_bilinear", "DepthwiseSeparableConv2d", "PyramidPooling",
           "ASPP"]


def scaled(channels: int, width: float) -> int:
    """`channels` multiplied by `width`, at least 4 and rounded to a multiple of 4 (the fast profile shrinks models)."""
    return max(4, int(round(channels * width / 4)) * 4)


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias: the batch norm has one) -> BatchNorm2d -> ReLU. (N, C_in, H, W) -> (N, C_out, H', W')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
                 padding: int | None = None, dilation: int = 1, batch_norm: bool = True):
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2  # "same" size for odd kernels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                             dilation=dilation, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """Weights that make nn.ConvTranspose2d(in, out, kernel_size, stride=kernel_size // 2) upsample bilinearly.

    -> (in_channels, out_channels, k, k): a tent filter (1 - |x - c| / f) per axis on the diagonal
    in == out channel pairs, zero elsewhere. This is `upsample_filt` of FCN (Long et al. 2015, section
    3.3), which initializes the learnable upsampling layers with it. With k = 2s and padding s/2 it
    reproduces F.interpolate(mode="bilinear", align_corners=False) away from the borders.
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    position = torch.arange(kernel_size, dtype=torch.float32)
    tent = 1 - (position - centre).abs() / factor  # (k,)
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    for channel in range(min(in_channels, out_channels)):
        weight[channel, channel] = tent[:, None] * tent[None, :]
    return weight


@functools.lru_cache(maxsize=64)
def _bilinear_matrix(size_in: int, size_out: int, device: torch.device) -> torch.Tensor:
    """(size_out, size_in) float32: row o holds the two weights with which F.interpolate(mode="bilinear",
    align_corners=False) mixes the inputs of output o along one axis (source o' = (o + 1/2) size_in / size_out - 1/2,
    clamped to the first pixel; at the last pixel both weights fall on it). Kept for later calls, so made a normal
    tensor, which autograd may save, even when the first call comes under torch.inference_mode()."""
    with torch.inference_mode(False):
        source = ((torch.arange(size_out, dtype=torch.float64) + 0.5) * (size_in / size_out) - 0.5).clamp_min(0)
        low = source.floor().long().clamp_max(size_in - 1)
        high = (low + 1).clamp_max(size_in - 1)
        fraction = source - low
        matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
        rows = torch.arange(size_out)
        matrix.index_put_((rows, low), 1 - fraction, accumulate=True)
        matrix.index_put_((rows, high), fraction, accumulate=True)
        return matrix.to(device=device, dtype=torch.float32)


def resize_bilinear(images: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, C, h, w) -> (N, C, H, W): F.interpolate(images, size, mode="bilinear", align_corners=False), as two
    matrix products, rows then columns (bilinear interpolation is separable: each axis mixes two neighbours).

    The same numbers up to float rounding, computed in float32 and returned in the input's type; the input itself
    when it already has the size (as `models.base.resize`). Meant for small maps: each axis's weights are a dense
    (H, h) matrix, kept for later calls. On the CPU a forward and backward pass takes about half the time of
    PyTorch's upsampling kernels on the score maps of the lab's FCN heads, 1.3x less on a membrane head's
    (`python -m segedu.lab.bench.resize`: 8.7 against 19.2 ms for a batch of 8 FCN-8s score maps, 11 x 23x30 to
    180x240, on 2 cores of an Intel Xeon); with a fused AdamW it makes those heads train about a quarter faster
    (`segedu.lab.frozen`, `segedu.lab.membrane_heads`). Tested against F.interpolate in tests/test_layers.py."""
    if images.ndim != 4:
        raise ValueError(tr("resize_bilinear takes (N, C, H, W) images, got shape {shape}", shape=tuple(images.shape)))
    if len(size) != 2 or min(int(length) for length in size) < 1:
        raise ValueError(tr("resize_bilinear: the size must be two positive lengths (H, W), got {size}",
                            size=tuple(size)))
    height, width = (int(length) for length in size)
    if images.shape[-2:] == (height, width):
        return images
    rows = _bilinear_matrix(images.shape[-2], height, images.device)
    columns = _bilinear_matrix(images.shape[-1], width, images.device)
    with torch.autocast(images.device.type, enabled=False):  # float32 weights, whatever autocast would choose
        return (rows @ images.float() @ columns.T).to(images.dtype)


class DepthwiseSeparableConv2d(nn.Sequential):
    """A k x k convolution per channel (depthwise: groups = C_in), then a 1x1 convolution mixing channels
    (pointwise), each followed by batch norm and ReLU, as in DeepLabv3+ (Chen et al. 2018, section 3.2,
    after Xception). (N, C_in, H, W) -> (N, C_out, H', W'). Weights: C_in k^2 + C_in C_out instead of
    C_in C_out k^2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
                 dilation: int = 1):
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling module (Zhao et al. 2017, section 3.2 and figure 3).

    (N, C, H, W) -> (N, C + len(bins) * branch_channels, H, W). Each branch averages the feature
    map into a bins x bins grid (bin 1 is the global context), reduces it to branch_channels
    (C / len(bins) in the paper) with a 1x1 ConvBNReLU, and upsamples it bilinearly back to H x W;
    the branches are concatenated with the input. With H or W below a bin count the cells overlap:
    the pyramid collapses (notebook 06 measures it).
    """

    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6), branch_channels: int | None = None):
        super().__init__()
        branch_channels = branch_channels or in_channels // len(bins)
        self.bins = tuple(bins)
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(bin_count), ConvBNReLU(in_channels, branch_channels, 1))
            for bin_count in self.bins)
        self.out_channels = in_channels + len(self.bins) * branch_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        size = features.shape[-2:]
        pooled = [F.interpolate(branch(features), size=size, mode="bilinear", align_corners=False)
                  for branch in self.branches]  # each (N, branch_channels, H, W)
        return torch.cat([features, *pooled], dim=1)


class _ImagePooling(nn.Sequential):
    """Global average -> 1x1 ConvBNReLU -> broadcast back to H x W (ASPP's image-level features).

    No batch norm here: on a 1x1 map a batch of one has a single value per channel, so batch norm
    could not train with batch size 1; torchvision keeps it and fails there.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return super().forward(features).expand(-1, -1, *features.shape[-2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling as in DeepLabv3 (Chen et al. 2017, section 3.3).

    (N, C_in, H, W) -> (N, out_channels, H, W). Parallel branches look at the same features with
    different fields of view: a 1x1 convolution, a 3x3 convolution at each atrous rate, and (with
    image_pooling) the global average; they are concatenated and projected by a 1x1 ConvBNReLU.
    `separable` uses depthwise separable 3x3 branches as in DeepLabv3+. DeepLabv2's ASPP, which sums
    four classifiers, lives in models/deeplabv2.py (`SummedASPP`). Departure: no batch norm in the image-pooling branch.
    """

    def __init__(self, in_channels: int, out_channels: int = 256, rates: Sequence[int] = (12, 24, 36), *,
                 image_pooling: bool = True, separable: bool = False, dropout: float = 0.5):
        super().__init__()
        branches: list[nn.Module] = [ConvBNReLU(in_channels, out_channels, 1)]
        for rate in rates:
            branches.append(DepthwiseSeparableConv2d(in_channels, out_channels, 3, dilation=rate) if separable
                            else ConvBNReLU(in_channels, out_channels, 3, dilation=rate))
        if image_pooling:
            branches.append(_ImagePooling(in_channels, out_channels))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(ConvBNReLU(len(branches) * out_channels, out_channels, 1), nn.Dropout(dropout))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(features) for branch in self.branches], dim=1))
