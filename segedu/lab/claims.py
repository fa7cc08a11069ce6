"""The lecture's claims, each an experiment with a quantity, an effect, an interval and a verdict.

    python -m segedu claims                   # every claim; writes runs/claims/claims.md and claims.json
    python -m segedu claims --only fcn_skips_miou --seed 0
    python -m segedu claims --fast            # only the claims that take seconds (the test suite runs these)

A `Claim` names the lecture's statement, the notebook and section that teach it, what is measured and the
assertion. Its experiment returns an `Outcome`: `holds`, the effect with its 95% interval where there is one, and a
line of the numbers. The command exits with status 1 when a claim it ran does not hold: a claim is never tuned
until it passes; its settings (`segedu.lab.frozen.HeadConfig`, the seeds) were fixed before any result was seen.

Trained claims compare decoder heads on a frozen pretrained encoder's cached CamVid features (`segedu.lab.frozen`):
the same frames, encoder, steps and seeds for every head. Their effects are paired differences on the 233 test
frames, with the seeds' counts pooled; the interval is a paired bootstrap over frames
(`segedu.lab.statistics.paired_bootstrap`), and every seed must show the same sign. The committed report
(`segedu/lab/results/claims.md`, `claims.json`) records the machine, the command and each claim's CPU seconds; the
notebooks print its numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..data.classes import CAMVID_CLASSES, CAMVID_THIN, CAMVID_THINGS
from .statistics import accuracy_of, class_iou_of, miou_of, paired_bootstrap

__all__ = ["Claim", "Outcome", "CLAIMS", "Lab", "run_claims", "write_report", "committed_report", "show", "main"]

LABEL_SIZE = (360, 480)  # CamVid's own resolution: where predictions made at every input size are scored
INPUT_SIZES = ((90, 120), (180, 240), (360, 480))  # the input-size claim: a quarter, half and all of CamVid's pixels
REPORT = Path(__file__).parent / "results"


@dataclasses.dataclass
class Outcome:
    """What an experiment measured: `holds`, the effect and its interval (None for exact counts), and `summary`,
    one line with the numbers; `numbers` keeps every figure for the JSON report and the notebooks."""

    holds: bool
    summary: str
    effect: float | None = None
    interval: tuple[float, float] | None = None
    unit: str = ""
    numbers: dict = dataclasses.field(default_factory=dict)
    seeds: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    statement: str  # the lecture's words, in English
    notebook: str
    section: str
    quantity: str
    assertion: str
    experiment: Callable[["Lab"], Outcome]
    fast: bool = False  # seconds, no data: runs in the test suite


# ---- the shared experiments: cached features, heads trained once per seed, their test scores -------------------

class Lab:
    """Everything the trained claims share, computed on first use: CamVid's features through the frozen encoder at
    output strides 32 and 8, and each head's per-frame test scores for each seed."""

    def __init__(self, *, seeds: tuple[int, ...] | None = None, data: str = "camvid", training=None,
                 models: Path | str | None = None):
        from .endtoend import TrainingConfig
        from .frozen import HeadConfig

        self.config = HeadConfig() if seeds is None else dataclasses.replace(HeadConfig(), seeds=tuple(seeds))
        self.training = (training or TrainingConfig())
        self.training = dataclasses.replace(self.training, seeds=self.config.seeds)
        self.data = data
        self._scores: dict[tuple, object] = {}
        self._heads: dict[tuple[str, int], nn.Module] = {}
        self._sized: dict[tuple[int, int], dict] = {}
        self._deconvnet: dict | None = None  # DeconvNet and FCN-8s trained once per seed (`_deconvnet_runs`)
        self.models = Path(models) if models is not None else None  # trained networks kept here (`trained`)

    def trained(self, name: str, seed: int, build, fit) -> nn.Module:
        """The network `name` trained with `seed`: `fit(build())`, or, when `models` names a folder that holds it
        trained with this training configuration, `build()` with the kept weights (`{name}-seed{seed}.pt`, written
        atomically, read with `weights_only=True` after a CRC check). A file kept under another configuration is
        trained again and replaced. So a long claim interrupted, or split over processes, does not train twice."""
        from ..checkpoint import load_checkpoint, save_checkpoint

        settings = {key: value for key, value in dataclasses.asdict(self.training).items() if key != "seeds"}
        recipe = {"name": name, "seed": seed, "training": settings}  # the other seeds run do not change this one
        path = None if self.models is None else self.models / f"{name}-seed{seed}.pt"
        if path is not None and path.is_file():
            state = load_checkpoint(path)
            if state.get("recipe") == recipe:
                model = build()
                model.load_state_dict(state["model"])
                return model.eval()
        model = fit(build()).eval()
        if path is not None:
            save_checkpoint(path, {"model": model.state_dict(), "recipe": recipe})
        return model

    def _cache(self, split: str, output_stride: int, levels: tuple[str, ...]):
        from .frozen import FeatureCache

        return FeatureCache(self.data, split, image_size=self.config.image_size, output_stride=output_stride,
                            levels=levels)

    @cached_property
    def stride32(self):
        return {split: self._cache(split, 32, ("level3", "level4", "level5")) for split in ("train", "test")}

    @cached_property
    def stride8(self):
        return {split: self._cache(split, 8, ("level5",)) for split in ("train", "val", "test")}

    def caches(self, kind: str):
        from .frozen import FCN_LEVELS

        return self.stride32 if kind in FCN_LEVELS else self.stride8

    def head(self, kind: str, seed: int) -> nn.Module:
        from .frozen import train_head

        if (kind, seed) not in self._heads:
            self._heads[kind, seed] = train_head(kind, self.caches(kind)["train"], self.config, seed=seed)
        return self._heads[kind, seed]

    def scores(self, kind: str, seed: int):
        """Per-frame test counts (`segedu.lab.frozen.Scores`) of head `kind` trained with `seed`."""
        from .frozen import predict_head, score_frames

        if (kind, seed) not in self._scores:
            test = self.caches(kind)["test"]
            predictions = predict_head(self.head(kind, seed), test).argmax(1)
            self._scores[kind, seed] = score_frames(predictions, test.masks.long(), band_width=self.config.band_width)
        return self._scores[kind, seed]

    def at_size(self, size: tuple[int, int]):
        """Train and test features at output stride 32 for frames resized to `size` (the configured size is
        `stride32` itself)."""
        if tuple(size) == tuple(self.config.image_size):
            return self.stride32
        if size not in self._sized:
            from .frozen import FeatureCache

            self._sized[size] = {split: FeatureCache(self.data, split, image_size=size, output_stride=32,
                                                     levels=("level3", "level4", "level5")) for split in ("train", "test")}
        return self._sized[size]

    def scores_at_size(self, kind: str, seed: int, size: tuple[int, int]):
        """Per-frame test counts of head `kind` trained (seed `seed`) on frames at `size`, its predictions
        upsampled to and scored against the labels at LABEL_SIZE, so every size is judged on the same pixels."""
        from .frozen import predict_head, score_frames, train_head

        key = (kind, seed, tuple(size))
        if key not in self._scores:
            caches = self.at_size(size)
            head = train_head(kind, caches["train"], self.config, seed=seed)
            labels = self.at_size(LABEL_SIZE)["test"].masks.long()
            predictions = torch.cat([chunk.argmax(1) for chunk in
                                     predict_head(head, caches["test"], size=LABEL_SIZE).split(32)])
            self._scores[key] = score_frames(predictions, labels, band_width=self.config.band_width)
        return self._scores[key]

    def pooled(self, kind: str):
        """The counts of every seed added: the seeds' average model, scored once."""
        scores = [self.scores(kind, seed) for seed in self.config.seeds]
        total = scores[0]
        for more in scores[1:]:
            total = total + more
        return total


def _compare(lab: Lab, better: str, worse: str, measure: str, *, classes: tuple[int, ...] | None = None):
    """(pooled interval, per-seed differences) of `measure` ("miou" or "band"), `better` minus `worse`."""
    if measure == "band":
        score = accuracy_of
        pick = lambda scores: scores.band  # noqa: E731
    else:
        score = (lambda matrices: miou_of(matrices, list(classes))) if classes else miou_of
        pick = lambda scores: scores.confusions  # noqa: E731
    pooled = paired_bootstrap(pick(lab.pooled(better)), pick(lab.pooled(worse)), score, seed=0)
    per_seed = [float(score(pick(lab.scores(better, seed)).sum(0).double()[None]) -
                      score(pick(lab.scores(worse, seed)).sum(0).double()[None])) for seed in lab.config.seeds]
    return pooled, per_seed


def _value(lab: Lab, kind: str, measure: str, classes=None) -> float:
    pooled = lab.pooled(kind)
    if measure == "band":
        return float(accuracy_of(pooled.band.sum(0).double()))
    return float(miou_of(pooled.confusions.sum(0).double()[None], list(classes) if classes else None))


def _ranking(lab: Lab, kinds: tuple[str, ...], measure: str, what: str, *, classes=None) -> Outcome:
    """kinds[0] > kinds[1] > ...: each neighbouring difference's interval above 0 and positive for every seed."""
    values = {kind: _value(lab, kind, measure, classes) for kind in kinds}
    steps, holds = {}, True
    for better, worse in zip(kinds, kinds[1:]):
        interval, per_seed = _compare(lab, better, worse, measure, classes=classes)
        steps[f"{better} - {worse}"] = {"effect": interval.effect, "interval": [interval.low, interval.high],
                                        "per_seed": per_seed}
        holds &= interval.low > 0 and min(per_seed) > 0
    first = steps[f"{kinds[0]} - {kinds[1]}"]
    shown = ", ".join(f"{kind} {100 * value:.1f}" for kind, value in values.items())
    differences = "; ".join(f"{name}: {100 * s['effect']:+.1f} [{100 * s['interval'][0]:+.1f}, "
                            f"{100 * s['interval'][1]:+.1f}], per seed "
                            + "/".join(f"{100 * d:+.1f}" for d in s["per_seed"]) for name, s in steps.items())
    return Outcome(holds, f"{what}: {shown} (%, {len(lab.config.seeds)} seeds pooled); {differences} points, 95% "
                          f"paired bootstrap over {len(lab.caches(kinds[0])['test'])} test frames",
                   first["effect"], tuple(first["interval"]), "points", {"values": values, "steps": steps},
                   lab.config.seeds)


def fcn_skips_miou(lab: Lab) -> Outcome:
    return _ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "miou", "test mIoU")


def fcn_skips_boundary(lab: Lab) -> Outcome:
    return _ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "band",
                    f"accuracy within {lab.config.band_width} px of a boundary")


def fcn_skips_thin(lab: Lab) -> Outcome:
    return _ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "miou", "mean IoU of Pole, SignSymbol and Pedestrian",
                    classes=CAMVID_THIN)


SIZE_BINS = (256, 4096)  # object area in pixels at 180x240: small below 16x16, large from 64x64 (a tenth of the frame)


def object_statistics(predictions: torch.Tensor, masks: torch.Tensor, *, classes: tuple[int, ...],
                      regions: list | None = None) -> tuple[torch.Tensor, list]:
    """Per frame and object size (small, medium, large by `SIZE_BINS`): [recall summed over the objects, objects,
    fragmented objects] -> (F, 3, 3). An object is an 8-connected region of a class in `classes` (4 pixels or more);
    its recall is the share of its pixels predicted as its class; it is fragmented when two classes or more each
    take at least 5% of its pixels. `regions` (from an earlier call on the same masks) skips finding them again."""
    from ..losses import connected_components

    if regions is None:
        regions = [[(label, connected_components(mask == label)) for label in classes] for mask in masks]
    statistics = torch.zeros(len(masks), 3, 3, dtype=torch.float64)
    for frame, (prediction, found) in enumerate(zip(predictions, regions)):
        for label, components in found:
            for component in range(1, int(components.max()) + 1):
                inside = prediction[components == component]
                if len(inside) < 4:
                    continue
                size = sum(len(inside) >= bound for bound in SIZE_BINS)
                shares = torch.bincount(inside, minlength=256).double() / len(inside)
                statistics[frame, size] += torch.tensor([shares[label], 1.0, float((shares >= 0.05).sum() >= 2)],
                                                        dtype=torch.float64)
    return statistics, regions


