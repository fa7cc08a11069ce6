"""Argument types shared by the command line's subcommands: sizes, counts, rates, devices and KEY=VALUE options.

Each turns bad text into an argparse error that names the value (``--epochs 0`` is refused, not read as "the default").
`in_learners_language` has argparse say its own words (usage, options, its errors) in the learner's language too.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import math

from .language import said_later, tr

__all__ = ["image_size", "positive_int", "non_negative_int", "positive_float", "device", "parse_options",
           "format_bytes", "in_learners_language", "MAX_IMAGE_SIDE"]

MAX_IMAGE_SIDE = 8192  # pixels; CamVid is 360x480, Cityscapes 1024x2048: beyond this no device trains a model
TRAINING_BYTES_PER_PIXEL = 5248  # activations U-Net keeps for the backward, per input pixel (width 1, measured)


# argparse's own words that a learner meets (Python 3.11's argparse.py; %-templates, which argparse formats itself)
ARGPARSE_WORDS = frozenset((
    said_later("usage: "), said_later("options"), said_later("positional arguments"),
    said_later("show this help message and exit"), said_later("%(prog)s: error: %(message)s\n"),
    said_later("argument %(argument_name)s: %(message)s"),
    said_later("invalid choice: %(value)r (choose from %(choices)s)"),
    said_later("the following arguments are required: %s"), said_later("unrecognized arguments: %s"),
    said_later("expected one argument"), said_later("expected at least one argument"),
    said_later("expected at most one argument"), said_later("invalid %(type)s value: %(value)r"),
    said_later("ambiguous option: %(option)s could match %(matches)s"),
    said_later("one of the arguments %s is required"), said_later("not allowed with argument %s"),
    said_later("ignored explicit argument %r"), said_later("unknown parser %(parser_name)r (choices: %(choices)s)"),
))


@contextlib.contextmanager
def in_learners_language():
    """While inside, argparse's usage, headings and errors come out in the learner's language: argparse looks each
    of its words up through its module's gettext function `_` when it prints, so that function is replaced here
    (and put back after, even when parsing ends in SystemExit)."""
    original = argparse._
    argparse._ = lambda text: tr(text) if text in ARGPARSE_WORDS else original(text)
    try:
        yield
    finally:
        argparse._ = original


def format_bytes(count: float) -> str:
    """1536 -> "1.5 KiB", 8e12 -> "7.3 TiB"."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in text.lower().replace("x", " ").split()]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 16:
        raise argparse.ArgumentTypeError(tr("image size must be HEIGHTxWIDTH or one side, each at least 16: {text!r}",
                                            text=text))
    if max(parts) > MAX_IMAGE_SIDE:  # refused here, not by the allocator after the data set is read
        pixels = parts[0] * parts[1]
        raise argparse.ArgumentTypeError(
            tr("image size {parts_0}x{parts_1} is too large: each side may be at most {MAX_IMAGE_SIDE} pixels; one "
               "float32 RGB image of that size alone takes {image_bytes}, and training on it roughly "
               "{training_bytes} per image (U-Net's activations, about "
               "{kilobytes_per_pixel:.0f} KB per pixel)",
               parts_0=parts[0], parts_1=parts[1], MAX_IMAGE_SIDE=MAX_IMAGE_SIDE,
               image_bytes=format_bytes(12 * pixels),
               training_bytes=format_bytes(TRAINING_BYTES_PER_PIXEL * pixels),
               kilobytes_per_pixel=TRAINING_BYTES_PER_PIXEL / 1000))
    return parts[0], parts[1]


def _whole_number(minimum: int):
    """argparse type: a whole number of at least `minimum` (--epochs 0 or --batch-size 0 used to mean the default)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(tr("must be a whole number of at least {minimum}, got {text!r}",
                                                minimum=minimum, text=text))
        return value
    return parse


positive_int, non_negative_int = _whole_number(1), _whole_number(0)


def positive_float(text: str) -> float:
    """argparse type: a finite number above 0 (learning rates, widths)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(tr("must be a finite number above 0, got {text!r}", text=text))
    return value


def device(text: str) -> str:
    """argparse type: auto, cpu, cuda, cuda:N or mps; whether it exists is checked when the runtime is resolved."""
    if text in ("auto", "cpu", "cuda", "mps") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(tr("must be auto, cpu, cuda, cuda:N or mps, got {text!r}", text=text))


def parse_options(pairs: list[str], *, option: str = "--option", example: str = "batch_norm=False") -> dict:
    """["batch_norm=False", "backbone=resnet18"] -> {"batch_norm": False, "backbone": "resnet18"}."""
    options = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.isidentifier():
            raise ValueError(tr("{option} {pair!r}: write KEY=VALUE, e.g. {option} {example}",
                                option=option, pair=pair, example=example))
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options
