"""Training throughput of every model, side by side with torchvision's segmentation models.

    python -m segedu bench                          # on the GPU: CamVid size 368x480, batch 8, all settings
    python -m segedu bench --device cpu --quick     # the same comparison on the CPU at small sizes (< 1 minute)

For each model and each setting (fp32 or bf16 autocast, channels_last on or off, torch.compile on or off) it times
full training steps (forward, cross-entropy, backward, AdamW step) on a synthetic batch (the model alone; the data
pipeline is measured separately with --data) and prints images/s, peak GPU memory, and:

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
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .engine import resolve_device
from .measure import count_flops

__all__ = ["BenchConfig", "Entry", "entries", "run_bench", "format_table", "peak_flops", "data_pipeline"]

# Dense peak FLOP/s per device name fragment: (bf16, tf32), from the vendors' data sheets (no sparsity).
PEAKS = {"H200": (989e12, 494e12), "H100 PCIe": (756e12, 378e12), "H100": (989e12, 494e12),
         "A100": (312e12, 156e12), "L40S": (362e12, 181e12), "A10G": (70e12, 35e12), "L4": (121e12, 60e12)}


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

    @classmethod
    def quick(cls, **overrides) -> BenchConfig:
        """Small sizes for the CPU: each comparison pair and U-Net at 64x96, batch 2, 2 timed steps."""
        options = dict(device="cpu", image_size=(64, 96), batch_size=2, steps=2, warmup=1,
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
        from .models import build_model

        return build_model(name, num_classes=num_classes, **options)

    return build


def _torchvision(name: str) -> Callable[[int], nn.Module]:
    def build(num_classes: int) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=num_classes)

    return build


def entries() -> list[Entry]:
    """Every model of segedu (paper configurations), the three matched to torchvision, and torchvision's four."""
    from .models import MODELS

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


def _logits(output) -> torch.Tensor:
    return output["out"] if isinstance(output, dict) else output


def _loss(output, masks) -> torch.Tensor:
    if isinstance(output, dict):  # torchvision's and PSPNet's {'out', 'aux'}
        return sum(F.cross_entropy(value, masks) * (1.0 if key == "out" else 0.4) for key, value in output.items()
                   if value is not None)
    return F.cross_entropy(output, masks)


def _forward_flops(entry: Entry, config: BenchConfig) -> int:
    """Forward FLOPs for one image, counted on the meta device (no memory, no time)."""
    with torch.device("meta"):
        model = entry.build(config.num_classes).eval()
        return count_flops(model, torch.empty(1, 3, *config.image_size))


