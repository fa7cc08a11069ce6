"""Exercise checks: the learner's function against the PyTorch reference on random cases.

Each `check_<exercise>(function)` calls the learner's function on a few seeded random cases,
compares the result with PyTorch (or with segedu's tested implementation where PyTorch has no
function for it), prints one line on success, and otherwise raises ExerciseFailed with a specific
message: which case, expected vs actual type, shape or dtype, the first mismatching position, and a
hint. A function that raises or returns the wrong type gets a message, never a crashed kernel.
In Jupyter the message is shown without the long traceback (IPython's `_render_traceback_`).

The checks also catch what a comparison of outputs alone would miss:

- a function that changes its inputs in place (the damage would show up cells later): refused, naming the argument;
- a function that never returns: stopped after `TIME_LIMIT` seconds with a message (Jupyter's interrupt still works);
- an error raised inside torch: the message quotes the learner's own line that called it, not torch's;
- hints escalate: the first failure nudges, each further failure of the same exercise says more, and no hint pastes
  the answer.

The cases include the traps learners fall into: an ignore index other than 255, a class that is predicted but never
true, a class that never occurs, class pairs that never occur (bincount without minlength), ties in max pooling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import copy
import math
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..measure import measured_receptive_field
from ..metrics import ConfusionMatrix

__all__ = ["ExerciseFailed", "compare", "check_pixel_accuracy", "check_confusion_matrix", "check_mean_iou",
           "check_linear_to_conv", "check_pointwise_conv", "check_conv_transpose2d", "check_transposed_output_size",
           "check_transposed_conv_matrix", "check_max_pool2d_with_indices", "check_max_unpool2d", "check_center_crop",
           "check_fcn8s_fuse", "check_receptive_field", "check_depthwise_separable_conv", "check_adaptive_avg_pool2d",
           "check_pyramid_pool", "Concept", "CONCEPTS", "check_concept",
           "check_bilinear_kernel", "check_upsample_scores", "check_segnet_decoder_block", "check_switch_memory",
           "check_border_weight_map", "check_weighted_cross_entropy", "check_aspp_branches", "check_mean_field_step",
           "check_trainable_parameters", "check_discriminative_groups", "check_conv_parameters",
           "check_conv_multiply_adds"]


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference; the message says where and how."""

    def _render_traceback_(self) -> list[str]:  # IPython: show the message, not the checker's stack
        return [f"\x1b[31mExerciseFailed: {line}\x1b[0m" if number == 0 else line
                for number, line in enumerate(str(self).splitlines())]


Case = tuple[str, tuple, dict]  # (description, positional arguments, keyword arguments)
Hints = str | Sequence[str]  # one hint, or hints that say more on each repeated failure

TIME_LIMIT = 20.0  # seconds one call of the learner's function may take before the check stops it
_FAILURES: dict[str, int] = {}  # failures per exercise in this session: the hints escalate with them


class _TimeUp(BaseException):  # not an Exception: a learner's `except Exception` must not swallow it
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _TimeUp in the calling (main) thread after `seconds`; elsewhere, or without SIGALRM, no limit."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(number, frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def hint_for(name: str, hints: Hints) -> str:
    """The hint for this failure of exercise `name`: the first one the first time, then each next one."""
    hints = [hints] if isinstance(hints, str) else list(hints)
    if not hints or not hints[0]:
        return ""
    count = _FAILURES.get(name, 0)
    _FAILURES[name] = count + 1
    level = min(count, len(hints) - 1)
    more = f" [hint {level + 1} of {len(hints)}: fail again for the next]" if level < len(hints) - 1 else ""
    return f"\nHint: {hints[level]}{more}"


_NOT_LEARNER = (str(Path(__file__).resolve().parent), str(Path(torch.__file__).resolve().parent),
                str(Path(contextlib.__file__).resolve().parent))


def _learner_line(error: BaseException) -> str:
    """Where in the learner's own code `error` happened: their last frame, not torch's or the checker's."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not str(Path(frame.filename).resolve()).startswith(_NOT_LEARNER)
           and "site-packages" not in frame.filename]
    frame = own[-1] if own else frames[-1]
    inside = "" if frame is frames[-1] else f" (the error itself came from {Path(frames[-1].filename).parent.name}/)"
    return f"your line {frame.lineno}: {(frame.line or '').strip()}{inside}"


def _changed(before: Any, after: Any, where: str) -> str | None:
    """Where `after` (what the learner's function received) no longer equals `before` (a copy taken earlier)."""
    if isinstance(before, torch.Tensor):
        same = (isinstance(after, torch.Tensor) and before.shape == after.shape and before.dtype == after.dtype
                and bool(torch.equal(before.nan_to_num(0.0), after.nan_to_num(0.0)) if before.is_floating_point()
                         else torch.equal(before, after)))
        return None if same else where
    if isinstance(before, nn.Module):
        for (name, value), (_, other) in zip(before.state_dict().items(), after.state_dict().items()):
            if not torch.equal(value, other):
                return f"{where} ({name})"
        return None
    if isinstance(before, (list, tuple)):
        if len(before) != len(after):
            return where
        for index, (a, b) in enumerate(zip(before, after)):
            found = _changed(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(before, dict):
        return next(filter(None, (_changed(before[key], after.get(key), f"{where}[{key!r}]") for key in before)), None)
    return None if before == after else where


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    return type(value).__name__


def _clone(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, nn.Module):
        return copy.deepcopy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v) for v in value)
    if isinstance(value, dict):
        return {key: _clone(v) for key, v in value.items()}
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


