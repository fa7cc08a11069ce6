"""Training throughput of every model, side by side with torchvision's segmentation models.

    python -m segedu bench                          # on the GPU: CamVid size 368x480, batch 8, all settings
    python -m segedu bench --device cpu --quick     # the same comparison on the CPU at small sizes (a few minutes)

For each model and each setting (fp32 or bf16 autocast, channels_last on or off, torch.compile on or off) it times
full training steps, `fit`'s own (forward, the training loss with any auxiliary head, backward, AdamW step), on a
synthetic batch held in memory (the model alone, so no time waits for data; --data measures the CamVid loader and
the share of a training run's time spent waiting for it, `pipeline`). A setting the device lacks natively is skipped
with a line saying why (`mode_plan`): bf16 on a CPU without AVX-512 BF16 or AMX (emulated, slower than fp32: the
quick bench took over 20 minutes on such an AMD EPYC), torch.compile on the CPU or without its compiler; settings
named with --modes run anyway, with a warning. A model and its torchvision
counterpart are timed in turns (A B, B A, ...) after a warm-up, so a slow spell of the machine hits both; each row
gives the median of the timed steps and the spread around it. It prints images/s, peak GPU memory, and:

- ratio: our images/s over torchvision's for the matching model at the same setting (fcn vs fcn_resnet50,
  deeplabv3 on ResNet-50 at output stride 8 vs deeplabv3_resnet50, deeplabv3 on MobileNetV3 vs
  deeplabv3_mobilenet_v3_large; lraspp_mobilenet_v3_large has no counterpart and is shown alone);
- MFU, model FLOPs utilization: 3 x (forward FLOPs per image, counted analytically by torch.utils.flop_counter) x
  images/s / the device's peak (bf16 dense tensor-core peak, TF32 for fp32; --peak-tflops overrides; unknown
  devices, CPUs included, show no MFU unless it is given). The factor 3 counts the backward pass as twice the
  forward, the usual convention (Kaplan et al. 2020; PaLM's MFU).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...arguments import parse_options
from ...errors import InputError
from ...engine import TrainConfig, cross_entropy, segmentation_objective, train_step
from ...measure import count_flops
from ...runtime import Runtime, _compiler_present, cpu_has_native_bf16, cpu_name, resolve_device

__all__ = ["PEAKS", "BenchConfig", "Entry", "entries", "selected_entries", "peak_flops", "mode_runtime", "measure_group",
           "mode_plan", "run_bench",
           "format_row", "format_table", "ratio_agreement", "format_agreement"]

# Dense peak FLOP/s per device name fragment: (bf16, tf32), from the vendors' data sheets (no sparsity: the sheets'
# starred figures halved). The first fragment found in the device's name wins, so longer names come first
# ("H200 NVL" before "H200", "L40S" and "L40" before "L4").
PEAKS = {"H200 NVL": (835.5e12, 417.5e12), "H200": (989e12, 494e12), "H100 PCIe": (756e12, 378e12),
         "H100": (989e12, 494e12), "A100": (312e12, 156e12), "L40S": (362e12, 183e12), "L40": (181e12, 90.5e12),
         "A10G": (70e12, 35e12), "L4": (121e12, 60e12)}


@dataclasses.dataclass
class BenchConfig:
    device: str = "auto"
    image_size: tuple[int, int] = (368, 480)      # CamVid 360x480, padded to a multiple of 16
    batch_size: int = 8
    num_classes: int = 11
    steps: int = 20
    warmup: int = 5
    modes: tuple[str, ...] = ("fp32", "bf16", "bf16+channels_last", "bf16+channels_last+compile")
    models: tuple[str, ...] | None = None          # None: every entry
    peak_tflops: float | None = None
    force_modes: bool = False                      # run modes the device lacks natively (--modes names them)

    def __post_init__(self):
        """Refuse (InputError) a setting that would measure nothing or nonsense, naming it: batch_size 0 reported
        0.0 img/s, steps 0 or less failed in torch.quantile, a mode "fp33" ran as fp32."""
        import math

        from ...arguments import MAX_IMAGE_SIDE

        def whole(value, minimum: int) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and value >= minimum

        for key, minimum in (("batch_size", 1), ("steps", 1), ("warmup", 0), ("num_classes", 1)):
            if not whole(getattr(self, key), minimum):
                raise InputError(f"BenchConfig.{key} must be a whole number of at least {minimum}, got "
                                 f"{getattr(self, key)!r}")
        size = tuple(self.image_size) if isinstance(self.image_size, (tuple, list)) else ()
        if len(size) != 2 or not all(whole(side, 1) and side <= MAX_IMAGE_SIDE for side in size):
            raise InputError(f"BenchConfig.image_size must be (height, width), each 1 to {MAX_IMAGE_SIDE} pixels, got "
                             f"{self.image_size!r}")
        if self.peak_tflops is not None and not (isinstance(self.peak_tflops, (int, float)) and
                                                 math.isfinite(self.peak_tflops) and self.peak_tflops > 0):
            raise InputError(f"BenchConfig.peak_tflops must be a finite number above 0 (or None), got {self.peak_tflops!r}")
        if isinstance(self.modes, str) or not self.modes:
            raise InputError(f"BenchConfig.modes must be a non-empty tuple of settings, got {self.modes!r}")
        for mode in self.modes:
            parts = str(mode).split("+")
            if (parts[0] not in ("fp32", "bf16") or len(set(parts)) != len(parts)
                    or not set(parts[1:]) <= {"channels_last", "compile"}):
                raise InputError(f"bench mode {mode!r}: write fp32 or bf16, optionally followed by +channels_last "
                                 f"and/or +compile, e.g. bf16+channels_last+compile")
        if self.models is not None and (isinstance(self.models, str) or not self.models):
            raise InputError(f"BenchConfig.models must be a non-empty tuple of entries (or None for all), got "
                             f"{self.models!r}")

    @classmethod
    def quick(cls, **overrides) -> BenchConfig:
        """Small sizes for the CPU: each comparison pair and U-Net at 64x96, batch 2, 12 timed steps each after 3."""
        options = dict(device="cpu", image_size=(64, 96), batch_size=2, steps=12, warmup=3,
                       modes=("fp32", "bf16", "fp32+channels_last"),
                       models=("fcn-resnet50", "tv:fcn_resnet50", "deeplabv3-resnet50-os8", "tv:deeplabv3_resnet50",
                               "deeplabv3-mobilenet", "tv:deeplabv3_mobilenet_v3_large",
                               "tv:lraspp_mobilenet_v3_large", "unet"))
        options.update(overrides)
        return cls(**options)


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[int], nn.Module]
    counterpart: str | None = None                 # the torchvision entry it is compared with


def _ours(name: str, **options) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        from ...models import build_model

        return build_model(name, num_classes=num_classes, **options)

    return build


def _torchvision(name: str) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=num_classes)

    return build


def _configured(name: str) -> Entry:
    """An entry written "model[key=value;key=value]", e.g. "unet[width=0.25]" or "pspnet[backbone=efficientnet_lite0]"."""
    import re

    from ...models import check_model_options

    match = re.fullmatch(r"(\w+)\[(.*)\]", name)
    if not match:
        raise ValueError(f"bench model {name!r}: write NAME[key=value;key=value]")
    pairs = [pair.strip().replace(" ", "") for pair in match.group(2).split(";") if pair.strip()]
    options = parse_options(pairs, option=f"bench model {name!r}:", example="width=0.25")
    try:  # width=oops, width=0, an unknown option: refused here, naming the entry, not as a TypeError deep in a layer
        check_model_options(match.group(1), options)
    except InputError as error:
        raise InputError(f"bench model {name!r}: {error}") from None
    return Entry(name, _ours(match.group(1), **options))


def entries() -> list[Entry]:
    """Every model of segedu (paper configurations), the three matched to torchvision, and torchvision's four."""
    from ...models import MODELS

    listed = [Entry(name, _ours(name)) for name in MODELS]
    listed += [Entry("fcn-resnet50", _ours("fcn", backbone="resnet50"), "tv:fcn_resnet50"),
               Entry("deeplabv3-resnet50-os8", _ours("deeplabv3", backbone="resnet50", output_stride=8),
                     "tv:deeplabv3_resnet50"),
               Entry("deeplabv3-mobilenet", _ours("deeplabv3", backbone="mobilenet_v3_large"),
                     "tv:deeplabv3_mobilenet_v3_large")]
    listed += [Entry(f"tv:{name}", _torchvision(name)) for name in
               ("fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")]
    return listed


