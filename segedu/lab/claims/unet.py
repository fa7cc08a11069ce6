"""Notebook 09 (U-Net on ISBI 2012): the border weight map, measured and trained (its border term against class
balancing alone), U-Net's elastic deformation on few slices, and one tile per step with momentum 0.99 (bias-corrected,
at the same effective step as 0.9)."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Callable

import torch

from ..statistics import accuracy_of, slice_blocks
from .framework import Outcome, Registry
from .lab import Lab, settings_of, tensor_digest
from .preregistration import RULES
from .verdict import Rule, combined, counts, judged, paired, pooled_score, shown

if TYPE_CHECKING:
    from ..endtoend import Frames, TrainingConfig

claims = Registry()


def registered_rule(name: str) -> Rule:
    """The verdict rule declared for `name` in `preregistration.RULES`; a KeyError naming the missing key, looked up
    before any training, so a claim without a declared rule fails at once rather than after its runs."""
    try:
        return RULES[name]
    except KeyError:
        raise KeyError(f"no verdict rule {name!r} in segedu/lab/claims/preregistration.py RULES: declare it there, "
                       f"in its own commit, before running the claim") from None


def unet_runs(lab: Lab, frames: Frames, arms: dict[str, dict] | Callable[[int], dict[str, dict]], *,
              steps: TrainingConfig | None = None) -> dict[str, list]:
    """For each arm ({name: train options}, or a function of the seed that returns them) and seed: U-Net (width
    `unet_width`) trained on the ISBI tiles `frames` from the same initial weights, with the same batches
    (`endtoend.train`: the order and flips depend on the seed only), for `steps` (default: `unet_steps` steps); its
    predictions on the 5 held-out slices; the held-out masks under "_masks". An arm's options may hold "frames",
    tiles to train on instead of `frames` (the same masks with other images or weight maps), as many as `frames`
    unless the options also say "other_batches": True (a smaller training set, whose batches cannot be the same)."""
    from ...models import build_model
    from ..endtoend import isbi_tiles, predict, train

    config = lab.training
    steps = steps or dataclasses.replace(config, steps=config.unet_steps)
    test = isbi_tiles("val", size=512)
    runs: dict[str, list] = {}
    for seed in config.seeds:
        torch.manual_seed(seed)
        initial = build_model("unet", num_classes=2, in_channels=1, width=config.unet_width).state_dict()
        for name, options in (arms(seed) if callable(arms) else arms).items():
            options = dict(options)
            arm_frames, other_batches = options.pop("frames", frames), options.pop("other_batches", False)
            if len(arm_frames) != len(frames) and not other_batches:
                raise ValueError(f"unet_runs: arm {name!r} trains on {len(arm_frames)} tiles, the others on "
                                 f"{len(frames)}: the batches would differ")

            def build(initial=initial):  # the seed's initial weights, the same in every arm
                model = build_model("unet", num_classes=2, in_channels=1, width=config.unet_width)
                model.load_state_dict(initial)
                return model

            def fit(model, arm_frames=arm_frames, options=options, seed=seed):
                return train(model, None, arm_frames, steps, seed=seed, **options)

            tiles = tensor_digest(*(t for t in (arm_frames.images, arm_frames.masks, arm_frames.weights)
                                    if t is not None))
            kept = f"unet-{re.sub('[^A-Za-z0-9.]+', '-', name).strip('-')}-{tiles[:12]}"  # a file of its own per arm
            model = lab.trained(kept, seed, build, fit, settings={"training": settings_of(steps), "arm": options,
                                                                  "tiles": tiles})
            runs.setdefault(name, []).append(predict(model, test.images, batch_size=2))
    runs["_masks"] = test.masks
    return runs


def held_out_blocks(masks: torch.Tensor, tile: int) -> torch.Tensor:
    """The bootstrap blocks of the held-out tiles scored per `tile` x `tile` tile (`endtoend.tile_scores`,
    `endtoend.tile`): the (slices, H, W) held-out slices are cut slice by slice, so the tiles of one slice, which
    share its cells and its imaging, make one block."""
    per_slice = (masks.shape[-2] // tile) * (masks.shape[-1] // tile)
    return slice_blocks(len(masks) * per_slice, per_slice)


def held_out_miou(config, runs: dict[str, list], better: str, worse: str, difference: str, setting: str,
                  rule: Rule, *, reported: tuple[tuple[str, str], ...] = ()) -> Outcome:
    """The verdict of a U-Net comparison (`unet_runs`): `better` - `worse` in mIoU on the held-out tiles, judged by
    `rule` on its two-level interval (seeds, then the slices the tiles come from). Each pair (a, b) of `reported`
    adds a - b with its interval to the summary and to the numbers ("reported"), not judged."""
    from ..endtoend import tile_scores

    masks = runs.pop("_masks")
    blocks = held_out_blocks(masks, config.tile)
    scores = {name: [tile_scores(p, masks, size=config.tile, num_classes=2) for p in predictions]
              for name, predictions in runs.items()}
    lead = judged(paired(scores[better], scores[worse], blocks=blocks), rule)
    also = {f"{a} - {b}": paired(scores[a], scores[b], blocks=blocks) for a, b in reported}
    value = {name: pooled_score(s) for name, s in scores.items()}
    return Outcome(lead["verdict"],
                   f"{setting}, {len(config.seeds)} seeds pooled: held-out mIoU "
                   + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items()) + ". "
                   + "; ".join([shown(difference, lead)] + [shown(name, step) for name, step in also.items()])
                   + f" points, 95% two-level bootstrap (seeds, then the {lead['blocks']} held-out slices of "
                     f"{lead['frames']} tiles)",
                   lead["effect"], tuple(lead["interval"]), "points",
                   {"miou": value, "step": lead, **({"reported": also} if also else {})}, config.seeds)


WEIGHT_MAP_ARMS = ("weight map", "class balance", "plain")


@claims.claim("unet_weight_map_training", "the border weight map makes U-Net separate touching cells",
              "09_unet_isbi", "The weight map, trained",
              "shares of held-out cells merged with a neighbour and split in several, U-Net trained with the full "
              "weight map (class balance + border term), class balance only and no weights, 5 seeds",
              "class balance - weight map in merged cells: interval above 0 holds, below +1 point contradicts; and "
              "in split cells: interval above -2 points (the border term splits no more cells); the claim holds if "
              "both hold",
              note="Class balancing alone does the separating: it cuts the cells merged with a neighbour from 37.4% "
                   "to 16.2% (+21.2 points, every run). The border term adds nothing measurable on top (17.5% "
                   "merged, -1.3 [-7.3, +4.9]) and splits no fewer cells, so its own effect is inconclusive in five "
                   "runs of 240 steps. The earlier two-arm result (the map against plain cross-entropy) was "
                   "class balancing's.")
def unet_weight_map_training(lab: Lab) -> Outcome:
    """U-Net (Ronneberger et al. 2015, section 3, equation 2): the weight map w(x) = w_c(x) + w0 exp(-(d1(x) +
    d2(x))^2 / (2 sigma^2)) "forces the network to learn the small separation borders between touching cells". Its
    first term w_c only balances the class frequencies; the claim is about the second, the border term (w0 = 10,
    sigma = 5 px). Three arms, trained on the 25 training slices' 128x128 tiles from the same initial weights with
    the same batches, steps (`weight_map_steps`) and seeds: no weights (plain cross-entropy), class balance only
    (`endtoend.class_balance_map`, w_c) and the full map (`losses.border_weight_map`); both maps are computed per
    tile (a departure: the paper computes them per image). Separation on the 5 held-out slices, per 128x128 tile:
    the share of true cells merged with a neighbour (`endtoend.merged_cells`) and the share split into several
    predicted cells (`endtoend.split_cells`), since a network that draws membranes everywhere merges nothing.

    The border term's own effect is full map against class balance only. Merged cells, class balance - full map
    (positive: the border term merges fewer), judged by RULES["unet_weight_map_training"]; split cells, class
    balance - full map (positive: it splits fewer), judged by RULES["unet_weight_map_splits"], a non-inferiority:
    fewer merges bought with as many more splits is no separation. The claim is `combined` from the two. Reported
    beside them, not judged: mIoU (full map - class balance) and class balancing's own effect on merges (plain -
    class balance). Each interval is two-level (seeds, then the held-out slices, each a block of its tiles)."""
    from ..endtoend import class_balance_map, isbi_tiles, separation_counts, tile, tile_scores

    merges_rule, splits_rule = registered_rule("unet_weight_map_training"), registered_rule("unet_weight_map_splits")
    config = lab.training
    frames = isbi_tiles("train", size=config.tile, weights=True)  # the full map, w_c + border term
    balance = dataclasses.replace(frames, weights=torch.stack([class_balance_map(mask) for mask in frames.masks]))
    runs = unet_runs(lab, frames, {"weight map": {"weighted": True}, "class balance": {"weighted": True,
                                                                                      "frames": balance},
                                   "plain": {}}, steps=dataclasses.replace(config, steps=config.weight_map_steps))
    masks = runs.pop("_masks")
    separation = {name: [separation_counts(tile(p, config.tile), tile(masks, config.tile)) for p in predictions]
                  for name, predictions in runs.items()}
    merged = {name: [seed["merged"] for seed in per_seed] for name, per_seed in separation.items()}
    split = {name: [seed["split"] for seed in per_seed] for name, per_seed in separation.items()}
    scores = {name: [tile_scores(p, masks, size=config.tile, num_classes=2) for p in predictions]
              for name, predictions in runs.items()}
    blocks = held_out_blocks(masks, config.tile)  # every count: one row per tile, slice by slice
    merged_step = judged(paired(merged["class balance"], merged["weight map"], counts, accuracy_of, blocks=blocks),
                         merges_rule)
    split_step = judged(paired(split["class balance"], split["weight map"], counts, accuracy_of, blocks=blocks),
                        splits_rule)
    miou_step = paired(scores["weight map"], scores["class balance"], blocks=blocks)
    balance_step = paired(merged["plain"], merged["class balance"], counts, accuracy_of, blocks=blocks)
    merged_rate = {name: pooled_score(m, counts, accuracy_of) for name, m in merged.items()}
    split_rate = {name: pooled_score(m, counts, accuracy_of) for name, m in split.items()}
    value = {name: pooled_score(s) for name, s in scores.items()}

    def listed(values: dict[str, float], unit: str) -> str:
        return ", ".join(f"{name} {100 * values[name]:.1f}{unit}" for name in WEIGHT_MAP_ARMS)

    return Outcome(combined([merged_step["verdict"], split_step["verdict"]]),
                   f"U-Net (width {config.unet_width:g}), {config.weight_map_steps} steps on the 25 training slices' "
                   f"tiles, {len(config.seeds)} seeds pooled: cells merged with a neighbour "
                   + listed(merged_rate, "%") + "; cells split " + listed(split_rate, "%") + "; mIoU "
                   + listed(value, "") + ". Border term (class balance - weight map): "
                   + shown("merged", merged_step) + f" [{merged_step['verdict']}]; "
                   + shown("split", split_step) + f" [{split_step['verdict']}]; "
                   + shown("mIoU, weight map - class balance", miou_step) + "; class balancing: "
                   + shown("merged, plain - class balance", balance_step)
                   + f" points, 95% two-level bootstrap (seeds, then the {merged_step['blocks']} held-out slices of "
                     f"{merged_step['frames']} tiles)",
                   merged_step["effect"], tuple(merged_step["interval"]), "points",
                   {"merged_rate": merged_rate, "split_rate": split_rate, "miou": value, "merged_step": merged_step,
                    "split_step": split_step, "miou_step": miou_step, "class_balance_merged_step": balance_step},
                   config.seeds)


@claims.claim("unet_elastic_few_slices", "elastic deformation is the key augmentation when only a few slices are "
              "labelled", "09_unet_isbi", "Elastic deformation, trained",
              "held-out mIoU after training on 5 slices with and without U-Net's elastic deformation (3x3 grid of "
              "10 px displacements, bicubic), the same batches, 5 seeds",
              "elastic - plain, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="At the paper's scale the deformation helps in four runs of five (+3 to +10 points, +5.3 "
                   "pooled) and costs 2.4 in the fifth; with five runs and only five held-out slices to resample, "
                   "the interval still spans zero. The paper gives no ablation, only the sentence quoted.")
def unet_elastic_few_slices(lab: Lab) -> Outcome:
    """U-Net (section 3.1): "Especially random elastic deformations of the training samples seem to be the key
    concept to train a segmentation network with very few annotated images." U-Net trained on the 128x128 tiles of
    only 5 slices with and without the paper's deformation (`segedu.lab.deformation`: displacements ~ N(0, 10 px)
    on a 3x3 grid, interpolated bicubically; image, mask by nearest label, the tile mirrored at its edges), flips in
    both; the same initial weights, steps, seeds and, at every step, the same batches and flips: the deformations
    come from a generator of their own (seed + `endtoend.DEFORMATION_SEED`), not the batch order's. Scored on the 5
    held-out slices. Elastic - plain in mIoU is judged by `preregistration.RULES` on its two-level interval (seeds,
    then the held-out slices). Departures: 128x128 tiles, not the paper's larger ones, so 10 px is a larger share
    of a tile; no augmentation but flips and the deformation (the paper also wants shift and rotation invariance and
    robustness to grey values, and adds drop-out)."""
    from ..endtoend import isbi_tiles

    rule = registered_rule("unet_elastic_few_slices")
    config = lab.training
    frames = isbi_tiles("train", size=config.tile, slices=config.few_slices)
    runs = unet_runs(lab, frames, {"elastic": {"elastic": True}, "plain": {}})
    return held_out_miou(config, runs, "elastic", "plain", "elastic - plain",
                         f"U-Net (width {config.unet_width:g}), {config.unet_steps} steps on {config.few_slices} "
                         f"slices' tiles, U-Net's elastic deformation (3x3 grid, 10 px)", rule)


@claims.claim("unet_momentum_one_tile", "U-Net trains on one large tile per step with a high momentum (0.99), so "
              "that many earlier samples determine each update", "09_unet_isbi", "One tile, momentum 0.99",
              "held-out mIoU, bias-corrected SGD on one 128x128 tile per step, momentum 0.99 vs 0.9 at the same "
              "effective step lr / (1 - momentum), 5 seeds",
              "0.99 - 0.9, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="All five runs favour momentum 0.99 (+0.5 to +18.9 points, +7.6 pooled), but they differ so much "
                   "from one another that the interval still reaches below zero. With the warm-up corrected, what is "
                   "left is the longer average over past tiles, which the lecture credits; the paper gives no "
                   "ablation.")
def unet_momentum_one_tile(lab: Lab) -> Outcome:
    """U-Net (section 3): "we favor large input tiles over a large batch size and hence reduce the batch to a single
    image. Accordingly we use a high momentum (0.99) such that a large number of the previously seen training
    samples determine the update in the current optimization step." U-Net trained with SGD on one tile per step,
    momentum 0.99 against 0.9, at the same effective step lr / (1 - momentum) = `sgd_step` (so lr is 10x smaller
    at 0.99), and bias-corrected (`endtoend.momentum_sgd`: each update is the effective step times a normalized
    average of the past gradients from the first step on, so the 0.99 arm does not spend its first ~100 steps
    below full step size); only how many past samples each update averages (about 100 against 10) differs. The
    same initial weights, tiles (the same order), number of steps and seeds; scored on the 5 held-out slices.
    0.99 - 0.9 in mIoU is judged by `preregistration.RULES` on its two-level interval (seeds, then the held-out
    slices). Departures: the tile is 128x128 (the paper's is 572x572; our 256x256 runs took 29 minutes for 6
    trainings), 400 steps (one pass over the 400 tiles), and the momentum is bias-corrected where Caffe's is not."""
    from ..endtoend import isbi_tiles

    rule = registered_rule("unet_momentum_one_tile")
    config = lab.training
    steps = dataclasses.replace(config, steps=config.momentum_steps, batch_size=1)
    frames = isbi_tiles("train", size=config.momentum_tile)
    runs = unet_runs(lab, frames, {"momentum 0.99": {"momentum": 0.99}, "momentum 0.9": {"momentum": 0.9}},
                     steps=steps)
    return held_out_miou(config, runs, "momentum 0.99", "momentum 0.9", "0.99 - 0.9",
                         f"U-Net (width {config.unet_width:g}), bias-corrected SGD, one {config.momentum_tile}x"
                         f"{config.momentum_tile} tile per step, {config.momentum_steps} steps, effective step "
                         f"{config.sgd_step:g} (learning rate {config.sgd_step:g} x (1 - momentum))", rule)


@claims.claim("border_weights", "U-Net's weight map makes the thin gaps between touching cells count",
              "09_unet_isbi", "The weight map", "median weight of membrane pixels over cell pixels", "more than 2x",
              fast=True)
def border_weights(lab: Lab) -> Outcome:
    """U-Net's weight map makes the thin gaps between touching cells count: measured on the membranes stand-in, so
    it needs no data."""
    from ...data import build_dataset
    from ...losses import border_weight_map

    _, mask = build_dataset("membranes", "train", image_size=(128, 128))[0]
    weights = border_weight_map(mask, foreground=1, w0=10.0, sigma=5.0)
    ratio = float(weights[mask == 0].median() / weights[mask == 1].median())
    return Outcome(ratio > 2, f"median weight of membrane pixels / cell pixels: {ratio:.1f}x (w0 10, sigma 5, a "
                              f"128x128 synthetic membrane slice)", ratio, None, "x", {"ratio": ratio})