def fcn_object_sizes(lab: Lab) -> Outcome:
    """The DeconvNet review on FCN's fixed receptive field: an object much larger than it is seen piece by piece and
    comes out fragmented, an object much smaller is lost to the background. The FCN-32s and FCN-8s heads of
    `fcn_skips_miou`, scored per object of CamVid's countable classes (Pole, SignSymbol, Car, Pedestrian,
    Bicyclist) on the 233 test frames, by size. Holds when, for FCN-32s, small objects keep a smaller share of their
    pixels than medium ones (lost) and large objects are more often broken into several classes than medium ones
    (fragmented), both intervals away from 0 and every seed agreeing."""
    from .frozen import predict_head

    test = lab.stride32["test"]
    masks = test.masks.long()
    regions, per_kind = None, {}
    for kind in ("fcn32s", "fcn8s"):
        per_kind[kind] = []
        for seed in lab.config.seeds:
            predictions = predict_head(lab.head(kind, seed), test).argmax(1)
            statistics, regions = object_statistics(predictions, masks, classes=CAMVID_THINGS, regions=regions)
            per_kind[kind].append(statistics)
    recall = lambda counts: counts[..., 0] / counts[..., 1].clamp(min=1e-9)  # noqa: E731
    fragments = lambda counts: counts[..., 2] / counts[..., 1].clamp(min=1e-9)  # noqa: E731
    bins = ("small", "medium", "large")
    runs = per_kind["fcn32s"]
    lost = _paired([r[:, 1] for r in runs], [r[:, 0] for r in runs], lambda s: s, recall)
    broken = _paired([r[:, 2] for r in runs], [r[:, 1] for r in runs], lambda s: s, fragments)
    steps = {"recall, medium - small": _step(*lost), "fragmented, large - medium": _step(*broken)}
    totals = {kind: sum(r).sum(0) for kind, r in per_kind.items()}  # (3 sizes, 3): every frame and seed added
    table = {kind: {size: {"recall": float(recall(total[index])), "fragmented": float(fragments(total[index])),
                           "objects": int(total[index, 1]) // len(per_kind[kind])}
                    for index, size in enumerate(bins)} for kind, total in totals.items()}
    holds = all(step["interval"][0] > 0 and min(step["per_seed"]) > 0 for step in steps.values())
    shown = "; ".join(f"{kind}: " + ", ".join(f"{size} recall {100 * v['recall']:.1f}%, fragmented {100 * v['fragmented']:.1f}%"
                                              for size, v in row.items()) for kind, row in table.items())
    counts = ", ".join(f"{v['objects']} {size}" for size, v in table["fcn32s"].items())
    return Outcome(holds, f"objects of the countable classes in the 233 test frames at 180x240 ({counts}; small "
                          f"< {SIZE_BINS[0]} px, large >= {SIZE_BINS[1]} px), 3 seeds pooled: {shown}. FCN-32s: "
                   + "; ".join(_shown(name, step) for name, step in steps.items())
                   + " points, 95% paired bootstrap over test frames",
                   steps["recall, medium - small"]["effect"], tuple(steps["recall, medium - small"]["interval"]),
                   "points", {"table": table, "steps": steps}, lab.config.seeds)


def linear_probe_depth(lab: Lab) -> Outcome:
    """The lecture's fixed feature extractor with a linear classifier, one level at a time: deeper levels carry the
    high-level (semantic) information, so a linear probe scores higher the deeper its level."""
    return _ranking(lab, ("linear5", "linear4", "linear3"), "miou",
                    "test mIoU of a linear classifier on one frozen level")


def hypercolumn_levels(lab: Lab) -> Outcome:
    """Hypercolumns (Hariharan et al. 2015): every level's features at a pixel, concatenated, under one linear
    classifier, beat each level alone, in mIoU (semantics) and in the boundary band (detail)."""
    singles = ("linear3", "linear4", "linear5")
    values = {kind: {measure: _value(lab, kind, measure) for measure in ("miou", "band")}
              for kind in ("hypercolumn",) + singles}
    steps, holds = {}, True
    for measure in ("miou", "band"):
        for single in singles:
            interval, per_seed = _compare(lab, "hypercolumn", single, measure)
            steps[f"{measure}: hypercolumn - {single}"] = {"effect": interval.effect,
                                                           "interval": [interval.low, interval.high],
                                                           "per_seed": per_seed}
            holds &= interval.low > 0 and min(per_seed) > 0
    best = {measure: max(singles, key=lambda kind: values[kind][measure]) for measure in ("miou", "band")}
    closest = min(steps, key=lambda name: steps[name]["effect"])
    shown = "; ".join(f"{kind} mIoU {100 * v['miou']:.1f}, band {100 * v['band']:.1f}" for kind, v in values.items())
    return Outcome(holds, f"{shown} (%, {len(lab.config.seeds)} seeds pooled); best single level: {best['miou']} in "
                          f"mIoU, {best['band']} in the band; smallest lead, {closest}: "
                          f"{100 * steps[closest]['effect']:+.1f} [{100 * steps[closest]['interval'][0]:+.1f}, "
                          f"{100 * steps[closest]['interval'][1]:+.1f}] points, per seed "
                          + "/".join(f"{100 * d:+.1f}" for d in steps[closest]["per_seed"]),
                   steps[closest]["effect"], tuple(steps[closest]["interval"]), "points",
                   {"values": values, "steps": steps, "best_single": best}, lab.config.seeds)


def context_pyramid(lab: Lab) -> Outcome:
    return _ranking(lab, ("pyramid", "plain"), "miou", "test mIoU on the dilated encoder (output stride 8)")


def context_aspp(lab: Lab) -> Outcome:
    return _ranking(lab, ("aspp", "plain"), "miou", "test mIoU on the dilated encoder (output stride 8)")


def context_large_regions(lab: Lab) -> Outcome:
    """Context helps most on large regions: the IoU gain (pyramid and ASPP over plain, averaged) on the four classes
    with the most training pixels exceeds the gain on the other seven."""
    train = lab.stride8["train"].masks
    shares = torch.bincount(train[train != 255].long(), minlength=11).double()
    large = shares.argsort(descending=True)[:4].tolist()
    small = [c for c in range(11) if c not in large]

    def gain(kind):
        return class_iou_of(lab.pooled(kind).confusions.sum(0).double()) - class_iou_of(
            lab.pooled("plain").confusions.sum(0).double())

    gains = (gain("pyramid") + gain("aspp")) / 2  # (11,)
    large_gain, small_gain = float(gains[large].nanmean()), float(gains[small].nanmean())
    names = lambda classes: ", ".join(CAMVID_CLASSES[c] for c in classes)  # noqa: E731
    return Outcome(large_gain > small_gain,
                   f"IoU gain of context over the plain head: {100 * large_gain:+.1f} points on the largest classes "
                   f"({names(large)}) vs {100 * small_gain:+.1f} on the others",
                   large_gain - small_gain, None, "points",
                   {"large": large, "gain_large": large_gain, "gain_others": small_gain,
                    "per_class_gain": gains.tolist()}, lab.config.seeds)


def crf_on_largefov(lab: Lab) -> Outcome:
    """DeepLab v1: the dense CRF on a stride-8 model without a decoder sharpens boundaries. Kernel parameters are
    chosen on 25 validation frames from DeepLab's search ranges; test: the 233 test frames at 360x480."""
    from ..crf import CRFConfig, dense_crf
    from ..data import build_dataset
    from .frozen import predict_head, score_frames

    size = (360, 480)

    def frames(split, count=None):
        dataset = build_dataset(lab.data, split, image_size=size, subset=count)
        images, masks = zip(*[dataset[i] for i in range(len(dataset))])
        return torch.stack(images), torch.stack(masks).long()

    def refine(images, logits, config):
        return torch.cat([dense_crf(images[i:i + 8], logits[i:i + 8], config).argmax(1)
                          for i in range(0, len(images), 8)])

    seed0 = lab.head("largefov", lab.config.seeds[0])
    val_cache = lab.stride8["val"]
    count = 25
    val_images, val_masks = frames("val", count)
    val_logits = predict_head(seed0, val_cache, size=size)[:count]
    grid = [CRFConfig(bilateral_weight=w, bilateral_sigma_xy=xy, bilateral_sigma_rgb=rgb)
            for w in (3.0, 5.0) for xy in (50.0, 80.0) for rgb in (3.0, 5.0)]
    validation = [float(miou_of(score_frames(refine(val_images, val_logits, c), val_masks).confusions.sum(0)
                                .double()[None])) for c in grid]
    chosen = grid[max(range(len(grid)), key=validation.__getitem__)]
    test_images, test_masks = frames("test")
    before, after = None, None
    for seed in lab.config.seeds:
        logits = predict_head(lab.head("largefov", seed), lab.stride8["test"], size=size)
        plain, refined = score_frames(logits.argmax(1), test_masks), score_frames(refine(test_images, logits, chosen),
                                                                                  test_masks)
        before = plain if before is None else before + plain
        after = refined if after is None else after + refined
    band = paired_bootstrap(after.band, before.band, accuracy_of)
    miou = paired_bootstrap(after.confusions, before.confusions, miou_of)
    value = lambda scores, measure: float(measure(  # noqa: E731
        (scores.band if measure is accuracy_of else scores.confusions).sum(0).double()[None]))
    return Outcome(band.low > 0,
                   f"360x480 test frames, CRF (w {chosen.bilateral_weight:g}, sigma_xy {chosen.bilateral_sigma_xy:g}, "
                   f"sigma_rgb {chosen.bilateral_sigma_rgb:g}, chosen on {count} validation frames): boundary-band "
                   f"accuracy {100 * value(before, accuracy_of):.1f} -> {100 * value(after, accuracy_of):.1f} "
                   f"({band.percent()}), mIoU {100 * value(before, miou_of):.1f} -> {100 * value(after, miou_of):.1f} "
                   f"({miou.percent()})",
                   band.effect, (band.low, band.high), "points",
                   {"chosen": dataclasses.asdict(chosen), "validation_miou": validation,
                    "band": [value(before, accuracy_of), value(after, accuracy_of)],
                    "miou": [value(before, miou_of), value(after, miou_of)],
                    "miou_effect": miou.effect, "miou_interval": [miou.low, miou.high]}, lab.config.seeds)


def input_size_trained(lab: Lab) -> Outcome:
    """The lecture (000, "Input Size 선정"): choosing the input size matters as much as choosing the model; a larger
    input needs more memory in training and in inference. FCN-8s heads are trained on the frozen encoder's features
    of the same 367 frames resized to 90x120, 180x240 and 360x480 (same epochs, steps and seeds), and every
    prediction is upsampled to 360x480 and scored against the same labels. Cost: the whole network (EfficientNet-Lite0
    encoder and FCN-8s decoder, `build_model("fcn8s", backbone="efficientnet_lite0")`) per image at each size:
    activations a training step keeps, and CPU latency. Holds when mIoU rises with every step up in size (interval
    above 0, every seed) and memory grows with the pixels (at least 3x per doubling of the side)."""
    from ..measure import measure
    from ..models import build_model

    sizes = INPUT_SIZES
    pooled = {}
    for size in sizes:
        scores = [lab.scores_at_size("fcn8s", seed, size) for seed in lab.config.seeds]
        pooled[size] = scores[0]
        for more in scores[1:]:
            pooled[size] = pooled[size] + more
    name = lambda size: f"{size[0]}x{size[1]}"  # noqa: E731
    miou = {name(size): float(miou_of(pooled[size].confusions.sum(0).double()[None])) for size in sizes}
    thin = {name(size): float(miou_of(pooled[size].confusions.sum(0).double()[None], list(CAMVID_THIN)))
            for size in sizes}
    steps, holds = {}, True
    for smaller, larger in zip(sizes, sizes[1:]):
        interval = paired_bootstrap(pooled[larger].confusions, pooled[smaller].confusions, miou_of, seed=0)
        thin_interval = paired_bootstrap(pooled[larger].confusions, pooled[smaller].confusions,
                                         lambda m: miou_of(m, list(CAMVID_THIN)), seed=0)
        per_seed = [float(miou_of(lab.scores_at_size("fcn8s", seed, larger).confusions.sum(0).double()[None]) -
                          miou_of(lab.scores_at_size("fcn8s", seed, smaller).confusions.sum(0).double()[None]))
                    for seed in lab.config.seeds]
        steps[f"{name(larger)} - {name(smaller)}"] = {
            "effect": interval.effect, "interval": [interval.low, interval.high], "per_seed": per_seed,
            "thin_effect": thin_interval.effect, "thin_interval": [thin_interval.low, thin_interval.high]}
        holds &= interval.low > 0 and min(per_seed) > 0
    torch.manual_seed(0)
    network = build_model("fcn8s", num_classes=11, backbone="efficientnet_lite0")
    costs = {name(size): measure(network, size, batch_size=2, repeats=3) for size in sizes}
    memory = {key: cost.activation_megabytes / 2 for key, cost in costs.items()}
    latency = {key: cost.milliseconds / 2 for key, cost in costs.items()}
    growth = [memory[name(larger)] / memory[name(smaller)] for smaller, larger in zip(sizes, sizes[1:])]
    holds &= min(growth) >= 3
    first = steps[f"{name(sizes[-1])} - {name(sizes[-2])}"]
    shown = "; ".join(f"{key}: mIoU {100 * miou[key]:.1f}, thin classes {100 * thin[key]:.1f}, "
                      f"{memory[key]:.0f} MB, {latency[key]:.0f} ms" for key in miou)
    differences = "; ".join(f"{step}: mIoU {100 * s['effect']:+.1f} [{100 * s['interval'][0]:+.1f}, "
                            f"{100 * s['interval'][1]:+.1f}] (per seed " + "/".join(f"{100 * d:+.1f}" for d in
                                                                                     s["per_seed"])
                            + f"), thin {100 * s['thin_effect']:+.1f} [{100 * s['thin_interval'][0]:+.1f}, "
                            f"{100 * s['thin_interval'][1]:+.1f}]" for step, s in steps.items())
    return Outcome(holds, f"FCN-8s heads on the frozen encoder trained at each size, scored at 360x480 "
                          f"({len(lab.config.seeds)} seeds pooled; memory: activations a training step keeps per "
                          f"image; latency: CPU inference per image): {shown}. {differences} points, 95% paired "
                          f"bootstrap over {len(lab.at_size(LABEL_SIZE)['test'])} test frames",
                   first["effect"], tuple(first["interval"]), "points",
                   {"miou": miou, "thin_miou": thin, "steps": steps, "activation_megabytes": memory,
                    "latency_milliseconds": latency, "memory_growth": growth}, lab.config.seeds)


# ---- the end-to-end claims: encoders trained (segedu.lab.endtoend), minutes each -----------------------------------

def _paired(better: list, worse: list, pick, score) -> tuple:
    """(pooled interval, per-seed differences): per-seed Scores-like counts of two arms on the same frames."""
    pooled = lambda runs: sum(runs[1:], runs[0])  # noqa: E731
    interval = paired_bootstrap(pick(pooled(better)), pick(pooled(worse)), score, seed=0)
    per_seed = [float(score(pick(b).sum(0).double()[None]) - score(pick(w).sum(0).double()[None]))
                for b, w in zip(better, worse)]
    return interval, per_seed


def _pooled_miou(runs: list) -> float:
    """mIoU of several seeds' per-frame counts (`segedu.lab.frozen.Scores`) pooled: every seed's confusions summed."""
    return float(miou_of(sum(runs[1:], runs[0]).confusions.sum(0).double()[None]))


def _step(interval, per_seed) -> dict:
    return {"effect": interval.effect, "interval": [interval.low, interval.high], "per_seed": per_seed}


def _shown(name: str, step: dict) -> str:
    return (f"{name} {100 * step['effect']:+.1f} [{100 * step['interval'][0]:+.1f}, {100 * step['interval'][1]:+.1f}]"
            f" (per seed " + "/".join(f"{100 * d:+.1f}" for d in step["per_seed"]) + ")")


TRANSFER_ADVICE = {  # (data, amount) -> [(the regime the lecture recommends, a regime it advises against)]
    ("similar", "small"): [("frozen", "fine_tune")],
    ("similar", "large"): [("fine_tune", "frozen")],
    ("dissimilar", "small"): [("early", "frozen"), ("early", "fine_tune")],
    ("dissimilar", "large"): [("fine_tune", "scratch")],
}


def transfer_learning(lab: Lab) -> Outcome:
    """The lecture (000, "전이 학습과 미세 조정"): with little data like ImageNet, freeze the encoder (fine-tuning
    overfits); with much data like it, fine-tune; with little data unlike it, train on the early layers' low-level
    features only; with much data unlike it, fine-tune rather than train from scratch. A 2x2: CamVid (street
    photographs, like ImageNet) and ISBI 2012 (electron microscopy, unlike it), small (16 frames; 2 slices) and
    large (367 frames; 25 slices); four regimes on EfficientNet-Lite0 with FCN-8s's head (`endtoend.regime_model`),
    the same number of optimizer steps in every cell, three seeds. Scored on CamVid's 233 test frames (mIoU,
    11 classes) and ISBI's 5 held-out slices (mIoU of membrane and cell, per 128x128 tile). Holds when every
    recommended regime beats the one the lecture advises against: interval above 0, every seed."""
    from .endtoend import REGIMES, camvid_frames, isbi_tiles, predict, regime_model, tile_scores, train
    from .frozen import score_frames

    config = lab.training
    size = config.camvid_size
    data = {("similar", "small"): lambda: camvid_frames("train", size=size, subset=config.small_camvid),
            ("similar", "large"): lambda: camvid_frames("train", size=size),
            ("dissimilar", "small"): lambda: isbi_tiles("train", size=config.tile, slices=config.small_isbi,
                                                        channels=3),
            ("dissimilar", "large"): lambda: isbi_tiles("train", size=config.tile, channels=3)}
    tests = {"similar": camvid_frames("test", size=size),
             "dissimilar": isbi_tiles("val", size=512, channels=3)}  # whole 512x512 slices
    classes = {"similar": 11, "dissimilar": 2}
    runs: dict[tuple, list] = {}
    for cell, load in data.items():
        frames, test = load(), tests[cell[0]]
        for regime in REGIMES:
            runs[cell + (regime,)] = []
            for seed in config.seeds:
                torch.manual_seed(seed)
                model, groups = regime_model(regime, num_classes=classes[cell[0]], config=config)
                train(model, groups, frames, config, seed=seed)
                predictions = predict(model, test.images)
                scores = (score_frames(predictions, test.masks) if cell[0] == "similar" else
                          tile_scores(predictions, test.masks, size=config.tile, num_classes=2))
                runs[cell + (regime,)].append(scores)
    table = {f"{data_}/{amount}": {regime: _pooled_miou(runs[(data_, amount, regime)]) for regime in REGIMES}
             for data_, amount in data}
    steps, holds = {}, True
    for (data_, amount), advice in TRANSFER_ADVICE.items():
        for better, worse in advice:
            step = _step(*_paired(runs[(data_, amount, better)], runs[(data_, amount, worse)],
                                  lambda s: s.confusions, miou_of))
            steps[f"{data_}/{amount}: {better} - {worse}"] = step
            holds &= step["interval"][0] > 0 and min(step["per_seed"]) > 0
    first = next(iter(steps.values()))
    cells = "; ".join(f"{cell}: " + ", ".join(f"{regime} {100 * v:.1f}" for regime, v in row.items())
                      for cell, row in table.items())
    return Outcome(holds, f"test mIoU (%, {len(config.seeds)} seeds pooled, {config.steps} steps of "
                          f"{config.batch_size} everywhere): {cells}. The lecture's advice, recommended - advised "
                          f"against: " + "; ".join(_shown(name, step) for name, step in steps.items())
                   + " points, 95% paired bootstrap over CamVid's 233 test frames / ISBI's 80 held-out tiles",
                   first["effect"], tuple(first["interval"]), "points", {"miou": table, "steps": steps},
                   config.seeds)


def segnet_vs_fcn(lab: Lab) -> Outcome:
    """The lecture (000, SegNet): in the experiments SegNet is slightly more accurate than FCN and uses memory
    better; whether it is the better model is unclear. SegNet and FCN-8s on one encoder (VGG16-BN's 13
    convolutions at width 0.25, the same initial weights copied into both), trained together with their decoders
    from scratch on CamVid's 367 frames at 96x128, the same steps, batches and seeds; scored on the 233 test
    frames. Memory: parameters and the activations a training step keeps per image. Holds when SegNet's mIoU
    exceeds FCN-8s's (interval above 0, every seed)."""
    from .endtoend import camvid_frames, predict, train
    from .frozen import score_frames
    from ..measure import num_parameters, saved_activation_bytes
    from ..models import build_model

    config = lab.training
    steps = dataclasses.replace(config, steps=config.scratch_steps)
    frames = camvid_frames("train", size=config.camvid_size)
    test = camvid_frames("test", size=config.camvid_size)
    runs: dict[str, list] = {"segnet": [], "fcn8s": []}
    memory = {}
    for seed in config.seeds:
        torch.manual_seed(seed)
        segnet = build_model("segnet", num_classes=11, width=config.vgg_width)
        fcn = build_model("fcn8s", num_classes=11, width=config.vgg_width, backbone="vgg16_bn")
        _copy_encoder(segnet.encoder, fcn.encoder.backbone)
        for name, model in (("segnet", segnet), ("fcn8s", fcn)):
            train(model, None, frames, steps, seed=seed)
            runs[name].append(score_frames(predict(model, test.images), test.masks))
            if name not in memory:
                model.train()
                memory[name] = {"parameters": num_parameters(model),
                                "activation_megabytes": saved_activation_bytes(
                                    model, frames.images[:2], weights=False) / 2 / 2 ** 20}
    interval, per_seed = _paired(runs["segnet"], runs["fcn8s"], lambda s: s.confusions, miou_of)
    band, band_seeds = _paired(runs["segnet"], runs["fcn8s"], lambda s: s.band, accuracy_of)
    miou = {name: _pooled_miou(r) for name, r in runs.items()}
    holds = interval.low > 0 and min(per_seed) > 0
    shown = "; ".join(f"{name}: mIoU {100 * miou[name]:.1f}, {memory[name]['parameters'] / 1e6:.2f}M parameters, "
                      f"{memory[name]['activation_megabytes']:.0f} MB of activations per training image"
                      for name in runs)
    return Outcome(holds, f"one VGG16-BN encoder (width {config.vgg_width:g}, same initial weights), {steps.steps} "
                          f"steps from scratch at {config.camvid_size[0]}x{config.camvid_size[1]}, "
                          f"{len(config.seeds)} seeds pooled: {shown}. "
                          + _shown("SegNet - FCN-8s mIoU", _step(interval, per_seed))
                          + "; boundary band " + _shown("", _step(band, band_seeds)).strip()
                          + " points, 95% paired bootstrap over 233 test frames",
                   interval.effect, (interval.low, interval.high), "points",
                   {"miou": miou, "memory": memory, "miou_step": _step(interval, per_seed),
                    "band_step": _step(band, band_seeds)}, config.seeds)


def _backbone_runs(lab: Lab, backbones) -> tuple[dict, dict]:
    """Each (backbone, ImageNet weights) under one FCN-8s head (`endtoend.EncoderHead`), trained end to end on
    CamVid's training frames with the same steps, batches and seeds: ({"name (ImageNet|scratch)": per-seed test
    Scores}, {name: multiply-adds, CPU latency, activations and parameters of the network at 360x480})."""
    from ..backbones import build_backbone
    from .endtoend import EncoderHead, camvid_frames, predict, train
    from .frozen import Head, score_frames
    from ..measure import measure

    config = lab.training
    frames = camvid_frames("train", size=config.camvid_size)
    test = camvid_frames("test", size=config.camvid_size)

    def network(name, pretrained):
        encoder = build_backbone(name, pretrained=pretrained)
        return EncoderHead(encoder, Head("fcn8s", encoder.channels, 11, config.hidden), frozen=False)

    runs, cost = {}, {}
    for name, pretrained in backbones:
        key = f"{name} ({'ImageNet' if pretrained else 'scratch'})"
        runs[key] = []
        for seed in config.seeds:
            torch.manual_seed(seed)
            model = network(name, pretrained)
            train(model, None, frames, config, seed=seed)
            runs[key].append(score_frames(predict(model, test.images), test.masks))
        if name not in cost:
            torch.manual_seed(0)
            model = network(name, False).eval()
            timing = measure(model, (360, 480), batch_size=1, repeats=3)
            cost[name] = {"gflops": timing.gflops, "milliseconds": timing.milliseconds,
                          "activation_megabytes": timing.activation_megabytes, "parameters": timing.parameters}
    return runs, cost


BACKBONE_RUNS = (("efficientnet_lite0", True), ("efficientnet_lite0", False), ("mobilenet_v3_large", False),
                 ("resnet18", False), ("resnet50", False))  # (backbone, ImageNet weights): only Lite0 has them offline


def backbones_accuracy(lab: Lab) -> Outcome:
    """The lecture (000, "Base Model 후보들의 장단점"): ResNet is more accurate than VGG-16 and MobileNet but slower
    and heavier; MobileNet is much faster and somewhat less accurate. Each backbone under the same FCN-8s head
    (`endtoend.EncoderHead`), trained end to end on CamVid's 367 frames at 96x128 with the same steps, batches and
    seeds, scored on the 233 test frames; cost: multiply-adds and CPU latency of the whole network at 360x480.
    The lecture compares ImageNet-pretrained backbones; offline only EfficientNet-Lite0 has ImageNet weights, so
    every other backbone starts from scratch, and EfficientNet-Lite0 runs both ways to show what the weights are
    worth. VGG-16 is left out: at full width one run takes longer than all the others together on this CPU.
    Holds when, from scratch, ResNet-50 is more accurate than MobileNetV3 (interval above 0, every seed) and
    MobileNetV3 is faster."""
    config = lab.training
    runs, cost = _backbone_runs(lab, BACKBONE_RUNS)
    miou = {key: _pooled_miou(r) for key, r in runs.items()}
    interval, per_seed = _paired(runs["resnet50 (scratch)"], runs["mobilenet_v3_large (scratch)"],
                                 lambda s: s.confusions, miou_of)
    faster = cost["mobilenet_v3_large"]["milliseconds"] < cost["resnet50"]["milliseconds"]
    shown = "; ".join(f"{key}: mIoU {100 * v:.1f}, {cost[key.split(' ')[0]]['gflops']:.1f} GFLOPs, "
                      f"{cost[key.split(' ')[0]]['milliseconds']:.0f} ms" for key, v in miou.items())
    return Outcome(interval.low > 0 and min(per_seed) > 0 and faster,
                   f"FCN-8s head, {config.steps} steps at {config.camvid_size[0]}x{config.camvid_size[1]}, "
                   f"{len(config.seeds)} seeds pooled; cost per 360x480 frame on the CPU: {shown}. "
                   + _shown("ResNet-50 - MobileNetV3, both from scratch", _step(interval, per_seed))
                   + " points, 95% paired bootstrap over 233 test frames",
                   interval.effect, (interval.low, interval.high), "points",
                   {"miou": miou, "cost": cost, "step": _step(interval, per_seed)}, config.seeds)


TRUNCATED_PAIRS = (("resnet10", "resnet18"), ("resnet26", "resnet50"))  # (truncated, the network it is cut from)
TRUNCATED_LOSS = 2.0  # points of mIoU a truncated ResNet may lose and still count as keeping the accuracy


def truncated_resnets(lab: Lab) -> Outcome:
    """The lecture (000, ResNet's drawbacks): ResNet is slow and memory-hungry; the cure is to use it only up to
    10 or 21 layers (and transfer-learn). `backbones.TRUNCATED`: ResNet-10 keeps the first block of each of
    ResNet-18's stages, ResNet-26 the first two of ResNet-50's. Each pair under one FCN-8s head, from scratch (no
    ResNet has ImageNet weights offline, so the "transfer" half of the advice cannot be tried), as
    `backbones_accuracy` trains them. Holds when, for both pairs, the truncated network costs fewer multiply-adds
    and less CPU latency and loses less than `TRUNCATED_LOSS` points of test mIoU (the upper end of the 95% paired
    interval of full - truncated below it)."""
    config = lab.training
    runs, cost = _backbone_runs(lab, [(name, False) for pair in TRUNCATED_PAIRS for name in pair])
    miou = {key.split(" ")[0]: _pooled_miou(r) for key, r in runs.items()}
    steps, cheaper = {}, {}
    for short, full in TRUNCATED_PAIRS:
        steps[f"{full} - {short}"] = _step(*_paired(runs[f"{full} (scratch)"], runs[f"{short} (scratch)"],
                                                    lambda s: s.confusions, miou_of))
        cheaper[short] = all(cost[short][key] < cost[full][key] for key in ("gflops", "milliseconds"))
    holds = all(cheaper.values()) and all(100 * step["interval"][1] < TRUNCATED_LOSS for step in steps.values())
    shown = "; ".join(f"{name}: mIoU {100 * miou[name]:.1f}, {cost[name]['gflops']:.1f} GFLOPs, "
                      f"{cost[name]['milliseconds']:.0f} ms, {cost[name]['parameters'] / 1e6:.1f}M parameters"
                      for name in miou)
    first = steps[f"{TRUNCATED_PAIRS[0][1]} - {TRUNCATED_PAIRS[0][0]}"]
    return Outcome(holds, f"FCN-8s head, from scratch, {config.steps} steps at {config.camvid_size[0]}x"
                          f"{config.camvid_size[1]}, {len(config.seeds)} seeds pooled; cost per 360x480 frame on the "
                          f"CPU: {shown}. " + "; ".join(_shown(name, step) for name, step in steps.items())
                          + " points, 95% paired bootstrap over 233 test frames",
                   first["effect"], tuple(first["interval"]), "points",
                   {"miou": miou, "cost": cost, "steps": steps, "cheaper": cheaper}, config.seeds)


AUXILIARY_WEIGHT = 0.4  # PSPNet's (Zhao et al. 2017, section 3.3), as `engine.TrainConfig.aux_weight`
AUXILIARY_WIDTH = 0.5  # ResNet-50's channels halved for the CPU; its 50 layers, the depth the loss is for, kept


def pspnet_auxiliary_loss(lab: Lab) -> Outcome:
    """PSPNet (Zhao et al. 2017, section 3.3): a second loss on a classifier after ResNet's stage 4 (deep
    supervision, weight 0.4) helps optimize a deep network; the auxiliary head is dropped at test time. PSPNet on a
    dilated ResNet-50 (output stride 8, channels x0.5) from scratch on CamVid's 367 frames at 96x128, the same
    initial weights, batches and steps with the auxiliary loss at 0.4 and at 0: the auxiliary head runs in both
    arms (the same dropout draws), so only its gradient differs. Three seeds, the 233 test frames. Holds when the
    auxiliary loss raises test mIoU (interval above 0, every seed)."""
    from .endtoend import camvid_frames, predict, train
    from .frozen import score_frames
    from ..models import build_model

    config = lab.training
    frames = camvid_frames("train", size=config.camvid_size)
    test = camvid_frames("test", size=config.camvid_size)
    runs = {"with": [], "without": []}
    for seed in config.seeds:
        for arm, weight in (("with", AUXILIARY_WEIGHT), ("without", 0.0)):
            torch.manual_seed(seed)
            model = build_model("pspnet", num_classes=11, backbone="resnet50", width=AUXILIARY_WIDTH)
            train(model, None, frames, config, seed=seed, auxiliary_weight=weight)
            runs[arm].append(score_frames(predict(model, test.images), test.masks))
    step = _step(*_paired(runs["with"], runs["without"], lambda s: s.confusions, miou_of))
    miou = {arm: _pooled_miou(r) for arm, r in runs.items()}
    return Outcome(step["interval"][0] > 0 and min(step["per_seed"]) > 0,
                   f"PSPNet on a dilated ResNet-50 (output stride 8, width {AUXILIARY_WIDTH:g}), from scratch, "
                   f"{config.steps} steps at {config.camvid_size[0]}x{config.camvid_size[1]}, {len(config.seeds)} "
                   f"seeds pooled: test mIoU with the auxiliary loss ({AUXILIARY_WEIGHT:g}) {100 * miou['with']:.1f}, "
                   f"without {100 * miou['without']:.1f}. " + _shown("with - without", step)
                   + " points, 95% paired bootstrap over 233 test frames",
                   step["effect"], tuple(step["interval"]), "points", {"miou": miou, "step": step}, config.seeds)


def _deconvnet_runs(lab: Lab) -> dict:
    """DeconvNet and FCN-8s on one encoder (VGG16-BN at `vgg_width`, the same initial weights), trained from scratch
    like `segnet_vs_fcn`, once per seed and shared by the DeconvNet claims; with the test frames."""
    if lab._deconvnet is None:
        from .endtoend import camvid_frames, train
        from ..models import build_model

        config = lab.training
        steps = dataclasses.replace(config, steps=config.scratch_steps)
        frames = camvid_frames("train", size=config.camvid_size)
        models = []
        for seed in config.seeds:
            def initial(seed=seed):  # both networks from one seed, FCN-8s on DeconvNet's initial encoder
                torch.manual_seed(seed)
                deconvnet = build_model("deconvnet", num_classes=11, width=config.vgg_width)
                fcn = build_model("fcn8s", num_classes=11, width=config.vgg_width, backbone="vgg16_bn")
                _copy_encoder(deconvnet.encoder, fcn.encoder.backbone)
                return {"deconvnet": deconvnet, "fcn8s": fcn}

            fit = lambda model, seed=seed: train(model, None, frames, steps, seed=seed)  # noqa: E731
            models.append({name: lab.trained(name, seed, lambda name=name: initial()[name], fit)
                           for name in ("deconvnet", "fcn8s")})
        lab._deconvnet = {"models": models, "test": camvid_frames("test", size=config.camvid_size)}
    return lab._deconvnet


@torch.inference_mode()
def _probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(chunk).softmax(1) for chunk in images.split(16)])


