"""Recipes: a whole training, every setting named and explained, run by ``python -m segedu train --recipe NAME``.

A recipe is what a strong training uses, written where a learner can read it. ``camvid-cpu``, the course's CamVid
flagship (`segedu.pretrained`'s ``unet_camvid``), trains well within an hour on a 2-core CPU (docs/claims.md gives
the minutes and the processor it was measured on):

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

A recipe's epochs were sized on one processor, and 2-core CPUs differ by more than 2x (docs/known-issues.md). So a
recipe with a budget (`Recipe.minutes`: an hour for the three whole CamVid networks, 20 minutes for ISBI 2012; the
heads, minutes long, have none) times its first epoch and trains only as many of its epochs as fit
(`TrainConfig.minutes`), the learning rate's decay shortened to end with them; it prints how many. `--epochs` given
on the command line is taken as it is.

``camvid-heads`` gives every architecture the course shows a working CamVid checkpoint in minutes: the same
frozen ImageNet encoder for all (no gradients, no batch-norm updates, no backward pass through it), only the
architecture's own decoder and head trained (`--model fcn32s`, `fcn8s`, `pspnet`, `deeplabv3`, ...), with the
flagship's data, loss and schedule. `ship` then stores the checkpoint without the encoder, which comes back from
its package, checked by its digest: 0.2 to 7.7 MiB per architecture.

``isbi-cpu``, U-Net on ISBI 2012's electron microscopy slices (`segedu.pretrained`'s ``unet_lite0_isbi2012``),
trains in 20 minutes with the paper's own ideas (Ronneberger et al. 2015):

- **the model**: the same pretrained encoder, with the expanding path continued to stride 2 (level 1) and then to
  the input's own resolution, whose skip is the image itself, as U-Net's path ends: membranes are 2-5 pixels wide,
  and a boundary misplaced by one pixel costs several points of Dice;
- **tiles at the native scale**: random 256x256 tiles of the 512x512 slices, never resized, turned by multiples
  of 90 degrees and flipped (`data.transforms.isbi_train_transforms`), 16 tiles of each of the 25 training
  slices an epoch;
- **elastic deformation** as the paper draws it: a 3x3 grid of displacements of 10 pixels' standard deviation,
  interpolated bicubically (`data.elastic`), the grid over the paper's presumed 572 px input tile (figure 1), each
  256 px training tile a window of it (`elastic_span`; over the 256 px tile itself the warps are about twice as
  sharp, and the U-Net trained so scored 0.884 against this one's 0.885: docs/known-issues.md), so the network
  learns shapes it has never seen from 25 slices;
- **the border weight map** (equation 2, w0 = 10, sigma = 5): the thin membranes between touching cells weigh
  up to 11 times more, so the network does not merge cells (`losses.BorderWeightedLoss`);
- **overlap-tile at test time**: each held-out slice is predicted whole, mirrored at its borders, and averaged
  over the eight symmetries of the square, as the paper averaged rotated versions of the input.

It is scored on the held-out slices 25-29 with Dice and with the challenge's own measures, the foreground-restricted
Rand and information scores (`challenge_scores`), after 5, 10, 15 and 20 minutes of training.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from .data.elastic import PAPER_SPAN
from .language import tr
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
    width: float = 1.0  # the model's width multiplier (a narrower network for an encoder trained from scratch)
    lr: float = 1e-3
    class_weighting: float | None = 0.5  # the power of median frequency balancing; None: plain cross-entropy
    freeze_through: str | bool | None = None  # freeze the encoder's levels up to this one (True: all of it)
    score_split: str = "test"
    score_minutes: tuple[float, ...] = (15.0, 30.0, 60.0)
    tile: int | None = None  # train on random tiles of this side at the data's own scale (U-Net's augmentation)
    tiles_per_image: int = 1  # tiles drawn from each training image per epoch
    elastic_span: int | None = None  # with `tile`: the side the elastic grid spans (572: figure 1's input tile)
    loss: str = "cross_entropy"  # or "border_weighted": U-Net's weight map (equation 2)
    score: str = "miou"  # or "membranes": Dice, with the ISBI challenge's Rand and information scores beside it
    test_time_rotations: bool = False  # score the average over the 8 symmetries of the square (U-Net, section 4)
    minutes: float | None = None  # the training's budget: fewer epochs where this processor cannot fit them all

    def arguments(self) -> dict[str, Any]:
        """The `train` command's defaults this recipe sets (an option given on the command line still wins)."""
        return {"model": self.model, "data": self.data, "image_size": self.image_size, "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr, "subset": 0, "width": self.width,
                "backbone": self.options.get("backbone"), "pretrained": self.options.get("pretrained", False)}

    def model_options(self) -> dict[str, Any]:
        """The model's options other than the backbone (e.g. the decoder's widths)."""
        return {key: value for key, value in self.options.items() if key not in ("backbone", "pretrained")}

    def training_data(self, data: str, size: tuple[int, int], subset: int | None):
        """The augmented training split: the course's zoom crops at `size`, or, with `tile`, U-Net's random tiles
        at the native scale (`data.transforms.isbi_train_transforms`), `tiles_per_image` of each image an epoch."""
        from .data import Repeated, build_dataset
        from .data.transforms import isbi_train_transforms

        if self.tile is None:
            if self.elastic_span is not None:
                raise ValueError(tr("recipe {name}: elastic_span needs tile (U-Net's elastic deformation is drawn on "
                                    "tiles)", name=self.name))
            return build_dataset(data, "train", image_size=size, augment=True, subset=subset)
        tiles = build_dataset(data, "train", image_size=None, subset=subset,
                              transforms=isbi_train_transforms(self.tile, elastic_span=self.elastic_span))
        return Repeated(tiles, self.tiles_per_image)

    def loss_function(self):
        """None (fit's cross-entropy, with the recipe's class weights) or U-Net's border-weighted loss."""
        from .losses import BorderWeightedLoss

        if self.loss not in ("cross_entropy", "border_weighted"):
            raise ValueError(tr("recipe {name}: unknown loss {loss!r}", name=self.name, loss=self.loss))
        return BorderWeightedLoss(w0=10.0, sigma=5.0) if self.loss == "border_weighted" else None