def _argument_name(position: int | str) -> str:
    return f"argument {position + 1}" if isinstance(position, int) else f"argument {position}="


def compare(name: str, function: Callable, reference: Callable, cases: Sequence[Case], *, hint: Hints = "",
            atol: float = 1e-5, rtol: float = 1e-4, check_dtype: bool = True, pure: bool = True,
            time_limit: float | None = None) -> None:
    """Run `function` and `reference` on every case; raise ExerciseFailed at the first difference.

    `pure`: the function must leave its arguments unchanged. `time_limit` (default TIME_LIMIT): seconds per call.
    `hint`: one hint, or a sequence that says more on each repeated failure of this exercise."""
    if not callable(function):
        raise ExerciseFailed(f"{name}: expected a function, got {_describe(function)}")
    limit = TIME_LIMIT if time_limit is None else time_limit
    for description, args, kwargs in cases:
        expected = reference(*_clone(args), **_clone(kwargs))
        where = f"{name}({description})"
        given_args, given_kwargs = _clone(args), _clone(kwargs)
        try:
            with _time_limit(limit):
                actual = function(*given_args, **given_kwargs)
        except NotImplementedError:
            raise ExerciseFailed(f"{name} is not implemented yet: replace `raise NotImplementedError` with your "
                                 f"code.{hint_for(name, hint)}") from None
        except _TimeUp:
            raise ExerciseFailed(f"{where} did not return within {limit:g} s: look for a loop whose condition never "
                                 f"changes, or a loop over every pixel where a tensor operation would "
                                 f"do.{hint_for(name, hint)}") from None
        except Exception as error:  # the learner's bug, reported as a message
            raise ExerciseFailed(f"{where} raised {type(error).__name__}: {error}\n  at {_learner_line(error)}"
                                 f"{hint_for(name, hint)}") from None
        if pure:
            changed = next(filter(None, [_changed(args[i], given_args[i], _argument_name(i)) for i in range(len(args))]
                                  + [_changed(kwargs[k], given_kwargs[k], _argument_name(k)) for k in kwargs]), None)
            if changed:
                raise ExerciseFailed(f"{where} changed its input ({changed}) in place. The caller still needs it: "
                                     f"work on a copy (x = x.clone()) or write x = x + 1 instead of x += 1.")
        problem = _compare_results(actual, expected, where, atol, rtol, check_dtype)
        if problem:
            raise ExerciseFailed(f"{problem}{hint_for(name, hint)}")
    _FAILURES.pop(name, None)
    print(f"✓ {name} matches the reference on {len(cases)} case{'' if len(cases) == 1 else 's'}")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)


# ---- 00 Segmentation basics ---------------------------------------------------------------------

def _label_cases(seed: int) -> list[Case]:
    """Random labels with 20% ignored; also an ignore index other than 255 (-1, and one equal to the class count),
    and classes that never occur at all (so some class pairs are absent: bincount needs minlength)."""
    generator, cases = _generator(seed), []
    for batch, size, classes, occurring, ignore_index in [(1, (4, 5), 3, 3, 255), (2, (9, 7), 5, 5, 255),
                                                         (3, (16, 16), 11, 11, 255), (2, (6, 8), 4, 4, -1),
                                                         (1, (7, 6), 5, 5, 5), (2, (5, 9), 6, 4, 255)]:
        predictions = torch.randint(0, occurring, (batch, *size), generator=generator)
        targets = torch.randint(0, occurring, (batch, *size), generator=generator)
        targets[torch.rand(targets.shape, generator=generator) < 0.2] = ignore_index
        note = f", classes {occurring}-{classes - 1} never occur" if occurring < classes else ""
        cases.append((f"{batch}x{size[0]}x{size[1]}, {classes} classes, ignore_index {ignore_index}{note}",
                      (predictions, targets), {"num_classes": classes, "ignore_index": ignore_index}))
    return cases


def _confusion(predictions, targets, num_classes, ignore_index):
    return ConfusionMatrix(num_classes, ignore_index=ignore_index).update(predictions, targets).matrix


