"""Exercise checks: the learner's function against the PyTorch reference on random cases.

Each `check_<exercise>(function)` calls the learner's function on a few seeded random cases,
compares the result with PyTorch (or with segedu's tested implementation where PyTorch has no
function for it), prints one line on success, and otherwise raises ExerciseFailed with a specific
message: which case, expected vs actual type, shape or dtype, the first mismatching position, and a
hint. A function that raises or returns the wrong type gets a message, never a crashed kernel.
In Jupyter the message is shown without the long traceback (IPython's `_render_traceback_`).
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import ConfusionMatrix

__all__ = ["ExerciseFailed", "compare", "check_pixel_accuracy", "check_confusion_matrix", "check_mean_iou",
           "check_linear_to_conv", "check_pointwise_conv", "check_conv_transpose2d", "check_transposed_output_size",
           "check_transposed_conv_matrix", "check_max_pool2d_with_indices", "check_max_unpool2d", "check_center_crop",
           "check_fcn8s_fuse", "check_receptive_field", "check_depthwise_separable_conv", "check_adaptive_avg_pool2d",
           "check_pyramid_pool", "measured_receptive_field"]


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference; the message says where and how."""

    def _render_traceback_(self) -> list[str]:  # IPython: show the message, not the checker's stack
        return [f"\x1b[31mExerciseFailed: {line}\x1b[0m" if number == 0 else line
                for number, line in enumerate(str(self).splitlines())]


Case = tuple[str, tuple, dict]  # (description, positional arguments, keyword arguments)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    return type(value).__name__


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    return value


def _compare_tensors(actual: Any, expected: torch.Tensor, where: str, atol: float, rtol: float,
                     check_dtype: bool) -> str | None:
    if not isinstance(actual, torch.Tensor):
        return f"{where}: expected a torch.Tensor, got {_describe(actual)}"
    if tuple(actual.shape) != tuple(expected.shape):
        return f"{where}: expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
    if check_dtype and actual.dtype != expected.dtype:
        return f"{where}: expected dtype {expected.dtype}, got {actual.dtype}"
    actual_values, expected_values = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
    close = torch.isclose(actual_values, expected_values, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return None
    first = tuple(int(i) for i in (~close).nonzero()[0])
    return (f"{where}: {int((~close).sum())} of {close.numel()} values differ; first at index {first}: "
            f"expected {expected_values[first].item():.6g}, got {actual_values[first].item():.6g}")


def _compare_results(actual: Any, expected: Any, where: str, atol: float, rtol: float, check_dtype: bool) -> str | None:
    if isinstance(expected, tuple):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"{where}: expected a tuple of {len(expected)} tensors, got {_describe(actual)}"
        for index, (a, e) in enumerate(zip(actual, expected)):
            problem = _compare_results(a, e, f"{where}, element {index}", atol, rtol, check_dtype)
            if problem:
                return problem
        return None
    if isinstance(expected, torch.Tensor):
        return _compare_tensors(actual, expected, where, atol, rtol, check_dtype)
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        return f"{where}: expected a number, got {_describe(actual)}"
    if isinstance(expected, int) and actual != expected:
        return f"{where}: expected {expected}, got {actual}"
    if not math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol) and not (math.isnan(actual) and math.isnan(expected)):
        return f"{where}: expected {expected:.6g}, got {actual:.6g}"
    return None


def compare(name: str, function: Callable, reference: Callable, cases: Sequence[Case], *, hint: str = "",
            atol: float = 1e-5, rtol: float = 1e-4, check_dtype: bool = True) -> None:
    """Run `function` and `reference` on every case; raise ExerciseFailed at the first difference."""
    if not callable(function):
        raise ExerciseFailed(f"{name}: expected a function, got {_describe(function)}")
    for description, args, kwargs in cases:
        expected = reference(*args, **kwargs)
        where = f"{name}({description})"
        try:
            actual = function(*_clone(args), **_clone(kwargs))
        except NotImplementedError:
            raise ExerciseFailed(f"{name} is not implemented yet: replace `raise NotImplementedError` with your "
                                 f"code.\nHint: {hint}") from None
        except Exception as error:  # the learner's bug, reported as a message
            line = traceback.extract_tb(error.__traceback__)[-1]
            raise ExerciseFailed(f"{where} raised {type(error).__name__}: {error}\n  at line {line.lineno}: "
                                 f"{line.line}\nHint: {hint}") from None
        problem = _compare_results(actual, expected, where, atol, rtol, check_dtype)
        if problem:
            raise ExerciseFailed(f"{problem}\nHint: {hint}")
    print(f"✓ {name} matches the reference on {len(cases)} random cases")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)


