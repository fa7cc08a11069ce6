"""Each pixel's class from its scores: `segedu.metrics.predicted_classes` (``max(1).indices``) against PyTorch's
``argmax(1)``, timed in turns on the score maps the course scores.

    python -m segedu.lab.bench.classes

Prints, for each shape, the median time of each over `repeats` turns (A B, B A, ...) and their ratio, with the
CPU's name and thread count; both give the same classes (checked on every shape).
"""

from __future__ import annotations

import statistics
import time

import torch

from ...metrics import predicted_classes
from ...runtime import cpu_name

__all__ = ["SHAPES", "compare"]

SHAPES = {"a CamVid batch at 360x480, 11 classes": (8, 11, 360, 480),
          "the lab's 100 test frames at 180x240": (100, 11, 180, 240),
          "40 ISBI tiles of 128x128, 2 classes": (40, 2, 128, 128),
          "one 512x512 image, 21 classes": (1, 21, 512, 512)}


def compare(shape: tuple[int, ...], repeats: int = 7) -> tuple[float, float]:
    """(median seconds of argmax(1), of predicted_classes) on random scores of `shape`, timed in turns."""
    scores = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    if not torch.equal(scores.argmax(1), predicted_classes(scores)):
        raise AssertionError(f"argmax(1) and predicted_classes disagree on {shape}")
    times: dict[str, list[float]] = {"argmax": [], "ours": []}
    for turn in range(repeats):
        pair = [("argmax", lambda: scores.argmax(1)), ("ours", lambda: predicted_classes(scores))]
        for name, run in pair if turn % 2 == 0 else pair[::-1]:
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return statistics.median(times["argmax"]), statistics.median(times["ours"])


def main() -> None:
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for words, shape in SHAPES.items():
        reference, ours = compare(shape)
        print(f"{words:<40} argmax(1) {1000 * reference:7.1f} ms   max(1).indices {1000 * ours:6.1f} ms   "
              f"{reference / ours:5.1f}x")


if __name__ == "__main__":
    main()
