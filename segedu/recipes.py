"""Recipes: a whole training, every setting named and explained, run by ``python -m segedu train --recipe NAME``.

A recipe is what a strong training uses, written where a learner can read it. ``camvid-cpu``, the course's CamVid
flagship (`segedu.pretrained`'s ``unet_camvid``), trains well within an hour on a 2-core laptop CPU (docs/claims.md
gives the minutes and the processor it was measured on):

- **the model**: U-Net's skips on the ImageNet EfficientNet-Lite0 (`models.unet_backbone`): pretrained features,
  and the decoder brings back where they are down to stride 4, so thin poles and signs survive;
- **freeze the generic levels**: levels 1-3 (strides 2-8, the edges and textures any photo shares) keep their
  ImageNet weights and batch-norm statistics, levels 4-5 and the decoder learn (`freeze_encoder="level3"`). The
  frozen levels need no backward pass, which at 360x480 is most of the encoder's cost;
- **full resolution**: CamVid's 360x480, randomly zoomed in (crops of 35-100% of the frame's area), flipped and
  colour-jittered, so the network sees objects at many sizes;
- **a loss for rare classes**: cross-entropy weighted by the square root of median frequency balancing (Eigen and
  Fergus 2015, used by SegNet): a class covering 1% of the pixels counts about 3x more than a median one, so poles,
  sign symbols and cyclists are not sacrificed to sky and road (the full balancing over-weights them);
- **schedule**: AdamW at 1e-3 with DeepLab's "poly" decay to zero, batch 8;
- **precision**: bf16 where the processor computes it natively, the memory layout measured fastest on this
  processor, every decoded frame kept in memory (the engine's defaults on a CPU).

The test frames are scored after 15, 30 and 60 minutes of training (`TimedEvaluation`), a curve saved with the
checkpoint; the training minutes count only training, not these scorings.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from .leftovers import write_text_atomically

__all__ = ["Recipe", "RECIPES", "median_frequency_weights", "TimedEvaluation", "recipe_training", "ship"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training's settings: what `python -m segedu train` would be given, plus the recipe's own (class weights,
    the frozen levels, the minutes at which the test split is scored)."""

    name: str
    description: str
    model: str
    data: str
    options: dict[str, Any]
    image_size: tuple[int, int]
    epochs: int
    batch_size: int = 8
    lr: float = 1e-3
    class_weighting: float | None = 0.5  # the power of median frequency balancing; None: plain cross-entropy
    freeze_through: str | None = None  # freeze the encoder's levels up to this one
    score_split: str = "test"
    score_minutes: tuple[float, ...] = (15.0, 30.0, 60.0)

    def arguments(self) -> dict[str, Any]:
        """The `train` command's defaults this recipe sets (an option given on the command line still wins)."""
        return {"model": self.model, "data": self.data, "image_size": self.image_size, "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr, "subset": 0, "width": 1.0,
                "backbone": self.options.get("backbone"), "pretrained": self.options.get("pretrained", False)}


RECIPES: dict[str, Recipe] = {
    "camvid-cpu": Recipe(
        "camvid-cpu", "U-Net on the ImageNet EfficientNet-Lite0, levels 1-3 frozen, CamVid at 360x480, 18 epochs "
                      "(well within an hour on a 2-core CPU)",
        model="unet", data="camvid", options={"backbone": "efficientnet_lite0", "pretrained": True},
        image_size=(360, 480), epochs=18, freeze_through="level3"),
}