# ---- 00 Segmentation basics ---------------------------------------------------------------------

def _label_cases(seed: int) -> list[Case]:
    generator, cases = _generator(seed), []
    for batch, size, classes in [(1, (4, 5), 3), (2, (9, 7), 5), (3, (16, 16), 11)]:
        predictions = torch.randint(0, classes, (batch, *size), generator=generator)
        targets = torch.randint(0, classes, (batch, *size), generator=generator)
        targets[torch.rand(targets.shape, generator=generator) < 0.2] = 255
        cases.append((f"{batch}x{size[0]}x{size[1]}, {classes} classes", (predictions, targets),
                      {"num_classes": classes, "ignore_index": 255}))
    return cases


def _confusion(predictions, targets, num_classes, ignore_index):
    return ConfusionMatrix(num_classes, ignore_index=ignore_index).update(predictions, targets).matrix


def check_pixel_accuracy(function: Callable) -> None:
    """function(predictions (N, H, W), targets (N, H, W), ignore_index) -> fraction of labelled pixels right."""
    cases = [(d, a, {"ignore_index": 255}) for d, a, _ in _label_cases(0)]
    compare("pixel_accuracy", function,
            lambda p, t, ignore_index: ConfusionMatrix(256, ignore_index=ignore_index).update(p, t).pixel_accuracy(),
            cases, hint="count only the pixels whose target is not ignore_index, in the numerator and the denominator")


def check_confusion_matrix(function: Callable) -> None:
    """function(predictions, targets, num_classes, ignore_index) -> (K, K) int64, rows = truth, columns = prediction."""
    compare("confusion_matrix", function, _confusion, _label_cases(1),
            hint="matrix[true, predicted] += 1 for each labelled pixel; torch.bincount(true * K + predicted, "
                 "minlength=K*K).view(K, K) does it in one line; the result must be int64")


def check_mean_iou(function: Callable) -> None:
    """function(confusion (K, K)) -> mean over classes present in truth or prediction of TP / (TP + FP + FN)."""
    cases = [(d, (_confusion(*a, **k),), {}) for d, a, k in _label_cases(2)]
    absent = torch.tensor([[5, 1, 0], [2, 7, 0], [0, 0, 0]])  # class 2 never occurs: it must not count as IoU 0
    cases.append(("class 2 absent from truth and prediction", (absent,), {}))
    compare("mean_iou", function, lambda matrix: ConfusionMatrix.from_matrix(matrix).miou(), cases,
            hint="TP is the diagonal, FP the column sum minus TP, FN the row sum minus TP; leave out classes with "
                 "TP + FP + FN = 0 (nanmean)")


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
        cases.append((f"Linear({linear.in_features}, {out_features}) on {in_channels}x{kernel_size}x{kernel_size} "
                      f"windows of a {size[0]}x{size[1]} map", (linear, in_channels, kernel_size, features), {}))

    def sliding_linear(linear, in_channels, kernel_size, features):  # the linear layer applied at every window
        windows = F.unfold(features, kernel_size)  # (N, C k k, windows), flattened in (C, kH, kW) order
        height, width = (s - kernel_size + 1 for s in features.shape[-2:])
        return linear(windows.transpose(1, 2)).transpose(1, 2).reshape(features.shape[0], -1, height, width)

    def convolve(linear, in_channels, kernel_size, features):
        conv = function(linear, in_channels, kernel_size)
        if not isinstance(conv, nn.Module):
            raise TypeError(f"linear_to_conv must return an nn.Conv2d, got {_describe(conv)}")
        with torch.no_grad():
            return conv(features)

    compare("linear_to_conv", convolve, sliding_linear, cases,
            hint="nn.Conv2d(in_channels, linear.out_features, kernel_size); its weight is linear.weight viewed as "
                 "(out, in_channels, k, k) (flatten() ordered the input as C, H, W); copy the bias too")


def check_pointwise_conv(function: Callable) -> None:
    """function(input (N, C_in, H, W), weight (C_out, C_in), bias (C_out,)) -> a 1x1 convolution, (N, C_out, H, W)."""
    generator = _generator(11)
    cases = [(f"{n}x{c}x{h}x{w} -> {o} channels", (_randn(generator, n, c, h, w), _randn(generator, o, c),
                                                    _randn(generator, o)), {})
             for n, c, h, w, o in [(1, 3, 4, 4, 2), (2, 5, 3, 7, 4), (3, 1, 6, 2, 3)]]
    compare("pointwise_conv", function, lambda x, weight, bias: F.conv2d(x, weight[:, :, None, None], bias), cases,
            hint="every pixel's channel vector is multiplied by the same matrix: torch.einsum('nchw,oc->nohw', ...) "
                 "plus bias.view(1, -1, 1, 1)")


