"""The harness every check runs through: `compare` runs the learner's function and the reference on the same
cases and raises ExerciseFailed, with a message and a hint, at the first difference.

The checks also catch what a comparison of outputs alone would miss:

- a function that changes its inputs in place (the damage would show up cells later): refused, naming the argument;
- a function that never returns: stopped after `TIME_LIMIT` seconds with a message (Jupyter's interrupt still works:
  it stops the check with one line, "interrupted while running your function", not a traceback);
- a function that calls `sys.exit` (or `exit()`): a failed check, not a script that ends with status 0 as if passed;
- a function that allocates too much: each call may add at most `MEMORY_LIMIT` bytes (default: half the memory
  available when the call starts), so an oversized tensor fails the check, naming its size, instead of the kernel;
- an error raised inside torch: the message quotes the learner's own line that called it, not torch's;
- hints escalate: the first failure nudges, each further failure of the same exercise says more, and no hint pastes
  the answer.

`_generator` and `_randn` make the seeded random inputs of the checks' cases.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..messages import tr


class ExerciseFailed(AssertionError):
    """The learner's function disagrees with the reference; the message says where and how."""

    def _render_traceback_(self) -> list[str]:  # IPython: show the message, not the checker's stack
        return [f"\x1b[31mExerciseFailed: {line}\x1b[0m" if number == 0 else line
                for number, line in enumerate(str(self).splitlines())]


Case = tuple[str, tuple, dict]  # (description, positional arguments, keyword arguments)
Hints = str | Sequence[str]  # one hint, or hints that say more on each repeated failure

TIME_LIMIT = 20.0  # seconds one call of the learner's function may take before the check stops it
MEMORY_LIMIT: int | None = None  # bytes one call may add (Linux); None: half the memory available then; 0: no limit
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


class CheckInterrupted(KeyboardInterrupt):
    """The learner interrupted (Jupyter's stop button, Ctrl-C) while their function ran: the check stops, and IPython
    shows this one line instead of a traceback through the checker."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mCheckInterrupted: {self}\x1b[0m"]


def _kilobytes_field(path: str, field: str) -> int | None:
    """The bytes of a "Field:  N kB" line of a /proc file; None where there is no such file or line."""
    try:
        with open(path) as lines:
            return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def _memory_in_use() -> int | None:
    """What RLIMIT_DATA counts for this process (VmData: private writable memory), from /proc; None elsewhere."""
    return _kilobytes_field("/proc/self/status", "VmData")


def _memory_available() -> int | None:
    return _kilobytes_field("/proc/meminfo", "MemAvailable")


def _budget() -> int | None:
    """The bytes one call of the learner's function may add: MEMORY_LIMIT, or half of what is available now."""
    if MEMORY_LIMIT is not None:
        return MEMORY_LIMIT
    available = _memory_available()
    return available // 2 if available else None


@contextlib.contextmanager
def _memory_limit():
    """Lower the soft RLIMIT_DATA to what is in use plus `_budget()` while the learner's function runs, so that an
    oversized allocation fails with an error the check reports instead of the out-of-memory killer ending the kernel.
    A stricter limit already set is kept; without /proc or the resource module (not Linux), or where a GPU is
    present (CUDA reserves address space that the limit would count), there is no limit."""
    try:
        import resource
    except ImportError:
        yield
        return
    if torch.cuda.is_available():
        yield
        return
    in_use, budget = _memory_in_use(), _budget()
    if in_use is None or not budget or budget < 0:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    wanted = in_use + budget if hard == resource.RLIM_INFINITY else min(in_use + budget, hard)
    if soft != resource.RLIM_INFINITY and soft <= wanted:
        yield
        return
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (wanted, hard))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


_ALLOCATION = re.compile(r"(?:tried to allocate|unable to allocate)\s+([\d.]+\s*(?:[KMGTP]i?B|bytes)?)",
                         re.IGNORECASE)


def _allocation_failure(error: BaseException) -> str | None:
    """The size an allocation that failed inside the learner's function asked for ("8.00 GiB", "201326592 bytes
    (192.0 MiB)"), "an unknown size" for another MemoryError, or None when `error` is no allocation failure."""
    message = str(error)
    allocation = isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and any(
        marker in message for marker in ("can't allocate memory", "DefaultCPUAllocator", "out of memory")))
    if not allocation:
        return None
    found = _ALLOCATION.search(message)
    if not found:
        return tr("an unknown size")
    size = found.group(1).strip()
    if size.isdigit() or size.endswith("bytes"):
        count = int(size.split()[0].split(".")[0])
        scaled = next(((count / scale, unit) for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
                       if count >= scale), None)
        return f"{count} bytes" + (f" ({scaled[0]:.1f} {scaled[1]})" if scaled else "")
    return size


