"""The benchmark behind ``python -m segedu bench``, one module per thing it measures: `throughput` (training
images/s, MFU and the ratios against torchvision's models), `crf` (the dense CRF against pydensecrf), `pipeline` (the
CamVid loader's images/s, and a training run fed by it with its time waiting for data); `cli` holds the command's
options and its main."""

from .cli import DESCRIPTION, HELP, add_arguments, main
from .crf import crf_benchmark
from .pipeline import data_pipeline, fed_training
from .throughput import (PEAKS, BenchConfig, Entry, entries, format_agreement, format_row, format_table,
                         measure_group, mode_plan, mode_runtime, peak_flops, ratio_agreement, run_bench)

__all__ = ["BenchConfig", "Entry", "entries", "run_bench", "format_table", "format_row", "peak_flops", "PEAKS",
           "mode_runtime", "mode_plan", "measure_group", "ratio_agreement", "format_agreement", "crf_benchmark",
           "data_pipeline", "fed_training", "HELP", "DESCRIPTION", "add_arguments", "main"]