# ---- 02 Transposed convolution ------------------------------------------------------------------

def _transpose_cases(seed: int) -> list[Case]:
    generator, cases = _generator(seed), []
    for n, c_in, c_out, size, k, stride, padding, output_padding in [
            (1, 1, 1, (3, 3), 3, 1, 0, 0), (2, 3, 2, (4, 5), 3, 2, 1, 1), (1, 2, 4, (5, 3), 4, 2, 1, 0),
            (2, 2, 3, (3, 4), 2, 3, 0, 2)]:
        cases.append((f"input {n}x{c_in}x{size[0]}x{size[1]}, kernel {k}, stride {stride}, padding {padding}, "
                      f"output_padding {output_padding}",
                      (_randn(generator, n, c_in, *size), _randn(generator, c_in, c_out, k, k)),
                      {"stride": stride, "padding": padding, "output_padding": output_padding}))
    return cases


def check_conv_transpose2d(function: Callable) -> None:
    """function(input, weight (C_in, C_out, k, k), stride, padding, output_padding) -> F.conv_transpose2d's result."""
    compare("conv_transpose2d", function, lambda x, w, **options: F.conv_transpose2d(x, w, **options),
            _transpose_cases(20),
            hint="insert stride-1 zeros between input pixels, pad by k-p-1 (plus output_padding at the bottom and "
                 "right), then convolve with stride 1 using the kernel flipped in both axes and its in/out "
                 "channels swapped: weight.flip(-2, -1).transpose(0, 1)")


def check_transposed_output_size(function: Callable) -> None:
    """function(size, kernel_size, stride, padding, output_padding) -> the output size of a transposed convolution."""
    cases = [(f"size {s}, kernel {k}, stride {st}, padding {p}, output_padding {op}", (s, k, st, p, op), {})
             for s, k, st, p, op in [(4, 3, 1, 0, 0), (7, 4, 2, 1, 0), (7, 3, 2, 1, 1), (5, 16, 8, 4, 0),
                                     (3, 64, 32, 16, 0), (6, 2, 3, 0, 2)]]

    def measured(size, kernel_size, stride, padding, output_padding):
        return F.conv_transpose2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel_size, kernel_size),
                                  stride=stride, padding=padding, output_padding=output_padding).shape[-1]

    compare("transposed_output_size", function, measured, cases,
            hint="each input pixel after the first moves the kernel by `stride`: (size - 1) * stride + kernel_size, "
                 "minus the padding cropped from both sides, plus output_padding")


def check_transposed_conv_matrix(function: Callable) -> None:
    """function(weight (1, 1, k, k), input_size (H, W), stride, padding) -> the matrix C (H'W', HW) with
    conv2d(x).flatten() == C @ x.flatten(). Its transpose C.T then computes conv_transpose2d."""
    generator, cases = _generator(21), []
    for k, size, stride, padding in [(3, (4, 4), 1, 0), (3, (5, 6), 2, 1), (2, (4, 3), 2, 0)]:
        cases.append((f"kernel {k}, input {size[0]}x{size[1]}, stride {stride}, padding {padding}",
                      (_randn(generator, 1, 1, k, k), size, stride, padding), {}))

    def matrix_by_columns(weight, input_size, stride, padding):  # column j = the convolution of basis image j
        basis = torch.eye(input_size[0] * input_size[1]).view(-1, 1, *input_size)
        return F.conv2d(basis, weight, stride=stride, padding=padding).flatten(1).T

    compare("transposed_conv_matrix", function, matrix_by_columns, cases,
            hint="row (y, x) of C holds the kernel weights at the input positions that output (y, x) reads: "
                 "C[y * W' + x, (y*s + i - p) * W + (x*s + j - p)] = weight[0, 0, i, j] where inside the input")


# ---- 03 Unpooling -------------------------------------------------------------------------------

def _pool_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(f"input {n}x{c}x{h}x{w}, kernel {k}, stride {s}", (_randn(generator, n, c, h, w), k, s), {})
            for n, c, h, w, k, s in [(1, 1, 4, 4, 2, 2), (2, 3, 6, 7, 2, 2), (1, 2, 7, 9, 3, 2), (2, 1, 5, 5, 3, 1)]]