def deconvnet_fcn_ensemble(lab: Lab) -> Outcome:
    """DeconvNet (Noh et al. 2015, section 4.3; the review): FCN and DeconvNet are complementary, FCN catching the
    overall shape and DeconvNet the detail, so their ensemble (EDeconvNet: the mean of their class probabilities)
    beats each alone. Both on one VGG16-BN encoder (width 0.25, the same initial weights), trained from scratch on
    CamVid's 367 frames at 96x128 with the same batches and steps, three seeds; 233 test frames. Holds when the
    ensemble beats both (intervals above 0, every seed)."""
    from .frozen import score_frames

    runs = _deconvnet_runs(lab)
    test = runs["test"]
    scores = {"deconvnet": [], "fcn8s": [], "ensemble": []}
    for models in runs["models"]:
        probabilities = {name: _probabilities(model, test.images) for name, model in models.items()}
        probabilities["ensemble"] = (probabilities["deconvnet"] + probabilities["fcn8s"]) / 2
        for name, p in probabilities.items():
            scores[name].append(score_frames(p.argmax(1), test.masks))
    steps = {f"ensemble - {single}": _step(*_paired(scores["ensemble"], scores[single], lambda s: s.confusions,
                                                    miou_of)) for single in ("deconvnet", "fcn8s")}
    value = {name: _pooled_miou(s) for name, s in scores.items()}
    first = steps["ensemble - deconvnet"]
    config = lab.training
    return Outcome(all(s["interval"][0] > 0 and min(s["per_seed"]) > 0 for s in steps.values()),
                   f"one VGG16-BN encoder (width {config.vgg_width:g}, same initial weights), {config.scratch_steps} "
                   f"steps from scratch at {config.camvid_size[0]}x{config.camvid_size[1]}, {len(config.seeds)} seeds "
                   f"pooled: test mIoU " + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items()) + ". "
                   + "; ".join(_shown(name, step) for name, step in steps.items())
                   + " points, 95% paired bootstrap over 233 test frames",
                   first["effect"], tuple(first["interval"]), "points", {"miou": value, "steps": steps}, config.seeds)


