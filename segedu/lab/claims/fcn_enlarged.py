"""Notebook 07 (FCN's fixed receptive field, on FCN itself): the same cars shown to FCN-8s at two enlargements,
one that keeps them inside its effective receptive field and one that takes them past it; and the same cars shown
at half size, with what they carry and the cells of the output that cover them held equal.

`fcn.fcn_object_sizes` compared two fields at one scale and found no CamVid object larger than the larger field.
Here the field stays fixed and the objects grow, or shrink. Settings fixed before the run: `ENLARGEMENTS`,
`FIELD_SIZE`, the car class, the groups of `CAR_GROUPS`; for `fcn_field_trained_sizes` also `CROP_ENLARGEMENTS` and
`CROP_DRAW`; for `fcn_field_shrunk` `SHRINK` and `SHRUNK_GROUPS`."""

from __future__ import annotations

import math

import torch
from torch import nn

from ...data.classes import CAMVID_CLASSES
from ...metrics import predicted_classes
from .fcn import FIELD_FRAMES, effective_field, object_statistics
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import counts, judged, paired, pooled, shown

claims = Registry()

CAR = CAMVID_CLASSES.index("Car")  # the class closest to the review's example, a bus that fills the image
ENLARGEMENTS = (2, 4)  # the test frames at 360x480 (CamVid's own) and 720x960 (upsampled): the heads see 180x240
FIELD_SIZE = (360, 480)  # the field is measured on training frames of this size, which do not cut its square
CROP_ENLARGEMENTS, CROP_DRAW = (2, 4), 3  # fcn_field_trained_sizes: training crops of frames enlarged 2x and 4x
CAR_GROUPS = ("smaller", "control", "crossing", "larger")  # cars by extent at 180x240, in effective fields F:
# below F/8; F/8 to F/4 (inside the field at both enlargements); F/4 to F/2 (inside at 2x, past it at 4x); above
SHRINK = 2  # fcn_field_shrunk: the test frames at half the heads' size (90x120)
SHRUNK_GROUPS = ("smallest", "judged", "larger")  # cars by extent at 180x240: below F/8; F/8 to F/4 (F/16 to F/8,
# much smaller than the field, once shrunk); above F/4


def recall(counted: torch.Tensor) -> torch.Tensor:
    """(..., 3) counts of `fcn.object_statistics` -> (...): the share of the objects' pixels labelled their class."""
    return counted[..., 0] / counted[..., 1].clamp(min=1e-9)