def _describe_limit() -> str:
    budget = _budget()
    return tr("about {size} MiB more", size=f"{budget / 2**20:.0f}") if budget else tr("the memory the machine has")


def _exit_call(code: Any) -> str:
    return f"sys.exit({'' if code is None else repr(code)})"


def hint_for(name: str, hints: Hints, *, advance: bool = True) -> str:
    """The hint for this failure of exercise `name`: the first one the first time, then each next one. A failure
    that does not `advance` (the untouched stub) shows the current hint without using it up."""
    hints = [hints] if isinstance(hints, str) else list(hints)
    if not hints or not hints[0]:
        return ""
    count = _FAILURES.get(name, 0)
    if advance:
        _FAILURES[name] = count + 1
    level = min(count, len(hints) - 1)
    more = tr(" [hint {level} of {count}: fail again for the next]", level=level + 1, count=len(hints)) \
        if level < len(hints) - 1 else ""
    return "\n" + tr("Hint: {hint}{more}", hint=tr(hints[level]), more=more)


# not the learner's frames: the whole segedu package (these checks and the library they call), torch, contextlib
_NOT_LEARNER = (str(Path(__file__).resolve().parents[2]), str(Path(torch.__file__).resolve().parent),
                str(Path(contextlib.__file__).resolve().parent))