HEAD_EPOCHS = 10  # each architecture's head on the frozen encoder: minutes, not hours (docs/claims.md)
# SegNet and DeconvNet at quarter width, 367 frames an epoch: their shipped runs trained 90 epochs each at 10.7-10.9
# (SegNet's first 20 epochs at about 7.3) and 10.0-10.7 images/s (56.7 and 53.3 minutes); another 2-core AMD EPYC
# with AVX-512 BF16 trains them at 4.8 and 4.0, where the budget keeps about 46 and 39 of them: the minutes depend on
# the processor
SEGNET_EPOCHS = 90
DECONVNET_EPOCHS = 90
ISBI_EPOCHS = 36  # 400 tiles an epoch: measured to end within 20 minutes of training on a 2-core CPU
RECIPES: dict[str, Recipe] = {
    "camvid-cpu": Recipe(
        "camvid-cpu", "U-Net on the ImageNet EfficientNet-Lite0, levels 1-3 frozen, CamVid at 360x480, 18 epochs "
                      "(well within an hour on a 2-core CPU)",
        model="unet", data="camvid", options={"backbone": "efficientnet_lite0", "pretrained": True},
        image_size=(360, 480), epochs=18, freeze_through="level3", minutes=60.0),
    "camvid-heads": Recipe(
        "camvid-heads", "any architecture's decoder and head (--model fcn8s, pspnet, deeplabv3, ...) on the frozen "
                        "ImageNet EfficientNet-Lite0, CamVid at 360x480: the course's checkpoint of each architecture",
        model="fcn8s", data="camvid", options={"backbone": "efficientnet_lite0", "pretrained": True},
        image_size=(360, 480), epochs=HEAD_EPOCHS, freeze_through="level5", score_minutes=(15.0, 30.0, 60.0)),
    # SegNet and DeconvNet need their own max-pooling encoder (the switches), and VGG16's ImageNet weights are not
    # available offline: a quarter-width network trained from scratch (about 1.8M parameters, near SegNet-Basic's 1.4M)
    "camvid-segnet": Recipe(
        "camvid-segnet", "SegNet (VGG16-BN at quarter width, its pooling switches) trained from scratch on CamVid at "
                         "360x480, as SegNet-Basic was (90 epochs, fewer where they do not fit in an hour)",
        model="segnet", data="camvid", options={}, image_size=(360, 480), epochs=SEGNET_EPOCHS, batch_size=4,
        width=0.25, minutes=60.0),
    "camvid-deconvnet": Recipe(
        "camvid-deconvnet", "DeconvNet (VGG16-BN at quarter width, fc6/fc7 of 128 channels, unpooling and "
                            "transposed convolutions) trained from scratch on whole CamVid frames at 360x480 "
                            "(90 epochs, fewer where they do not fit in an hour)",
        model="deconvnet", data="camvid", options={"fc_channels": 128}, image_size=(360, 480),
        epochs=DECONVNET_EPOCHS, batch_size=4, width=0.25, minutes=60.0),
    "isbi-cpu": Recipe(
        "isbi-cpu", "U-Net on the ImageNet EfficientNet-Lite0 down to full resolution, ISBI 2012 slices 0-24 as 256x256 tiles "
                    "with U-Net's elastic deformation and border weights (20 minutes on a 2-core CPU)",
        model="unet", data="isbi2012",
        options={"backbone": "efficientnet_lite0", "pretrained": True, "decoder_widths": (128, 64, 48, 32, 16)},
        image_size=(512, 512), epochs=ISBI_EPOCHS, class_weighting=None, score_split="val",
        score_minutes=(5.0, 10.0, 15.0, 20.0), tile=256, tiles_per_image=16, loss="border_weighted",
        score="membranes", test_time_rotations=True, minutes=20.0, elastic_span=PAPER_SPAN),
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


def score_classes(model: torch.nn.Module, data, *, input_size: tuple[int, int] | None = None, runtime=None,
                  rotations: bool = False) -> dict[str, Any]:
    """mIoU, pixel accuracy and per-class IoU of `model` on `data`, at the labels' resolution (`engine.evaluate`)."""
    from .engine import evaluate

    matrix = evaluate(model, data, batch_size=8 if not rotations else 1, input_size=input_size, runtime=runtime,
                      flip=rotations, rotations=rotations)
    return {"miou": matrix.miou(), "pixel_accuracy": matrix.pixel_accuracy(), "iou": [float(v) for v in matrix.iou()]}


def score_membranes(model: torch.nn.Module, data, *, input_size: tuple[int, int] | None = None, runtime=None,
                    rotations: bool = False, margin: int = 32) -> dict[str, Any]:
    """ISBI 2012's measures for `model` on `data` (images (1, H, W), masks 0 membrane / 1 cell), slice by slice:
    mean Dice and per-class Dice over all the pixels, and the challenge's foreground-restricted Rand and
    information scores (`challenge_scores.membrane_scores`, averaged over the slices). Each slice is predicted whole,
    extended by `margin` mirrored pixels on every side (U-Net's overlap-tile with one tile: the border cells get
    context), with the 8 symmetries of the square averaged when `rotations` (U-Net, section 4)."""
    from .challenge_scores import membrane_scores
    from .engine import predict
    from .metrics import ConfusionMatrix
    from .models.unet import mirror_pad
    from .runtime import Runtime

    runtime = runtime or Runtime.resolve("auto")
    matrix, per_slice = ConfusionMatrix(2), []
    for index in range(len(data)):
        image, mask = data[index]
        extended = mirror_pad(image[None], margin, margin, margin, margin)
        logits = predict(model, extended, input_size=None if input_size is None else
                         tuple(side + 2 * margin for side in input_size), runtime=runtime, flip=rotations,
                         rotations=rotations)
        predicted = logits[0, :, margin: margin + mask.shape[-2], margin: margin + mask.shape[-1]].argmax(0)
        matrix.update(predicted, mask)
        per_slice.append(membrane_scores(predicted, mask))
    dice = matrix.dice()
    scores = {"dice": float(dice.mean()), "dice_per_class": [float(v) for v in dice], "miou": matrix.miou(),
              "pixel_accuracy": matrix.pixel_accuracy(), "iou": [float(v) for v in matrix.iou()]}
    for key in per_slice[0]:
        scores[key] = sum(float(one[key]) for one in per_slice) / len(per_slice)
    return scores


SCORES = {"miou": score_classes, "membranes": score_membranes}
HEADLINE = {"miou": "miou", "membranes": "dice"}


class TimedEvaluation:
    """A `fit` callback: after the first epoch whose accumulated training time reaches each of `minutes`, and after
    the last epoch, score `model` on `data` (at the labels' own resolution, `engine.evaluate`) and keep a point of
    the curve: {"epoch", "minutes" (training only), "miou", "pixel_accuracy", "iou" (per class)}. The scoring's own
    time is not training time (fit's `seconds` exclude it). With `folder`, the curve is written to its curve.json
    after every point, and a resumed run (`resume_from`, the checkpoint's state) continues the clock and the curve."""

    def __init__(self, model: torch.nn.Module, data, *, minutes: tuple[float, ...], epochs: int,
                 input_size: tuple[int, int] | None = None, folder: Path | None = None,
                 resume_from: dict[str, Any] | None = None, say=print, score: str = "miou", rotations: bool = False):
        self.model, self.data, self.marks, self.epochs = model, data, sorted(minutes), epochs
        self.score, self.rotations = score, rotations
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
        self.trained_seconds += record["seconds"]
        self.epoch += 1
        minutes = self.trained_seconds / 60
        reached = [mark for mark in self.marks if minutes >= mark]
        if not reached and self.epoch < self.epochs:
            return
        self.marks = [mark for mark in self.marks if mark not in reached]
        self._score(minutes)

    def _score(self, minutes: float) -> None:
        started = time.perf_counter()
        scores = SCORES[self.score](self.model, self.data, input_size=self.input_size, rotations=self.rotations)
        self.model.train()
        point = {"epoch": self.epoch, "minutes": round(minutes, 2), **scores}
        self.curve.append(point)
        if self.folder is not None:
            write_text_atomically(self.folder / "curve.json",
                                  json.dumps({"split_frames": len(self.data), "curve": self.curve}, indent=1))
        headline = HEADLINE[self.score]
        self.say(f"after {minutes:.1f} min of training (epoch {self.epoch}): {len(self.data)} frames scored, "
                 f"{'mIoU' if headline == 'miou' else headline.capitalize()} {100 * point[headline]:.1f} "
                 f"({time.perf_counter() - started:.0f} s to score)")

    def finish(self, checkpoint: Path | None) -> None:
        """After the last epoch: the curve into the run's last checkpoint, and the last point's per-class IoU."""
        from .checkpoint import load_checkpoint, save_checkpoint

        if self.epoch and (not self.curve or self.curve[-1]["epoch"] != self.epoch):  # a budget ended it early
            self._score(self.trained_seconds / 60)
        if checkpoint is not None and self.curve:
            state = load_checkpoint(checkpoint)
            state["curve"] = self.curve
            save_checkpoint(checkpoint, state)
        if self.curve:
            last, names = self.curve[-1], getattr(self.data, "class_names", None) or range(len(self.curve[-1]["iou"]))
            self.say("per-class IoU on the " + f"{len(self.data)} frames: " + ", ".join(
                f"{name} {100 * value:.1f}" for name, value in zip(names, last["iou"])))
            if "dice_per_class" in last:
                self.say("Dice " + ", ".join(f"{name} {value:.3f}" for name, value in zip(names, last["dice_per_class"]))
                         + "; " + ", ".join(f"{key} {last[key]:.4f}" for key in ("rand", "info") if key in last))
            headline = HEADLINE[self.score]
            self.say("the curve: " + ", ".join(f"{point['minutes']:.0f} min {100 * point[headline]:.1f}"
                                               for point in self.curve))


def recipe_training(recipe: Recipe, model: torch.nn.Module, config, *, data: str, size: tuple[int, int],
                    subset: int | None, output: Path, resume: Path | None = None, say=print):
    """What `train --recipe` adds to a plain training on `data` (the recipe's, or the one the command line named):
    the class weights (`median_frequency_weights` of the training masks, unaugmented), the frozen levels, and the
    `TimedEvaluation` of the recipe's split.
    -> (config, callbacks, the TimedEvaluation, the loss: None for fit's own)."""
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
                             folder=Path(output), resume_from=load_checkpoint(resume) if resume else None, say=say,
                             score=recipe.score, rotations=recipe.test_time_rotations)
    return config, [scorer], scorer, recipe.loss_function()