class FieldNetwork(nn.Module):
    """The frozen encoder and one trained head as one network: images (N, 3, H, W) -> the head's class scores
    (N, K, H/8, W/8), whose effective field `effective_field` measures."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def fcn8s_fields(lab: Lab, heads: dict[int, nn.Module] | None = None, *, name: str = "fcn8s") -> list[int]:
    """The effective receptive field (pixels, the side of the square holding `fcn.FIELD_SHARE` of the gradient's
    energy) of each seed's FCN-8s head (`heads`, default the lab's) on the frozen encoder, on `FIELD_FRAMES`
    training frames at `FIELD_SIZE`; kept by the lab under `name`."""
    from ...backbones import build_backbone
    from ...data import build_dataset

    def compute():
        encoder = build_backbone(lab.backbone, pretrained=True, output_stride=32).eval()
        frames = build_dataset(lab.data, "train", image_size=FIELD_SIZE)
        chosen = torch.linspace(0, len(frames) - 1, FIELD_FRAMES).round().long()
        images = torch.stack([frames[int(index)][0] for index in chosen])  # (FIELD_FRAMES, 3, H, W) in [0, 1]
        return [effective_field(FieldNetwork(encoder, heads[seed] if heads else lab.head("fcn8s", seed)),
                                images)["side"] for seed in lab.config.seeds]

    return lab.shared(f"{name} effective fields", compute)


def enlarged_crops(lab: Lab):
    """One window of the heads' image size cut at random from each training frame enlarged by each of
    `CROP_ENLARGEMENTS` (a generator per frame and enlargement, seeded from `CROP_DRAW`), through the frozen
    encoder: a FeatureCache of 2 x 367 crops (the course's shipped models train on random crops enlarged up to about
    1.7x)."""
    from ...data import build_dataset
    from ..frozen import FeatureCache

    def compute():
        height, width = lab.config.image_size
        images, masks = [], []
        for scale in CROP_ENLARGEMENTS:
            frames = build_dataset(lab.data, "train", image_size=(scale * height, scale * width),
                                   subset=lab.subset.get("train"))
            for index in range(len(frames)):
                image, mask = frames[index]
                generator = torch.Generator().manual_seed(CROP_DRAW * 100_003 + 10 * index + scale)
                top = int(torch.randint(0, image.shape[-2] - height + 1, (1,), generator=generator))
                left = int(torch.randint(0, image.shape[-1] - width + 1, (1,), generator=generator))
                images.append(image[:, top:top + height, left:left + width])
                masks.append(mask[top:top + height, left:left + width])
        return FeatureCache.of_images(torch.stack(images), torch.stack(masks),
                                      name=f"{lab.data} training crops of frames enlarged {CROP_ENLARGEMENTS}",
                                      backbone=lab.backbone)

    return lab.shared("training crops of enlarged frames", compute)


def heads_on_enlarged_crops(lab: Lab) -> dict[int, nn.Module]:
    """{seed: an FCN-8s head trained on the training frames and `enlarged_crops` taking turns batch by batch, as many
    steps on each as the lab's FCN-8s heads take on the frames alone} (`frozen.train_head_in_stages`)."""
    from ..frozen import train_head_in_stages

    def compute():
        native, crops = lab.stride32["train"], enlarged_crops(lab)
        steps = lab.config.epochs * math.ceil(len(native) / lab.config.batch_size)
        return {seed: train_head_in_stages("fcn8s", [(native, steps), (crops, steps)], lab.config, seed=seed,
                                           interleaved=True, class_weights=lab.class_weights).eval()
                for seed in lab.config.seeds}

    return lab.shared("fcn8s on frames and enlarged crops", compute)


def enlarged_test_caches(lab: Lab) -> dict[int, object]:
    """{enlargement: the test frames resized to enlargement x the heads' image size, through the frozen encoder at
    output stride 32 (levels 3, 4, 5)}; the same frames as the lab's other test caches."""
    height, width = lab.config.image_size
    return {scale: lab.features("test", size=(scale * height, scale * width)) for scale in ENLARGEMENTS}


@claims.claim("fcn_field_enlarged", "FCN's receptive field is fixed: an object grown past it comes out wrong",
              "07_fcn", "The same question on FCN itself: cars enlarged past its field",
              "share of each car's pixels labelled car, FCN-8s heads on the frozen encoder (trained at 180x240) on "
              "the 233 test frames enlarged 2x and 4x, scored at 180x240; cars of F/4 to F/2 at 180x240 (inside the "
              "measured effective field F at 2x, past it at 4x) against cars of F/8 to F/4 (inside it at both), "
              "10 seeds",
              "[2x - 4x] of the crossing cars - [2x - 4x] of the control cars, two-level 95% interval: above 0 holds, "
              "below +1 point contradicts",
              note=("The crossing cars lose 12 points of their pixels between 2x and 4x (86.1% to 74.0% labelled car) "
                    "and 83% of them come out broken into several classes at 4x (49% at 2x); the control cars, "
                    "enlarged as much but still inside the field, lose nothing (86.7% to 87.5%). Every seed shows it "
                    "(+10.7 to +14.2), so the verdict is holds: cars grown past FCN-8s's effective field (155 px, "
                    "147-167 over the seeds) come out wrong. But at 4x the crossing cars are also larger than almost "
                    "every car the heads were trained on (9 of the 1431 cars of the training frames have their sizes "
                    "at 4x, against 95 for the control cars). fcn_field_trained_sizes separates the two: with random "
                    "enlarged crops in training the gap falls to +4.0 [+0.6, +8.2], so most of this loss came from the"
                    " sizes missing in training; the rest may come from the field. Objects much smaller than the "
                    "field are tested by fcn_field_shrunk."))
def fcn_field_enlarged(lab: Lab) -> Outcome:
    """The DeconvNet review of FCN (Noh et al. 2015, section 1 and figure 1; the lecture: "because it uses a fixed
    receptive field, the prediction mask may come out wrong when an object grows much larger than the receptive
    field"), on FCN itself: the lab's FCN-8s heads (`frozen.FCN_LEVELS`, ten seeds, trained at 180x240 on the
    frozen encoder's levels 3, 4 and 5) see the 233 test frames enlarged 2x and 4x (`ENLARGEMENTS`); their scores
    are brought back to 180x240 and scored on the frames' own cars, so the objects and their pixels are the same
    at both enlargements. (At 2x the frames are CamVid's own 360x480; at 4x they are upsampled, so the 4x frames
    also lose detail, alike for every car.)

    The field is measured, not assumed: each seed's network's effective field F (`fcn8s_fields`, on training frames
    at `FIELD_SIZE`); the cars are grouped by the lower median F over the seeds (`torch.median`), by their extent
    (the longer side of the bounding box) at 180x240. The crossing cars (F/4 to F/2) lie inside the field at 2x and
    past it at 4x (F to 2F); the control cars (F/8 to F/4) stay inside it at both (F/4 to F). Going from 2x to 4x
    moves both groups equally far from the scale the heads were trained at, with the same loss of detail; only the
    crossing cars outgrow the field. So the claim is judged as an interaction:
        [recall(2x) - recall(4x)] of the crossing cars - the same of the control cars,
    where recall is the share of a car's pixels labelled car (summed over the cars, `fcn.object_statistics`); by
    `preregistration.RULES` on its two-level interval (seeds, then blocks of test frames). Shown beside, not judged:
    each group's recall at 1x, 2x and 4x and its share of cars broken into several classes (two classes or more
    with 5% of its pixels each), and how many cars of the training frames have each group's sizes at 4x. Departures:
    heads on a frozen ImageNet EfficientNet-Lite0 stand in for FCN's trained VGG16; cars for the review's bus; the
    crossing cars are twice the control cars' size in the frame (nearer the camera, more often cut by its edge). A
    limit found after the run: at 4x the crossing cars also outgrow the cars the heads were trained on, which the
    interaction does not separate from the field (the note)."""
    return _enlarged_outcome(lab, {seed: lab.head("fcn8s", seed) for seed in lab.config.seeds}, fcn8s_fields(lab),
                             lab.stride32["train"].masks.long(), RULES["fcn_field_enlarged"])



@claims.claim("fcn_field_trained_sizes", "FCN's fixed receptive field itself breaks an object grown past it, even at "
              "sizes the network was trained on", "07_fcn",
              "The same question on FCN itself: cars enlarged past its field",
              "share of each car's pixels labelled car, as in fcn_field_enlarged, with FCN-8s heads trained on the "
              "training frames and on random 180x240 crops of them enlarged 2x and 4x (cars of the crossing cars' "
              "sizes at 4x are then in training), 10 seeds",
              "[2x - 4x] of the crossing cars - [2x - 4x] of the control cars, two-level 95% interval: above 0 holds, "
              "below +1 point contradicts",
              note=("Holds by the rule, but small: +4.0 [+0.6, +8.2], against +12.9 for the heads trained on the "
                    "frames alone (fcn_field_enlarged). With the enlarged crops in training the crossing cars keep "
                    "their pixels at 4x (94.5% at 2x, 93.3% at 4x, where the plain heads fell to 74.0%), and what "
                    "remains is that the control cars gain from the enlargement (89.5% to 92.3%) while the crossing "
                    "cars do not. So most of the loss fcn_field_enlarged measured came from car sizes missing in "
                    "training. What remains (+2.0 to +6.5 over the seeds; effective field 163 px, 151-175) may come "
                    "from the field itself, or from the crossing cars' sizes being still rarer in training than the "
                    "control cars' (76 and 290 of 2770 training cars: a 180x240 window cuts the largest cars)."))
def fcn_field_trained_sizes(lab: Lab) -> Outcome:
    """`fcn_field_enlarged` found that cars grown past FCN-8s's effective field come out wrong, but at 4x those cars
    were also larger than almost every car the heads had been trained on (9 of 1431). This separates the two: the
    same test, with heads that learned cars of those sizes. Each seed's FCN-8s head is trained on the training
    frames and on `enlarged_crops` (one random 180x240 window of each frame enlarged 2x and one of it enlarged 4x,
    random enlarged crops as the course's shipped models train on, theirs enlarged up to about 1.7x), the two taking
    turns batch by batch, as many
    steps on each as the lab's heads take on the frames (`heads_on_enlarged_crops`). Their effective fields are
    measured again and the cars grouped by them. If the field itself breaks the crossing cars, the interaction
    stays above 0 (holds); if the sizes missing from training did, it falls below +1 point (contradicted).
    Departure: a 180x240 window holds at most 240 px of a car, so the largest crossing cars at 4x (up to 2F) are
    learned in parts, as random crops show them."""
    heads = heads_on_enlarged_crops(lab)
    train_masks = torch.cat([lab.stride32["train"].masks, enlarged_crops(lab).masks]).long()
    return _enlarged_outcome(lab, heads, fcn8s_fields(lab, heads, name="fcn8s on enlarged crops"), train_masks,
                             RULES["fcn_field_trained_sizes"])


def _enlarged_outcome(lab: Lab, heads: dict[int, nn.Module], fields: list[int], train_masks: torch.Tensor,
                      rule) -> Outcome:
    """The test of `fcn_field_enlarged` on `heads` ({seed: head}) whose effective fields are `fields`; the cars of
    `train_masks` (N, 180, 240), what the heads learned from, counted by extent against each group's 4x sizes."""
    from ..frozen import predict_head

    field = float(torch.tensor(fields, dtype=torch.float64).median())
    bounds = (field / 8, field / 4, field / 2)
    native = lab.stride32["test"]
    masks = native.masks.long()
    scales = {1: native, **enlarged_test_caches(lab)}
    regions, runs = None, {scale: [] for scale in scales}
    for seed in lab.config.seeds:
        head = heads[seed]
        for scale, cache in scales.items():
            predictions = predicted_classes(predict_head(head, cache, size=tuple(masks.shape[-2:])))
            statistics, regions = object_statistics(predictions, masks, classes=(CAR,), bounds=bounds,
                                                    regions=regions, extent=True)
            runs[scale].append(statistics)  # (F, 4 groups, 3)
    control, crossing = CAR_GROUPS.index("control"), CAR_GROUPS.index("crossing")
    broken = lambda counted: counted[..., 2] / counted[..., 1].clamp(min=1e-9)  # noqa: E731
    gap = lambda counted: recall(counted[:, crossing]) - recall(counted[:, control])  # noqa: E731
    small, large = ENLARGEMENTS
    blocks = lab.test_blocks()
    name = f"[{small}x - {large}x] of crossing - of control"
    step = judged(paired(runs[small], runs[large], counts, gap, blocks=blocks), rule)
    drops = {f"{group}, {small}x - {large}x": paired(runs[small], runs[large], counts,
                                                     lambda counted, index=index: recall(counted[:, index]),
                                                     blocks=blocks)
             for group, index in (("crossing", crossing), ("control", control))}
    totals = {scale: pooled(scale_runs).sum(0) for scale, scale_runs in runs.items()}  # (4 groups, 3)
    trained, _ = object_statistics(train_masks, train_masks, classes=(CAR,), bounds=[large * bound for bound in bounds],
                                   extent=True)
    seen = {group: int(trained[:, index, 1].sum()) for index, group in enumerate(CAR_GROUPS)}
    table = {group: {f"{scale}x": {"recall": float(recall(total[index])), "broken": float(broken(total[index]))}
                     for scale, total in totals.items()} | {"cars": int(totals[1][index, 1]) // len(lab.config.seeds)}
             for index, group in enumerate(CAR_GROUPS)}
    shown_table = "; ".join(
        f"{group} ({row['cars']} cars): " + ", ".join(f"{scale} {100 * value['recall']:.1f}% labelled car, "
                                                      f"{100 * value['broken']:.1f}% broken"
                                                      for scale, value in row.items() if scale != "cars")
        for group, row in table.items() if group in ("control", "crossing"))
    return Outcome(step["verdict"],
                   f"FCN-8s's effective field (the square holding 95% of the input gradient's energy, "
                   f"{FIELD_FRAMES} training frames at {FIELD_SIZE[0]}x{FIELD_SIZE[1]}): median {field:.0f} px over "
                   f"the seeds ({min(fields)}-{max(fields)}); cars by extent at 180x240: control {bounds[0]:.0f}-"
                   f"{bounds[1]:.0f} px, crossing {bounds[1]:.0f}-{bounds[2]:.0f} px; {len(lab.config.seeds)} seeds "
                   f"pooled: {shown_table}; training cars of each group's sizes at {large}x: control "
                   f"{seen['control']}, crossing {seen['crossing']} of {sum(seen.values())}. {shown(name, step)}; "
                   "beside, not judged: "
                   + "; ".join(shown(group, drop) for group, drop in drops.items())
                   + f" points, 95% two-level bootstrap (seeds, then {step['blocks']} blocks of {step['frames']} test "
                     "frames)",
                   step["effect"], tuple(step["interval"]), "points",
                   {"fields": fields, "field": field, "bounds": list(bounds), "table": table, "step": step,
                    "drops": drops, "training_cars": seen}, lab.config.seeds)


def shrunk_test_caches(lab: Lab) -> dict[str, object]:
    """{"shrunk": the test frames at 1/`SHRINK` of the heads' image size, "restored": those small frames upsampled
    (bilinearly) back to the heads' size}, through the frozen encoder; the masks of both at the heads' size, so both
    are scored on the frames' own cars. The two hold the same information, a car shown at two sizes."""
    from torch.nn import functional as F

    from ..frozen import FeatureCache

    def compute():
        height, width = lab.config.image_size
        shrunk = lab.features("test", size=(height // SHRINK, width // SHRINK))
        restored = F.interpolate(shrunk.images.float() / 255, size=(height, width), mode="bilinear",
                                 align_corners=False).clamp(0, 1)
        return {"shrunk": shrunk, "restored": FeatureCache.of_images(
            restored, lab.stride32["test"].masks, name=f"{lab.data} test frames at 1/{SHRINK} size, upsampled back",
            backbone=lab.backbone)}

    return lab.shared("test frames shrunk and restored", compute)


@claims.claim("fcn_field_shrunk", "FCN's receptive field is fixed: an object much smaller than it comes out wrong",
              "07_fcn", "The other half: cars shrunk below the field",
              "share of each car's pixels labelled car, the lab's FCN-8s heads (trained at 180x240) on the 233 test "
              "frames at half size (90x120) against the same small frames upsampled back to 180x240 with the heads' "
              "scores averaged over 2x2 cells (the same information, the same output cells, the cars twice as large "
              "against the field); cars of F/8 to F/4 at 180x240 (F the measured effective field), 10 seeds",
              "restored - shrunk, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note=("Inconclusive, and if anything the other way: -3.7 [-13.9, +6.3], the seeds split (+2.5 to "
                    "-13.6); shrunk, the judged cars keep 46.9% of their pixels, restored on the same cells 43.1%; "
                    "the replication with seeds 10-19 finds -3.0 [-11.5, +6.0]. No effect of the field is found here."
                    " The arms beside do not split what halving costs (84.4% as trained, 46.9% shrunk) cleanly: every"
                    " arm's scores are stretched to 180x240 by size, so the 12x15 maps of the shrunk and pooled arms "
                    "land up to 11 px off their blocks (the 23x30 maps of the others up to 4 px), and the encoder's "
                    "padding puts the shrunk frames' cells twice as far off in the frame as the restored ones'. The "
                    "judged arms share the first distortion, not the second. Only 51 test cars have the judged size; "
                    "their shrunk size was common in training (314 training cars, 296 at the judged size). Notebook "
                    "07's run on the shipped FCN-8s (trained on crops enlarged up to 1.7x, never on shrunk scenes), "
                    "its blocks aligned, finds the shrunk cars 24 points behind: a network's fixed scale (field, "
                    "filters, training scales, learned offsets) costs a car shown at half size, but neither test "
                    "singles out the field."))
def fcn_field_shrunk(lab: Lab) -> Outcome:
    """The other half of the DeconvNet review's point (Noh et al. 2015, section 1 and figure 1: small objects are
    often ignored and labelled as background; the lecture: the mask may come out wrong "when an object becomes much
    smaller than the receptive field"), on FCN itself. A smaller object is also made of fewer pixels and covers fewer
    cells of the stride-8 map, and either alone loses pixels (the note of `fcn_field_enlarged`). So the test holds
    both fixed and changes only the object's size against the field: the 233 test frames at half the heads' size
    (90x120, `shrunk_test_caches`) against the very same small frames upsampled back to 180x240 ("restored": the same
    information, shown twice as large), whose scores, on a 23x30 map, are averaged over 2x2 cells (`frozen.head_logits`'
    `pool`) into the 12x15 cells the shrunk frames get. Both are brought back to 180x240 and scored on the frames' own
    cars. The cars judged are those of F/8 to F/4 at 180x240 (F the median effective field of the seeds' networks,
    `fcn8s_fields`): restored they stay F/8 to F/4 of the field, shrunk they are F/16 to F/8 of it.

    Judged: recall(restored) - recall(shrunk) of those cars (the share of their pixels labelled car, summed over the
    cars, `fcn.object_statistics`), by `preregistration.RULES` on its two-level interval (seeds, then blocks of test
    frames). Shown beside, not judged: each group's recall at the heads' size as trained (sharp frames, stride 8),
    restored at stride 8 and at 2x2 cells, and shrunk; the cars of the training frames of the judged cars' sizes
    before and after shrinking (sizes the heads learned). Limits: the field is not the only thing of fixed size in
    the network, every filter is, so a loss here is the network's fixed scale, of which the field is the part the
    lecture names; the restored frames are blurred, which the heads did not see in training (against the claim, if
    anything). Departures as `fcn_field_enlarged`'s: heads on a frozen ImageNet EfficientNet-Lite0 for FCN's VGG16,
    cars for the review's objects."""
    from ..frozen import predict_head

    height, width = lab.config.image_size
    fields = fcn8s_fields(lab)
    field = float(torch.tensor(fields, dtype=torch.float64).median())
    bounds = (field / 8, field / 4)
    native = lab.stride32["test"]
    masks = native.masks.long()
    caches = shrunk_test_caches(lab)
    arms = {"as trained": (native, 1), "restored": (caches["restored"], 1),
            "restored, 2x2 cells": (caches["restored"], SHRINK), "shrunk": (caches["shrunk"], 1)}
    regions, runs = None, {arm: [] for arm in arms}
    for seed in lab.config.seeds:
        head = lab.head("fcn8s", seed)
        for arm, (cache, pool) in arms.items():
            predictions = predicted_classes(predict_head(head, cache, size=(height, width), pool=pool))
            statistics, regions = object_statistics(predictions, masks, classes=(CAR,), bounds=bounds,
                                                    regions=regions, extent=True)
            runs[arm].append(statistics)  # (F, 3 groups, 3)
    judged_group = SHRUNK_GROUPS.index("judged")
    step = judged(paired(runs["restored, 2x2 cells"], runs["shrunk"], counts,
                         lambda counted: recall(counted[:, judged_group]), blocks=lab.test_blocks()),
                  RULES["fcn_field_shrunk"])
    totals = {arm: pooled(arm_runs).sum(0) for arm, arm_runs in runs.items()}  # (3 groups, 3)
    table = {group: {arm: float(recall(total[index])) for arm, total in totals.items()}
             | {"cars": int(totals["shrunk"][index, 1]) // len(lab.config.seeds)}
             for index, group in enumerate(SHRUNK_GROUPS)}
    train_masks = lab.stride32["train"].masks.long()
    trained, _ = object_statistics(train_masks, train_masks, classes=(CAR,),
                                   bounds=(bounds[0] / SHRINK, bounds[0], bounds[1]), extent=True)
    seen = {"judged, shrunk": int(trained[:, 1, 1].sum()), "judged, as they are": int(trained[:, 2, 1].sum()),
            "all": int(trained[:, :, 1].sum())}
    shown_table = "; ".join(f"{group} ({row['cars']} cars): " + ", ".join(
        f"{arm} {100 * value:.1f}%" for arm, value in row.items() if arm != "cars") for group, row in table.items())
    return Outcome(step["verdict"],
                   f"FCN-8s's effective field: median {field:.0f} px over the seeds ({min(fields)}-{max(fields)}); "
                   f"cars by extent at {height}x{width}: judged {bounds[0]:.0f}-{bounds[1]:.0f} px; "
                   f"{len(lab.config.seeds)} seeds pooled, share of the cars' pixels labelled car: {shown_table}; "
                   f"training cars of the judged "
                   f"cars' sizes shrunk: {seen['judged, shrunk']}, as they are: {seen['judged, as they are']} of "
                   f"{seen['all']}. {shown('restored - shrunk', step)} points, 95% two-level bootstrap (seeds, then "
                   f"{step['blocks']} blocks of {step['frames']} test frames)",
                   step["effect"], tuple(step["interval"]), "points",
                   {"fields": fields, "field": field, "bounds": list(bounds), "table": table, "step": step,
                    "training_cars": seen}, lab.config.seeds)
