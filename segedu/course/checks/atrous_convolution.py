"""Checks of atrous (dilated) convolution: the receptive field and the depthwise separable convolution
(notebook 05), and DeepLab v3's ASPP branches (notebook 10).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...measure import measured_receptive_field
from ..messages import tr
from .harness import _generator, _randn, compare


# ---- 05 Atrous convolution ----------------------------------------------------------------------

def check_receptive_field(function: Callable) -> None:
    """function(kernel_sizes, strides, dilations) -> the receptive field (in input pixels) of a conv stack."""
    cases = [(f"kernels {k}, strides {s}, dilations {d}", (k, s, d), {}) for k, s, d in [
        ([3], [1], [1]), ([3, 3, 3], [1, 1, 1], [1, 1, 1]), ([3, 3], [1, 1], [2, 4]), ([7, 3, 3], [2, 2, 1], [1, 1, 1]),
        ([3, 3, 3, 3], [2, 1, 1, 1], [1, 2, 4, 8]), ([2, 2, 2], [2, 2, 2], [1, 1, 1])]]
    compare("receptive_field", function, lambda k, s, d: measured_receptive_field(k, s, d), cases,
            hint=("each layer widens the field by what its kernel spans, measured in input pixels",
                  "a kernel of size k with dilation d spans d * (k - 1) + 1 positions of its input; one step on that "
                  "input is as many input pixels as the product of the strides before it",
                  "keep two numbers as you go through the layers: the field so far and the jump (input pixels per "
                  "step); do not change the lists you were given"))


def check_depthwise_separable_conv(function: Callable) -> None:
    """function(input (N, C, H, W), depthwise_weight (C, 1, k, k), pointwise_weight (C_out, C, 1, 1), dilation)
    -> depthwise then pointwise convolution, 'same' padding d(k-1)/2."""
    generator, cases = _generator(50), []
    for n, c, o, size, k, d in [(1, 2, 3, (5, 5), 3, 1), (2, 4, 6, (9, 7), 3, 2), (1, 3, 2, (8, 8), 5, 1)]:
        cases.append((tr("{shape}, kernel {kernel}, dilation {dilation}, {channels} output channels",
                         shape=f"{n}x{c}x{size[0]}x{size[1]}", kernel=k, dilation=d, channels=o),
                      (_randn(generator, n, c, *size), _randn(generator, c, 1, k, k), _randn(generator, o, c, 1, 1), d),
                      {}))

    def reference(x, depthwise_weight, pointwise_weight, dilation):
        padding = dilation * (depthwise_weight.shape[-1] - 1) // 2
        depthwise = F.conv2d(x, depthwise_weight, padding=padding, dilation=dilation, groups=x.shape[1])
        return F.conv2d(depthwise, pointwise_weight)

    compare("depthwise_separable_conv", function, reference, cases,
            hint=("two convolutions: the first filters each channel on its own, the second mixes channels with 1x1",
                  "the depthwise step is an F.conv2d whose groups argument makes every channel its own group; its "
                  "'same' padding depends on the dilation",
                  "padding = dilation * (k - 1) // 2 keeps the size; then F.conv2d with the pointwise weight"))


# ---- 10 PSPNet and DeepLab ----------------------------------------------------------------------

def check_aspp_branches(function: Callable) -> None:
    """function(features (N, C, H, W), weights [(C_out, C, 3, 3) per rate], rates) -> (N, C_out * len(rates), H, W):
    DeepLab v3's ASPP atrous branches, each a 3x3 convolution with dilation = padding = rate, concatenated along
    channels (DeepLab v2's ASPP sums its branches' class scores instead)."""
    generator, cases = _generator(100), []
    for n, c, o, (height, width), rates in [(1, 2, 3, (9, 9), (1, 2)), (2, 3, 2, (12, 16), (1, 6, 12)),
                                            (1, 4, 2, (7, 5), (2, 3, 24))]:
        cases.append((f"{n}x{c}x{height}x{width}, rates {rates}",
                      (_randn(generator, n, c, height, width), [_randn(generator, o, c, 3, 3) for _ in rates], rates),
                      {}))

    def reference(features, weights, rates):
        return torch.cat([F.conv2d(features, weight, padding=rate, dilation=rate)
                          for weight, rate in zip(weights, rates)], dim=1)

    compare("aspp_branches", function, reference, cases, atol=1e-4,
            hint=("every branch looks at the same map with its own rate; all must keep the map's size so they can "
                  "be stacked",
                  "a 3x3 convolution with dilation r keeps the size with padding r",
                  "concatenate the branches along dimension 1, in the order of the rates"))