def _learner_line(error: BaseException) -> str:
    """Where in the learner's own code `error` happened: their last frame, not torch's or the checker's."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if not str(Path(frame.filename).resolve()).startswith(_NOT_LEARNER)
           and "site-packages" not in frame.filename]
    if not own:  # no frame of the learner's: the check failed calling their function or using what it returned
        return tr("the check calling your function, or using what it returned (not a line of yours; the error came "
                  "from {folder}/)", folder=Path(frames[-1].filename).parent.name)
    frame = own[-1]
    inside = "" if frame is frames[-1] else tr(" (the error itself came from {folder}/)",
                                                 folder=Path(frames[-1].filename).parent.name)
    return tr("your line {number}: {line}", number=frame.lineno, line=(frame.line or "").strip()) + inside


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
        return tr("{where}: expected a torch.Tensor, got {got}", where=where, got=_describe(actual))
    if tuple(actual.shape) != tuple(expected.shape):
        return tr("{where}: expected shape {expected}, got {got}", where=where, expected=tuple(expected.shape),
                  got=tuple(actual.shape))
    if check_dtype and actual.dtype != expected.dtype:
        return tr("{where}: expected dtype {expected}, got {got}", where=where, expected=expected.dtype, got=actual.dtype)
    actual_values, expected_values = actual.detach().to(torch.float64), expected.detach().to(torch.float64)
    close = torch.isclose(actual_values, expected_values, atol=atol, rtol=rtol, equal_nan=True)
    if bool(close.all()):
        return None
    first = tuple(int(i) for i in (~close).nonzero()[0])
    return tr("{where}: {differ} of {count} values differ; first at index {index}: expected {expected}, got {got}",
              where=where, differ=int((~close).sum()), count=close.numel(), index=first,
              expected=f"{expected_values[first].item():.6g}", got=f"{actual_values[first].item():.6g}")


def _compare_results(actual: Any, expected: Any, where: str, atol: float, rtol: float, check_dtype: bool) -> str | None:
    if isinstance(expected, tuple):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return tr("{where}: expected a tuple of {count} values, got {got}", where=where, count=len(expected),
                      got=_describe(actual))
        for index, (a, e) in enumerate(zip(actual, expected)):
            problem = _compare_results(a, e, tr("{where}, element {index}", where=where, index=index), atol, rtol,
                                       check_dtype)
            if problem:
                return problem
        return None
    if isinstance(expected, torch.Tensor):
        return _compare_tensors(actual, expected, where, atol, rtol, check_dtype)
    if isinstance(actual, torch.Tensor) and actual.numel() == 1:
        actual = actual.item()
    if not isinstance(actual, (int, float)) or isinstance(actual, bool):
        return tr("{where}: expected a number, got {got}", where=where, got=_describe(actual))
    if isinstance(expected, int) and actual != expected:
        return tr("{where}: expected {expected}, got {got}", where=where, expected=expected, got=actual)
    if not math.isclose(actual, expected, rel_tol=rtol, abs_tol=atol) and not (math.isnan(actual) and math.isnan(expected)):
        return tr("{where}: expected {expected}, got {got}", where=where, expected=f"{expected:.6g}", got=f"{actual:.6g}")
    return None


def _argument_name(position: int | str) -> str:
    return tr("argument {number}", number=position + 1) if isinstance(position, int) else \
        tr("argument {name}=", name=position)


def compare(name: str, function: Callable, reference: Callable, cases: Sequence[Case], *, hint: Hints = "",
            atol: float = 1e-5, rtol: float = 1e-4, check_dtype: bool = True, pure: bool = True,
            time_limit: float | None = None) -> None:
    """Run `function` and `reference` on every case; raise ExerciseFailed at the first difference.

    `pure`: the function must leave its arguments unchanged. `time_limit` (default TIME_LIMIT): seconds per call.
    `hint`: one hint, or a sequence that says more on each repeated failure of this exercise."""
    if not callable(function):
        raise ExerciseFailed(tr("{name}: expected a function, got {got}", name=name, got=_describe(function)))
    limit = TIME_LIMIT if time_limit is None else time_limit
    for description, args, kwargs in cases:
        expected = reference(*_clone(args), **_clone(kwargs))
        where = f"{name}({description})"
        given_args, given_kwargs = _clone(args), _clone(kwargs)
        try:
            with _time_limit(limit), _memory_limit():
                actual = function(*given_args, **given_kwargs)
        except NotImplementedError:
            raise ExerciseFailed(tr("{name} is not implemented yet: replace `raise NotImplementedError` with your "
                                    "code.", name=name) + hint_for(name, hint, advance=False)) from None
        except _TimeUp:
            raise ExerciseFailed(tr("{where} did not return within {limit} s: look for a loop whose condition never "
                                    "changes, or a loop over every pixel where a tensor operation would do.",
                                    where=where, limit=f"{limit:g}") + hint_for(name, hint)) from None
        except SystemExit as error:  # uncaught, it would end a script with its status (0: as if the check passed)
            raise ExerciseFailed(tr("{where}: your function called {call}; a check needs it to return a value",
                                    where=where, call=_exit_call(error.code))) from None
        except KeyboardInterrupt:
            raise CheckInterrupted(tr("{where}: interrupted while running your function; the check stopped",
                                      where=where)) from None
        except ExerciseFailed as failed:  # a check's own reading of what the function returned, already in words
            raise ExerciseFailed(f"{where}: {failed}{hint_for(name, hint)}") from None
        except Exception as error:  # the learner's bug, reported as a message
            size = _allocation_failure(error)
            if size is not None:
                allows = tr("the GPU has free") if "CUDA" in str(error) else \
                    tr("the check allows ({limit})", limit=_describe_limit())
                raise ExerciseFailed(tr("{where} ran out of memory: your function tried to allocate {size}, more than "
                                        "{allows}; the check's inputs are small, so look for a tensor far bigger than "
                                        "they are", where=where, size=size, allows=allows)
                                     + "\n  " + tr("at {line}", line=_learner_line(error)) + hint_for(name, hint)) from None
            raise ExerciseFailed(tr("{where} raised {error_type}: {error}", where=where, error_type=type(error).__name__,
                                    error=error) + "\n  " + tr("at {line}", line=_learner_line(error))
                                 + hint_for(name, hint)) from None
        if pure:
            changed = next(filter(None, [_changed(args[i], given_args[i], _argument_name(i)) for i in range(len(args))]
                                  + [_changed(kwargs[k], given_kwargs[k], _argument_name(k)) for k in kwargs]), None)
            if changed:
                raise ExerciseFailed(tr("{where} changed its input ({changed}) in place. The caller still needs it: "
                                        "work on a copy (x = x.clone()) or write x = x + 1 instead of x += 1.",
                                        where=where, changed=changed))
        problem = _compare_results(actual, expected, where, atol, rtol, check_dtype)
        if problem:
            raise ExerciseFailed(f"{problem}{hint_for(name, hint)}")
    _FAILURES.pop(name, None)
    print(tr("✓ {name} matches the reference on 1 case", name=name) if len(cases) == 1 else
          tr("✓ {name} matches the reference on {count} cases", name=name, count=len(cases)))


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator)