def ship(run: Path | str, destination: Path | str, *, command: str, machine: str, data: str = "camvid",
         split: str = "test", subset: int = 16, recipe: Recipe | None = None) -> dict[str, Any]:
    """Export a recipe's run (`run`: its last.pt) as a course checkpoint (`checkpoint.export_checkpoint`: float16
    weights, no optimizer) with the metrics a test reproduces: the whole `split` scored at the labels' resolution
    in float32 (so every processor gives the same figure, bf16 or not) by the `recipe`'s measure (mIoU by default;
    Dice and the challenge's scores for "membranes"), the first `subset` evenly spaced frames alone, and the run's
    curve, training minutes, `command` and `machine`. -> the metrics."""
    from .checkpoint import export_checkpoint, load_checkpoint, load_model
    from .data import build_dataset
    from .runtime import Runtime

    state = load_checkpoint(run)
    exported = export_checkpoint(run, destination, metrics={})
    model, _ = load_model(exported)
    model = model.float().eval()
    size = tuple(state["data"]["image_size"])
    runtime = Runtime.resolve("cpu", bf16=False, channels_last=False)
    kind, rotations = (recipe.score, recipe.test_time_rotations) if recipe is not None else ("miou", False)
    scores, counts = {}, {}
    for name, count in (("whole", None), ("subset", subset)):
        frames = build_dataset(data, split, image_size=None, subset=count)
        if name == "subset" and len(frames) == counts["whole"]:  # the subset is the whole split: scored already
            scores[name], counts[name] = scores["whole"], counts["whole"]
            continue
        scores[name] = SCORES[kind](model, frames, input_size=size, runtime=runtime, rotations=rotations)
        counts[name] = len(frames)
    headline, whole = HEADLINE[kind], scores["whole"]
    rounded = {key: ([round(v, 5) for v in value] if isinstance(value, list) else round(value, 5))
               for key, value in whole.items()}
    metrics = {"split": f"{data} {split} ({counts['whole']} frames), scored at the labels' resolution in float32"
                        + (", the 8 symmetries of the square averaged" if rotations else ""),
               **rounded, f"{split}_subset{subset}_{headline}": round(scores["subset"][headline], 5),
               "command": command, "machine": machine,
               "training_minutes": round(sum(r["seconds"] for r in state.get("history", [])) / 60, 1),
               "curve": state.get("curve", [])}
    frozen = recipe is not None and recipe.freeze_through in (True, "level5")  # the package's encoder: left out
    export_checkpoint(run, destination, metrics=metrics, omit_pretrained_encoder=frozen)
    return metrics