def deconvnet_two_stage(lab: Lab) -> Outcome:
    """DeconvNet (Noh et al. 2015, section 3.2; the review): a network this large learns better from little data in
    two stages, easy examples first (object-centred crops, `endtoend.object_crops`), then whole images. Against the
    one-stage DeconvNet of `deconvnet_fcn_ensemble`: the same initial weights and as many steps in all, half of
    them on crops of CamVid's countable objects, half on whole frames. Also each network's mIoU on its own training
    frames beside the test frames (with FCN-8s on the same encoder), the gap between them showing how much the large
    network overfits 367 frames. Holds when two stages beat one on the test frames (interval above 0, every seed)."""
    from .endtoend import camvid_frames, object_crops, train
    from .frozen import score_frames
    from ..models import build_model

    config = lab.training
    first = dataclasses.replace(config, steps=config.scratch_steps // 2)
    second = dataclasses.replace(config, steps=config.scratch_steps - first.steps)
    frames = camvid_frames("train", size=config.camvid_size)
    crops = object_crops(camvid_frames("train", size=tuple(2 * side for side in config.camvid_size)),
                         config.camvid_size)

    def initial(seed: int) -> nn.Module:  # the one-stage DeconvNet's initial weights
        torch.manual_seed(seed)
        return build_model("deconvnet", num_classes=11, width=config.vgg_width)

    def fit(model: nn.Module, seed: int) -> nn.Module:
        train(model, None, crops, first, seed=seed)
        return train(model, None, frames, second, seed=seed)

    two_stage = [lab.trained("deconvnet-two-stage", seed, lambda seed=seed: initial(seed),
                             lambda model, seed=seed: fit(model, seed)) for seed in config.seeds]
    runs = _deconvnet_runs(lab)
    test = runs["test"]
    scores = {"one stage": [], "two stages": [], "fcn8s": []}  # per-frame counts on the test frames
    fitted = {"one stage": [], "two stages": [], "fcn8s": []}  # the same on the training frames
    for models, model in zip(runs["models"], two_stage):
        for name, network in (("one stage", models["deconvnet"]), ("two stages", model), ("fcn8s", models["fcn8s"])):
            scores[name].append(score_frames(_probabilities(network, test.images).argmax(1), test.masks))
            fitted[name].append(score_frames(_probabilities(network, frames.images).argmax(1), frames.masks))
    interval, per_seed = _paired(scores["two stages"], scores["one stage"], lambda s: s.confusions, miou_of)
    test_miou = {name: _pooled_miou(s) for name, s in scores.items()}
    train_miou = {name: _pooled_miou(s) for name, s in fitted.items()}
    gap = {name: [100 * (_pooled_miou([on_train]) - _pooled_miou([on_test]))  # each seed's overfitting, points
                  for on_train, on_test in zip(fitted[name], scores[name])] for name in scores}
    step = _step(interval, per_seed)
    return Outcome(interval.low > 0 and min(per_seed) > 0,
                   f"DeconvNet (width {config.vgg_width:g}), {config.scratch_steps} steps from scratch, {len(crops)} "
                   f"object crops for the first half in two stages, {len(config.seeds)} seeds pooled: test mIoU "
                   + ", ".join(f"{name} {100 * v:.1f} (training frames {100 * train_miou[name]:.1f})"
                               for name, v in test_miou.items()) + "; training - test gap per seed "
                   + ", ".join(f"{name} " + "/".join(f"{g:+.1f}" for g in gaps) for name, gaps in gap.items()) + ". "
                   + _shown("two stages - one stage", step) + " points, 95% paired bootstrap over 233 test frames",
                   step["effect"], tuple(step["interval"]), "points",
                   {"test_miou": test_miou, "train_miou": train_miou, "gap": gap, "step": step, "crops": len(crops)},
                   config.seeds)


def proposal_windows(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of the proposals: the whole frame, and half-size windows at half-window strides
    (9 of them), each predicted at the frame's size as the paper predicts each proposal at 250x250."""
    height, width = size
    windows = [(0, 0, height, width)]
    windows += [(top, left, height // 2, width // 2) for top in range(0, height // 2 + 1, height // 4)
                for left in range(0, width // 2 + 1, width // 4)]
    return windows


@torch.inference_mode()
def instance_wise(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """DeconvNet's instance-wise inference: predict every proposal window enlarged to the frame's size, bring its
    class probabilities back to the window, and combine the windows at each pixel by their maximum or their sum
    (Noh et al. 2015, section 4.2). (N, C, H, W) -> {"max": (N, K, H, W), "sum": (N, K, H, W)} scores."""
    size = images.shape[-2:]
    combined: dict[str, torch.Tensor] = {}
    for top, left, height, width in proposal_windows(tuple(size)):
        crop = images[..., top:top + height, left:left + width]
        enlarged = F.interpolate(crop, size=size, mode="bilinear", align_corners=False)
        scores = F.interpolate(_probabilities(model, enlarged), size=(height, width), mode="bilinear",
                               align_corners=False)
        placed = torch.zeros(images.shape[0], scores.shape[1], *size)
        placed[..., top:top + height, left:left + width] = scores
        if not combined:
            combined = {"max": placed, "sum": placed.clone()}
        else:
            combined["max"] = torch.maximum(combined["max"], placed)
            combined["sum"] += placed
    return combined


def deconvnet_instance_wise(lab: Lab) -> Outcome:
    """DeconvNet (Noh et al. 2015, section 4.2; the review): predicting object proposals one by one, each enlarged
    to the network's input size, and aggregating them handles objects of many scales better than one pass over
    the whole image. The DeconvNets of `deconvnet_fcn_ensemble`; proposals: the whole frame and nine half-size
    windows (`proposal_windows`; the paper takes 50 object proposals from edge boxes, which CamVid's street scenes
    do not have); max and sum aggregation. Holds when both aggregations beat the single whole-frame pass
    (intervals above 0, every seed)."""
    from .frozen import score_frames

    runs = _deconvnet_runs(lab)
    test = runs["test"]
    scores = {"whole frame": [], "proposals, max": [], "proposals, sum": []}
    for models in runs["models"]:
        model = models["deconvnet"]
        scores["whole frame"].append(score_frames(_probabilities(model, test.images).argmax(1), test.masks))
        aggregated = [instance_wise(model, chunk) for chunk in test.images.split(16)]
        for aggregate in ("max", "sum"):
            predictions = torch.cat([chunk[aggregate].argmax(1) for chunk in aggregated])
            scores[f"proposals, {aggregate}"].append(score_frames(predictions, test.masks))
    steps = {f"{arm} - whole frame": _step(*_paired(scores[arm], scores["whole frame"], lambda s: s.confusions,
                                                    miou_of)) for arm in ("proposals, max", "proposals, sum")}
    value = {name: _pooled_miou(s) for name, s in scores.items()}
    first = steps["proposals, max - whole frame"]
    return Outcome(all(s["interval"][0] > 0 and min(s["per_seed"]) > 0 for s in steps.values()),
                   f"DeconvNet (width {lab.training.vgg_width:g}), {len(lab.training.seeds)} seeds pooled, 10 "
                   f"proposals per frame: test mIoU " + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items())
                   + ". " + "; ".join(_shown(name, step) for name, step in steps.items())
                   + " points, 95% paired bootstrap over 233 test frames",
                   first["effect"], tuple(first["interval"]), "points", {"miou": value, "steps": steps},
                   lab.training.seeds)


def _copy_encoder(source: nn.Module, target: nn.Module) -> None:
    """The same initial weights for two encoders built alike (SegNet's indexed VGG and FCN's VGG backbone): their
    convolution and batch-norm tensors in order, shapes checked."""
    source_state, target_state = source.state_dict(), target.state_dict()
    if [t.shape for t in source_state.values()] != [t.shape for t in target_state.values()][:len(source_state)]:
        raise ValueError("the two encoders differ: cannot give them the same initial weights")
    target.load_state_dict(dict(zip(target_state, source_state.values())) | {
        key: value for key, value in list(target_state.items())[len(source_state):]})


def _unet_runs(lab: Lab, *, slices: int | None, weights: bool, arms: dict[str, dict],
               steps: "TrainingConfig | None" = None, tile: int | None = None) -> dict[str, list]:
    """For each arm ({name: train options}) and seed: U-Net (width `unet_width`) trained on ISBI tiles from the
    same initial weights, its predictions on the 5 held-out slices."""
    from .endtoend import isbi_tiles, predict, train
    from ..models import build_model

    config = lab.training
    steps = steps or dataclasses.replace(config, steps=config.unet_steps)
    frames = isbi_tiles("train", size=tile or config.tile, slices=slices, weights=weights)
    test = isbi_tiles("val", size=512)
    runs = {name: [] for name in arms}
    for seed in config.seeds:
        torch.manual_seed(seed)
        initial = build_model("unet", num_classes=2, in_channels=1, width=config.unet_width).state_dict()
        for name, options in arms.items():
            model = build_model("unet", num_classes=2, in_channels=1, width=config.unet_width)
            model.load_state_dict(initial)
            train(model, None, frames, steps, seed=seed, **options)
            runs[name].append(predict(model, test.images, batch_size=2))
    runs["_masks"] = test.masks
    return runs


def unet_weight_map_training(lab: Lab) -> Outcome:
    """U-Net (Ronneberger et al. 2015, equation 2): weighting the loss by the border weight map forces the network
    to learn the thin membranes between touching cells. U-Net trained on the 25 training slices' 128x128 tiles with
    and without the weight map (same initial weights, batches, steps, seeds). Separation on the 5 held-out slices:
    the share of true cells merged with a neighbour (`endtoend.merged_cells`, per 128x128 tile). Holds when the
    weight map merges fewer cells (interval of the difference above 0, every seed)."""
    from .endtoend import merged_cells, tile, tile_scores

    config = lab.training
    runs = _unet_runs(lab, slices=None, weights=True, arms={"weight map": {"weighted": True}, "plain": {}})
    masks = runs.pop("_masks")
    merged = {name: [merged_cells(tile(p, config.tile), tile(masks, config.tile)) for p in predictions]
              for name, predictions in runs.items()}
    scores = {name: [tile_scores(p, masks, size=config.tile, num_classes=2) for p in predictions]
              for name, predictions in runs.items()}
    interval, per_seed = _paired(merged["plain"], merged["weight map"], lambda counts: counts, accuracy_of)
    miou, miou_seeds = _paired(scores["weight map"], scores["plain"], lambda s: s.confusions, miou_of)
    rate = {name: float(accuracy_of(sum(m).sum(0).double())) for name, m in merged.items()}
    value = {name: _pooled_miou(s) for name, s in scores.items()}
    holds = interval.low > 0 and min(per_seed) > 0
    return Outcome(holds, f"U-Net (width {config.unet_width:g}), {config.unet_steps} steps on the 25 training "
                          f"slices' tiles, {len(config.seeds)} seeds pooled: cells merged with a neighbour "
                          + ", ".join(f"{name} {100 * r:.1f}%" for name, r in rate.items())
                          + "; mIoU " + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items()) + ". "
                          + _shown("merged, plain - weight map", _step(interval, per_seed)) + "; "
                          + _shown("mIoU, weight map - plain", _step(miou, miou_seeds))
                          + " points, 95% paired bootstrap over 80 held-out tiles",
                   interval.effect, (interval.low, interval.high), "points",
                   {"merged_rate": rate, "miou": value, "merged_step": _step(interval, per_seed),
                    "miou_step": _step(miou, miou_seeds)}, config.seeds)


def unet_momentum_one_tile(lab: Lab) -> Outcome:
    """U-Net (section 3): "we favor large input tiles over a large batch size and hence reduce the batch to a single
    image. Accordingly we use a high momentum (0.99) such that a large number of the previously seen training
    samples determine the update in the current optimization step." U-Net trained with SGD on one 256x256 tile per
    step, momentum 0.99 against 0.9 at the same long-run step (learning rate x 1 / (1 - momentum) equal, so only
    how many past samples each update averages differs); same initial weights, tiles, steps and seeds; scored on
    the 5 held-out slices. Holds when 0.99 reaches the higher mIoU (interval above 0, every seed)."""
    config = lab.training
    steps = dataclasses.replace(config, steps=config.momentum_steps, batch_size=1)
    runs = _unet_runs(lab, slices=None, weights=False, steps=steps, tile=config.momentum_tile,
                      arms={"momentum 0.99": {"momentum": 0.99}, "momentum 0.9": {"momentum": 0.9}})
    return _held_out_miou(config, runs, "momentum 0.99", "momentum 0.9", "0.99 - 0.9",
                          f"U-Net (width {config.unet_width:g}), SGD, one {config.momentum_tile}x{config.momentum_tile} "
                          f"tile per step, {config.momentum_steps} steps, learning rate {config.sgd_step:g} x "
                          f"(1 - momentum)")


def unet_elastic_few_slices(lab: Lab) -> Outcome:
    """U-Net (section 3.1): with very few training samples, elastic deformation is the key augmentation. U-Net
    trained on the tiles of only 5 slices with and without elastic deformation (flips in both; same initial
    weights, batches, steps, seeds), scored on the 5 held-out slices. Holds when elastic deformation raises the
    mIoU (interval above 0, every seed)."""
    config = lab.training
    runs = _unet_runs(lab, slices=config.few_slices, weights=False,
                      arms={"elastic": {"elastic": True}, "plain": {}})
    return _held_out_miou(config, runs, "elastic", "plain", "elastic - plain",
                          f"U-Net (width {config.unet_width:g}), {config.unet_steps} steps on {config.few_slices} "
                          f"slices' tiles")


def _held_out_miou(config, runs: dict[str, list], better: str, worse: str, difference: str, setting: str) -> Outcome:
    """The verdict of a U-Net comparison: `better` - `worse` in mIoU on the held-out tiles, interval above 0 and
    positive for every seed."""
    from .endtoend import tile_scores

    masks = runs.pop("_masks")
    scores = {name: [tile_scores(p, masks, size=config.tile, num_classes=2) for p in predictions]
              for name, predictions in runs.items()}
    interval, per_seed = _paired(scores[better], scores[worse], lambda s: s.confusions, miou_of)
    value = {name: _pooled_miou(s) for name, s in scores.items()}
    return Outcome(interval.low > 0 and min(per_seed) > 0,
                   f"{setting}, {len(config.seeds)} seeds pooled: held-out mIoU "
                   + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items()) + ". "
                   + _shown(difference, _step(interval, per_seed))
                   + " points, 95% paired bootstrap over 80 held-out tiles",
                   interval.effect, (interval.low, interval.high), "points",
                   {"miou": value, "step": _step(interval, per_seed)}, config.seeds)


# ---- the cost claims: exact counts, no data, seconds ---------------------------------------------------------------

def separable_cost(lab: Lab) -> Outcome:
    from ..layers import DepthwiseSeparableConv2d
    from ..measure import count_flops, num_parameters

    standard = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    separable = DepthwiseSeparableConv2d(256, 256, 3).eval()
    features = torch.randn(1, 256, 32, 32)
    parameters = num_parameters(standard) / num_parameters(separable)
    flops = count_flops(standard, features) / count_flops(separable, features)
    return Outcome(parameters >= 8 and flops >= 8,
                   f"3x3, 256 -> 256 channels: {parameters:.1f}x fewer parameters and {flops:.1f}x fewer "
                   f"multiply-adds (the formula: 1 / (1/256 + 1/9) = {1 / (1 / 256 + 1 / 9):.1f}x)",
                   flops, None, "x", {"parameters_ratio": parameters, "flops_ratio": flops})


def dilation_field(lab: Lab) -> Outcome:
    from ..measure import measured_receptive_field

    plain = measured_receptive_field([3] * 3, [1] * 3, [1] * 3)
    dilated = measured_receptive_field([3] * 3, [1] * 3, [1, 2, 4])
    return Outcome(dilated > plain, f"three 3x3 convolutions, 27 weights per channel pair either way: receptive "
                                    f"field {plain} px, or {dilated} px with dilations 1, 2, 4 (measured by gradient)",
                   dilated / plain, None, "x", {"plain": plain, "dilated": dilated})


def output_stride_cost(lab: Lab) -> Outcome:
    import torchvision

    from ..measure import count_flops, num_parameters

    rows = {}
    for stride, dilate in ((32, [False, False, False]), (8, [False, True, True])):
        backbone = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=dilate)
        encoder = nn.Sequential(*list(backbone.children())[:-2]).to("meta")
        rows[stride] = (num_parameters(encoder), count_flops(encoder, torch.empty(1, 3, 360, 480, device="meta")))
    ratio = rows[8][1] / rows[32][1]
    return Outcome(rows[8][0] == rows[32][0] and ratio > 2,
                   f"ResNet-50 at 360x480: output stride 8 by dilation keeps the {rows[8][0]:,} parameters and costs "
                   f"{ratio:.1f}x the multiply-adds of output stride 32 ({rows[8][1] / 1e9:.0f} vs "
                   f"{rows[32][1] / 1e9:.0f} GFLOPs)", ratio, None, "x",
                   {"parameters": rows[8][0], "gflops": {str(k): v[1] / 1e9 for k, v in rows.items()}})


def segnet_switches(lab: Lab) -> Outcome:
    import torchvision

    encoder = torchvision.models.vgg16_bn(weights=None).features.to("meta")
    features = switches = 0
    x = torch.empty(1, 3, 360, 480, device="meta")
    for layer in encoder:
        if isinstance(layer, nn.MaxPool2d):
            features += 4 * x.numel()  # what FCN/U-Net-style skips keep: float32 feature maps
            switches += F.max_pool2d(x, 2).numel() * 2 / 8  # SegNet: 2 bits per 2x2 window
        x = layer(x)
    ratio = features / switches
    return Outcome(ratio >= 16, f"VGG16's five poolings at 360x480: feature maps {features / 2 ** 20:.1f} MB vs "
                                f"2-bit switches {switches / 2 ** 20:.2f} MB ({ratio:.0f}x less)",
                   ratio, None, "x", {"feature_megabytes": features / 2 ** 20, "switch_megabytes": switches / 2 ** 20})


def input_size_cost(lab: Lab) -> Outcome:
    from ..measure import count_flops
    from ..models import build_model

    with torch.device("meta"):
        model = build_model("deeplabv3plus", num_classes=11, backbone="efficientnet_lite0").eval()
        flops = {size: count_flops(model, torch.empty(1, 3, *size)) for size in ((180, 240), (360, 480))}
    ratio = flops[(360, 480)] / flops[(180, 240)]
    return Outcome(3.5 <= ratio <= 4.5, f"DeepLab v3+ (EfficientNet-Lite0): 4x the pixels, {ratio:.2f}x the "
                                        f"multiply-adds ({flops[(180, 240)] / 1e9:.1f} -> {flops[(360, 480)] / 1e9:.1f} "
                                        f"GFLOPs)", ratio, None, "x",
                   {"gflops": {f"{h}x{w}": v / 1e9 for (h, w), v in flops.items()}})


def skip_concat_vs_sum(lab: Lab) -> Outcome:
    return _ranking(lab, ("concat8s", "fcn8s"), "miou", "test mIoU, the same three levels concatenated (U-Net) or "
                                                        "their scores summed (FCN)")


def one_by_one_is_per_pixel(lab: Lab) -> Outcome:
    """A 1x1 convolution is a fully connected layer applied to every pixel's channel vector."""
    torch.manual_seed(0)
    convolution = nn.Conv2d(64, 10, 1)
    linear = nn.Linear(64, 10)
    linear.load_state_dict({"weight": convolution.weight[:, :, 0, 0], "bias": convolution.bias})
    features = torch.randn(2, 64, 12, 16)
    with torch.no_grad():
        difference = (convolution(features) - linear(features.movedim(1, -1)).movedim(-1, 1)).abs().max().item()
    return Outcome(difference < 1e-5, f"nn.Conv2d(64, 10, 1) against nn.Linear(64, 10) on every pixel of a 12x16 map, "
                                      f"the same weights: largest difference {difference:.1e}",
                   difference, None, "", {"largest_difference": difference})


def fully_connected_as_convolution(lab: Lab) -> Outcome:
    """FCN: a classifier's fully connected layer is a convolution whose kernel covers its input; on a larger input the
    same weights give a map of scores."""
    from ..models.fcn import convolutionalize

    torch.manual_seed(0)
    linear = nn.Linear(32 * 7 * 7, 20)
    convolution = convolutionalize(linear, in_channels=32)
    features = torch.randn(1, 32, 7, 7)
    with torch.no_grad():
        difference = (linear(features.flatten(1)) - convolution(features)[:, :, 3, 3]).abs().max().item()
        larger = tuple(convolution(torch.randn(1, 32, 12, 16)).shape[-2:])
    return Outcome(difference < 1e-4 and larger == (12, 16),
                   f"a Linear(32x7x7 -> 20) as a 7x7 convolution: largest difference {difference:.1e} on a 7x7 map; "
                   f"a 12x16 map gives a 12x16 map of scores", difference, None, "",
                   {"largest_difference": difference, "larger_output": list(larger)})


def bilinear_transposed_convolution(lab: Lab) -> Outcome:
    """FCN initializes its learned upsampling with bilinear weights: a stride-2 transposed convolution then is
    bilinear interpolation."""
    from ..layers import bilinear_kernel

    upsample = nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1, bias=False)
    with torch.no_grad():
        upsample.weight.copy_(bilinear_kernel(3, 3, 4))
        image = torch.rand(1, 3, 24, 32)
        ours = upsample(image)
        theirs = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
    inner = (ours - theirs)[..., 2:-2, 2:-2].abs().max().item()  # the borders differ: zero padding vs clamping
    return Outcome(inner < 1e-5, f"ConvTranspose2d(4, stride 2) with FCN's bilinear weights against F.interpolate "
                                 f"(bilinear, 2x): largest difference {inner:.1e} away from the 2-pixel border",
                   inner, None, "", {"largest_difference": inner})


def transposed_is_adjoint(lab: Lab) -> Outcome:
    """A transposed convolution is the adjoint (the gradient's operation) of the convolution with the same weights:
    <conv(x), y> = <x, conv_transpose(y)> for all x, y."""
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3)
    x, y = torch.randn(1, 4, 9, 9), torch.randn(1, 6, 4, 4)
    left = (F.conv2d(x, weight, stride=2) * y).sum().item()
    right = (x * F.conv_transpose2d(y, weight, stride=2)).sum().item()
    relative = abs(left - right) / abs(left)
    return Outcome(relative < 1e-5, f"stride 2, 3x3, 4 -> 6 channels: <conv(x), y> = {left:.4f}, <x, conv_transpose(y)> "
                                    f"= {right:.4f} (relative difference {relative:.1e})", relative, None, "",
                   {"left": left, "right": right})