def median_frequency_weights(dataset, num_classes: int, *, power: float = 1.0,
                             ignore_index: int = 255) -> tuple[float, ...]:
    """Median frequency balancing (Eigen and Fergus 2015): class c weighs (median_f / f_c) ** power, where f_c is
    the share of the labelled pixels of class c over the frames that contain it. power 1 is the paper's, 0.5 a
    milder version. A class absent from every frame weighs 1. Reads every (image, mask) of `dataset` once: give it
    the data without random augmentation."""
    pixels = torch.zeros(num_classes, dtype=torch.float64)
    frames_pixels = torch.zeros(num_classes, dtype=torch.float64)  # labelled pixels of the frames holding class c
    for index in range(len(dataset)):
        labelled = torch.as_tensor(dataset[index][1]).reshape(-1).long()
        labelled = labelled[labelled != ignore_index]
        counts = torch.bincount(labelled, minlength=num_classes)[:num_classes].double()
        pixels += counts
        frames_pixels += (counts > 0).double() * len(labelled)
    present = frames_pixels > 0
    frequency = torch.where(present, pixels / frames_pixels.clamp(min=1), torch.nan)
    median = frequency[present].median()
    weights = torch.where(present, (median / frequency) ** power, torch.ones_like(frequency))
    return tuple(round(float(w), 4) for w in weights)


class TimedEvaluation:
    """A `fit` callback: after the first epoch whose accumulated training time reaches each of `minutes`, and after
    the last epoch, score `model` on `data` (at the labels' own resolution, `engine.evaluate`) and keep a point of
    the curve: {"epoch", "minutes" (training only), "miou", "pixel_accuracy", "iou" (per class)}. The scoring's own
    time is not training time (fit's `seconds` exclude it). With `folder`, the curve is written to its curve.json
    after every point, and a resumed run (`resume_from`, the checkpoint's state) continues the clock and the curve."""

    def __init__(self, model: torch.nn.Module, data, *, minutes: tuple[float, ...], epochs: int,
                 input_size: tuple[int, int] | None = None, folder: Path | None = None,
                 resume_from: dict[str, Any] | None = None, say=print):
        self.model, self.data, self.marks, self.epochs = model, data, sorted(minutes), epochs
        self.input_size, self.folder, self.say = input_size, folder, say or (lambda text: None)
        self.trained_seconds, self.epoch, self.curve = 0.0, 0, []
        if resume_from is not None:
            records = resume_from.get("history") or []
            self.trained_seconds = sum(record["seconds"] for record in records)
            self.epoch = len(records)
            self.curve = list(resume_from.get("curve") or self._saved_curve())
            self.marks = [mark for mark in self.marks if mark > self.trained_seconds / 60]

    def _saved_curve(self) -> list[dict[str, Any]]:
        path = self.folder / "curve.json" if self.folder is not None else None
        return json.loads(path.read_text())["curve"] if path is not None and path.exists() else []

    def __call__(self, record: dict[str, float]) -> None:
        from .engine import evaluate

        self.trained_seconds += record["seconds"]
        self.epoch += 1
        minutes = self.trained_seconds / 60
        reached = [mark for mark in self.marks if minutes >= mark]
        if not reached and self.epoch < self.epochs:
            return
        self.marks = [mark for mark in self.marks if mark not in reached]
        started = time.perf_counter()
        matrix = evaluate(self.model, self.data, batch_size=8, input_size=self.input_size)
        self.model.train()
        point = {"epoch": self.epoch, "minutes": round(minutes, 2), "miou": matrix.miou(),
                 "pixel_accuracy": matrix.pixel_accuracy(), "iou": [float(v) for v in matrix.iou()]}
        self.curve.append(point)
        if self.folder is not None:
            write_text_atomically(self.folder / "curve.json",
                                  json.dumps({"split_frames": len(self.data), "curve": self.curve}, indent=1))
        self.say(f"after {minutes:.1f} min of training (epoch {self.epoch}): {len(self.data)} frames scored, mIoU "
                 f"{100 * point['miou']:.1f} ({time.perf_counter() - started:.0f} s to score)")

    def finish(self, checkpoint: Path | None) -> None:
        """After the last epoch: the curve into the run's last checkpoint, and the last point's per-class IoU."""
        from .checkpoint import load_checkpoint, save_checkpoint

        if checkpoint is not None and self.curve:
            state = load_checkpoint(checkpoint)
            state["curve"] = self.curve
            save_checkpoint(checkpoint, state)
        if self.curve:
            last, names = self.curve[-1], getattr(self.data, "class_names", None) or range(len(self.curve[-1]["iou"]))
            self.say("per-class IoU on the " + f"{len(self.data)} frames: " + ", ".join(
                f"{name} {100 * value:.1f}" for name, value in zip(names, last["iou"])))
            self.say("the curve: " + ", ".join(f"{point['minutes']:.0f} min {100 * point['miou']:.1f}"
                                               for point in self.curve))


