"""Training throughput of every model, side by side with torchvision's segmentation models.

    python -m segedu bench                          # on the GPU: CamVid size 368x480, batch 8, all settings
    python -m segedu bench --device cpu --quick     # the same comparison on the CPU at small sizes (< 1 minute)

For each model and each setting (fp32 or bf16 autocast, channels_last on or off, torch.compile on or off) it times
full training steps, `fit`'s own (forward, the training loss with any auxiliary head, backward, AdamW step), on a
synthetic batch (the model alone; the data pipeline is measured separately with --data). A model and its torchvision
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

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from ..arguments import image_size, parse_options
from ..engine import TrainConfig, cross_entropy, training_loss
from ..measure import count_flops
from ..runtime import Runtime, resolve_device

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
        from ..models import build_model

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

    match = re.fullmatch(r"(\w+)\[(.*)\]", name)
    if not match:
        raise ValueError(f"bench model {name!r}: write NAME[key=value;key=value]")
    pairs = [pair.strip().replace(" ", "") for pair in match.group(2).split(";") if pair.strip()]
    options = parse_options(pairs, option=f"bench model {name!r}:", example="width=0.25")
    return Entry(name, _ours(match.group(1), **options))


def entries() -> list[Entry]:
    """Every model of segedu (paper configurations), the three matched to torchvision, and torchvision's four."""
    from ..models import MODELS

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
    on a fixed synthetic batch; the step is `fit`'s own (`segedu.engine.training_loss`, the runtime's optimizer)."""
    runtime = mode_runtime(mode, device)
    torch.manual_seed(0)
    model = runtime.place(entry.build(config.num_classes)).train()
    optimizer = runtime.optimizer("adamw", model.parameters(), lr=1e-4)
    step_model = runtime.compiled(model)
    images = runtime.images(torch.randn(config.batch_size, 3, *config.image_size))
    masks = runtime.masks(torch.randint(0, config.num_classes, (config.batch_size, *config.image_size)))
    loss, aux_weight = cross_entropy(), TrainConfig().aux_weight

    def step():
        with runtime.autocast():
            value = training_loss(step_model, images, masks, loss, aux_weight)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
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


def run_bench(config: BenchConfig, *, log=print) -> list[dict]:
    """Measure every selected entry in every mode; rows carry ratio (ours / torchvision) and MFU where known."""
    device = resolve_device(config.device)
    Runtime(device=device).setup()
    known = {entry.name: entry for entry in entries()}
    names = list(config.models) if config.models else list(known)
    known.update({name: _configured(name) for name in names if name not in known and "[" in name})
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown bench model(s) {unknown}; choose from {sorted(known)}")
    rows = []
    for group in _groups(names, known):
        flops = {entry.name: _forward_flops(entry, config) for entry in group}
        for mode in config.modes:
            if "compile" in mode and device.type == "cpu":
                log(f"{group[0].name:28s} {mode:28s} skipped: torch.compile is measured on the GPU only")
                continue
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


def crf_benchmark(*, image_size: tuple[int, int] = (360, 480), frames: int = 4, iterations: int = 5,
                  repeats: int = 3, log=print) -> dict:
    """Seconds per frame of the dense CRF (the paper's kernels: bilateral w 10, sigma_xy 80, sigma_rgb 13; spatial
    w 3, sigma 3) on the shipped DeepLab v3+'s logits for CamVid test frames (the stand-in's without the data):
    segedu's lattice against pydensecrf (the authors' C++) when it is installed, the median of `repeats` on the
    first frame, and the share of pixels whose labels agree on each of `frames` frames."""
    import numpy as np

    from ..crf import CRFConfig, DenseCRF
    from ..data import build_dataset, choose
    from ..engine import predict
    from ..pretrained import load_pretrained

    model, info = load_pretrained("deeplabv3plus_camvid")
    dataset = build_dataset(choose("camvid", say=lambda line: None), "test", image_size=image_size, subset=frames)
    inputs = []
    for index in range(len(dataset)):
        image_u8 = np.ascontiguousarray((dataset[index][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        image = torch.from_numpy(image_u8).permute(2, 0, 1).float() / 255
        logits = predict(model, image[None], input_size=tuple(info["data"]["image_size"]))[0]  # (11, H, W)
        inputs.append((image_u8, image, logits))
    config = CRFConfig(iterations=iterations, method="lattice")

    def ours(index: int) -> torch.Tensor:
        return DenseCRF(inputs[index][1], config)(inputs[index][2])

    def theirs(index: int) -> np.ndarray:
        image_u8, _, logits = inputs[index]
        crf = densecrf.DenseCRF2D(image_size[1], image_size[0], logits.shape[0])
        crf.setUnaryEnergy(np.ascontiguousarray(-torch.log_softmax(logits, 0).flatten(1).numpy().astype(np.float32)))
        crf.addPairwiseGaussian(sxy=config.spatial_sigma, compat=config.spatial_weight)
        crf.addPairwiseBilateral(sxy=config.bilateral_sigma_xy, srgb=config.bilateral_sigma_rgb, rgbim=image_u8,
                                 compat=config.bilateral_weight)
        return np.array(crf.inference(iterations)).reshape(logits.shape)

    def median_seconds(run) -> float:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            run(0)
            timings.append(time.perf_counter() - started)
        return sorted(timings)[len(timings) // 2]

    report = {"image_size": list(image_size), "frames": len(inputs), "iterations": iterations,
              "segedu_seconds": median_seconds(ours)}
    log(f"dense CRF, {image_size[0]}x{image_size[1]}, 11 classes, {iterations} iterations: segedu (lattice) "
        f"{report['segedu_seconds']:.3f} s per frame")
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError:
        log("pydensecrf is not installed (pip install pydensecrf2): segedu's figure alone")
        return report
    report["pydensecrf_seconds"] = median_seconds(theirs)
    report["ratio"] = report["segedu_seconds"] / report["pydensecrf_seconds"]
    report["label_agreement"] = [float((ours(i).argmax(0).numpy() == theirs(i).argmax(0)).mean())
                                 for i in range(len(inputs))]
    log(f"pydensecrf (the authors' C++) {report['pydensecrf_seconds']:.3f} s per frame; segedu / pydensecrf "
        f"{report['ratio']:.1f}x; labels agree on " + ", ".join(f"{100 * a:.2f}%" for a in report["label_agreement"])
        + f" of the pixels ({len(inputs)} frames, the shipped DeepLab v3+'s logits)")
    return report


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


def data_pipeline(*, image_size: tuple[int, int], batch_size: int, workers: Sequence[int], batches: int,
                  keep_decoded: Sequence[bool] = (False, True), log=print) -> list[dict]:
    """Images/s the CamVid training loader delivers (augmenting, decoding or not) for each worker count."""
    from ..data import build_dataset

    rows = []
    for keep in keep_decoded:
        for count in workers:
            dataset = build_dataset("camvid", "train", image_size=image_size, augment=True)
            if keep:
                dataset.keep_decoded()
            loader = Runtime(device=torch.device("cpu"), workers=count).loader(
                dataset, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0), drop_last=True)
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



HELP = "training throughput of every model against torchvision's"
DESCRIPTION = ("Training throughput (images/s), peak GPU memory, MFU and ours/torchvision "
               "ratios for fp32/bf16, channels_last and torch.compile.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m segedu bench`, read by `main`."""
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    parser.add_argument("--quick", action="store_true", help="small sizes on the CPU, the comparison pairs only (< 1 min)")
    parser.add_argument("--models", help="comma-separated entries (default: all; see segedu.lab.bench.entries()), or "
                                        "models with options, e.g. unet[width=0.25],pspnet[backbone=efficientnet_lite0]")
    parser.add_argument("--modes", help="comma-separated settings, e.g. fp32,bf16,bf16+channels_last+compile")
    parser.add_argument("--image-size", type=image_size, metavar="HxW", help="input size (default 368x480)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 8)")
    parser.add_argument("--steps", type=int, help="timed training steps per setting (default 20)")
    parser.add_argument("--warmup", type=int, help="untimed steps first (default 5)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s for MFU (default: known GPUs)")
    parser.add_argument("--repeat", type=int, default=1, help="run the whole benchmark N times and print how far the "
                                                            "ours/torchvision ratios move between runs (default 1)")
    parser.add_argument("--data", action="store_true", help="also measure the CamVid data pipeline's images/s")
    parser.add_argument("--crf", action="store_true", help="instead: the dense CRF's seconds per 360x480 frame, segedu's "
                                                          "lattice against pydensecrf (the authors' C++) when installed")
    parser.add_argument("--output", type=Path, help="write every figure as JSON")


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
    runs = [run_bench(config, log=lambda line: None) for _ in range(max(1, arguments.repeat))]
    rows = runs[-1]
    for index, run in enumerate(runs):
        print(format_table(run, f"{name}, run {index + 1} of {len(runs)}"))
    report = {"device": name, "config": dataclasses.asdict(config), "rows": rows, "torch": torch.__version__}
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
    print(f"bench finished in {time.perf_counter() - started:.0f} s")
    if arguments.output:
        Path(arguments.output).write_text(json.dumps(report, indent=1))
        print(f"written: {arguments.output}")
    return 0