def unpooling_keeps_positions(lab: Lab) -> Outcome:
    """SegNet: max-unpooling puts each maximum back where it came from and zeros elsewhere."""
    torch.manual_seed(0)
    features = torch.randn(1, 8, 16, 16)
    pooled, indices = F.max_pool2d(features, 2, return_indices=True)
    unpooled = F.max_unpool2d(pooled, indices, 2)
    kept = unpooled != 0
    exact = bool(torch.equal(unpooled[kept], features[kept]))
    share = kept.float().mean().item()
    return Outcome(exact and abs(share - 0.25) < 1e-6,
                   f"2x2 max pooling then unpooling with the switches: {100 * share:.0f}% of the values come back, each "
                   f"at the position of its maximum ({'exactly' if exact else 'NOT'} the input's value)",
                   share, None, "", {"share_kept": share})


def segnet_parameters(lab: Lab) -> Outcome:
    """SegNet drops VGG's fully connected layers: far fewer parameters than FCN."""
    from ..models import build_model

    with torch.device("meta"):
        counts = {name: build_model(name, num_classes=11).num_parameters() for name in ("segnet", "fcn8s")}
    ratio = counts["fcn8s"] / counts["segnet"]
    return Outcome(ratio > 3, f"11 classes: SegNet {counts['segnet'] / 1e6:.1f}M parameters, FCN-8s "
                              f"{counts['fcn8s'] / 1e6:.1f}M ({ratio:.1f}x), most of FCN's in fc6",
                   ratio, None, "x", {"parameters": counts})