def recipe_training(recipe: Recipe, model: torch.nn.Module, config, *, data: str, size: tuple[int, int],
                    subset: int | None, output: Path, resume: Path | None = None, say=print):
    """What `train --recipe` adds to a plain training on `data` (the recipe's, or the one the command line named):
    the class weights (`median_frequency_weights` of the training masks, unaugmented), the frozen levels, and the
    `TimedEvaluation` of the recipe's split.
    -> (config, callbacks, the TimedEvaluation)."""
    from .checkpoint import load_checkpoint
    from .data import build_dataset

    weights = None
    if recipe.class_weighting is not None:
        plain = build_dataset(data, "train", image_size=size, subset=subset)
        weights = median_frequency_weights(plain, plain.num_classes, power=recipe.class_weighting)
        if say:
            say("class weights (median frequency balancing ** " + f"{recipe.class_weighting:g}): " + ", ".join(
                f"{name} {w:.2f}" for name, w in zip(plain.class_names, weights)))
    config = dataclasses.replace(config, class_weights=weights, freeze_encoder=recipe.freeze_through or False)
    scored_data = build_dataset(data, recipe.score_split, image_size=None)  # scored at the labels' size
    scorer = TimedEvaluation(model, scored_data, minutes=recipe.score_minutes, epochs=config.epochs, input_size=size,
                             folder=Path(output), resume_from=load_checkpoint(resume) if resume else None, say=say)
    return config, [scorer], scorer


def ship(run: Path | str, destination: Path | str, *, command: str, machine: str, data: str = "camvid",
         split: str = "test", subset: int = 16) -> dict[str, Any]:
    """Export a recipe's run (`run`: its last.pt) as a course checkpoint (`checkpoint.export_checkpoint`: float16
    weights, no optimizer) with the metrics a test reproduces: the whole `split` scored at the labels' resolution
    in float32 (so every processor gives the same figure, bf16 or not), the first `subset` evenly spaced frames
    alone, per-class IoU, and the run's curve, training minutes, `command` and `machine`. -> the metrics."""
    from .checkpoint import export_checkpoint, load_checkpoint, load_model
    from .data import build_dataset
    from .engine import evaluate
    from .runtime import Runtime

    state = load_checkpoint(run)
    exported = export_checkpoint(run, destination, metrics={})
    model, _ = load_model(exported)
    model = model.float().eval()
    size = tuple(state["data"]["image_size"])
    runtime = Runtime.resolve("cpu", bf16=False, channels_last=False)
    scores = {}
    for name, count in (("whole", None), ("subset", subset)):
        frames = build_dataset(data, split, image_size=None, subset=count)
        scores[name] = (evaluate(model, frames, batch_size=4, input_size=size, runtime=runtime), len(frames))
    matrix, frames = scores["whole"]
    metrics = {"split": f"{data} {split} ({frames} frames), scored at the labels' resolution in float32",
               "miou": round(matrix.miou(), 5), "pixel_accuracy": round(matrix.pixel_accuracy(), 5),
               f"{split}_subset{subset}_miou": round(scores["subset"][0].miou(), 5),
               "iou": [round(float(v), 4) for v in matrix.iou()], "command": command, "machine": machine,
               "training_minutes": round(sum(r["seconds"] for r in state.get("history", [])) / 60, 1),
               "curve": state.get("curve", [])}
    export_checkpoint(run, destination, metrics=metrics)
    return metrics
