"""Convolution, transposed convolution, max pooling with switches, max unpooling and bilinear
interpolation, written from their definitions. Same signatures as torch.nn.functional.

Each function loops over the taps of the kernel (a handful) and lets tensor indexing do the rest,
so the loop body reads like the formula. Everything is made of differentiable torch operations,
so autograd gives the gradients; the tests compare values and gradients with PyTorch.

Shapes use N (batch), C (channels), H and W (height, width); k (kernel), s (stride), p (padding),
d (dilation).
"""

from __future__ import annotations

import torch
from ..language import tr

__all__ = ["conv2d", "conv_transpose2d", "max_pool2d_with_indices", "max_unpool2d", "interpolate_bilinear",
           "conv_output_size", "conv_transpose_output_size"]

IntPair = int | tuple[int, int]


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) for v in pair):
        raise ValueError(tr("{name} must be an int or a pair of ints, got {value!r}", name=name, value=value))
    return pair  # type: ignore[return-value]


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """floor((size + 2p - d(k-1) - 1) / s) + 1: the number of positions a dilated kernel fits."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv_transpose_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """(size-1)s - 2p + d(k-1) + output_padding + 1: the inverse of conv_output_size, which is many-to-one
    when s > 1, so output_padding (< s) picks which of the candidate sizes to produce."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1,
           padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> torch.Tensor:
    """Cross-correlation, as in every deep-learning library.

    input (N, C_in, H, W), weight (C_out, C_in/groups, kH, kW), bias (C_out,) -> (N, C_out, H', W')
    with H' = conv_output_size(H, kH, s, p, d). output[n, o, y, x] = bias[o] +
    sum over c, i, j of input[n, c, y*s + i*d - p, x*s + j*d - p] * weight[o, c, i, j].
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    batch, in_channels, height, width = input.shape
    out_channels, group_channels, kh, kw = weight.shape
    if in_channels != group_channels * groups:
        raise ValueError(tr("input has {in_channels} channels but weight expects {group_channels} x {groups} groups",
                            in_channels=in_channels, group_channels=group_channels, groups=groups))
    out_h, out_w = conv_output_size(height, kh, sh, ph, dh), conv_output_size(width, kw, sw, pw, dw)
    padded = torch.nn.functional.pad(input, (pw, pw, ph, ph))  # zeros around the border
    # Split the channels into groups: (N, G, C_in/G, H+2p, W+2p) and (G, C_out/G, C_in/G, kH, kW).
    padded = padded.view(batch, groups, group_channels, *padded.shape[2:])
    grouped_weight = weight.view(groups, out_channels // groups, group_channels, kh, kw)
    output = input.new_zeros(batch, groups, out_channels // groups, out_h, out_w)
    for i in range(kh):
        for j in range(kw):
            # The input pixels that tap (i, j) of the kernel sees, for every output position: (N, G, C_in/G, H', W')
            window = padded[..., i * dh: i * dh + sh * (out_h - 1) + 1: sh, j * dw: j * dw + sw * (out_w - 1) + 1: sw]
            output = output + torch.einsum("ngchw,goc->ngohw", window, grouped_weight[..., i, j])
    output = output.reshape(batch, out_channels, out_h, out_w)
    return output if bias is None else output + bias.view(1, -1, 1, 1)


def conv_transpose2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> torch.Tensor:
    """Transposed convolution as scatter-add: every input pixel paints a scaled copy of the kernel.

    input (N, C_in, H, W), weight (C_in, C_out/groups, kH, kW) (note: C_in first, as in PyTorch),
    bias (C_out,) -> (N, C_out, H', W') with H' = conv_transpose_output_size(H, kH, s, p, op, d).
    Input pixel (y, x) adds input[y, x] * kernel[i, j] at (y*s + i*d, x*s + j*d) of a canvas; the
    canvas is then cropped by p on each side (output_padding extends the far side).
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    oph, opw = _pair(output_padding, "output_padding")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(tr("output_padding {output_padding} must be smaller than stride or dilation",
                            output_padding=output_padding))
    batch, in_channels, height, width = input.shape
    weight_in, group_out, kh, kw = weight.shape
    if in_channels != weight_in:
        raise ValueError(tr("input has {in_channels} channels but weight expects {weight_in}",
                            in_channels=in_channels, weight_in=weight_in))
    out_channels = group_out * groups
    grouped_input = input.view(batch, groups, in_channels // groups, height, width)
    grouped_weight = weight.view(groups, in_channels // groups, group_out, kh, kw)
    # The full canvas before cropping the padding: (N, G, C_out/G, (H-1)s + d(kH-1) + 1 + op, ...)
    canvas_h, canvas_w = (height - 1) * sh + dh * (kh - 1) + 1 + oph, (width - 1) * sw + dw * (kw - 1) + 1 + opw
    canvas = input.new_zeros(batch, groups, group_out, canvas_h, canvas_w)
    for i in range(kh):
        for j in range(kw):
            painted = torch.einsum("ngchw,gco->ngohw", grouped_input, grouped_weight[..., i, j])  # (N, G, C_out/G, H, W)
            rows = slice(i * dh, i * dh + sh * (height - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (width - 1) + 1, sw)
            canvas[..., rows, cols] += painted  # tap (i, j) lands d*(i, j) away from s*(y, x)
    output = canvas[..., ph: canvas_h - ph, pw: canvas_w - pw].reshape(batch, out_channels, canvas_h - 2 * ph,
                                                                        canvas_w - 2 * pw)
    return output if bias is None else output + bias.view(1, -1, 1, 1)


def max_pool2d_with_indices(input: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None,
                            padding: IntPair = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Max pooling that also returns the switches: where in the input each maximum came from.

    input (N, C, H, W) -> (values (N, C, H', W'), indices (N, C, H', W') int64), H' = conv_output_size(H, k, s, p).
    An index is the flat position y * W + x in the (unpadded) input plane, as in PyTorch; the first
    maximum in row-major order wins a tie. The padding is -inf, so it is never picked.
    """
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw) = _pair(kernel_size if stride is None else stride, "stride")
    (ph, pw) = _pair(padding, "padding")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(tr("padding {padding} must be at most half the kernel size {kernel_size}",
                            padding=padding, kernel_size=kernel_size))
    batch, channels, height, width = input.shape
    out_h, out_w = conv_output_size(height, kh, sh, ph), conv_output_size(width, kw, sw, pw)
    padded = torch.nn.functional.pad(input, (pw, pw, ph, ph), value=float("-inf"))
    best = input.new_full((batch, channels, out_h, out_w), float("-inf"))
    indices = torch.zeros(batch, channels, out_h, out_w, dtype=torch.long, device=input.device)
    rows = torch.arange(out_h, device=input.device).view(-1, 1) * sh - ph  # (H', 1): top row of each window
    cols = torch.arange(out_w, device=input.device).view(1, -1) * sw - pw  # (1, W'): left column of each window
    for i in range(kh):
        for j in range(kw):
            candidate = padded[..., i: i + sh * (out_h - 1) + 1: sh, j: j + sw * (out_w - 1) + 1: sw]
            better = (candidate > best) | (candidate.isnan() & ~best.isnan())  # strictly greater: first max wins
            best = torch.where(better, candidate, best)
            indices = torch.where(better, (rows + i) * width + (cols + j), indices)
    return best, indices


def max_unpool2d(input: torch.Tensor, indices: torch.Tensor, kernel_size: IntPair, stride: IntPair | None = None,
                 padding: IntPair = 0, output_size: tuple[int, ...] | None = None) -> torch.Tensor:
    """Put each value back where its maximum came from; every other position is zero.

    input and indices (N, C, H, W) -> (N, C, H_out, W_out), by default H_out = (H-1)s - 2p + k, or
    output_size (its last two entries) when the pooled size was odd and the default would be short.
    """
    (kh, kw) = _pair(kernel_size, "kernel_size")
    (sh, sw) = _pair(kernel_size if stride is None else stride, "stride")
    (ph, pw) = _pair(padding, "padding")
    batch, channels, height, width = input.shape
    if indices.shape != input.shape:
        raise ValueError(tr("indices {indices_shape} must have the shape of the input {input_shape}",
                            indices_shape=tuple(indices.shape), input_shape=tuple(input.shape)))
    if output_size is None:
        out_h, out_w = (height - 1) * sh - 2 * ph + kh, (width - 1) * sw - 2 * pw + kw
    else:
        out_h, out_w = (int(v) for v in tuple(output_size)[-2:])
    if indices.numel() and (indices.min() < 0 or indices.max() >= out_h * out_w):
        raise ValueError(tr("indices must lie in [0, {out_h_out_w}) for an output of {out_h}x{out_w}; pass "
                            "output_size if the pooled input had an odd size",
                            out_h_out_w=out_h * out_w, out_h=out_h, out_w=out_w))
    output = input.new_zeros(batch, channels, out_h * out_w)
    # One plane at a time: output[n, c, indices[n, c, y, x]] = input[n, c, y, x]
    output = output.scatter(2, indices.reshape(batch, channels, -1), input.reshape(batch, channels, -1))
    return output.view(batch, channels, out_h, out_w)


def interpolate_bilinear(input: torch.Tensor, size: IntPair, align_corners: bool = False) -> torch.Tensor:
    """Bilinear resizing, as F.interpolate(input, size, mode="bilinear", align_corners=...).

    input (N, C, H, W) -> (N, C, H_out, W_out). Output pixel y reads the input at
    y_src = y * (H-1)/(H_out-1) with align_corners (the corner pixel centres coincide), else
    (y + 0.5) * H/H_out - 0.5 clamped at 0 (the pixel edges coincide); it blends the two rows and the
    two columns around (y_src, x_src) by distance.
    """
    out_h, out_w = _pair(size, "size")
    _, _, height, width = input.shape

    def source(out_size: int, in_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        position = torch.arange(out_size, dtype=torch.float64, device=input.device)
        if align_corners:
            scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
            coordinate = position * scale
        else:
            coordinate = ((position + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)
        low = coordinate.floor().long().clamp(max=in_size - 1)  # the neighbour before ...
        high = (low + 1).clamp(max=in_size - 1)  # ... and after
        return low, high, (coordinate - low).to(input.dtype)  # weight of `high`

    top, bottom, wy = source(out_h, height)
    left, right, wx = source(out_w, width)
    rows = input[:, :, top] * (1 - wy).view(-1, 1) + input[:, :, bottom] * wy.view(-1, 1)  # (N, C, H_out, W)
    return rows[..., left] * (1 - wx) + rows[..., right] * wx  # (N, C, H_out, W_out)