def separable_aspp_cost(lab: Lab) -> Outcome:
    """DeepLab v3+: depthwise separable ASPP and decoder make it cheaper than v3 on the same encoder."""
    from ..measure import count_flops
    from ..models import build_model

    flops = {}
    with torch.device("meta"):
        for name in ("deeplabv3", "deeplabv3plus"):
            model = build_model(name, num_classes=11, backbone="resnet50").eval()
            flops[name] = count_flops(model, torch.empty(1, 3, 360, 480))
    ratio = flops["deeplabv3"] / flops["deeplabv3plus"]
    return Outcome(ratio > 1, f"ResNet-50 at 360x480: DeepLab v3 {flops['deeplabv3'] / 1e9:.1f} GFLOPs, v3+ "
                              f"{flops['deeplabv3plus'] / 1e9:.1f} ({ratio:.2f}x less, despite its decoder)",
                   ratio, None, "x", {"gflops": {k: v / 1e9 for k, v in flops.items()}})


def border_weights(lab: Lab) -> Outcome:
    """U-Net's weight map makes the thin gaps between touching cells count: measured on the membranes stand-in, so
    it needs no data."""
    from ..data import build_dataset
    from ..losses import border_weight_map

    _, mask = build_dataset("membranes", "train", image_size=(128, 128))[0]
    weights = border_weight_map(mask, foreground=1, w0=10.0, sigma=5.0)
    ratio = float(weights[mask == 0].median() / weights[mask == 1].median())
    return Outcome(ratio > 2, f"median weight of membrane pixels / cell pixels: {ratio:.1f}x (w0 10, sigma 5, a "
                              f"128x128 synthetic membrane slice)", ratio, None, "x", {"ratio": ratio})


def pyramid_bins_collapse(lab: Lab) -> Outcome:
    """PSPNet's input-size advice in the course's numbers: the 6x6 bins are distinct cells only when the feature map
    has at least 6 rows and columns, i.e. an input of at least 6 x output stride; smaller, neighbouring cells overlap."""
    def distinct(side):  # distinct pooled values of a map whose every pixel differs, in the 6-bin branch
        features = torch.arange(side * side, dtype=torch.float32).view(1, 1, side, side)
        return F.adaptive_avg_pool2d(features, 6).unique().numel()

    rows = {side: distinct(side) for side in (3, 4, 6, 12)}  # the pooling of PyramidPooling's 6-bin branch
    needed = {stride: 6 * stride for stride in (8, 16, 32)}
    holds = rows[6] == 36 and rows[12] == 36 and rows[3] < 36
    return Outcome(holds, f"distinct values in the 6x6 bins: {rows[3]} on a 3x3 map, {rows[4]} on 4x4, {rows[6]} on "
                          f"6x6, {rows[12]} on 12x12; distinct bins need an input of at least "
                          + ", ".join(f"{px} px at stride {s}" for s, px in needed.items()),
                   None, None, "", {"distinct": rows, "input_needed": needed})


