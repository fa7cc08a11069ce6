"""Checks of notebook 12, model zoo: the parameters and the multiply-adds of a convolution."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .harness import compare


# ---- 12 Model zoo -------------------------------------------------------------------------------

def check_conv_parameters(function: Callable) -> None:
    """function(in_channels, out_channels, kernel_size, groups, bias) -> the number of parameters of that
    nn.Conv2d."""
    cases = [(f"{i} -> {o}, kernel {k}, groups {g}, bias {b}", (i, o, k, g, b), {})
             for i, o, k, g, b in [(3, 64, 3, 1, True), (512, 4096, 7, 1, True), (32, 32, 3, 32, False),
                                   (64, 128, 1, 1, False), (16, 32, 5, 4, True)]]
    compare("conv_parameters", function,
            lambda i, o, k, g, b: sum(p.numel() for p in nn.Conv2d(i, o, k, groups=g, bias=b, device="meta")
                                      .parameters()), cases,
            hint=("every output channel has one k x k filter for each input channel it sees, plus a bias",
                  "with groups, each output channel sees only in_channels / groups input channels"))


def check_conv_multiply_adds(function: Callable) -> None:
    """function(in_channels, out_channels, kernel_size, height, width, stride, padding) -> multiply-adds of one
    nn.Conv2d (no bias) on a (1, in_channels, height, width) input."""
    from ...measure import count_flops

    cases = [(f"{i} -> {o}, kernel {k}, {h}x{w}, stride {s}, padding {p}", (i, o, k, h, w, s, p), {})
             for i, o, k, h, w, s, p in [(3, 64, 3, 224, 224, 1, 1), (64, 128, 3, 56, 56, 2, 1), (512, 4096, 7, 7, 7, 1, 0),
                                         (16, 8, 1, 9, 11, 1, 0), (8, 8, 5, 20, 15, 3, 2)]]

    def reference(i, o, k, h, w, s, p):
        convolution = nn.Conv2d(i, o, k, stride=s, padding=p, bias=False, device="meta")
        return count_flops(convolution, torch.empty(1, i, h, w, device="meta")) // 2  # FLOPs count 2 per multiply-add

    compare("conv_multiply_adds", function, reference, cases,
            hint=("each output value is one filter applied to one window: in_channels * k * k multiply-adds",
                  "how many output values are there? out_channels times the output's height and width, which depend "
                  "on the stride and the padding: (size + 2 padding - k) // stride + 1"))