def check_pixel_accuracy(function: Callable) -> None:
    """function(predictions (N, H, W), targets (N, H, W), ignore_index) -> fraction of labelled pixels right."""
    cases = [(d, a, {"ignore_index": k["ignore_index"]}) for d, a, k in _label_cases(0)]
    compare("pixel_accuracy", function,
            lambda p, t, ignore_index: ConfusionMatrix(256, ignore_index=ignore_index).update(p, t).pixel_accuracy(),
            cases, hint=("which pixels have a label at all? Compare the targets with the ignore_index argument",
                         "build one boolean mask of the labelled pixels and use it in the numerator and the "
                         "denominator alike; do not assume the ignore index is 255",
                         "correct = (predictions == targets) & labelled; the fraction is correct.sum() / "
                         "labelled.sum() as a float"))


def check_confusion_matrix(function: Callable) -> None:
    """function(predictions, targets, num_classes, ignore_index) -> (K, K) int64, rows = truth, columns = prediction."""
    compare("confusion_matrix", function, _confusion, _label_cases(1),
            hint=("each labelled pixel adds 1 at row = its true class, column = its predicted class; pixels whose "
                  "target is ignore_index (whatever its value) are left out",
                  "a pair (true, predicted) can be numbered true * K + predicted, and torch.bincount counts numbers; "
                  "a class that never occurs must still get its row and column",
                  "bincount's result is only as long as the largest number it saw unless you give it minlength; "
                  "the result must be int64 of shape (K, K)"))


def check_mean_iou(function: Callable) -> None:
    """function(confusion (K, K)) -> mean over classes present in truth or prediction of TP / (TP + FP + FN)."""
    cases = [(d, (_confusion(*a, **k),), {}) for d, a, k in _label_cases(2)]
    absent = torch.tensor([[5, 1, 0], [2, 7, 0], [0, 0, 0]])  # class 2 never occurs: it must not count as IoU 0
    cases.append(("class 2 absent from truth and prediction", (absent,), {}))
    false_alarm = torch.tensor([[5, 1, 2], [2, 7, 1], [0, 0, 0]])  # class 2 predicted, never true: IoU 0, counted
    cases.append(("class 2 predicted 3 times but never true", (false_alarm,), {}))
    compare("mean_iou", function, lambda matrix: ConfusionMatrix.from_matrix(matrix).miou(), cases,
            hint=("per class, IoU = TP / (TP + FP + FN); where in the matrix are the true positives, the false "
                  "positives (predicted as the class) and the false negatives (truly the class)?",
                  "TP is the diagonal; FP and FN come from the column and row sums. Which classes should the mean "
                  "skip? Only those that occur in neither the truth nor the prediction",
                  "a class that is predicted but never true has IoU 0 and counts; a class with TP + FP + FN = 0 "
                  "gives 0 / 0: leave it out (torch.nanmean)"))


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
            hint=("the convolution must compute, at every k x k window, what the Linear layer computes on the "
                  "flattened window: same number of outputs, same weights, same bias",
                  "a Linear weight is (out, C * k * k); flatten() ordered each window as channels, then rows, then "
                  "columns, which is the order of a convolution weight's last three axes",
                  "create nn.Conv2d(in_channels, out, kernel_size) and copy the reshaped weight and the bias into it "
                  "under torch.no_grad()"))


def check_pointwise_conv(function: Callable) -> None:
    """function(input (N, C_in, H, W), weight (C_out, C_in), bias (C_out,)) -> a 1x1 convolution, (N, C_out, H, W)."""
    generator = _generator(11)
    cases = [(f"{n}x{c}x{h}x{w} -> {o} channels", (_randn(generator, n, c, h, w), _randn(generator, o, c),
                                                    _randn(generator, o)), {})
             for n, c, h, w, o in [(1, 3, 4, 4, 2), (2, 5, 3, 7, 4), (3, 1, 6, 2, 3)]]
    compare("pointwise_conv", function, lambda x, weight, bias: F.conv2d(x, weight[:, :, None, None], bias), cases,
            hint=("a 1x1 convolution treats every pixel on its own: each output channel is a weighted sum of that "
                  "pixel's input channels, plus a bias",
                  "that is one matrix (C_out, C_in) applied to every pixel's vector of C_in values; torch.einsum lets "
                  "you name the axes of the input (n, c, h, w) and of the weight, and say which one is summed",
                  "the bias has one value per output channel: reshape it so it broadcasts over N, H and W"))


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
            hint=("row r of C belongs to output pixel r (flattened row by row); its non-zero entries are the kernel "
                  "weights, placed at the input pixels that output pixel reads",
                  "output (y, x) reads input (y*s + i - p, x*s + j - p) with weight[0, 0, i, j]; skip taps that fall "
                  "into the padding",
                  "another way to get the same matrix: column j is the convolution of the image that is 1 at pixel j "
                  "and 0 elsewhere"))


# ---- 03 Unpooling -------------------------------------------------------------------------------

def _pool_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(f"input {n}x{c}x{h}x{w}, kernel {k}, stride {s}", (_randn(generator, n, c, h, w), k, s), {})
            for n, c, h, w, k, s in [(1, 1, 4, 4, 2, 2), (2, 3, 6, 7, 2, 2), (1, 2, 7, 9, 3, 2), (2, 1, 5, 5, 3, 1)]]