NOTES = {  # what limits a measured result, written after reading it: commentary, never a change to the experiment
    "transfer_learning": "From scratch, EfficientNet-Lite0 stays degenerate after 250 steps on ISBI 2012: 40.1 mIoU in "
                         "both sizes is the score of predicting 'cell' everywhere, so fine-tuning's +30 points over it "
                         "shows that ImageNet weights let the network learn at all in that budget, not that they beat a "
                         "from-scratch network trained to convergence. The verdict fails on one cell: with 16 CamVid "
                         "frames, fine-tuning at a tenth of the learning rate beats the frozen encoder (-1.1 [-1.5, "
                         "-0.7], every seed), where the lecture expects overfitting.",
    "backbones_accuracy": "From scratch in 250 steps MobileNetV3 stays near degenerate (6.5 mIoU), so ResNet-50's lead "
                          "over it measures how fast each architecture starts learning more than the accuracy of "
                          "pretrained backbones the lecture compares; ResNet-18 (31.7) is level with ResNet-50 (30.6). "
                          "ImageNet weights are worth 29 points to EfficientNet-Lite0 (42.3 against 13.3), more than "
                          "any choice among the from-scratch backbones. Latency: one 360x480 frame, CPU inference.",
    "linear_probe_depth": "It fails at the top only: level 4 (stride 16) beats level 3 by 13.6 points, as the lecture "
                          "expects, but level 5 (stride 32) scores 4.9 below level 4 for every seed. A linear "
                          "classifier cannot recover the detail that stride 32 has lost (its map is 6x8 at 180x240), "
                          "so the probe measures what a level knows about classes *and* where; the hypercolumn claim "
                          "shows that level 5 still adds to the others.",
    "deconvnet_fcn_ensemble": "DeconvNet itself is far behind here: 21.1 mIoU against FCN-8s's 32.9 on the same "
                              "encoder after 500 steps from scratch (its 15.7M parameters at width 0.25, most in the "
                              "fc6/fc7 bottleneck, learn slowly; the paper starts from ImageNet VGG-16 and trains for "
                              "days). Averaging in the weaker network lifts DeconvNet by 7.6 points but costs FCN-8s "
                              "4.2: an ensemble helps when its members are comparably good, which these are not. The "
                              "three DeconvNet claims score one set of networks, trained as `deconvnet_two_stage`'s "
                              "note says and loaded from `--models`; a first run that trained them in one process "
                              "(105 min) gave 20.8 and 33.8, ensemble -4.0 [-4.2, -3.7], the same verdict.",
    "deconvnet_two_stage": "The networks were trained by three processes in parallel, one seed each and one thread "
                           "each (`OMP_NUM_THREADS=1 python -m segedu claims --only deconvnet_two_stage --seed S "
                           "--models DIR`, 1168-1200 s each on the 2 cores), kept with `--models` and loaded by the "
                           "run recorded, which only scores them. The seeds disagree (+1.7 / +1.2 / -3.8): starting on "
                           "object crops does not help reliably in 500 steps from scratch. Nor does the large network "
                           "overfit here: DeconvNet scores only 26.0 mIoU on its own training frames, 4.9 above the "
                           "test frames, while FCN-8s on the same encoder is 9.7 above (42.6 against 32.9). At width "
                           "0.25 and this budget DeconvNet underfits: 367 frames are not little data for it yet. "
                           "Notebook 08 shows the overfitting when the frames shrink to 4.",
    "pspnet_auxiliary_loss": "Pooled over the frames the auxiliary loss is ahead (+0.6 [+0.3, +0.8]), but the seeds "
                             "disagree (-0.1 / +3.5 / -2.1): the frame bootstrap does not see the run-to-run spread, "
                             "which is several times the effect. In 250 steps from scratch at width 0.5 an effect of "
                             "this size cannot be told from noise; the paper measures it on ImageNet-pretrained "
                             "ResNets trained far longer on ADE20K, where the deep network's optimization is what "
                             "limits it.",
    "deconvnet_instance_wise": "The proposals here are fixed half-size windows, not object proposals: a window cuts "
                               "through objects and the network, trained on whole frames, sees each window enlarged "
                               "2x, a scale it never trained on. The paper trains on object-centred crops (its "
                               "two-stage training) and uses 50 edge-box proposals per image, so this measures the "
                               "aggregation without the proposals and training that make it pay.",
    "truncated_resnets": "From scratch in 250 steps depth buys nothing here: ResNet-18 (31.7) and ResNet-50 (30.6) "
                         "are level, so a truncated network keeping their accuracy says the cut blocks were not yet "
                         "needed, not that they would not be after ImageNet pretraining and long training, the "
                         "setting the lecture means (no ResNet has ImageNet weights offline). The cost half holds on "
                         "its own: ResNet-10 needs half ResNet-18's multiply-adds, ResNet-26 61% of ResNet-50's; "
                         "latency falls less (0.62x and 0.74x, one run; the milliseconds move by 10-30% between "
                         "runs on this CPU).",
    "unet_elastic_few_slices": "The seeds disagree widely (+5.5 / -2.8 / -15.3 points): with 300 steps on 80 tiles the "
                               "warps' effect is smaller than the run-to-run spread, and torchvision's warp leaves "
                               "black, unlabelled borders on a 128x128 tile. Not holding here is not evidence against "
                               "the paper's long trainings; it says the effect needs more than this budget to show.",
}

PENDING: dict[str, tuple[str, str, str]] = {  # claims built and tested but not measured yet: (statement, notebook, why)
}


CLAIMS: tuple[Claim, ...] = (
    Claim("fcn_skips_miou", "FCN-8s performs best: each skip from a finer pooling layer adds detail (8s > 16s > 32s)",
          "07_fcn", "Skip connections: FCN-32s, 16s, 8s", "test mIoU, 3 seeds pooled",
          "8s - 16s and 16s - 32s: 95% interval above 0 and positive for every seed", fcn_skips_miou),
    Claim("fcn_skips_boundary", "skip connections recover accurate boundaries", "07_fcn",
          "Skip connections: FCN-32s, 16s, 8s", "pixel accuracy within 3 px of a label boundary (DeepLab's trimap)",
          "8s - 16s and 16s - 32s: 95% interval above 0 and positive for every seed", fcn_skips_boundary),
    Claim("fcn_skips_thin", "coarse stride-32 predictions lose thin and small objects; skips bring them back",
          "07_fcn", "Skip connections: FCN-32s, 16s, 8s", "mean IoU of Pole, SignSymbol and Pedestrian",
          "8s - 16s and 16s - 32s: 95% interval above 0 and positive for every seed", fcn_skips_thin),
    Claim("fcn_object_sizes", "FCN's receptive field is fixed: an object much larger than it comes out fragmented, "
          "one much smaller is lost", "07_fcn", "DeconvNet review: FCN's limitations", "per object of the countable "
          "classes, by size: the share of its pixels labelled its class, and whether it breaks into several classes",
          "FCN-32s: recall medium - small and fragmented large - medium, 95% intervals above 0, every seed",
          fcn_object_sizes),
    Claim("linear_probe_depth", "early layers hold low-level features, late layers high-level ones; a linear "
          "classifier (softmax) on a frozen encoder's features is the fixed feature extractor", "11_transfer_learning",
          "Transfer learning: the fixed feature extractor", "test mIoU of a 1x1 (linear) classifier on one frozen "
          "level, 3 seeds pooled", "linear5 - linear4 and linear4 - linear3: 95% interval above 0 and positive for "
          "every seed", linear_probe_depth),
    Claim("hypercolumn_levels", "hypercolumns: a pixel's features from every level together classify it better than "
          "any one level; fusing levels trades neither boundaries nor semantics away", "04_skip_connections",
          "Hypercolumns; the skip architecture's trade-off", "test mIoU and boundary-band accuracy, linear "
          "classifier on the concatenated levels 3-5 against each level alone, 3 seeds pooled",
          "all six differences (2 measures x 3 levels): 95% interval above 0 and positive for every seed",
          hypercolumn_levels),
    Claim("context_pyramid", "pyramid pooling adds global context and beats a plain head", "10_pspnet_deeplab",
          "PSPNet", "test mIoU, same dilated encoder (output stride 8), 3 seeds",
          "pyramid - plain: 95% interval above 0 and positive for every seed", context_pyramid),
    Claim("context_aspp", "ASPP's parallel atrous rates see several scales and beat a plain head",
          "10_pspnet_deeplab", "DeepLab v3: ASPP", "test mIoU, same dilated encoder (output stride 8), 3 seeds",
          "aspp - plain: 95% interval above 0 and positive for every seed", context_aspp),
    Claim("context_large_regions", "context matters most for large regions (a whole road, the sky)",
          "10_pspnet_deeplab", "PSPNet", "IoU gain over the plain head, 4 largest classes vs the other 7",
          "the gain on the large classes exceeds the gain on the others", context_large_regions),
    Claim("crf_largefov", "the dense CRF snaps a stride-8 model's blurry boundaries to colour edges (DeepLab v1)",
          "10_pspnet_deeplab", "The dense CRF", "accuracy within 3 px of a boundary at 360x480, before and after",
          "after - before: 95% interval above 0", crf_on_largefov),
    Claim("input_size_trained", "the input size matters as much as the model: a larger input sees more detail and "
          "needs more memory in training and in inference", "11_transfer_learning", "Which input size?",
          "test mIoU scored at 360x480 for heads trained at 90x120, 180x240, 360x480; activation memory per image",
          "each step up in size: 95% interval above 0 and positive for every seed; memory at least 3x per doubling "
          "of the side", input_size_trained),
    Claim("transfer_learning", "freeze the encoder for little data like ImageNet, fine-tune for much; for little "
          "data unlike it, use the early layers' features; for much data unlike it, fine-tune rather than train from "
          "scratch", "11_transfer_learning", "Transfer learning: which regime?",
          "test mIoU of 4 regimes in a 2x2 (CamVid / ISBI 2012 x small / large), equal steps, 3 seeds",
          "each recommended regime minus the one advised against: 95% interval above 0 and positive for every seed",
          transfer_learning),
    Claim("segnet_vs_fcn", "SegNet is slightly more accurate than FCN and uses memory better; whether it is the "
          "better model is unclear", "08_segnet_deconvnet", "SegNet against FCN",
          "test mIoU on one VGG16-BN encoder (same initial weights), equal steps, 3 seeds; parameters and memory",
          "SegNet - FCN-8s: 95% interval above 0 and positive for every seed", segnet_vs_fcn),
    Claim("unet_weight_map_training", "the border weight map makes U-Net separate touching cells", "09_unet_isbi",
          "The weight map, trained", "share of held-out cells merged with a neighbour, with and without the map",
          "plain - weight map: 95% interval above 0 and positive for every seed", unet_weight_map_training),
    Claim("unet_elastic_few_slices", "elastic deformation is the key augmentation when only a few slices are labelled",
          "09_unet_isbi", "Elastic deformation, trained", "held-out mIoU after training on 5 slices",
          "elastic - plain: 95% interval above 0 and positive for every seed", unet_elastic_few_slices),
    Claim("unet_momentum_one_tile", "U-Net trains on one large tile per step with a high momentum (0.99), so that "
          "many earlier samples determine each update", "09_unet_isbi", "One tile, momentum 0.99",
          "held-out mIoU, SGD on one 256x256 tile per step, momentum 0.99 vs 0.9 at the same long-run step",
          "0.99 - 0.9: 95% interval above 0 and positive for every seed", unet_momentum_one_tile),
    Claim("backbones_accuracy", "ResNet is more accurate than VGG-16 and MobileNet but slower; MobileNet is much "
          "faster and somewhat less accurate", "11_transfer_learning", "Which backbone?",
          "test mIoU under one FCN-8s head, equal steps, 3 seeds (from scratch but EfficientNet-Lite0, both ways); "
          "GFLOPs and CPU latency", "ResNet-50 - MobileNetV3 from scratch: 95% interval above 0 and positive for every "
          "seed; MobileNetV3 faster", backbones_accuracy),
    Claim("truncated_resnets", "ResNet is slow and memory-hungry; using it only up to 10 or 21 layers overcomes "
          "this", "11_transfer_learning", "Which backbone?",
          "test mIoU under one FCN-8s head, equal steps, 3 seeds, from scratch; GFLOPs and CPU latency",
          f"for ResNet-10 vs 18 and ResNet-26 vs 50: cheaper in both, and full - truncated: 95% interval below "
          f"{TRUNCATED_LOSS:g} points", truncated_resnets),
    Claim("separable_cost", "depthwise separable convolution needs about k^2 times fewer computations",
          "05_atrous_convolution", "Depthwise separable convolution", "parameters and multiply-adds, ratio",
          "both ratios at least 8 for a 3x3, 256-channel layer", separable_cost, fast=True),
    Claim("dilation_field", "atrous convolution enlarges the field of view without adding parameters",
          "05_atrous_convolution", "Receptive field", "receptive field with the same weights",
          "dilations 1, 2, 4 see farther than 1, 1, 1", dilation_field, fast=True),
    Claim("output_stride_cost", "a dense (output stride 8) encoder keeps its weights but costs computation",
          "05_atrous_convolution", "Output stride", "parameters and multiply-adds, stride 8 vs 32",
          "equal parameters, more than 2x the multiply-adds", output_stride_cost, fast=True),
    Claim("segnet_switches", "SegNet stores only the max-pooling indices, far less memory than feature maps",
          "03_unpooling", "Memory of the switches", "bytes of feature maps vs 2-bit switches",
          "at least 16x less", segnet_switches, fast=True),
    Claim("input_size_cost", "a larger input costs computation in proportion to its pixels", "11_transfer_learning",
          "Input size", "multiply-adds at 360x480 vs 180x240", "between 3.5x and 4.5x for 4x the pixels",
          input_size_cost, fast=True),
    Claim("skip_concat_vs_sum", "U-Net concatenates its skips rather than summing scores as FCN does, keeping more "
          "of the encoder's detail", "04_skip_connections", "Sum or concatenate",
          "test mIoU, same levels, 3 seeds", "concat - sum: 95% interval above 0 and positive for every seed",
          skip_concat_vs_sum),
    Claim("one_by_one_per_pixel", "a 1x1 convolution is a fully connected layer applied at every pixel",
          "01_one_by_one_convolution", "1x1 convolution", "largest difference, same weights", "below 1e-5",
          one_by_one_is_per_pixel, fast=True),
    Claim("fully_connected_as_convolution", "a fully connected layer is a convolution as large as its input, so the "
          "classifier slides over a larger image", "07_fcn", "Convolutionalize", "largest difference; output shape",
          "below 1e-4 on a 7x7 map; a map of scores on a larger one", fully_connected_as_convolution, fast=True),
    Claim("bilinear_transposed_convolution", "a transposed convolution initialized with bilinear weights upsamples "
          "bilinearly, and can then learn", "02_transposed_convolution", "Bilinear initialization",
          "largest difference to F.interpolate away from the border", "below 1e-5", bilinear_transposed_convolution,
          fast=True),
    Claim("transposed_is_adjoint", "a transposed convolution is the convolution's transpose: it runs the convolution "
          "backwards, from the output grid to the input grid", "02_transposed_convolution", "Transposed convolution",
          "<conv(x), y> against <x, conv_transpose(y)>, same weights", "equal within 1e-5 (relative)",
          transposed_is_adjoint, fast=True),
    Claim("unpooling_keeps_positions", "max-unpooling with the switches puts each maximum back where it came from",
          "03_unpooling", "Unpooling", "share of values restored, and their positions", "25%, each exact",
          unpooling_keeps_positions, fast=True),
    Claim("segnet_parameters", "SegNet drops the fully connected layers: a far smaller network than FCN",
          "08_segnet_deconvnet", "Parameters", "parameters, 11 classes", "FCN-8s more than 3x SegNet",
          segnet_parameters, fast=True),
    Claim("separable_aspp_cost", "DeepLab v3+'s depthwise separable convolutions make it cheaper than v3",
          "10_pspnet_deeplab", "DeepLab v3+", "multiply-adds at 360x480, ResNet-50", "v3 costs more than v3+",
          separable_aspp_cost, fast=True),
    Claim("border_weights", "U-Net's weight map makes the thin gaps between touching cells count", "09_unet_isbi",
          "The weight map", "median weight of membrane pixels over cell pixels", "more than 2x", border_weights,
          fast=True),
    Claim("pyramid_bins_collapse", "PSPNet's bins need a large enough feature map (the paper trains on 473x473 "
          "crops and more)", "06_pyramid_pooling", "Collapsing bins", "distinct 6x6 bin values by map size",
          "36 distinct from 6x6 on, fewer below", pyramid_bins_collapse, fast=True),
    Claim("deconvnet_fcn_ensemble", "FCN and DeconvNet are complementary: their ensemble (EDeconvNet) beats each "
          "alone", "08_segnet_deconvnet", "DeconvNet: ensemble and proposals",
          "test mIoU of the mean of their probabilities, one VGG16-BN encoder (same initial weights), 3 seeds",
          "ensemble - DeconvNet and ensemble - FCN-8s: 95% intervals above 0 and positive for every seed",
          deconvnet_fcn_ensemble),
    Claim("deconvnet_instance_wise", "instance-wise inference (proposals predicted one by one and aggregated by max "
          "or sum) handles objects of many scales better than one pass over the image", "08_segnet_deconvnet",
          "DeconvNet: ensemble and proposals", "test mIoU, whole frame vs 10 proposals aggregated by max and by sum",
          "both aggregations - whole frame: 95% intervals above 0 and positive for every seed",
          deconvnet_instance_wise),
    Claim("deconvnet_two_stage", "a very large network trained on little data overfits; DeconvNet trains in two "
          "stages, easy object-centred crops first, then whole images", "08_segnet_deconvnet",
          "DeconvNet: two-stage training", "test mIoU (and mIoU on the training frames), one stage against two with "
          "the same initial weights and steps, 3 seeds", "two stages - one stage: 95% interval above 0 and positive "
          "for every seed", deconvnet_two_stage),
    Claim("pspnet_auxiliary_loss", "PSPNet's auxiliary loss after stage 4 (weight 0.4) helps optimize the deep "
          "network", "10_pspnet_deeplab", "The controlled comparison",
          "test mIoU, PSPNet (dilated ResNet-50 x0.5) from scratch with the auxiliary loss at 0.4 and at 0, the same "
          "initial weights and steps, 3 seeds", "with - without: 95% interval above 0 and positive for every seed",
          pspnet_auxiliary_loss),
)


