"""Notebook 07 (FCN): the skips of FCN-32s, 16s and 8s, FCN's fixed receptive field against object size (two
measured fields), and a fully connected layer as a convolution."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...data.classes import CAMVID_THIN, CAMVID_THINGS
from ...metrics import predicted_classes
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import combined, counts, judged, paired, pooled, ranking, shown

claims = Registry()

FIELD_HEADS = ("probe3", "probe5")  # a small and a large receptive field: linear probes on levels 3 and 5, stride 8
FIELD_SHARE = 0.95  # an effective field: the smallest square about its centre holding 95% of the gradient's energy
FIELD_FRAMES = 16  # training frames, evenly spaced, on which the effective fields are measured
SIZE_NAMES = ("within", "between", "beyond")  # object area against the fields' squares: < small, < large, >= large
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
                      bounds: Sequence[float], regions: list | None = None,
                      extent: bool = False) -> tuple[torch.Tensor, list]:
    """Per frame and object size: [recall summed over the objects, objects, fragmented objects] -> (F, B + 1, 3) for
    B ascending `bounds` (areas in pixels): bin b holds the objects of area at least bounds[b - 1] and below
    bounds[b]. With `extent`, an object's size is instead the longer side of its bounding box (pixels), which is
    what a receptive field has to span. An object is an 8-connected region of a class in `classes` (4 pixels or
    more); its recall is the share of its pixels predicted as its class; it is fragmented when two classes or more
    each take at least 5% of its pixels. `regions` (from an earlier call on the same masks) skips finding them
    again."""
    if regions is None:
        per_class = [(label, _components(masks == label)) for label in classes]  # each (F, H, W)
        regions = [[(label, components[frame]) for label, components in per_class] for frame in range(len(masks))]
    statistics = torch.zeros(len(masks), len(bounds) + 1, 3, dtype=torch.float64)
    for frame, (prediction, found) in enumerate(zip(predictions, regions)):
        for label, components in found:
            for component in range(1, int(components.max()) + 1):
                where = components == component
                inside = prediction[where]
                if len(inside) < 4:
                    continue
                if extent:
                    rows, columns = where.nonzero(as_tuple=True)
                    measure = max(int(rows.max() - rows.min()), int(columns.max() - columns.min())) + 1
                else:
                    measure = len(inside)
                size = sum(measure >= bound for bound in bounds)
                shares = torch.bincount(inside, minlength=256).double() / len(inside)
                statistics[frame, size] += torch.tensor([shares[label], 1.0, float((shares >= 0.05).sum() >= 2)],
                                                        dtype=torch.float64)
    return statistics, regions


def _components(maps: torch.Tensor) -> torch.Tensor:
    """(F, H, W) bool -> (F, H, W) int64: each map's 8-connected components numbered 1..C (0 outside), as
    `segedu.losses.connected_components` labels them, by SciPy's `ndimage.label` where SciPy is installed: the same
    regions (the numbering may differ, which no statistic here depends on) in a fraction of a second, where the
    max-pooling of the library takes seconds on a hundred frames."""
    try:
        from scipy import ndimage
    except ImportError:  # the library's own labelling, slower
        from ...losses import connected_components

        return connected_components(maps)
    labelled = [torch.from_numpy(ndimage.label(frame.numpy(), structure=[[1, 1, 1]] * 3)[0]).long() for frame in maps]
    return torch.stack(labelled) if labelled else torch.zeros(maps.shape, dtype=torch.int64)


def theoretical_field(encoder: nn.Module, level: str) -> int:
    """The theoretical receptive field (pixels along one axis) of one position of `level` of `encoder` (a
    `segedu.backbones.Backbone`): the convolutions and poolings of the levels up to `level`, in the order they run,
    measured by `segedu.measure.measured_receptive_field`. 1x1 convolutions and residual shortcuts add nothing."""
    from ...measure import measured_receptive_field

    def first(value) -> int:  # a layer's (k, k) -> k
        return value if isinstance(value, int) else value[0]

    layers = []
    for name, modules in encoder.levels.items():
        layers += [module for module in modules.modules() if isinstance(module, (nn.Conv2d, nn.MaxPool2d))]
        if name == level:
            break
    return measured_receptive_field([first(layer.kernel_size) for layer in layers],
                                    [first(layer.stride) for layer in layers],
                                    [first(layer.dilation) for layer in layers])


def effective_field(encoder: nn.Module, images: torch.Tensor, level: str | None = None, *,
                    share: float = FIELD_SHARE, seed: int = 0, batch_size: int = 4) -> dict:
    """The effective receptive field (Luo et al. 2016) of the central position of `encoder(images)[level]`, or of
    a whole network's output map `encoder(images)` (N, K, h, w) when `level` is None (a segmentation model: the
    field of one pixel's class scores): images (N, 3, H, W) in [0, 1] -> {"side": pixels, "centre": (y, x),
    "energy": (H, W)}.

    The gradient of the central feature vector (C,) with respect to the input, its squares summed over the colours
    and the images, is the input's "energy" map; its side is that of the smallest square about the energy's
    centroid that holds `share` of it (a square partly outside the frame counts only what lies inside). Luo et al.
    back-propagate from one unit; here the C channels are summed with random signs r, one draw per image, so that
    E_r[(sum_c r_c g_c)^2] = sum_c g_c^2: every channel counts, none cancels another, in one backward pass.
    The network runs in eval mode (batch norm frozen), as it does for the cached features."""
    generator = torch.Generator().manual_seed(seed)
    energy = torch.zeros(images.shape[-2:], dtype=torch.float64)
    was_training = encoder.training
    encoder.eval()
    try:
        for chunk in images.split(batch_size):
            chunk = chunk.detach().float().requires_grad_(True)
            with torch.enable_grad():
                features = encoder(chunk) if level is None else encoder(chunk)[level]  # (n, C, h, w)
                centre = features[:, :, features.shape[-2] // 2, features.shape[-1] // 2]  # (n, C)
                signs = torch.randint(0, 2, centre.shape, generator=generator).to(centre.dtype) * 2 - 1
                (gradient,) = torch.autograd.grad((centre * signs).sum(), chunk)  # (n, 3, H, W)
            energy += gradient.double().pow(2).sum((0, 1))
    finally:
        encoder.train(was_training)
    rows, columns, total = torch.arange(energy.shape[0]), torch.arange(energy.shape[1]), energy.sum()
    y = round(float((energy.sum(1) * rows).sum() / total))
    x = round(float((energy.sum(0) * columns).sum() / total))
    distance = torch.maximum((rows - y).abs()[:, None], (columns - x).abs()[None, :])  # (H, W): the square's radius
    held = torch.bincount(distance.flatten(), weights=energy.flatten()).cumsum(0)  # energy within each radius
    radius = int((held < share * total).sum())  # the first radius that holds `share`
    return {"side": 2 * radius + 1, "centre": (y, x), "energy": energy.float()}


def enlarged_statistics(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, *, scales: Sequence[float],
                        bounds: Sequence[float], classes: tuple[int, ...] = CAMVID_THINGS,
                        batch_size: int = 2) -> dict[float, torch.Tensor]:
    """The same objects seen larger: {scale: (F, B + 1, 3)} of `object_statistics` for the objects of `classes`,
    with the images (F, 3, H, W) resized by each scale before `model` and its class scores brought back to (H, W)
    (`segedu.engine.predict`). The objects, their pixels and their bins are those of the native `masks` at every
    scale: each object is binned by its extent in the native frame (the longer side of its bounding box) against
    `bounds` (pixels), and the network sees it `scale` times larger. A scale changes how large each object is
    against the network's fixed receptive field, and also how far the frames are from the scale the network was
    trained at, and how much detail interpolation keeps: comparing a bin that crosses the field with one that
    stays inside it, at the same scales, removes what the scales do to every object alike (not what depends on an
    object's size, such as sizes never seen in training)."""
    from ...engine.inference import predict

    size = images.shape[-2:]
    regions, statistics = None, {}
    for scale in scales:
        enlarged = tuple(max(1, round(side * scale)) for side in size)
        predictions = torch.cat([predicted_classes(predict(model, chunk, input_size=enlarged, output_size=size))
                                 for chunk in images.split(batch_size)])
        statistics[scale], regions = object_statistics(predictions, masks, classes=classes, bounds=bounds,
                                                       regions=regions, extent=True)
    return statistics


def receptive_fields(lab: Lab) -> dict[str, dict]:
    """The receptive fields, in pixels of the 180x240 input, of the two heads `FIELD_HEADS`: {kind: {"level",
    "theoretical", "effective"}}.

    Measured on the frozen encoder's level that each probe reads, not on the trained probe: a probe is one 1x1
    convolution, which adds nothing to its level's field, and on the encoder alone the field does not depend on the
    seed, so the objects are binned before any head is trained. (The trained probe weighs the level's channels by
    its class weights where `effective_field` weighs them equally; the bilinear upsampling of both probes' 23x30
    maps adds the same few pixels to both fields.) On `FIELD_FRAMES` training frames, evenly spaced."""
    from ...backbones import build_backbone
    from ..frozen import FCN_LEVELS

    train = lab.caches(FIELD_HEADS[0])["train"]
    encoder = build_backbone(train.backbone, pretrained=True, output_stride=train.output_stride).eval()
    frames = torch.linspace(0, len(train) - 1, FIELD_FRAMES).round().long()
    images = train.images[frames].float() / 255  # (FIELD_FRAMES, 3, H, W) in [0, 1]
    fields = {}
    for kind in FIELD_HEADS:
        level = FCN_LEVELS[kind][0]
        fields[kind] = {"level": level, "theoretical": theoretical_field(encoder, level),
                        "effective": effective_field(encoder, images, level)["side"]}
    return fields


@claims.claim("fcn_object_sizes", "FCN's receptive field is fixed: an object much larger than it comes out "
              "fragmented, one much smaller is lost", "07_fcn", "DeconvNet review: FCN's limitations",
              "per object of the countable classes, binned by area against the measured effective receptive fields "
              "of two linear probes at output stride 8 (level 3: small field; level 5: large field): whether it "
              "breaks into several classes, and the share of its pixels labelled its class, 10 seeds pooled",
              "probe3 - probe5 in [fragmented share: objects between the two fields - objects within the small one] "
              "and in [recall: objects within the small field - objects between the two], two-level 95% intervals: "
              "both above 0 holds, either below +1 point contradicts",
              note=("Objects smaller than the small field are lost by both probes (recall 2-3%). Between the two "
                   "fields the large-field probe keeps twice the small-field probe's share of pixels (53% against "
                   "26%): that carries the recall half, and it reads as the deeper level knowing more rather than "
                   "objects lost to a large field. The fragmentation half goes against the lecture: linear probes at "
                   "output stride 8 break 95-100% of the objects larger than the small field whatever their field, "
                   "a ceiling; and no object in CamVid's 180x240 frames exceeds level 5's 183 px effective field."))
def fcn_object_sizes(lab: Lab) -> Outcome:
    """The DeconvNet review of FCN (Noh et al. 2015, section 1 and figure 1): the receptive field is fixed, so an
    object substantially larger than it is labelled from local views and comes out fragmented, and one
    substantially smaller is lost to its surroundings.

    Testing it needs networks whose fields differ, and object sizes measured against each field. Two linear probes
    of `linear_probe_depth` (`frozen.PROBES`) on the frozen encoder at output stride 8: `probe3` (level 3, a small
    field) and `probe5` (level 5, a large one), identical heads on maps of one size, so the resolution of the
    prediction is not what differs (FCN-32s's 6x8 map would lose small objects whatever its field). Their fields
    are measured (`receptive_fields`): the theoretical field, which level 5 stretches far beyond the 180x240 frame
    (851 px), and the effective field, the region whose pixels actually move the output (Luo et al. 2016: a
    fraction of the theoretical one), on which the bins rest. An object's size is its area against the squares of
    the two effective fields: `within` (below the small field's square), `between` (at least the small field's,
    below the large field's) and `beyond` (at least the large field's; reported, not judged). Each object of
    CamVid's countable classes (Pole, SignSymbol, Car, Pedestrian, Bicyclist) on the 233 test frames counts its
    recall and whether it is fragmented (`object_statistics`), one row of counts per test frame, per head and seed.

    The two heads also differ in depth: level 5 may know more about classes than level 3 at every size, which
    alone would make probe3 fragment more and keep less everywhere. So each half of the claim is judged as an
    interaction of object size and field, in which what one level does better at every size cancels:
        fragmented:  [fragmented(between) - fragmented(within)] of probe3 - the same of probe5: objects that outgrow
                     the small field break up more, against the objects within it, than under the large field,
                     which still holds them;
        lost:        [recall(within) - recall(between)] of probe3 - the same of probe5: objects far smaller than the
                     large field (at most small/large of its side) lose more of their pixels under it, against the
                     larger ones, than under the small field they fill.
    Both halves predict the same sign of the interaction of two bins and two heads, so each also moves with the
    other's mechanism (objects of `between` that probe3 breaks also lose recall); the simple differences probe3 -
    probe5 in each bin (`per_bin`, with intervals, not judged) show which bin drives them. Each interaction is
    judged by `preregistration.RULES` on its paired two-level interval (seeds, then blocks of test frames); the
    claim by `combined`. Departures from the lecture's FCN: linear probes on a frozen ImageNet encoder stand in for
    FCN's trained network, and the two fields come from two depths of one encoder, not from one network with its
    field changed; the bins' boundaries are the fields themselves, where the lecture says "much" larger or
    smaller."""
    from ..frozen import predict_head

    small, large = FIELD_HEADS
    fields = receptive_fields(lab)
    sides = (fields[small]["effective"], fields[large]["effective"])
    bounds = tuple(side ** 2 for side in sides)  # areas in pixels: the squares of the two effective fields
    test = lab.caches(small)["test"]
    masks = test.masks.long()
    regions, per_kind = None, {}
    for kind in FIELD_HEADS:
        per_kind[kind] = []
        for seed in lab.config.seeds:
            predictions = predicted_classes(predict_head(lab.head(kind, seed), test))
            statistics, regions = object_statistics(predictions, masks, classes=CAMVID_THINGS, bounds=bounds,
                                                    regions=regions)
            per_kind[kind].append(statistics)  # (F, 3 bins, 3)
    recall = lambda counted: counted[..., 0] / counted[..., 1].clamp(min=1e-9)  # noqa: E731
    fragments = lambda counted: counted[..., 2] / counted[..., 1].clamp(min=1e-9)  # noqa: E731
    within, between = SIZE_NAMES.index("within"), SIZE_NAMES.index("between")
    broken = lambda counted: fragments(counted[:, between]) - fragments(counted[:, within])  # noqa: E731
    kept = lambda counted: recall(counted[:, within]) - recall(counted[:, between])  # noqa: E731
    blocks, rule = lab.test_blocks(), RULES["fcn_object_sizes"]  # one row of counts per test frame, in order
    steps = {f"fragmented, between - within: {small} - {large}":
             judged(paired(per_kind[small], per_kind[large], counts, broken, blocks=blocks), rule),
             f"recall, within - between: {small} - {large}":
             judged(paired(per_kind[small], per_kind[large], counts, kept, blocks=blocks), rule)}
    per_bin = {f"{name}, {size}: {small} - {large}":  # what drives the interactions; read, not judged
               paired(per_kind[small], per_kind[large], counts,
                      lambda counted, index=index, measure=measure: measure(counted[:, index]), blocks=blocks)
               for name, measure in (("recall", recall), ("fragmented", fragments))
               for index, size in enumerate(SIZE_NAMES[:2])}
    totals = {kind: pooled(runs).sum(0) for kind, runs in per_kind.items()}  # (3 bins, 3): every frame and seed added
    table = {kind: {size: {"recall": float(recall(total[index])), "fragmented": float(fragments(total[index])),
                           "objects": int(total[index, 1]) // len(per_kind[kind])}
                    for index, size in enumerate(SIZE_NAMES)} for kind, total in totals.items()}
    verdict = combined([s["verdict"] for s in steps.values()])
    table_shown = "; ".join(f"{kind}: " + ", ".join(f"{size} recall {100 * v['recall']:.1f}%, fragmented "
                                                    f"{100 * v['fragmented']:.1f}%" for size, v in row.items())
                            for kind, row in table.items())
    objects = ", ".join(f"{v['objects']} {size}" for size, v in table[small].items())
    field_shown = ", ".join(f"{kind} ({field['level']}) {field['effective']} px (theoretical {field['theoretical']} "
                            f"px)" for kind, field in fields.items())
    first = next(iter(steps.values()))
    return Outcome(verdict, f"effective receptive fields (the square holding {100 * FIELD_SHARE:.0f}% of the input "
                            f"gradient's energy, {FIELD_FRAMES} training frames): {field_shown}; objects of the "
                            f"countable classes in the {len(masks)} test frames at {masks.shape[-2]}x"
                            f"{masks.shape[-1]} ({objects}; within < {sides[0]}^2 px <= between < {sides[1]}^2 px "
                            f"<= beyond), {len(lab.config.seeds)} seeds pooled: {table_shown}. Size x field: "
                   + "; ".join(shown(name, s) for name, s in steps.items())
                   + f" points, 95% two-level bootstrap (seeds, then {first['blocks']} blocks of {first['frames']} "
                     f"test frames). Per bin, not judged: " + "; ".join(shown(name, s) for name, s in per_bin.items()),
                   first["effect"], tuple(first["interval"]), "points",
                   {"fields": fields, "bounds": list(bounds), "table": table, "steps": steps, "per_bin": per_bin},
                   lab.config.seeds)


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
