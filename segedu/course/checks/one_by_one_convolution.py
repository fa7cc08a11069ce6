"""Checks of notebook 01, 1x1 convolution: a Linear layer as a convolution, and the pointwise convolution."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..messages import tr
from .harness import ExerciseFailed, _describe, _generator, _randn, compare


# ---- 01 1x1 convolution -------------------------------------------------------------------------

def check_linear_to_conv(function: Callable) -> None:
    """function(linear: nn.Linear, in_channels, kernel_size) -> nn.Conv2d computing the same map per window.

    On a (N, in_channels, k, k) feature map the convolution must give linear(features.flatten(1)) as
    (N, out, 1, 1); on a larger map it slides, giving one prediction per window (a heat map).
    """
    generator, cases = _generator(10), []
    for in_channels, kernel_size, out_features, size in [(3, 2, 4, (2, 2)), (8, 4, 5, (9, 6)), (2, 1, 3, (5, 5))]:
        linear = nn.Linear(in_channels * kernel_size ** 2, out_features)
        with torch.no_grad():
            linear.weight.copy_(_randn(generator, *linear.weight.shape))
            linear.bias.copy_(_randn(generator, out_features))
        features = _randn(generator, 2, in_channels, *size)
        cases.append((tr("Linear({inputs}, {outputs}) on {window} windows of a {size} map", inputs=linear.in_features,
                         outputs=out_features, window=f"{in_channels}x{kernel_size}x{kernel_size}",
                         size=f"{size[0]}x{size[1]}"), (linear, in_channels, kernel_size, features), {}))

    def sliding_linear(linear, in_channels, kernel_size, features):  # the linear layer applied at every window
        windows = F.unfold(features, kernel_size)  # (N, C k k, windows), flattened in (C, kH, kW) order
        height, width = (s - kernel_size + 1 for s in features.shape[-2:])
        return linear(windows.transpose(1, 2)).transpose(1, 2).reshape(features.shape[0], -1, height, width)

    def convolve(linear, in_channels, kernel_size, features):
        conv = function(linear, in_channels, kernel_size)
        if not isinstance(conv, nn.Module):
            raise ExerciseFailed(tr("linear_to_conv must return an nn.Conv2d, got {got}", got=_describe(conv)))
        with torch.no_grad():
            return conv(features)

    compare("linear_to_conv", convolve, sliding_linear, cases,
            hint=("the convolution must compute, at every k x k window, what the Linear layer computes on the "
                  "flattened window: same number of outputs, same weights, same bias",
                  "a Linear weight is (out, C * k * k); flatten() ordered each window as channels, then rows, then "
                  "columns, which is the order of a convolution weight's last three axes",
                  "create nn.Conv2d(in_channels, out, kernel_size) and copy the reshaped weight and the bias into it "
                  "under torch.no_grad()"))


def check_pointwise_conv(function: Callable) -> None:
    """function(input (N, C_in, H, W), weight (C_out, C_in), bias (C_out,)) -> a 1x1 convolution, (N, C_out, H, W)."""
    generator = _generator(11)
    cases = [(tr("{shape} -> {channels} channels", shape=f"{n}x{c}x{h}x{w}", channels=o),
              (_randn(generator, n, c, h, w), _randn(generator, o, c), _randn(generator, o)), {})
             for n, c, h, w, o in [(1, 3, 4, 4, 2), (2, 5, 3, 7, 4), (3, 1, 6, 2, 3)]]
    compare("pointwise_conv", function, lambda x, weight, bias: F.conv2d(x, weight[:, :, None, None], bias), cases,
            hint=("a 1x1 convolution treats every pixel on its own: each output channel is a weighted sum of that "
                  "pixel's input channels, plus a bias",
                  "that is one matrix (C_out, C_in) applied to every pixel's vector of C_in values; torch.einsum lets "
                  "you name the axes of the input (n, c, h, w) and of the weight, and say which one is summed",
                  "the bias has one value per output channel: reshape it so it broadcasts over N, H and W"))
