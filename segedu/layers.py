"""Production building blocks on torch.nn, shared by the full models."""

from __future__ import annotations

from torch import nn

__all__ = ["ConvBNReLU", "scaled"]


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
