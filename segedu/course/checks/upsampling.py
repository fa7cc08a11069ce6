"""Checks of learned and fixed upsampling: the transposed convolution (notebook 02), and FCN's bilinear kernel
and score upsampling (notebook 07).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..messages import tr
from .harness import Case, _generator, _randn, compare


# ---- 02 Transposed convolution ------------------------------------------------------------------

def _transpose_cases(seed: int) -> list[Case]:
    generator, cases = _generator(seed), []
    for n, c_in, c_out, size, k, stride, padding, output_padding in [
            (1, 1, 1, (3, 3), 3, 1, 0, 0), (2, 3, 2, (4, 5), 3, 2, 1, 1), (1, 2, 4, (5, 3), 4, 2, 1, 0),
            (2, 2, 3, (3, 4), 2, 3, 0, 2)]:
        cases.append((tr("input {shape}, kernel {kernel}, stride {stride}, padding {padding}, output_padding {extra}",
                         shape=f"{n}x{c_in}x{size[0]}x{size[1]}", kernel=k, stride=stride, padding=padding,
                         extra=output_padding),
                      (_randn(generator, n, c_in, *size), _randn(generator, c_in, c_out, k, k)),
                      {"stride": stride, "padding": padding, "output_padding": output_padding}))
    return cases


def check_conv_transpose2d(function: Callable) -> None:
    """function(input, weight (C_in, C_out, k, k), stride, padding, output_padding) -> F.conv_transpose2d's result."""
    compare("conv_transpose2d", function, lambda x, w, **options: F.conv_transpose2d(x, w, **options),
            _transpose_cases(20),
            hint=("follow view 2 of this notebook: zeros between the input pixels, padding, then an ordinary "
                  "convolution with stride 1",
                  "insert stride - 1 zeros between neighbouring pixels, pad each side by kernel_size - 1 - padding, "
                  "and add output_padding rows and columns at the bottom and right only",
                  "the ordinary convolution needs the kernel turned by 180 degrees, and conv2d wants its weight as "
                  "(C_out, C_in, k, k) while this one is (C_in, C_out, k, k): which two tensor methods fix that?"))


def check_transposed_output_size(function: Callable) -> None:
    """function(size, kernel_size, stride, padding, output_padding) -> the output size of a transposed convolution."""
    cases = [(f"size {s}, kernel {k}, stride {st}, padding {p}, output_padding {op}", (s, k, st, p, op), {})
             for s, k, st, p, op in [(4, 3, 1, 0, 0), (7, 4, 2, 1, 0), (7, 3, 2, 1, 1), (5, 16, 8, 4, 0),
                                     (3, 64, 32, 16, 0), (6, 2, 3, 0, 2)]]

    def measured(size, kernel_size, stride, padding, output_padding):
        return F.conv_transpose2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel_size, kernel_size),
                                  stride=stride, padding=padding, output_padding=output_padding).shape[-1]

    compare("transposed_output_size", function, measured, cases,
            hint=("the first input pixel paints a whole kernel; each further pixel moves the painting by `stride`",
                  "without padding the painted canvas is (size - 1) * stride + kernel_size wide; padding is then "
                  "cropped from both sides, and output_padding added on one side"))


def check_convolution_matrix(function: Callable) -> None:
    """function(weight (1, 1, k, k), input_size (H, W), stride, padding) -> the matrix C (H'W', HW) with
    conv2d(x).flatten() == C @ x.flatten(). Its transpose C.T then computes conv_transpose2d."""
    generator, cases = _generator(21), []
    for k, size, stride, padding in [(3, (4, 4), 1, 0), (3, (5, 6), 2, 1), (2, (4, 3), 2, 0)]:
        cases.append((tr("kernel {kernel}, input {size}, stride {stride}, padding {padding}", kernel=k,
                         size=f"{size[0]}x{size[1]}", stride=stride, padding=padding),
                      (_randn(generator, 1, 1, k, k), size, stride, padding), {}))

    def matrix_by_columns(weight, input_size, stride, padding):  # column j = the convolution of basis image j
        basis = torch.eye(input_size[0] * input_size[1]).view(-1, 1, *input_size)
        return F.conv2d(basis, weight, stride=stride, padding=padding).flatten(1).T

    compare("convolution_matrix", function, matrix_by_columns, cases,
            hint=("row r of C belongs to output pixel r (flattened row by row); its non-zero entries are the kernel "
                  "weights, placed at the input pixels that output pixel reads",
                  "output (y, x) reads a window that starts s times further along than y and x, shifted back by the "
                  "padding; kernel tap (i, j) lies i rows and j columns into that window; skip taps in the padding",
                  "to check your matrix, not to build it: its column j must equal the convolution of the image that "
                  "is 1 at pixel j and 0 elsewhere"))


# ---- 07 FCN -------------------------------------------------------------------------------------

def check_bilinear_kernel(function: Callable) -> None:
    """function(channels, kernel_size) -> (channels, channels, k, k): FCN's bilinear upsampling weights, a tent
    filter on the diagonal channel pairs (class c upsamples class c), zero elsewhere."""
    from ...layers import bilinear_kernel

    cases = [(tr("{channels} channels, kernel {kernel}", channels=c, kernel=k), (c, k), {})
             for c, k in [(1, 4), (3, 4), (2, 16), (2, 3), (1, 64)]]
    compare("bilinear_kernel", function, lambda c, k: bilinear_kernel(c, c, k), cases,
            hint=("each class is upsampled on its own: only the weights from class c to class c are non-zero, and "
                  "they form a tent, highest at the centre and falling linearly to the edges",
                  "per axis the tent is 1 at its centre and falls linearly to 0 one factor away, factor = "
                  "(k + 1) // 2; for odd k the centre is a pixel, for even k it lies between the two middle pixels; "
                  "the 2-D kernel is the outer product of two tents",
                  "start from zeros (c, c, k, k) and fill weight[i, i] for every channel i"))


def check_upsample_scores(function: Callable) -> None:
    """function(scores (N, K, h, w), factor) -> (N, K, factor h, factor w): FCN's final upsampling, a transposed
    convolution with stride factor and fixed bilinear weights, per class (the reference:
    `segedu.models.fcn.FixedBilinearUpsampling`)."""
    from ...models.fcn import FixedBilinearUpsampling

    generator = _generator(70)
    cases = [(f"{n}x{k}x{h}x{w}, factor {f}", (_randn(generator, n, k, h, w), f), {})
             for n, k, h, w, f in [(1, 2, 3, 4, 2), (2, 3, 5, 4, 8), (1, 11, 4, 5, 32), (2, 1, 6, 6, 16)]]
    compare("upsample_scores", function,
            lambda scores, factor: FixedBilinearUpsampling(scores.shape[1], factor)(scores), cases,
            hint=("a transposed convolution with stride `factor` paints one bilinear tent per score; which kernel "
                  "size and padding make the output exactly factor times larger?",
                  "the tent spans 2 * factor pixels; which padding p makes (h - 1) * factor - 2p + 2 * factor equal "
                  "h * factor? The weights are the bilinear kernel of your previous exercise",
                  "one filter per class: a (K, 1, k, k) weight with groups=K, or the (K, K, k, k) diagonal one"),
            atol=1e-4)