def peak_flops(device: torch.device, dtype: str, override_tflops: float | None = None) -> float | None:
    """The device's dense peak FLOP/s for bf16 or fp32 (TF32) math; None when unknown (CPUs)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (bf16, tf32) in PEAKS.items():
        if fragment in name:
            return bf16 if dtype == "bf16" else tf32
    return None


def _forward_flops(entry: Entry, config: BenchConfig) -> int:
    """Forward FLOPs for one image, counted on the meta device (no memory, no time)."""
    with torch.device("meta"):
        model = entry.build(config.num_classes).eval()
        return count_flops(model, torch.empty(1, 3, *config.image_size))


def mode_runtime(mode: str, device: torch.device) -> Runtime:
    """The Runtime a setting name describes: "fp32", "bf16", "bf16+channels_last", "...+compile"."""
    return Runtime(device=device, bf16="bf16" in mode, channels_last="channels_last" in mode,
                   fused=device.type in ("cuda", "cpu"), compile="compile" in mode)


def _trainer(entry: Entry, mode: str, config: BenchConfig, device: torch.device) -> Callable[[], None]:
    """One training step of `entry` in `mode` (forward, the training loss, backward, AdamW) as a function,
    on a fixed synthetic batch; the step is `fit`'s own (`segedu.engine.train_step`, the runtime's optimizer)."""
    runtime = mode_runtime(mode, device)
    torch.manual_seed(0)
    model = runtime.place(entry.build(config.num_classes)).train()
    optimizer = runtime.optimizer("adamw", model.parameters(), lr=1e-4)
    step_model = runtime.compiled(model)
    images = runtime.images(torch.randn(config.batch_size, 3, *config.image_size))
    masks = runtime.masks(torch.randint(0, config.num_classes, (config.batch_size, *config.image_size)))
    objective = segmentation_objective(cross_entropy(), TrainConfig().aux_weight)

    def step():
        train_step(step_model, optimizer, images, masks, objective, runtime=runtime)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def measure_group(group: Sequence[Entry], mode: str, config: BenchConfig, device: torch.device) -> list[dict]:
    """Time the entries of `group` (a model and its torchvision counterpart) in turns, A B then B A, after
    `config.warmup` untimed steps each, so a slow spell of the machine hits both alike. One row per entry with
    the median step time and its spread (the 25th-75th percentile range, relative to the median)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    steps = [_trainer(entry, mode, config, device) for entry in group]
    started = time.perf_counter()
    for step in steps:
        for _ in range(config.warmup):
            step()
    warmup_seconds = time.perf_counter() - started
    times: list[list[float]] = [[] for _ in group]
    for repetition in range(config.steps):
        order = range(len(group)) if repetition % 2 == 0 else reversed(range(len(group)))
        for index in order:
            started = time.perf_counter()
            steps[index]()
            times[index].append(time.perf_counter() - started)
    rows = []
    for entry, seconds in zip(group, times):
        ordered = torch.tensor(seconds, dtype=torch.float64)
        median = ordered.median().item()
        low, high = ordered.quantile(0.25).item(), ordered.quantile(0.75).item()
        rows.append({"model": entry.name, "mode": mode, "batch_size": config.batch_size,
                     "image_size": list(config.image_size), "images_per_second": config.batch_size / median,
                     "milliseconds_per_step": 1000 * median, "spread": (high - low) / median, "steps": len(seconds),
                     "warmup_seconds": warmup_seconds,
                     "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None})
    del steps
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def _groups(names: Sequence[str], known: dict[str, Entry]) -> list[list[Entry]]:
    """Each selected model with its selected torchvision counterpart (timed together, in turns), then the others alone."""
    pairs = [[known[name], known[known[name].counterpart]] for name in names if known[name].counterpart in names]
    paired = {entry.name for pair in pairs for entry in pair}
    return pairs + [[known[name]] for name in names if name not in paired]


def selected_entries(config: BenchConfig) -> tuple[dict[str, Entry], list[str]]:
    """Every entry by name (the configured ones "unet[width=0.25]" among them) and the names `config` selects; an
    unknown name or a model option out of range is refused here, before anything is built or timed."""
    known = {entry.name: entry for entry in entries()}
    names = list(config.models) if config.models else list(known)
    known.update({name: _configured(name) for name in names if name not in known and "[" in name})
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown bench model(s) {unknown}; choose from {sorted(known)}")
    return known, names


def _triton_present() -> bool:
    """torch.compile's GPU backend (inductor) generates Triton kernels."""
    return importlib.util.find_spec("triton") is not None


def _lacking(mode: str, device: torch.device) -> tuple[str, bool] | None:
    """Why `device` cannot run `mode` natively, and whether naming the mode runs it anyway; None when it can."""
    if device.type == "cpu" and "bf16" in mode.split("+") and not cpu_has_native_bf16():
        return (f"this CPU ({cpu_name()}) has no AVX-512 BF16 or AMX, so bf16 would be emulated, slower than fp32 "
                f"(over 20 minutes for the quick bench on such a processor)"), True
    if "compile" in mode.split("+"):
        if device.type == "cpu" and not _compiler_present():
            return "torch.compile on the CPU needs a C++ compiler (g++ or clang++) and none was found", False
        if device.type == "cpu":
            return "torch.compile is measured on the GPU only (on the CPU it compiles for minutes per model)", True
        if device.type == "cuda" and not _triton_present():
            return "torch.compile on the GPU needs Triton and it is not installed", False
    return None


def mode_plan(config: BenchConfig, device: torch.device) -> tuple[list[str], dict[str, str], list[str]]:
    """(the modes to run, {skipped mode: why}, the lines to print): a mode `device` lacks natively is skipped with a
    line naming it and why, unless `config.force_modes` (the user named it with --modes): then it runs, after a
    warning line. A mode it cannot run at all (no compiler) is skipped either way."""
    run, skipped, lines = [], {}, []
    for mode in config.modes:
        lacking = _lacking(mode, device)
        if lacking is None:
            run.append(mode)
        elif config.force_modes and lacking[1]:
            run.append(mode)
            lines.append(f"{mode} warning: {lacking[0]}; measured anyway, since --modes names it")
        else:
            skipped[mode] = lacking[0]
            again = "; name it in --modes to measure it anyway" if lacking[1] else ""
            lines.append(f"{mode} skipped: {lacking[0]}{again}")
    return run, skipped, lines


def run_bench(config: BenchConfig, *, log=print) -> list[dict]:
    """Measure every selected entry in every mode the device runs natively (`mode_plan`: the others are skipped
    with a line saying why, unless `config.force_modes`); rows carry ratio (ours / torchvision) and MFU where known."""
    known, names = selected_entries(config)
    device = resolve_device(config.device)
    Runtime(device=device).setup()
    modes, _, lines = mode_plan(config, device)
    for line in lines:
        log(line)
    rows = []
    for group in _groups(names, known):
        flops = {entry.name: _forward_flops(entry, config) for entry in group}
        for mode in modes:
            try:
                measured = measure_group(group, mode, config, device)
            except torch.OutOfMemoryError:
                log(f"{group[0].name:28s} {mode:28s} out of memory at batch {config.batch_size}")
                torch.cuda.empty_cache()
                continue
            for row in measured:
                row["forward_gflops_per_image"] = flops[row["model"]] / 1e9
                peak = peak_flops(device, "bf16" if "bf16" in mode else "fp32", config.peak_tflops)
                row["mfu"] = 3 * flops[row["model"]] * row["images_per_second"] / peak if peak else None
                rows.append(row)
                log(format_row(row))
    by_key = {(row["model"], row["mode"]): row for row in rows}
    for row in rows:
        counterpart = known[row["model"]].counterpart
        other = by_key.get((counterpart, row["mode"])) if counterpart else None
        row["versus"] = counterpart
        row["ratio"] = row["images_per_second"] / other["images_per_second"] if other else None
    return rows


def format_row(row: dict) -> str:
    memory = f"{row['peak_memory_gib']:6.2f} GiB" if row.get("peak_memory_gib") is not None else "         -"
    mfu = f"{100 * row['mfu']:5.1f}%" if row.get("mfu") is not None else "     -"
    ratio = f"{row['ratio']:5.2f}x" if row.get("ratio") is not None else "     -"
    return (f"{row['model']:32s} {row['mode']:28s} {row['images_per_second']:8.1f} img/s "
            f"+-{100 * row.get('spread', 0) / 2:3.0f}% {memory} {row['forward_gflops_per_image']:8.1f} GFLOPs {mfu} {ratio}")


def format_table(rows: Sequence[dict], device: str) -> str:
    header = (f"{'model':32s} {'setting':28s} {'median throughput':>20s} {'peak mem':>10s} {'fwd/image':>15s} "
              f"{'MFU':>6s} {'ours/tv':>6s}")
    lines = [f"training throughput on {device}", header, "-" * len(header)]
    lines += [format_row(row) for row in rows]
    return "\n".join(lines)


def ratio_agreement(runs: Sequence[Sequence[dict]]) -> list[dict]:
    """For each pair and setting measured in every run: the ours/torchvision ratios and how far apart they are
    (largest over smallest, minus 1)."""
    keys = [(row["model"], row["mode"]) for row in runs[0] if row.get("ratio") is not None]
    agreement = []
    for model, mode in keys:
        ratios = [next(row["ratio"] for row in run if (row["model"], row["mode"]) == (model, mode)) for run in runs]
        agreement.append({"model": model, "mode": mode, "ratios": ratios, "spread": max(ratios) / min(ratios) - 1})
    return agreement


def format_agreement(agreement: Sequence[dict]) -> str:
    lines = ["ours/torchvision across runs (spread = largest / smallest - 1):"]
    for item in agreement:
        ratios = " ".join(f"{ratio:5.2f}" for ratio in item["ratios"])
        lines.append(f"  {item['model']:28s} {item['mode']:22s} {ratios}   spread {100 * item['spread']:4.1f}%")
    worst = max((item["spread"] for item in agreement), default=0.0)
    lines.append(f"largest spread: {100 * worst:.1f}%")
    return "\n".join(lines)