UNMEASURED: tuple[Claim, ...] = (  # the PENDING claims whose experiments exist: run them with --only NAME
)


# ---- running and reporting ----------------------------------------------------------------------------------------

def run_claims(claims=CLAIMS, *, lab: Lab | None = None, log=print) -> list[dict]:
    """Run each claim; a claim whose experiment raises is reported as not holding, with the error."""
    lab = lab or Lab()
    results = []
    for claim in claims:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            outcome = claim.experiment(lab)
        except Exception as error:  # noqa: BLE001: one broken experiment must not hide the others' results
            outcome = Outcome(False, f"the experiment failed: {type(error).__name__}: {error}")
        record = {"name": claim.name, "holds": bool(outcome.holds), "statement": claim.statement,
                  "notebook": claim.notebook, "section": claim.section, "quantity": claim.quantity,
                  "assertion": claim.assertion, "summary": outcome.summary, "effect": outcome.effect,
                  "interval": list(outcome.interval) if outcome.interval else None, "unit": outcome.unit,
                  "seeds": list(outcome.seeds), "numbers": outcome.numbers,
                  "seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(time.process_time() - cpu, 1)}
        results.append(record)
        log(f"{'holds' if record['holds'] else 'DOES NOT HOLD'}  {claim.name}: {outcome.summary} "
            f"({record['seconds']} s)")
    return results


def machine() -> str:
    """'Intel(R) Xeon(R) Processor, 2 cores, torch 2.14.1': what the report's seconds were measured on."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{name}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def write_report(results: list[dict], folder: Path, *, command: str, seconds: float,
                 merge: bool = False) -> tuple[Path, Path]:
    """claims.json (every number) and claims.md (a table) in `folder`, each written whole or not at all.

    With `merge`, the claims of the report already in `folder` that did not run now are kept (in the registry's
    order), and the report lists every command that measured part of it."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = [{"command": command, "machine": machine(), "seconds": round(seconds, 1),
             "claims": [r["name"] for r in results]}]
    existing = folder / "claims.json"
    if merge and existing.exists():
        try:
            before = json.loads(existing.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot merge into {existing}: {error}; move it away or run without --merge") from error
        ran = {r["name"] for r in results}
        kept = {r["name"]: r for r in before.get("claims", []) if r["name"] not in ran}
        fresh = {r["name"]: r for r in results}
        order = [c.name for c in CLAIMS] + sorted((set(kept) | set(fresh)) - {c.name for c in CLAIMS})
        results = [fresh.get(name) or kept[name] for name in order if name in fresh or name in kept]
        earlier = before.get("runs") or [{"command": before.get("command"), "machine": before.get("machine"),
                                          "seconds": before.get("seconds"), "claims": sorted(kept)}]
        runs = [dict(run, claims=[name for name in run["claims"] if name not in ran])
                for run in earlier if set(run["claims"]) - ran] + runs
        seconds = sum(run["seconds"] or 0 for run in runs)
    held = sum(r["holds"] for r in results)
    pending = [{"name": name, "statement": statement, "notebook": notebook, "why": why}
               for name, (statement, notebook, why) in PENDING.items()]
    commands = "; ".join(f"`{run['command']}` ({run['seconds'] / 60:.1f} min)" for run in runs)
    report = {"command": command if len(runs) == 1 else "; ".join(run["command"] for run in runs),
              "machine": machine(), "seconds": round(seconds, 1), "held": held, "ran": len(results),
              "claims": results, "pending": pending, "runs": runs}
    lines = ["# The lecture's claims, measured", "",
             f"{held} of {len(results)} hold. Command{'s' if len(runs) > 1 else ''}: {commands}; machine: "
             f"{report['machine']}; {seconds / 60:.1f} min in all. Work shared by several claims (feature caches, "
             f"trained heads) is counted in the seconds of the first claim that needs it.", "",
             "| claim | notebook | the lecture says | measured | holds | s |", "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| `{r['name']}` | {r['notebook']} | {r['statement']} | {r['summary']} | "
                     f"{'yes' if r['holds'] else '**no**'} | {r['seconds']:g} |")
    noted = [r["name"] for r in results if r["name"] in NOTES]
    if noted:
        lines += ["", "## Notes", ""] + [f"- `{name}`: {NOTES[name]}" for name in noted]
    lines += ["", "## Not measured yet", "", "| claim | notebook | the lecture says | why |", "|---|---|---|---|"]
    lines += [f"| `{p['name']}` | {p['notebook']} | {p['statement']} | {p['why']} |" for p in pending]
    paths = folder / "claims.json", folder / "claims.md"
    for path, text in zip(paths, (json.dumps(report, indent=1) + "\n", "\n".join(lines) + "\n")):
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(text)
        os.replace(partial, path)
    return paths


def committed_report() -> dict:
    """The committed report (`segedu/lab/results/claims.json`): {name: record}, for the notebooks to print."""
    path = REPORT / "claims.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segedu claims --out {REPORT}` to measure it")
    return {record["name"]: record for record in json.loads(path.read_text())["claims"]}


def show(name: str) -> None:
    """Print one claim of the committed report: the lecture's words, what was measured, the verdict, the provenance."""
    path = REPORT / "claims.json"
    report = json.loads(path.read_text()) if path.exists() else {"claims": []}
    record = next((r for r in report["claims"] if r["name"] == name), None)
    if record is None and name in PENDING:
        statement, _, why = PENDING[name]
        print(f"[not measured yet] {statement}\n    why: {why}")
        return
    if record is None:
        known = {c.name for c in CLAIMS}
        why = "is not a claim" if name not in known else "has not been measured yet (not in the committed report)"
        print(f"{name} {why}: `python -m segedu claims --only {name}` measures it")
        return
    verdict = "holds" if record["holds"] else "DOES NOT HOLD"
    command = next((run["command"] for run in report.get("runs", []) if name in run["claims"]), report["command"])
    print(f"[{verdict}] {record['statement']}\n    measured: {record['summary']}\n    provenance: the committed "
          f"report, `{command}` on {report['machine']}, {record['seconds']:g} s")
    if name in NOTES:
        print(f"    note: {NOTES[name]}")



HELP = "run the lecture's claims as experiments and write a report"
DESCRIPTION = ("Each claim of the lecture as an experiment: its effect, 95%% interval and "
               "verdict; exits 1 when a claim that ran does not hold. Trained claims need "
               "CamVid and take minutes; --fast runs the seconds-long ones.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m segedu claims`, read by `main`."""
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these claims only (see --list)")
    parser.add_argument("--seed", type=int, action="append", metavar="S",
                        help="train with seed S (repeat for several; default 0 1 2)")
    parser.add_argument("--fast", action="store_true", help="only the claims that take seconds and need no data")
    parser.add_argument("--list", action="store_true", help="list the claims and exit")
    parser.add_argument("--out", type=Path, default=Path("runs/claims"),
                        help="folder for claims.md and claims.json (default runs/claims)")
    parser.add_argument("--models", type=Path, metavar="DIR",
                        help="keep the networks that claims train end to end in DIR and reuse them when a later run "
                             "asks for the same network, seed and training settings (default: keep nothing)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other claims already in --out's report and replace only those that ran "
                             "(to re-measure one claim of the committed report: --only NAME --merge)")


def main(arguments) -> int:
    """The `python -m segedu claims` command (options from `add_arguments`)."""
    registry = CLAIMS + tuple(c for c in UNMEASURED if arguments.only and c.name in arguments.only)
    chosen = [c for c in registry if (not arguments.only or c.name in arguments.only) and (not arguments.fast or c.fast)]
    unknown = set(arguments.only or ()) - {c.name for c in CLAIMS + UNMEASURED}
    if unknown:
        print(f"unknown claim(s) {', '.join(sorted(unknown))}; choose from: {', '.join(c.name for c in CLAIMS)}",
              file=sys.stderr)
        return 2
    if arguments.list:
        for claim in chosen:
            print(f"{claim.name:32s} {claim.notebook:26s} {claim.statement}")
        for name, (statement, notebook, why) in PENDING.items():
            print(f"{name:32s} {notebook:26s} {statement} [not measured yet: {why}]")
        return 0
    started = time.perf_counter()
    results = run_claims(chosen, lab=Lab(seeds=arguments.seed, models=arguments.models))
    command = "python -m segedu claims " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["claims"] else "run_claims()"
    json_path, markdown_path = write_report(results, arguments.out, command=command.strip(),
                                            seconds=time.perf_counter() - started,
                                            merge=arguments.merge)
    failed = [r["name"] for r in results if not r["holds"]]
    print(f"{len(results) - len(failed)} of {len(results)} claims hold; report: {markdown_path}, {json_path}")
    if failed:
        print(f"not holding: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
