"""Bilinear upsampling with its backward: `segedu.layers.resize_bilinear` (two matrix products) against PyTorch's
``F.interpolate(mode="bilinear", align_corners=False)``, timed in turns on the maps the lab's heads upsample.

    python -m segedu.lab.bench.resize

Prints, for each shape, the median time of a forward and backward pass of each over `repeats` turns (A B, B A, ...)
and their ratio, with the CPU's name and thread count; the two agree within float rounding (checked on every shape).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from ...layers import resize_bilinear
from ...runtime import cpu_name

__all__ = ["SHAPES", "compare"]

SHAPES = {"FCN-8s head: 8 x 11 x 23x30 to 180x240": ((8, 11, 23, 30), (180, 240)),
          "FCN-32s head: 8 x 11 x 6x8 to 180x240": ((8, 11, 6, 8), (180, 240)),
          "membrane head: 8 x 2 x 64x64 to 128x128": ((8, 2, 64, 64), (128, 128)),
          "one CamVid frame: 1 x 11 x 90x120 to 360x480": ((1, 11, 90, 120), (360, 480))}


def compare(shape: tuple[int, ...], size: tuple[int, int], repeats: int = 9) -> tuple[float, float]:
    """(median seconds of F.interpolate, of resize_bilinear), each a forward pass and the backward of a weighted sum
    of its output, on random maps of `shape` upsampled to `size`, timed in turns."""
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(*shape, generator=generator).requires_grad_()
    weights = torch.randn(*shape[:2], *size, generator=generator)
    runs = {"interpolate": lambda: F.interpolate(maps, size=size, mode="bilinear", align_corners=False),
            "ours": lambda: resize_bilinear(maps, size)}
    outputs = {name: run() for name, run in runs.items()}
    if not torch.allclose(outputs["interpolate"], outputs["ours"], rtol=1e-5, atol=1e-5):
        raise AssertionError(f"F.interpolate and resize_bilinear disagree on {shape} -> {size}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for turn in range(repeats):
        for name, run in list(runs.items()) if turn % 2 == 0 else list(runs.items())[::-1]:
            started = time.perf_counter()
            (run() * weights).sum().backward()
            times[name].append(time.perf_counter() - started)
            maps.grad = None
    return statistics.median(times["interpolate"]), statistics.median(times["ours"])


def main() -> None:
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for words, (shape, size) in SHAPES.items():
        reference, ours = compare(shape, size)
        print(f"{words:<46} F.interpolate {1000 * reference:6.1f} ms   resize_bilinear {1000 * ours:6.1f} ms   "
              f"{reference / ours:5.1f}x")


if __name__ == "__main__":
    main()