def check_max_pool2d_with_indices(function: Callable) -> None:
    """function(input, kernel_size, stride) -> (values, indices): F.max_pool2d(..., return_indices=True)."""
    compare("max_pool2d_with_indices", function,
            lambda x, k, s: F.max_pool2d(x, k, s, return_indices=True), _pool_cases(30),
            hint="an index is the flat position y * W + x of the maximum in its input plane (int64); "
                 "torch.unfold or a loop over the k*k taps keeping the running maximum both work")


def check_max_unpool2d(function: Callable) -> None:
    """function(input (N, C, h, w), indices (N, C, h, w), output_size (H, W)) -> F.max_unpool2d's result."""
    cases = []
    for description, (x, k, s), _ in _pool_cases(31):
        values, indices = F.max_pool2d(x, k, s, return_indices=True)
        cases.append((description, (values, indices, tuple(x.shape[-2:])), {}))
    compare("max_unpool2d", function,
            lambda values, indices, size: F.max_unpool2d(values, indices, 2, output_size=size), cases,
            hint="start from zeros (N, C, H*W), scatter each value to its index along the last dimension "
                 "(Tensor.scatter), then view as (N, C, H, W)")


# ---- 04 Skip connections ------------------------------------------------------------------------

def check_center_crop(function: Callable) -> None:
    """function(features (N, C, H, W), size (h, w)) -> the central h x w window, top = (H - h) // 2."""
    generator = _generator(40)
    cases = [(f"{h}x{w} -> {th}x{tw}", (_randn(generator, 2, 3, h, w), (th, tw)), {})
             for h, w, th, tw in [(8, 8, 4, 4), (9, 7, 6, 6), (5, 12, 5, 3), (64, 64, 56, 56)]]

    def reference(features, size):
        top, left = (features.shape[-2] - size[0]) // 2, (features.shape[-1] - size[1]) // 2
        return features[..., top: top + size[0], left: left + size[1]]

    compare("center_crop", function, reference, cases,
            hint="top = (H - h) // 2 and left = (W - w) // 2, then slice features[..., top:top + h, left:left + w]")