def measure_one(entry: Entry, mode: str, config: BenchConfig, device: torch.device) -> dict:
    """Time `config.steps` training steps of `entry` in `mode` after `config.warmup`; one result row."""
    bf16, channels_last, compiled = "bf16" in mode, "channels_last" in mode, "compile" in mode
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(0)
    model = entry.build(config.num_classes).to(device, memory_format=memory_format).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    step_model = torch.compile(model) if compiled else model
    images = torch.randn(config.batch_size, 3, *config.image_size, device=device).to(memory_format=memory_format)
    masks = torch.randint(0, config.num_classes, (config.batch_size, *config.image_size), device=device)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output = step_model(images)
        loss = _loss(output, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def synchronize():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(config.warmup):
        step()
    synchronize()
    warmup_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(config.steps):
        step()
    synchronize()
    seconds = time.perf_counter() - started
    row = {"model": entry.name, "mode": mode, "batch_size": config.batch_size, "image_size": list(config.image_size),
           "images_per_second": config.batch_size * config.steps / seconds,
           "milliseconds_per_step": 1000 * seconds / config.steps, "warmup_seconds": warmup_seconds,
           "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None}
    del model, optimizer, step_model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def run_bench(config: BenchConfig, *, log=print) -> list[dict]:
    """Measure every selected entry in every mode; rows carry ratio (ours / torchvision) and MFU where known."""
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    known = {entry.name: entry for entry in entries()}
    names = list(config.models) if config.models else list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown bench model(s) {unknown}; choose from {sorted(known)}")
    rows = []
    for name in names:
        entry = known[name]
        flops = _forward_flops(entry, config)
        for mode in config.modes:
            if "compile" in mode and device.type == "cpu":
                log(f"{name:28s} {mode:28s} skipped: torch.compile is measured on the GPU only")
                continue
            try:
                row = measure_one(entry, mode, config, device)
            except torch.OutOfMemoryError:
                log(f"{name:28s} {mode:28s} out of memory at batch {config.batch_size}")
                torch.cuda.empty_cache()
                continue
            row["forward_gflops_per_image"] = flops / 1e9
            peak = peak_flops(device, "bf16" if "bf16" in mode else "fp32", config.peak_tflops)
            row["mfu"] = 3 * flops * row["images_per_second"] / peak if peak else None
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
    return (f"{row['model']:32s} {row['mode']:28s} {row['images_per_second']:8.1f} img/s {memory} "
            f"{row['forward_gflops_per_image']:8.1f} GFLOPs {mfu} {ratio}")


def format_table(rows: Sequence[dict], device: str) -> str:
    header = (f"{'model':32s} {'setting':28s} {'throughput':>14s} {'peak mem':>10s} {'fwd/image':>15s} "
              f"{'MFU':>6s} {'ours/tv':>6s}")
    lines = [f"training throughput on {device}", header, "-" * len(header)]
    lines += [format_row(row) for row in rows]
    return "\n".join(lines)


def data_pipeline(*, image_size: tuple[int, int], batch_size: int, workers: Sequence[int], batches: int,
                  keep_decoded: Sequence[bool] = (False, True), log=print) -> list[dict]:
    """Images/s the CamVid training loader delivers (augmenting, decoding or not) for each worker count."""
    from .data import build_dataset
    from .engine import _loader

    rows = []
    for keep in keep_decoded:
        for count in workers:
            dataset = build_dataset("camvid", "train", image_size=image_size, augment=True)
            if keep:
                dataset.keep_decoded()
            loader = _loader(dataset, batch_size, workers=count, device=torch.device("cpu"), shuffle=True,
                             generator=torch.Generator().manual_seed(0), drop_last=True)
            iterator = iter(loader)
            next(iterator)  # workers started
            limit = min(batches, len(loader) - 1)
            started = time.perf_counter()
            for _ in range(limit):
                next(iterator)
            seconds = time.perf_counter() - started
            rows.append({"workers": count, "keep_decoded": keep, "images_per_second": limit * batch_size / seconds})
            log(f"data: workers {count}, decoded kept {keep!s:5s}: {rows[-1]['images_per_second']:8.1f} img/s")
            del iterator, loader
    return rows


def main(arguments) -> int:
    """The `python -m segedu bench` command (arguments from segedu.__main__)."""
    options = {}
    if arguments.models:
        options["models"] = tuple(arguments.models.split(","))
    if arguments.modes:
        options["modes"] = tuple(arguments.modes.split(","))
    for key in ("batch_size", "steps", "warmup", "peak_tflops"):
        if getattr(arguments, key) is not None:
            options[key] = getattr(arguments, key)
    if arguments.image_size is not None:
        options["image_size"] = arguments.image_size
    if arguments.device is not None:
        options["device"] = arguments.device
    config = BenchConfig.quick(**options) if arguments.quick else BenchConfig(**options)
    device = resolve_device(config.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"segedu bench on {name}: {config.image_size[0]}x{config.image_size[1]}, batch {config.batch_size}, "
          f"{config.steps} timed steps after {config.warmup}; torch {torch.__version__}")
    started = time.perf_counter()
    rows = run_bench(config, log=lambda line: None)
    print(format_table(rows, name))
    report = {"device": name, "config": dataclasses.asdict(config), "rows": rows, "torch": torch.__version__}
    if arguments.data:
        size = (96, 128) if arguments.quick else (360, 480)
        workers = (0, 1) if arguments.quick else (0, 2, 4, 8)
        report["data"] = data_pipeline(image_size=size, batch_size=config.batch_size, workers=workers,
                                       batches=4 if arguments.quick else 40)
        fastest_model = max((row["images_per_second"] for row in rows), default=0.0)
        fastest_data = max(row["images_per_second"] for row in report["data"])
        print(f"data pipeline: up to {fastest_data:.0f} img/s; fastest model trains at {fastest_model:.0f} img/s "
              f"(ratio {fastest_data / max(fastest_model, 1e-9):.2f}; below 1 the loader would starve it)")
    print(f"bench finished in {time.perf_counter() - started:.0f} s")
    if arguments.output:
        Path(arguments.output).write_text(json.dumps(report, indent=1))
        print(f"written: {arguments.output}")
    return 0
