"""The ``python -m segedu bench`` command: its options (`add_arguments`) and what it runs and prints (`main`)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from ...language import said_later, tr
from ...arguments import image_size, non_negative_int, positive_float, positive_int
from ...runtime import cpu_name, resolve_device
from .crf import crf_benchmark
from .pipeline import data_pipeline, fed_training
from .throughput import (BenchConfig, format_agreement, format_table, mode_plan, mode_runtime, ratio_agreement,
                         run_bench, selected_entries)

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "main"]

HELP = said_later("training throughput of every model against torchvision's")
DESCRIPTION = said_later("Training throughput (images/s), peak GPU memory, MFU and ours/torchvision "
                         "ratios for fp32/bf16, channels_last and torch.compile.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m segedu bench`, read by `main`."""
    parser.add_argument("--device", help=tr("auto (default), cpu, cuda, cuda:1"))
    parser.add_argument("--quick", action="store_true",
                        help=tr("small sizes on the CPU, the comparison pairs only (a few minutes)"))
    parser.add_argument("--models",
                        help=tr("comma-separated entries (default: all; see segedu.lab.bench.entries()), or models "
                                "with options, e.g. unet[width=0.25],pspnet[backbone=efficientnet_lite0]"))
    parser.add_argument("--modes",
                        help=tr("comma-separated settings, e.g. fp32,bf16,bf16+channels_last+compile (default: those "
                                "the device runs natively; named ones run even where bf16 is emulated)"))
    parser.add_argument("--image-size", type=image_size, metavar="HxW", help=tr("input size (default 368x480)"))
    parser.add_argument("--batch-size", type=positive_int, help=tr("batch size (default 8)"))
    parser.add_argument("--steps", type=positive_int, help=tr("timed training steps per setting (default 20)"))
    parser.add_argument("--warmup", type=non_negative_int, help=tr("untimed steps first (default 5)"))
    parser.add_argument("--peak-tflops", type=positive_float,
                        help=tr("the device's peak TFLOP/s for MFU (default: known GPUs)"))
    parser.add_argument("--repeat", type=positive_int, default=1,
                        help=tr("run the whole benchmark N times and print how far the ours/torchvision ratios move "
                                "between runs (default 1)"))
    parser.add_argument("--data", action="store_true",
                        help=tr("also measure the CamVid data pipeline's images/s, and the fastest setting fed by it: "
                                "images/s and time waiting for data"))
    parser.add_argument("--crf", action="store_true",
                        help=tr("instead: the dense CRF's seconds per 360x480 frame, segedu's lattice against "
                                "pydensecrf (the authors' C++) when installed"))
    parser.add_argument("--output", type=Path, help=tr("write every figure as JSON"))


def main(arguments) -> int:
    """The `python -m segedu bench` command (options from `add_arguments`)."""
    if arguments.crf:
        report = crf_benchmark()
        if arguments.output:
            Path(arguments.output).write_text(json.dumps(report, indent=1))
        return 0
    options = {}
    if arguments.models:
        options["models"] = tuple(arguments.models.split(","))
    if arguments.modes:
        options["modes"] = tuple(arguments.modes.split(","))
        options["force_modes"] = True  # named: run even a mode the device lacks natively (with a warning)
    for key in ("batch_size", "steps", "warmup", "peak_tflops"):
        if getattr(arguments, key) is not None:
            options[key] = getattr(arguments, key)
    if arguments.image_size is not None:
        options["image_size"] = arguments.image_size
    if arguments.device is not None:
        options["device"] = arguments.device
    config = BenchConfig.quick(**options) if arguments.quick else BenchConfig(**options)
    selected_entries(config)  # unknown models and bad model options stop here, before anything is built
    device = resolve_device(config.device)
    name = (torch.cuda.get_device_name(device) if device.type == "cuda" else
            f"{cpu_name() if device.type == 'cpu' else device.type.upper()} ({torch.get_num_threads()} threads)")
    print(f"segedu bench on {name}: {config.image_size[0]}x{config.image_size[1]}, batch {config.batch_size}, "
          f"{config.steps} timed steps after {config.warmup}; torch {torch.__version__}; a synthetic batch in memory "
          f"(no time waiting for data{'' if arguments.data else '; --data measures a loader-fed run'})")
    _, skipped, lines = mode_plan(config, device)
    for line in lines:
        print(line)
    started = time.perf_counter()
    runs = [run_bench(config, log=lambda line: None) for _ in range(max(1, arguments.repeat))]
    rows = runs[-1]
    for index, run in enumerate(runs):
        print(format_table(run, f"{name}, run {index + 1} of {len(runs)}"))
    report = {"device": name, "config": dataclasses.asdict(config), "rows": rows, "torch": torch.__version__,
              "skipped": skipped}
    if len(runs) > 1:
        report["agreement"] = ratio_agreement(runs)
        print(format_agreement(report["agreement"]))
    if arguments.data:
        size = (96, 128) if arguments.quick else (360, 480)
        workers = (0, 1) if arguments.quick else (0, 2, 4, 8)
        report["data"] = data_pipeline(image_size=size, batch_size=config.batch_size, workers=workers,
                                       batches=4 if arguments.quick else 40)
        fastest_model = max((row["images_per_second"] for row in rows), default=0.0)
        fastest_data = max(row["images_per_second"] for row in report["data"])
        print(f"data pipeline: up to {fastest_data:.0f} img/s; fastest model trains at {fastest_model:.0f} img/s "
              f"(ratio {fastest_data / max(fastest_model, 1e-9):.2f}; below 1 the loader would starve it)")
        if rows:
            fastest = max(rows, key=lambda row: row["images_per_second"])
            known, _ = selected_entries(config)
            fed_size = config.image_size  # the size the models were timed at, so the two figures compare
            print(f"{fastest['model']} ({fastest['mode']}) fed by the CamVid loader at {fed_size[0]}x{fed_size[1]}, "
                  f"batch {config.batch_size}:")
            report["fed"] = {"model": fastest["model"], "mode": fastest["mode"], "image_size": list(fed_size),
                             "rows": fed_training(known[fastest["model"]].build, mode_runtime(fastest["mode"], device),
                                                  image_size=fed_size, batch_size=config.batch_size, workers=workers,
                                                  steps=4 if arguments.quick else 20, num_classes=config.num_classes,
                                                  log=lambda line: print(f"  {line}"))}
    print(f"bench finished in {time.perf_counter() - started:.0f} s")
    if arguments.output:
        Path(arguments.output).write_text(json.dumps(report, indent=1))
        print(f"written: {arguments.output}")
    return 0