def check_fcn8s_fuse(function: Callable) -> None:
    """function(score32, score16, score8, output_size) -> FCN-8s fusion: upsample score32 bilinearly to
    score16's size and add; upsample that to score8's size and add; upsample to output_size."""
    generator, cases = _generator(41), []
    for k, (h, w) in [(3, (32, 32)), (5, (37, 45)), (2, (97, 131))]:
        sizes = [(-(-h // s), -(-w // s)) for s in (32, 16, 8)]  # ceil: odd sizes do not halve exactly
        scores = [_randn(generator, 2, k, *size) for size in sizes]
        cases.append((f"{k} classes, input {h}x{w}", (*scores, (h, w)), {}))

    def reference(score32, score16, score8, output_size):
        up = lambda x, like: F.interpolate(x, size=like, mode="bilinear", align_corners=False)  # noqa: E731
        fused16 = score16 + up(score32, score16.shape[-2:])  # (N, K, H/16, W/16)
        fused8 = score8 + up(fused16, score8.shape[-2:])  # (N, K, H/8, W/8)
        return up(fused8, output_size)  # (N, K, H, W)

    compare("fcn8s_fuse", function, reference, cases,
            hint="F.interpolate(x, size=target.shape[-2:], mode='bilinear', align_corners=False): resize to the "
                 "next map's exact size (not scale_factor=2) so odd sizes fit, sum, and repeat")


# ---- 05 Atrous convolution ----------------------------------------------------------------------

def measured_receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> int:
    """The receptive field of one output pixel of a stack of convolutions, measured by autograd.

    Builds the stack (along one axis) with all-ones weights, back-propagates from the central output
    pixel and returns the width of the input span with a non-zero gradient. Holes inside a gridded
    field count as inside: the field is the span, as in the formula.
    """
    layers = [nn.Conv2d(1, 1, (1, k), stride=(1, s), dilation=(1, d), bias=False)
              for k, s, d in zip(kernel_sizes, strides, dilations)]
    for layer in layers:
        nn.init.ones_(layer.weight)
    size = 2 * math.prod(strides) * sum(d * k for k, d in zip(kernel_sizes, dilations)) + 1  # generous
    inputs = torch.zeros(1, 1, 1, size, requires_grad=True)
    output = nn.Sequential(*layers)(inputs)  # (1, 1, 1, W')
    output[0, 0, 0, output.shape[-1] // 2].backward()
    touched = inputs.grad[0, 0, 0].nonzero().flatten()
    return int(touched.max() - touched.min() + 1)


def check_receptive_field(function: Callable) -> None:
    """function(kernel_sizes, strides, dilations) -> the receptive field (in input pixels) of a conv stack."""
    cases = [(f"kernels {k}, strides {s}, dilations {d}", (k, s, d), {}) for k, s, d in [
        ([3], [1], [1]), ([3, 3, 3], [1, 1, 1], [1, 1, 1]), ([3, 3], [1, 1], [2, 4]), ([7, 3, 3], [2, 2, 1], [1, 1, 1]),
        ([3, 3, 3, 3], [2, 1, 1, 1], [1, 2, 4, 8]), ([2, 2, 2], [2, 2, 2], [1, 1, 1])]]
    compare("receptive_field", function, lambda k, s, d: measured_receptive_field(k, s, d), cases,
            hint="r = 1; jump = 1; for each layer: r += d * (k - 1) * jump; jump *= stride. The jump is the distance "
                 "in input pixels between neighbouring positions of that layer's input")


def check_depthwise_separable_conv(function: Callable) -> None:
    """function(input (N, C, H, W), depthwise_weight (C, 1, k, k), pointwise_weight (C_out, C, 1, 1), dilation)
    -> depthwise then pointwise convolution, 'same' padding d(k-1)/2."""
    generator, cases = _generator(50), []
    for n, c, o, size, k, d in [(1, 2, 3, (5, 5), 3, 1), (2, 4, 6, (9, 7), 3, 2), (1, 3, 2, (8, 8), 5, 1)]:
        cases.append((f"{n}x{c}x{size[0]}x{size[1]}, kernel {k}, dilation {d}, {o} output channels",
                      (_randn(generator, n, c, *size), _randn(generator, c, 1, k, k), _randn(generator, o, c, 1, 1), d),
                      {}))

    def reference(x, depthwise_weight, pointwise_weight, dilation):
        padding = dilation * (depthwise_weight.shape[-1] - 1) // 2
        depthwise = F.conv2d(x, depthwise_weight, padding=padding, dilation=dilation, groups=x.shape[1])
        return F.conv2d(depthwise, pointwise_weight)

    compare("depthwise_separable_conv", function, reference, cases,
            hint="depthwise: F.conv2d(..., groups=C) so each channel has its own k x k filter; then a 1x1 F.conv2d "
                 "with the pointwise weight mixes the channels")


# ---- 06 Pyramid pooling -------------------------------------------------------------------------

def _pyramid_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(f"{n}x{c}x{h}x{w}", (_randn(generator, n, c, h, w),), {}) for n, c, h, w in
            [(1, 2, 6, 6), (2, 3, 7, 9), (1, 1, 13, 5), (1, 2, 4, 4)]]


def check_adaptive_avg_pool2d(function: Callable) -> None:
    """function(input (N, C, H, W), bins) -> (N, C, bins, bins) as F.adaptive_avg_pool2d(input, bins)."""
    cases = [(f"{d}, {bins} bins", args, {"bins": bins}) for d, args, _ in _pyramid_cases(60) for bins in (1, 2, 3, 6)]
    compare("adaptive_avg_pool2d", function, lambda x, bins: F.adaptive_avg_pool2d(x, bins), cases,
            hint="bin i covers rows floor(i * H / bins) to ceil((i + 1) * H / bins) (exclusive); bins may overlap "
                 "when H is not a multiple of bins, and repeat rows when H < bins")


def check_pyramid_pool(function: Callable) -> None:
    """function(features (N, C, H, W), bins) -> (N, C (1 + len(bins)), H, W): the features, then for each bin
    count the adaptive average pooled map upsampled bilinearly (align_corners=False) back to H x W."""
    cases = [(f"{d}, bins {bins}", args, {"bins": bins}) for d, args, _ in _pyramid_cases(61)
             for bins in ((1, 2, 3, 6), (1, 3))]

    def reference(features, bins):
        size = features.shape[-2:]
        return torch.cat([features] + [F.interpolate(F.adaptive_avg_pool2d(features, b), size=size, mode="bilinear",
                                                     align_corners=False) for b in bins], dim=1)

    compare("pyramid_pool", function, reference, cases,
            hint="torch.cat([features] + [upsampled pooled maps], dim=1); F.adaptive_avg_pool2d(features, b) pools, "
                 "F.interpolate(..., size=features.shape[-2:], mode='bilinear', align_corners=False) upsamples")