def check_max_pool2d_with_indices(function: Callable) -> None:
    """function(input, kernel_size, stride) -> (values, indices): F.max_pool2d(..., return_indices=True)."""
    generator, cases = _generator(32), _pool_cases(30)
    for n, c, h, w, k, s in [(1, 1, 4, 4, 2, 2), (2, 2, 7, 6, 3, 2)]:  # values 0-2: most windows hold a tie
        cases.append((f"input {n}x{c}x{h}x{w} with ties (values 0, 1, 2), kernel {k}, stride {s}",
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
    for description, (x, k, s), _ in _pool_cases(31):
        values, indices = F.max_pool2d(x, k, s, return_indices=True)
        cases.append((description, (values, indices, tuple(x.shape[-2:])), {}))
    compare("max_unpool2d", function,
            lambda values, indices, size: F.max_unpool2d(values, indices, 2, output_size=size), cases,
            hint=("every value goes back to the position its index names in a plane of zeros of the output size",
                  "flatten each plane: an index y * W + x is then a position along the last dimension; which tensor "
                  "method writes values at given positions along a dimension?",
                  "start from zeros (N, C, H * W), write with Tensor.scatter along the last dimension, and view the "
                  "result as (N, C, H, W)"))


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
            hint=("the crop keeps the centre: as many rows are dropped above as below (one more below when the "
                  "difference is odd)",
                  "top = (H - h) // 2 and the same for left; then slice the last two dimensions"))


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
            hint=("FCN-8s adds scores: bring the coarser map to the next map's size, add, repeat, then upsample to "
                  "the output",
                  "on odd input sizes a 2x upsampling does not land on the next map's size: resize to that map's "
                  "exact size instead of by a factor",
                  "F.interpolate with size= and mode='bilinear', align_corners=False, as the reference does"))


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
        cases.append((f"{n}x{c}x{size[0]}x{size[1]}, kernel {k}, dilation {d}, {o} output channels",
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


# ---- 06 Pyramid pooling -------------------------------------------------------------------------

def _pyramid_cases(seed: int) -> list[Case]:
    generator = _generator(seed)
    return [(f"{n}x{c}x{h}x{w}", (_randn(generator, n, c, h, w),), {}) for n, c, h, w in
            [(1, 2, 6, 6), (2, 3, 7, 9), (1, 1, 13, 5), (1, 2, 4, 4)]]


def check_adaptive_avg_pool2d(function: Callable) -> None:
    """function(input (N, C, H, W), bins) -> (N, C, bins, bins) as F.adaptive_avg_pool2d(input, bins)."""
    cases = [(f"{d}, {bins} bins", args, {"bins": bins}) for d, args, _ in _pyramid_cases(60) for bins in (1, 2, 3, 6)]
    compare("adaptive_avg_pool2d", function, lambda x, bins: F.adaptive_avg_pool2d(x, bins), cases,
            hint=("each of the bins x bins cells averages one window of the input; the windows cover the whole map "
                  "and may overlap when H is not a multiple of bins",
                  "bin i covers rows floor(i * H / bins) up to ceil((i + 1) * H / bins), exclusive; likewise columns"))


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
            hint=("the output stacks, along the channels, the features themselves and one pooled-and-upsampled copy "
                  "per bin count",
                  "pool with F.adaptive_avg_pool2d, bring each back to H x W with bilinear interpolation "
                  "(align_corners=False), then concatenate along dimension 1"))



# ---- 07 FCN -------------------------------------------------------------------------------------

def check_bilinear_kernel(function: Callable) -> None:
    """function(channels, kernel_size) -> (channels, channels, k, k): FCN's bilinear upsampling weights, a tent
    filter on the diagonal channel pairs (class c upsamples class c), zero elsewhere."""
    from ..layers import bilinear_kernel

    cases = [(f"{c} channels, kernel {k}", (c, k), {}) for c, k in [(1, 4), (3, 4), (2, 16), (2, 3), (1, 64)]]
    compare("bilinear_kernel", function, lambda c, k: bilinear_kernel(c, c, k), cases,
            hint=("each class is upsampled on its own: only the weights from class c to class c are non-zero, and "
                  "they form a tent, highest at the centre and falling linearly to the edges",
                  "per axis the tent is 1 - |x - centre| / factor, with factor = (k + 1) // 2; the centre is factor - 1 "
                  "for odd k and factor - 0.5 for even k; the 2-D kernel is the outer product of two tents",
                  "start from zeros (c, c, k, k) and fill weight[i, i] for every channel i"))


def check_upsample_scores(function: Callable) -> None:
    """function(scores (N, K, h, w), factor) -> (N, K, factor h, factor w): FCN's final upsampling, a transposed
    convolution with kernel 2 factor, stride factor, padding factor // 2 and fixed bilinear weights, per class."""
    from ..models.fcn import FixedBilinearUpsampling

    generator = _generator(70)
    cases = [(f"{n}x{k}x{h}x{w}, factor {f}", (_randn(generator, n, k, h, w), f), {})
             for n, k, h, w, f in [(1, 2, 3, 4, 2), (2, 3, 5, 4, 8), (1, 11, 4, 5, 32), (2, 1, 6, 6, 16)]]
    compare("upsample_scores", function,
            lambda scores, factor: FixedBilinearUpsampling(scores.shape[1], factor)(scores), cases,
            hint=("a transposed convolution with stride `factor` paints one bilinear tent per score; which kernel "
                  "size and padding make the output exactly factor times larger?",
                  "kernel 2 * factor, stride factor, padding factor // 2; the weights are the bilinear kernel of your "
                  "previous exercise (or segedu.layers.bilinear_kernel)",
                  "one filter per class: a (K, 1, k, k) weight with groups=K, or the (K, K, k, k) diagonal one"),
            atol=1e-4)


# ---- 08 SegNet ----------------------------------------------------------------------------------

def check_segnet_decoder_block(function: Callable) -> None:
    """function(features (N, C, h, w), indices (N, C, h, w), output_size (H, W), weight (C_out, C, 3, 3),
    bias (C_out,)) -> one SegNet decoder stage: max-unpool with the encoder's indices, then a 3x3 convolution
    ('same' padding) and ReLU. (Batch norm is left out here.)"""
    generator, cases = _generator(80), []
    for n, c, o, (height, width) in [(1, 2, 3, (4, 4)), (2, 3, 2, (6, 8)), (1, 4, 4, (7, 5))]:
        pooled, indices = F.max_pool2d(_randn(generator, n, c, height, width), 2, 2, return_indices=True)
        cases.append((f"{n}x{c}x{pooled.shape[-2]}x{pooled.shape[-1]} -> {height}x{width}, {o} channels",
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


# ---- 09 U-Net -----------------------------------------------------------------------------------

def _cell_masks(seed: int) -> list[torch.Tensor]:
    generator, masks = _generator(seed), []
    for height, width, cells in [(12, 14, 2), (16, 16, 3), (10, 20, 4)]:
        mask = torch.zeros(height, width, dtype=torch.int64)
        for _ in range(cells):
            top = int(torch.randint(0, height - 3, (), generator=generator))
            left = int(torch.randint(0, width - 3, (), generator=generator))
            mask[top: top + 3, left: left + 3] = 1
        masks.append(mask)
    return masks


def check_border_weight_map(function: Callable) -> None:
    """function(mask (H, W) of 0 background / 1 cell, w0, sigma) -> (H, W) float32, U-Net's equation 2:
    w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2)); w_c balances the class frequencies (each class weighs the
    inverse of its pixel share, scaled so the mean weight is 1); d1, d2: distances to the nearest and the second
    nearest cell (connected components). With fewer than two cells only w_c."""
    from ..losses import border_weight_map

    cases = [(f"{tuple(mask.shape)} mask, {int(mask.sum())} cell pixels, w0 {w0}, sigma {sigma}", (mask, w0, sigma), {})
             for mask, (w0, sigma) in zip(_cell_masks(90), [(10.0, 5.0), (10.0, 2.0), (5.0, 3.0)])]
    single = torch.zeros(8, 8, dtype=torch.int64)
    single[2:5, 2:5] = 1
    cases.append(("one cell only: no border term", (single, 10.0, 5.0), {}))
    compare("border_weight_map", function, lambda mask, w0, sigma: border_weight_map(mask, w0=w0, sigma=sigma), cases,
            hint=("two terms: a class-balancing weight per pixel, and a bump that is large where two cells come close",
                  "label the cells with connected_components; for every pixel compute its distance to each cell, "
                  "keep the smallest two (torch.cdist and topk help), and apply the exponential with 2 sigma^2",
                  "class weights: count the pixels of each class; weight = total / (count * number of classes "
                  "present), so the mean weight is 1"), atol=1e-4)


def check_weighted_cross_entropy(function: Callable) -> None:
    """function(logits (N, K, H, W), masks (N, H, W), weights (N, H, W)) -> scalar: the per-pixel cross-entropy
    weighted by `weights`, divided by the sum of the weights (pixels labelled 255 count 0)."""
    from ..losses import weighted_cross_entropy

    generator, cases = _generator(91), []
    for n, k, (height, width) in [(1, 2, (4, 5)), (2, 3, (6, 6)), (2, 2, (8, 3))]:
        masks = torch.randint(0, k, (n, height, width), generator=generator)
        masks[torch.rand(masks.shape, generator=generator) < 0.1] = 255
        weights = torch.rand(n, height, width, generator=generator) * 5
        cases.append((f"{n}x{k}x{height}x{width}", (_randn(generator, n, k, height, width), masks, weights), {}))
    compare("weighted_cross_entropy", function, weighted_cross_entropy, cases,
            hint=("each pixel's cross-entropy counts as often as its weight says; the result is a weighted mean",
                  "F.cross_entropy(..., reduction='none', ignore_index=255) gives one loss per pixel; multiply by the "
                  "weights, then divide by the total weight, not by the number of pixels"))


# ---- 10 PSPNet and DeepLab ----------------------------------------------------------------------

def check_aspp_branches(function: Callable) -> None:
    """function(features (N, C, H, W), weights [(C_out, C, 3, 3) per rate], rates) -> (N, C_out * len(rates), H, W):
    ASPP's atrous branches, each a 3x3 convolution with dilation = padding = rate, concatenated along channels."""
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


def check_mean_field_step(function: Callable) -> None:
    """function(unary (P, K) log-probabilities, probabilities (P, K), kernel (P, P) with a zero diagonal, weight)
    -> (P, K): one mean-field update of the dense CRF with the Potts model, Q_i = softmax_k(unary_ik +
    weight * sum_j kernel_ij Q_jk): pixels that look alike vote for each other's labels."""
    generator, cases = _generator(101), []
    for pixels, classes, weight in [(6, 2, 1.0), (12, 3, 3.0), (20, 4, 0.5)]:
        unary = torch.log_softmax(_randn(generator, pixels, classes), dim=1)
        kernel = torch.rand(pixels, pixels, generator=generator)
        kernel = (kernel + kernel.T) / 2
        kernel.fill_diagonal_(0)
        cases.append((f"{pixels} pixels, {classes} classes, weight {weight}", (unary, unary.exp(), kernel, weight), {}))
    compare("mean_field_step", function,
            lambda unary, probabilities, kernel, weight: torch.softmax(unary + weight * kernel @ probabilities, dim=1),
            cases, hint=("each pixel collects, for every label, the probabilities of that label at the other pixels, "
                         "weighted by how alike the pixels are, and adds them to its own log-probabilities",
                         "kernel @ probabilities computes those messages for all pixels at once; with the Potts "
                         "model a message for a label raises that label's score",
                         "normalize over the labels of each pixel (dimension 1), not over the pixels"))


# ---- 11 Transfer learning -----------------------------------------------------------------------

def _small_model():
    from ..models import build_model

    torch.manual_seed(0)
    return build_model("deeplabv3plus", num_classes=3, backbone="resnet18", width=0.125)


def check_trainable_parameters(function: Callable) -> None:
    """function(model, regime) -> the list of parameters an optimizer should update, and the encoder frozen
    (requires_grad False) where the regime keeps it: "frozen" trains all but the encoder; "fine-tune" and
    "scratch" train everything."""
    cases = [(f'regime "{regime}"', (_small_model(), regime), {}) for regime in ("frozen", "fine-tune", "scratch")]

    def outcome(model, chosen):  # (positions of the chosen parameters, which encoder parameters froze)
        if not isinstance(chosen, (list, tuple)) or not all(isinstance(p, torch.Tensor) for p in chosen):
            raise TypeError(f"expected a list of parameters, got {_describe(chosen)}")
        position = {id(parameter): index for index, parameter in enumerate(model.parameters())}
        if any(id(p) not in position for p in chosen):
            raise ValueError("the list holds tensors that are not parameters of this model")
        trained = torch.tensor(sorted(position[id(p)] for p in chosen), dtype=torch.int64)
        frozen = torch.tensor([not p.requires_grad for p in model.encoder.parameters()])
        return trained, frozen

    def reference(model, regime):
        chosen = list(model.parameters())
        if regime == "frozen":
            model.encoder.requires_grad_(False)
            encoder = {id(p) for p in model.encoder.parameters()}
            chosen = [p for p in chosen if id(p) not in encoder]
        return outcome(model, chosen)

    compare("trainable_parameters", lambda model, regime: outcome(model, function(model, regime)), reference,
            cases, check_dtype=False, pure=False,
            hint=("a frozen encoder keeps its ImageNet weights: its parameters get no gradient and are not given to "
                  "the optimizer; everything after it (decoder, head) trains",
                  "model.encoder.parameters() are the encoder's; requires_grad_(False) freezes a module; compare "
                  "parameters by identity (id) to leave them out of the list",
                  "fine-tuning and from scratch train every parameter: list(model.parameters())"))


def check_discriminative_groups(function: Callable) -> None:
    """function(model, lr, encoder_factor) -> optimizer parameter groups: the encoder's parameters at lr *
    encoder_factor, all the others at lr (fine-tuning with a gentler encoder)."""
    cases = [(f"lr {lr}, encoder factor {factor}", (_small_model(), lr, factor), {})
             for lr, factor in [(1e-2, 0.1), (3e-3, 0.5)]]

    def rates(model, groups):
        optimizer = torch.optim.SGD(groups, lr=1.0)  # refuses a parameter given twice
        given = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
        return torch.tensor([given.get(id(p), float("nan")) for p in model.parameters()], dtype=torch.float64)

    def reference(model, lr, factor):
        encoder = {id(p) for p in model.encoder.parameters()}
        return rates(model, [{"params": [p for p in model.parameters() if id(p) in encoder], "lr": lr * factor},
                             {"params": [p for p in model.parameters() if id(p) not in encoder], "lr": lr}])

    compare("discriminative_groups", lambda model, lr, factor: rates(model, function(model, lr, factor)), reference,
            cases, check_dtype=False,
            hint=("an optimizer takes a list of groups, each a dict with its own 'params' and 'lr'",
                  "two groups: the encoder's parameters with the smaller rate, and every other parameter (decoder, "
                  "head) with lr; no parameter may be in both",
                  "split model.parameters() by whether the parameter is among model.encoder.parameters() (compare "
                  "with id)"))


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
    from ..measure import count_flops

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

# ---- concept checks: predict before you run ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Concept:
    """A question the learner answers before running the cells that show the answer.

    Multiple choice: `answer` is the right letter and `explanations` says, for every letter, why it is right or
    wrong. A prediction: `answer` computes the true number (measured with torch, not typed in) and `tolerance` says
    how close counts; `explanations` has "right" and "wrong"."""

    answer: str | Callable[[], float]
    explanations: dict[str, str]
    tolerance: float = 0.0


def _pooled_rank_on_3x3() -> float:
    basis = torch.eye(9, dtype=torch.float64).view(9, 1, 3, 3)
    return int(torch.linalg.matrix_rank(F.adaptive_avg_pool2d(basis, 6).flatten(1)))


def _valid_unet_output_side() -> float:
    from ..models import build_model

    with torch.device("meta"):
        paper = build_model("unet", num_classes=2, in_channels=1, padding=False)
        return paper.core(torch.empty(1, 1, 572, 572)).shape[-1]


def _activation_growth_when_doubling() -> float:
    """Activation bytes autograd keeps for a U-Net's backward at 128x128, over those at 64x64 (weights left out)."""
    from ..measure import saved_activation_bytes
    from ..models import build_model

    torch.manual_seed(0)
    model = build_model("unet", num_classes=3, width=0.125).train()
    small, large = (saved_activation_bytes(model, torch.randn(1, 3, side, side), weights=False) for side in (64, 128))
    return large / small


CONCEPTS: dict[str, Concept] = {
    "majority_class": Concept("a", {
        "a": "pixel accuracy counts pixels, so the class that covers most of them dominates it; a model that "
             "predicts only road on a frame that is 60% road scores 60% pixel accuracy",
        "b": "mean IoU averages over classes: every class the model never predicts scores IoU 0, so predicting one "
             "class gives a low mean IoU however large that class is",
        "c": "only one of the two rewards it: mean IoU gives every class the same weight",
        "d": "one of them does reward it: which one counts pixels rather than classes?"}),
    "fc6_as_convolution": Concept("b", {
        "a": "a 1x1 convolution would only see one position of pool5; fc6 reads the whole 7x7 window",
        "b": "fc6 reads 512 x 7 x 7 = 25088 numbers: as a 7x7 convolution over 512 channels it holds exactly the same "
             "4096 x 25088 weights, reshaped, and slides over larger maps",
        "c": "reshaping moves weights, it does not copy them: the count stays 4096 x 512 x 7 x 7",
        "d": "a 3x3 kernel over 512 channels would hold 4608 inputs per output, not the 25088 fc6 reads"}),
    "overlaps_add": Concept("b", {
        "a": "where two painted kernels overlap their values add up; only pixels painted once equal 1",
        "b": "with stride 2 and a 3x3 kernel neighbouring paintings overlap by one row or column: those pixels "
             "get 2, the corners of four paintings get 4: the checkerboard of section 5",
        "c": "the sum is not normalized: nothing divides by the number of paintings that overlap",
        "d": "the zeros inserted between input pixels are painted over by the neighbours' kernels"}),
    "unpooled_nonzero": Concept("a", {
        "a": "each 2x2 window gets back one value, at the position of its maximum; the other three stay zero: at most "
             "one value in four is non-zero (fewer where a maximum was itself 0)",
        "b": "only one position per 2x2 window receives a value, not two",
        "c": "unpooling does not interpolate: the positions that were not the maximum are left at zero",
        "d": "three of the four positions of every window stay zero"}),
    "fused_channels": Concept("a", {
        "a": "FCN adds K-channel score maps, so the sum has K = 11 channels; U-Net stacks the 64 + 64 feature "
             "channels, 128 in all, and lets the next convolution mix them",
        "b": "adding two 11-channel maps gives 11 channels, not 22; concatenating two 64-channel maps gives 128",
        "c": "concatenation stacks channels: 64 + 64 = 128, not 64",
        "d": "the sum keeps the channel count: 11, not 22"}),
    "dilated_field": Concept(lambda: measured_receptive_field([3, 3, 3], [1, 1, 1], [1, 2, 4]), {
        "right": "each 3x3 layer with dilation d adds 2d pixels: 1 + 2 + 4 + 8 = 15, the field of seven plain 3x3 "
                 "layers from 27 weights per channel pair",
        "wrong": "a 3x3 kernel with dilation d spans 2d + 1 pixels, so it widens the field by 2d; start from 1 and add "
                 "each layer's 2d"}),
    "pyramid_on_3x3": Concept(_pooled_rank_on_3x3, {
        "right": "a 3x3 map holds 9 numbers per channel; 36 bins computed from them can hold no more than 9 "
                 "independent values: each cell repeats a neighbour",
        "wrong": "count what goes in: a 3x3 map has 9 values per channel, and averaging cannot create new ones"}),
    "fcn_parameters": Concept("b", {
        "a": "VGG16's 13 convolutions hold about 14.7M parameters, a ninth of the total",
        "b": "fc6 turned into a 7x7 convolution over 512 channels with 4096 outputs holds 102.8M of the 134M",
        "c": "fc7 is a 1x1 convolution from 4096 to 4096 channels: 16.8M, the second largest",
        "d": "the 2x upsamplings hold a few thousand parameters and the final one is fixed (a buffer, not a parameter)"}),
    "segnet_decoder_input": Concept("b", {
        "a": "passing the feature maps is U-Net's (and FCN's) way; SegNet's point is to avoid storing them",
        "b": "SegNet passes only the positions of the maxima (the pooling indices, 2 bits per 2x2 window) and "
             "learns its decoder's filters to densify the sparse unpooled maps",
        "c": "without anything from the encoder the decoder could not put boundaries back where they were; SegNet "
             "passes the pooling indices",
        "d": "class scores are what FCN's skips pass (from pool3 and pool4); SegNet's decoder gets the indices"}),
    "valid_unet_output": Concept(_valid_unet_output_side, {
        "right": "every unpadded 3x3 convolution trims 2 pixels, every pooling halves and every up-convolution "
                 "doubles: 572 in, 388 out, as in the paper's figure 1",
        "wrong": "follow the tile down and up: each unpadded 3x3 convolution trims 2 pixels (two per level), each "
                 "pooling halves, each up-convolution doubles"}),
    "aspp_large_rate": Concept("a", {
        "a": "with rate 24 on a 12x16 map, the 8 outer taps of the centre pixels land in the zero padding: only the "
             "centre tap sees data, which is a 1x1 convolution",
        "b": "global pooling averages the whole map; a convolution whose outer taps see padding still reads only the "
             "centre pixel",
        "c": "the outer taps are 24 pixels away, outside a 12x16 map: they read zeros",
        "d": "a dilated 3x3 kernel still has 9 weights; rate 24 spreads them 24 pixels apart, into the padding"}),
    "little_similar_data": Concept("b", {
        "a": "with little data a network trained from scratch overfits, and it throws away what ImageNet taught",
        "b": "the lecture's rule: similar data, little of it: keep the pretrained encoder fixed and train the "
             "decoder; fine-tuning everything on a small set risks overfitting",
        "c": "a high learning rate on all layers destroys the pretrained features, worst of all with little data",
        "d": "early layers only is the lecture's advice for small data that is unlike the pretraining data"}),
    "memory_doubling": Concept(_activation_growth_when_doubling, {
        "right": "activations are stored per pixel: twice the height and twice the width is four times the pixels, "
                 "so about four times the memory",
        "wrong": "count pixels: doubling both sides multiplies the pixels, and with them every stored activation map"},
        tolerance=0.5),
}


def check_concept(name: str, function: Callable) -> None:
    """function() -> the learner's answer to concept check `name`: a letter, or a number for a prediction."""
    concept = CONCEPTS[name]
    if not callable(function):
        raise ExerciseFailed(f"{name}: expected a function that returns your answer, got {_describe(function)}")
    try:
        given = function()
    except NotImplementedError:
        raise ExerciseFailed(f"{name} is not implemented yet: replace `raise NotImplementedError` with "
                             f"`return` and your answer") from None
    if isinstance(concept.answer, str):
        letters = sorted(concept.explanations)
        choice = given.strip().lower().strip("()") if isinstance(given, str) else None
        if choice not in concept.explanations:
            raise ExerciseFailed(f"{name}: answer with one letter, {', '.join(letters)}; got {given!r}")
        if choice != concept.answer:
            raise ExerciseFailed(f"{name}: not ({choice}). {concept.explanations[choice]}. Think again and answer once "
                                 f"more.")
        print(f"✓ ({choice}): {concept.explanations[choice]}")
        return
    truth = float(concept.answer())
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        raise ExerciseFailed(f"{name}: answer with a number, got {_describe(given)}")
    if abs(given - truth) > concept.tolerance + 1e-9:
        raise ExerciseFailed(f"{name}: not {given:g}. {concept.explanations['wrong']}.")
    print(f"✓ {truth:.3g}: {concept.explanations['right']}")
