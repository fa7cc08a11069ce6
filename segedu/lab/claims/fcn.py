"""Notebook 07 (FCN): the skips of FCN-32s, 16s and 8s, FCN's fixed receptive field by object size, and a fully
connected layer as a convolution."""

from __future__ import annotations

import torch
from torch import nn

from ...data.classes import CAMVID_THIN, CAMVID_THINGS
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import combined, counts, judged, paired, pooled, ranking, shown

claims = Registry()

SIZE_BINS = (256, 4096)  # object area in pixels at 180x240: small below 16x16, large from 64x64 (a tenth of the frame)
FCN_SKIPS = "8s - 16s and 16s - 32s, two-level 95% intervals: both above 0 holds, either below +1 point contradicts"


@claims.claim("fcn_skips_miou", "FCN-8s performs best: each skip from a finer pooling layer adds detail (8s > 16s > "
              "32s)", "07_fcn", "Skip connections: FCN-32s, 16s, 8s", "test mIoU, 10 seeds pooled", FCN_SKIPS)
def fcn_skips_miou(lab: Lab) -> Outcome:
    return ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "miou", "test mIoU", RULES["fcn_skips_miou"])


@claims.claim("fcn_skips_boundary", "skip connections recover accurate boundaries", "07_fcn",
              "Skip connections: FCN-32s, 16s, 8s", "pixel accuracy within 3 px of a label boundary (DeepLab's "
              "trimap), 10 seeds pooled", FCN_SKIPS)
def fcn_skips_boundary(lab: Lab) -> Outcome:
    return ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "band",
                   f"accuracy within {lab.config.band_width} px of a boundary", RULES["fcn_skips_boundary"])


@claims.claim("fcn_skips_thin", "coarse stride-32 predictions lose thin and small objects; skips bring them back",
              "07_fcn", "Skip connections: FCN-32s, 16s, 8s", "mean IoU of Pole, SignSymbol and Pedestrian, 10 seeds "
              "pooled", FCN_SKIPS)
def fcn_skips_thin(lab: Lab) -> Outcome:
    return ranking(lab, ("fcn8s", "fcn16s", "fcn32s"), "miou", "mean IoU of Pole, SignSymbol and Pedestrian",
                   RULES["fcn_skips_thin"], classes=CAMVID_THIN)


def object_statistics(predictions: torch.Tensor, masks: torch.Tensor, *, classes: tuple[int, ...],
                      regions: list | None = None) -> tuple[torch.Tensor, list]:
    """Per frame and object size (small, medium, large by `SIZE_BINS`): [recall summed over the objects, objects,
    fragmented objects] -> (F, 3, 3). An object is an 8-connected region of a class in `classes` (4 pixels or more);
    its recall is the share of its pixels predicted as its class; it is fragmented when two classes or more each
    take at least 5% of its pixels. `regions` (from an earlier call on the same masks) skips finding them again."""
    from ...losses import connected_components

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


@claims.claim("fcn_object_sizes", "FCN's receptive field is fixed: an object much larger than it comes out "
              "fragmented, one much smaller is lost", "07_fcn", "DeconvNet review: FCN's limitations",
              "per object of the countable classes, by size: the share of its pixels labelled its class, and whether "
              "it breaks into several classes, 10 seeds pooled",
              "FCN-32s: recall medium - small and fragmented large - medium, two-level 95% intervals: both above 0 "
              "holds, either below +1 point contradicts")
def fcn_object_sizes(lab: Lab) -> Outcome:
    """The DeconvNet review on FCN's fixed receptive field: an object much larger than it is seen piece by piece and
    comes out fragmented, an object much smaller is lost to the background. The FCN-32s and FCN-8s heads of
    `fcn_skips_miou`, scored per object of CamVid's countable classes (Pole, SignSymbol, Car, Pedestrian,
    Bicyclist) on the 233 test frames, by size. Holds when, for FCN-32s, small objects keep a smaller share of their
    pixels than medium ones (lost) and large objects are more often broken into several classes than medium ones
    (fragmented): each difference judged by `preregistration.RULES`, its two-level interval resampling the seeds
    and then blocks of test frames (each row of the counts is one test frame, in the test split's order)."""
    from ..frozen import predict_head

    test = lab.stride32["test"]
    masks = test.masks.long()
    regions, per_kind = None, {}
    for kind in ("fcn32s", "fcn8s"):
        per_kind[kind] = []
        for seed in lab.config.seeds:
            predictions = predict_head(lab.head(kind, seed), test).argmax(1)
            statistics, regions = object_statistics(predictions, masks, classes=CAMVID_THINGS, regions=regions)
            per_kind[kind].append(statistics)
    recall = lambda counted: counted[..., 0] / counted[..., 1].clamp(min=1e-9)  # noqa: E731
    fragments = lambda counted: counted[..., 2] / counted[..., 1].clamp(min=1e-9)  # noqa: E731
    bins = ("small", "medium", "large")
    runs = per_kind["fcn32s"]
    blocks, rule = lab.test_blocks(), RULES["fcn_object_sizes"]  # one row of counts per test frame, in order
    lost = paired([r[:, 1] for r in runs], [r[:, 0] for r in runs], counts, recall, blocks=blocks)
    broken = paired([r[:, 2] for r in runs], [r[:, 1] for r in runs], counts, fragments, blocks=blocks)
    steps = {"recall, medium - small": judged(lost, rule), "fragmented, large - medium": judged(broken, rule)}
    totals = {kind: pooled(r).sum(0) for kind, r in per_kind.items()}  # (3 sizes, 3): every frame and seed added
    table = {kind: {size: {"recall": float(recall(total[index])), "fragmented": float(fragments(total[index])),
                           "objects": int(total[index, 1]) // len(per_kind[kind])}
                    for index, size in enumerate(bins)} for kind, total in totals.items()}
    verdict = combined([s["verdict"] for s in steps.values()])
    table_shown = "; ".join(f"{kind}: " + ", ".join(f"{size} recall {100 * v['recall']:.1f}%, fragmented "
                                                    f"{100 * v['fragmented']:.1f}%" for size, v in row.items())
                            for kind, row in table.items())
    objects = ", ".join(f"{v['objects']} {size}" for size, v in table["fcn32s"].items())
    first = steps["recall, medium - small"]
    return Outcome(verdict, f"objects of the countable classes in the {len(masks)} test frames at "
                            f"{masks.shape[-2]}x{masks.shape[-1]} ({objects}; small < {SIZE_BINS[0]} px, large >= "
                            f"{SIZE_BINS[1]} px), {len(lab.config.seeds)} seeds pooled: {table_shown}. FCN-32s: "
                   + "; ".join(shown(name, s) for name, s in steps.items())
                   + f" points, 95% two-level bootstrap (seeds, then {first['blocks']} blocks of {first['frames']} "
                     f"test frames)",
                   steps["recall, medium - small"]["effect"], tuple(steps["recall, medium - small"]["interval"]),
                   "points", {"table": table, "steps": steps}, lab.config.seeds)


@claims.claim("fully_connected_as_convolution", "a fully connected layer is a convolution as large as its input, so "
              "the classifier slides over a larger image", "07_fcn", "Convolutionalize",
              "largest difference; output shape", "below 1e-4 on a 7x7 map; a map of scores on a larger one",
              fast=True)
def fully_connected_as_convolution(lab: Lab) -> Outcome:
    """FCN: a classifier's fully connected layer is a convolution whose kernel covers its input; on a larger input the
    same weights give a map of scores."""
    from ...models.fcn import convolutionalize

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
