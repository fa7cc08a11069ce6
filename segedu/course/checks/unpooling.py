"""Checks of unpooling with the pooling indices: max pooling and max unpooling (notebook 03, ties included),
and SegNet's decoder and the memory its switches save (notebook 08).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..messages import tr
from .harness import Case, _generator, _randn, compare


# ---- 03 Unpooling -------------------------------------------------------------------------------

def _pool_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(tr("input {shape}, kernel {kernel}, stride {stride}", shape=f"{n}x{c}x{h}x{w}", kernel=k, stride=s),
             (_randn(generator, n, c, h, w), k, s), {})
            for n, c, h, w, k, s in [(1, 1, 4, 4, 2, 2), (2, 3, 6, 7, 2, 2), (1, 2, 7, 9, 3, 2), (2, 1, 5, 5, 3, 1)]]


def check_max_pool2d_with_indices(function: Callable) -> None:
    """function(input, kernel_size, stride) -> (values, indices): F.max_pool2d(..., return_indices=True)."""
    generator, cases = _generator(32), _pool_cases(30)
    for n, c, h, w, k, s in [(1, 1, 4, 4, 2, 2), (2, 2, 7, 6, 3, 2)]:  # values 0-2: most windows hold a tie
        cases.append((tr("input {shape} with ties (values 0, 1, 2), kernel {kernel}, stride {stride}",
                         shape=f"{n}x{c}x{h}x{w}", kernel=k, stride=s),
                      (torch.randint(0, 3, (n, c, h, w), generator=generator).float(), k, s), {}))
    compare("max_pool2d_with_indices", function,
            lambda x, k, s: F.max_pool2d(x, k, s, return_indices=True), cases,
            hint=("an index is where the maximum sat in its own input plane, counted row by row: y * W + x, int64",
                  "when two positions of a window hold the same maximum, PyTorch keeps the first one in row-by-row "
                  "order; a running maximum must then only be replaced by a strictly larger value",
                  "F.unfold(x, k, stride=s) lists every window's values as columns; argmax over them finds the first "
                  "maximum, and the window's top-left corner turns it into y * W + x"))


def check_max_unpool2d(function: Callable) -> None:
    """function(input (N, C, h, w), indices (N, C, h, w), output_size (H, W)) -> F.max_unpool2d's result."""
    cases = []
    for _, (x, k, s), _ in _pool_cases(31):
        values, indices = F.max_pool2d(x, k, s, return_indices=True)
        pooled, size = "x".join(map(str, values.shape)), tuple(x.shape[-2:])
        cases.append((tr("input {shape} (pooled with kernel {kernel}, stride {stride}), output_size {size}",
                         shape=pooled, kernel=k, stride=s, size=size),
                      (values, indices, size), {}))
    compare("max_unpool2d", function,
            lambda values, indices, size: F.max_unpool2d(values, indices, 2, output_size=size), cases,
            hint=("every value goes back to the position its index names in a plane of zeros of the output size",
                  "flatten each plane: an index y * W + x is then a position along the last dimension; which tensor "
                  "method writes values at given positions along a dimension?",
                  "write into flattened planes of zeros, one per image and channel, then give the result back its "
                  "four dimensions; the output's height and width come from output_size, not from the input"))


# ---- 08 SegNet ----------------------------------------------------------------------------------

def check_segnet_decoder_block(function: Callable) -> None:
    """function(features (N, C, h, w), indices (N, C, h, w), output_size (H, W), weight (C_out, C, 3, 3),
    bias (C_out,)) -> one SegNet decoder stage: max-unpool with the encoder's indices, then a 3x3 convolution
    ('same' padding) and ReLU. (Batch norm is left out here.)"""
    generator, cases = _generator(80), []
    for n, c, o, (height, width) in [(1, 2, 3, (4, 4)), (2, 3, 2, (6, 8)), (1, 4, 4, (7, 5))]:
        pooled, indices = F.max_pool2d(_randn(generator, n, c, height, width), 2, 2, return_indices=True)
        shape = "x".join(map(str, pooled.shape))
        cases.append((tr("{shape} -> {size}, {channels} channels", shape=shape, size=f"{height}x{width}", channels=o),
                      (pooled, indices, (height, width), _randn(generator, o, c, 3, 3), _randn(generator, o)), {}))

    def reference(features, indices, output_size, weight, bias):
        unpooled = F.max_unpool2d(features, indices, 2, output_size=output_size)  # (N, C, H, W), sparse
        return F.relu(F.conv2d(unpooled, weight, bias, padding=1))  # (N, C_out, H, W), densified

    compare("segnet_decoder_block", function, reference, cases,
            hint=("SegNet's decoder first puts every value back where the encoder found its maximum, then learns to "
                  "fill the zeros around it",
                  "F.max_unpool2d with the indices and output_size, then a 3x3 F.conv2d that keeps the size, then "
                  "ReLU; the order matters",
                  "padding=1 keeps the size of a 3x3 convolution"))


def check_switch_memory(function: Callable) -> None:
    """function(channels, height, width) -> (feature_bytes, switch_bytes): what a skip connection keeps of one
    float32 (C, H, W) map, and what SegNet keeps instead: 2 bits per 2x2 pooling window."""
    cases = [(f"{c}x{h}x{w}", (c, h, w), {}) for c, h, w in [(64, 360, 480), (3, 4, 4), (512, 45, 60), (16, 7, 9)]]

    def reference(channels, height, width):
        features = torch.zeros(channels, height, width, device="meta")  # float32
        windows = F.max_pool2d(features, 2, 2).numel()
        return (features.numel() * features.element_size(), windows * 2 / 8)

    compare("switch_memory", function, reference, cases, check_dtype=False,
            hint=("a float32 value takes 4 bytes; a switch only says which of the 4 positions of its window held "
                  "the maximum",
                  "4 positions need 2 bits; there is one switch per pooling window and channel, and a 2x2 pooling "
                  "with stride 2 of an odd side drops the last row or column",
                  "return a tuple of two numbers: bytes of the features, bytes of the switches (8 bits per byte)"))
