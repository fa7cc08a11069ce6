"""Notebooks 06 (pyramid pooling) and 10 (PSPNet and DeepLab): global context on the dilated encoder, the dense
CRF, the cost of DeepLab v3+'s separable convolutions, PSPNet's bins and its auxiliary loss; notebook 12: which data
U-Net and PSPNet suit."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from ...data.classes import CAMVID_CLASSES, CAMVID_THIN
from ...metrics import predicted_classes
from ..statistics import accuracy_of, class_iou_of
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import band, counts, judged, paired, pooled_score, ranking, shown

claims = Registry()

AUXILIARY_WEIGHT = 0.4  # PSPNet's (Zhao et al. 2017, section 5.1), as `engine.TrainConfig.aux_weight`
AUXILIARY_BACKBONE = "efficientnet_lite0"  # an ImageNet encoder available offline (the paper's: ResNet-50)


@claims.claim("context_pyramid", "pyramid pooling adds global context and beats a plain head", "10_pspnet_deeplab",
              "PSPNet", "test mIoU, same dilated encoder (output stride 8), 10 seeds",
              "pyramid - plain, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="Pyramid pooling is ahead in 9 of 10 runs, but by half a point, against PSPNet's +4.5 on ADE20K "
                   "(Table 1), where the whole network is trained end to end on 473x473 crops of 150 classes. Here "
                   "the encoder is frozen and a 23x30 map of 11 street classes leaves little context a 3x3 head on "
                   "ImageNet features does not already see.")
def context_pyramid(lab: Lab) -> Outcome:
    return ranking(lab, ("pyramid", "plain"), "miou", "test mIoU on the dilated encoder (output stride 8)",
                   RULES["context_pyramid"])


@claims.claim("context_aspp", "ASPP's parallel atrous rates see several scales and beat a plain head",
              "10_pspnet_deeplab", "DeepLab v3: ASPP", "test mIoU, same dilated encoder (output stride 8), 10 seeds",
              "aspp - plain, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="ASPP and the plain head are level (5 runs ahead, 4 behind, 1 tied), and a gain of one point "
                   "is ruled out: on a frozen encoder's 23x30 map the parallel rates (6, 12, 18) add nothing a single "
                   "3x3 layer lacks. DeepLab v2's +3.2 (Table 3) is for its ASPP-L, four 3x3 classifiers at "
                   "rates 6, 12, 18 and 24 whose scores are summed (the concatenated v3 module is tested here), "
                   "trained as a whole network on 321x321 PASCAL crops, where the rates span objects many times "
                   "larger.")
def context_aspp(lab: Lab) -> Outcome:
    return ranking(lab, ("aspp", "plain"), "miou", "test mIoU on the dilated encoder (output stride 8)",
                   RULES["context_aspp"])


@claims.claim("context_large_regions", "context matters most for large regions (a whole road, the sky)",
              "10_pspnet_deeplab", "PSPNet", "IoU gain over the plain head, 4 largest classes vs the other 7",
              "gain on the large classes - gain on the others, two-level 95% interval: above 0 holds, below +1 "
              "point contradicts",
              note="With the gains of context themselves under a point, the large classes gain no more than the "
                   "small ones; the lecture's reasoning (context resolves big ambiguous regions) needs a context "
                   "module that helps at all, which a frozen encoder on small frames does not give it here.")
def context_large_regions(lab: Lab) -> Outcome:
    """Context helps most on large regions: the IoU gain of context over the plain head (pyramid and ASPP, averaged)
    on the four classes with the most training pixels exceeds the gain on the other seven. The two context heads'
    counts are stacked as one arm and the plain head's, twice, as the other, so the two-level bootstrap resamples
    the seeds and frames of all three heads together."""
    large = largest_classes(lab)
    small = [c for c in range(11) if c not in large]

    def large_minus_small(stacked):  # (..., 2, K, K) -> (...): mean over the two heads of the large-small IoU gap
        iou = class_iou_of(stacked)
        return (iou[..., large].nanmean(-1) - iou[..., small].nanmean(-1)).mean(-1)

    context = [torch.stack([p.confusions, a.confusions], 1) for p, a in zip(lab.runs("pyramid"), lab.runs("aspp"))]
    plain = [torch.stack([p.confusions, p.confusions], 1) for p in lab.runs("plain")]
    difference = judged(paired(context, plain, counts, large_minus_small, blocks=lab.test_blocks()),
                        RULES["context_large_regions"])

    def gain(kind):
        return class_iou_of(lab.pooled(kind).confusions.sum(0).double()) - class_iou_of(
            lab.pooled("plain").confusions.sum(0).double())

    gains = (gain("pyramid") + gain("aspp")) / 2  # (11,)
    large_gain, small_gain = float(gains[large].nanmean()), float(gains[small].nanmean())
    names = lambda classes: ", ".join(CAMVID_CLASSES[c] for c in classes)  # noqa: E731
    return Outcome(difference["verdict"],
                   f"IoU gain of context over the plain head, {len(lab.config.seeds)} seeds pooled: "
                   f"{100 * large_gain:+.1f} points on the largest classes ({names(large)}) vs {100 * small_gain:+.1f} "
                   f"on the others; " + shown("large - others", difference) + " points, 95% two-level bootstrap",
                   difference["effect"], tuple(difference["interval"]), "points",
                   {"large": large, "gain_large": large_gain, "gain_others": small_gain,
                    "per_class_gain": gains.tolist(), "step": difference}, lab.config.seeds)


def largest_classes(lab: Lab, count: int = 4) -> list[int]:
    """The `count` classes with the most labelled pixels in the training frames (CamVid's large regions)."""
    train = lab.stride8["train"].masks
    shares = torch.bincount(train[train != 255].long(), minlength=11).double()
    return shares.argsort(descending=True)[:count].tolist()


@claims.claim("unet_pspnet_small_objects", "U-Net and PSPNet suit data of many small objects; on a few large objects "
              "they are more network than needed", "12_model_zoo", "U-Net and PSPNet: for which data?",
              "IoU gain of U-Net's skip fusion and of PSPNet's pyramid over FCN-32s's head, all on the same frozen "
              "encoder, on the small-object classes (Pole, SignSymbol, Pedestrian) vs the 4 largest classes, 10 "
              "seeds; activation memory of the three whole networks",
              "gain on the small classes - gain on the large ones (U-Net and PSPNet averaged), two-level 95% "
              "interval: above 0 holds, below +1 point contradicts",
              note="U-Net's skips lift the large regions as much as the small objects (+12.9 and +11.9 points over "
                   "FCN-32s): at stride 32 FCN-32s blurs every boundary, and road, building, sky and tree have long "
                   "ones. PSPNet's pyramid adds under 2 points to either. So on one frozen encoder and CamVid's "
                   "frames, neither network pays off on the small objects more than on the large regions; a data "
                   "set of only a few large objects, the other half of the lecture's advice, is not available here "
                   "to test on its own.")
def unet_pspnet_small_objects(lab: Lab) -> Outcome:
    """The lecture (000, PSPNet's drawbacks): U-Net finds very small details, PSPNet finds even small objects
    globally; where the objects are large and few they search too hard, where they are of varied sizes, mostly small
    and many, they suit. The lecture's two kinds of data are two kinds of class in CamVid's frames: the small
    objects (`CAMVID_THIN`: poles, sign symbols, pedestrians, many per frame) and the large regions (the 4 classes
    with the most training pixels). The simple network is FCN-32s's head on level 5 (output stride 32); U-Net is
    its skip fusion (`concat_fusion`: levels 3-5 concatenated, a nonlinear decoder at stride 8) and PSPNet its
    pyramid pooling on the dilated encoder (output stride 8), every head on the same frozen EfficientNet-Lite0,
    the lab's ten seeds. The verdict: the two architectures' IoU gain over FCN-32s on the small classes minus their
    gain on the large ones (the two stacked as one arm against FCN-32s twice, as `context_large_regions` stacks
    them), by `preregistration.RULES`. Each architecture's own gains, and the activation memory a training step of
    each whole network keeps per 360x480 image (parameters left out), are reported beside it, the gains also seed by
    seed (`per_seed_gains`: each seed's head against FCN-32s's head of the same seed), and each head's own mean IoU
    on the two groups (`iou`, the seeds pooled)."""
    from ...measure import saved_activation_bytes
    from ...models import build_model

    large, small = largest_classes(lab), list(CAMVID_THIN)

    def small_minus_large(stacked):  # (..., 2, K, K) -> (...): mean over the two heads of the small-large IoU gap
        iou = class_iou_of(stacked)
        return (iou[..., small].nanmean(-1) - iou[..., large].nanmean(-1)).mean(-1)

    arms = {"U-Net": "concat_fusion", "PSPNet": "pyramid"}
    both = [torch.stack([u.confusions, p.confusions], 1)
            for u, p in zip(lab.runs(arms["U-Net"]), lab.runs(arms["PSPNet"]))]
    simple = [torch.stack([f.confusions, f.confusions], 1) for f in lab.runs("fcn32s")]
    blocks = lab.test_blocks()
    difference = judged(paired(both, simple, counts, small_minus_large, blocks=blocks),
                        RULES["unet_pspnet_small_objects"])
    iou = lambda run: class_iou_of(run.confusions.sum(0).double())  # noqa: E731
    base, base_runs = iou(lab.pooled("fcn32s")), [iou(run) for run in lab.runs("fcn32s")]
    def means(values):  # (11,) per-class values -> their means over the small and the large classes
        return {"small": float(values[small].nanmean()), "large": float(values[large].nanmean())}

    gains, per_seed, scores = {}, {}, {"FCN-32s": means(base)}
    for name, kind in arms.items():
        pooled_iou = iou(lab.pooled(kind))
        scores[name], gains[name] = means(pooled_iou), means(pooled_iou - base)
        seeds = [iou(run) - plain for run, plain in zip(lab.runs(kind), base_runs)]
        per_seed[name] = {group: [float(g[classes].nanmean()) for g in seeds]
                          for group, classes in (("small", small), ("large", large))}
    memory = {}
    for name, model in (("FCN-32s", "fcn32s"), ("U-Net", "unet"), ("PSPNet", "pspnet")):
        torch.manual_seed(0)
        network = build_model(model, num_classes=11, backbone="efficientnet_lite0").train()
        inputs = torch.randn(2, 3, 360, 480)  # a batch of two: PSPNet's pooled batch norm cannot train on one
        memory[name] = saved_activation_bytes(network, inputs, weights=False) / 2 / 2 ** 20
    names = lambda classes: ", ".join(CAMVID_CLASSES[c] for c in classes)  # noqa: E731
    shown_gains = "; ".join(f"{name} {100 * g['small']:+.1f} on the small classes, {100 * g['large']:+.1f} on the "
                            f"large" for name, g in gains.items())
    return Outcome(difference["verdict"],
                   f"IoU gain over FCN-32s's head, {len(lab.config.seeds)} seeds pooled (small: {names(small)}; "
                   f"large: {names(large)}): {shown_gains}; " + shown("small - large", difference)
                   + " points, 95% two-level bootstrap; activation memory per 360x480 image, whole networks: "
                   + ", ".join(f"{name} {megabytes:.0f} MB" for name, megabytes in memory.items()),
                   difference["effect"], tuple(difference["interval"]), "points",
                   {"small": small, "large": large, "iou": scores, "gains": gains, "per_seed_gains": per_seed,
                    "activation_megabytes": memory,
                    "step": difference}, lab.config.seeds)


@claims.claim("crf_largefov", "the dense CRF snaps a stride-8 model's blurry boundaries to colour edges (DeepLab "
              "v1)", "10_pspnet_deeplab", "The dense CRF", "accuracy within 3 px of a boundary at 360x480, before and "
              "after, 10 seeds", "after - before, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note=("The CRF raises the accuracy near boundaries by 2.2 points in every one of ten runs, and mIoU by "
                   "0.7: it does what DeepLab v1 used it for. The paper's larger gain (+5.4 mIoU on PASCAL VOC, "
                   "62.3 to 67.6) is on objects bigger in the frame than CamVid's poles and signs."))
def crf_on_largefov(lab: Lab) -> Outcome:
    """DeepLab v1: the dense CRF on a stride-8 model without a decoder sharpens boundaries. Kernel parameters are
    chosen on 25 validation frames from DeepLab's search ranges; test: the 233 test frames at 360x480."""
    from ...crf import CRFConfig, dense_crf
    from ...data import build_dataset
    from ..frozen import predict_head
    from ..scoring import score_frames

    size = (360, 480)

    def frames(split, count=None):
        dataset = build_dataset(lab.data, split, image_size=size, subset=count)
        images, masks = zip(*[dataset[i] for i in range(len(dataset))])
        return torch.stack(images), torch.stack(masks).long()

    def refine(images, logits, config):
        return torch.cat([predicted_classes(dense_crf(images[i:i + 8], logits[i:i + 8], config))
                          for i in range(0, len(images), 8)])

    seed0 = lab.head("largefov", lab.config.seeds[0])
    val_cache = lab.stride8["val"]
    count = 25
    val_images, val_masks = frames("val", count)
    val_logits = predict_head(seed0, val_cache, size=size)[:count]
    grid = [CRFConfig(bilateral_weight=w, bilateral_sigma_xy=xy, bilateral_sigma_rgb=rgb)
            for w in (3.0, 5.0) for xy in (50.0, 80.0) for rgb in (3.0, 5.0)]
    validation = [pooled_score([score_frames(refine(val_images, val_logits, c), val_masks)]) for c in grid]
    chosen = grid[max(range(len(grid)), key=validation.__getitem__)]
    test_images, test_masks = frames("test")
    before, after = [], []  # per seed: the plain predictions' counts and the refined ones'
    for seed in lab.config.seeds:
        logits = predict_head(lab.head("largefov", seed), lab.stride8["test"], size=size)
        before.append(score_frames(predicted_classes(logits), test_masks))
        after.append(score_frames(refine(test_images, logits, chosen), test_masks))
    blocks = lab.test_blocks()
    boundary = judged(paired(after, before, band, accuracy_of, blocks=blocks), RULES["crf_largefov"])
    miou = paired(after, before, blocks=blocks)
    band_values = [pooled_score(before, band, accuracy_of), pooled_score(after, band, accuracy_of)]
    miou_values = [pooled_score(before), pooled_score(after)]
    return Outcome(boundary["verdict"],
                   f"360x480 test frames, {len(lab.config.seeds)} seeds pooled, CRF (w {chosen.bilateral_weight:g}, "
                   f"sigma_xy {chosen.bilateral_sigma_xy:g}, sigma_rgb {chosen.bilateral_sigma_rgb:g}, chosen on "
                   f"{count} validation frames): boundary-band accuracy {100 * band_values[0]:.1f} -> "
                   f"{100 * band_values[1]:.1f}; " + shown("after - before", boundary) + f" points; mIoU "
                   f"{100 * miou_values[0]:.1f} -> {100 * miou_values[1]:.1f}; " + shown("after - before", miou)
                   + " points, 95% two-level bootstrap",
                   boundary["effect"], tuple(boundary["interval"]), "points",
                   {"chosen": dataclasses.asdict(chosen), "validation_miou": validation, "band": band_values,
                    "miou": miou_values, "step": boundary, "miou_step": miou}, lab.config.seeds)


@claims.claim("separable_aspp_cost", "DeepLab v3+'s depthwise separable convolutions make it cheaper than v3",
              "10_pspnet_deeplab", "DeepLab v3+", "multiply-adds at 360x480, ResNet-50", "v3 costs more than v3+",
              fast=True)
def separable_aspp_cost(lab: Lab) -> Outcome:
    """DeepLab v3+: depthwise separable ASPP and decoder make it cheaper than v3 on the same encoder."""
    from ...measure import count_flops
    from ...models import build_model

    flops = {}
    with torch.device("meta"):
        for name in ("deeplabv3", "deeplabv3plus"):
            model = build_model(name, num_classes=11, backbone="resnet50").eval()
            flops[name] = count_flops(model, torch.empty(1, 3, 360, 480))
    ratio = flops["deeplabv3"] / flops["deeplabv3plus"]
    return Outcome(ratio > 1, f"ResNet-50 at 360x480: DeepLab v3 {flops['deeplabv3'] / 1e9:.1f} GFLOPs, v3+ "
                              f"{flops['deeplabv3plus'] / 1e9:.1f} ({ratio:.2f}x less, despite its decoder)",
                   ratio, None, "x", {"gflops": {k: v / 1e9 for k, v in flops.items()}})


@claims.claim("pyramid_bins_collapse", "PSPNet's bins need a large enough feature map (the paper trains on 473x473 "
              "crops and more)", "06_pyramid_pooling", "Collapsing bins", "distinct 6x6 bin values by map size",
              "36 distinct from 6x6 on, fewer below", fast=True)
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


@claims.claim("pspnet_auxiliary_loss", "PSPNet's auxiliary loss after stage 4 (weight 0.4) helps optimize the deep "
              "network", "10_pspnet_deeplab", "The controlled comparison",
              "test mIoU, PSPNet on the ImageNet EfficientNet-Lite0 (output stride 8) fine-tuned end to end with the "
              "auxiliary loss at 0.4 and at 0, the same initial weights and steps, 5 seeds",
              "with - without, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="Fine-tuned from ImageNet, every one of five runs gains a little from the auxiliary loss (+0.1 to "
                   "+0.5 points), but together +0.3 [-0.0, +0.6]: a one-point gain is ruled out at this scale, against "
                   "the paper's +1.4 (ADE20K, 150 classes, 473x473 crops, a dilated ResNet-50). 150 steps at 96x128 "
                   "leave the networks short of converged (25 mIoU): this tests the loss in a short fine-tune from "
                   "ImageNet, not in the paper's long training.")
def pspnet_auxiliary_loss(lab: Lab) -> Outcome:
    """PSPNet (Zhao et al. 2017, section 4): a second loss on a classifier after the encoder's stage 4 (deep
    supervision, weight 0.4) helps optimize a deep network; the auxiliary head is dropped at test time. As in the
    paper, the encoder is pretrained on ImageNet and dilated to output stride 8: EfficientNet-Lite0 (of the
    EfficientNet-Lite family, whose ImageNet weights are available offline; the paper's is ResNet-50), fine-tuned end
    to end, the encoder at `TrainingConfig.fine_tune_factor` of the decoder's rate. CamVid's 367 frames at
    `TrainingConfig.pspnet_size` for `pspnet_steps` steps, the same initial weights, batches and steps with the auxiliary loss at 0.4 and at 0:
    the auxiliary head on level 4 runs in both arms (the same dropout draws), so only its gradient differs. Five
    seeds, the 233 test frames; the verdict by `preregistration.RULES`."""
    from ...models import build_model
    from ..endtoend import camvid_frames, predict, train
    from ..scoring import score_frames

    config = dataclasses.replace(lab.training, steps=lab.training.pspnet_steps)
    size = config.pspnet_size
    frames = camvid_frames("train", size=size)
    test = camvid_frames("test", size=size)
    runs = {"with": [], "without": []}
    for seed in config.seeds:
        for arm, weight in (("with", AUXILIARY_WEIGHT), ("without", 0.0)):
            torch.manual_seed(seed)
            model = build_model("pspnet", num_classes=11, backbone=AUXILIARY_BACKBONE, pretrained=True)
            groups = [{"params": [p for name, p in model.named_parameters() if not name.startswith("encoder.")],
                       "lr": config.learning_rate},
                      {"params": list(model.encoder.parameters()),
                       "lr": config.learning_rate * config.fine_tune_factor}]
            train(model, groups, frames, config, seed=seed, auxiliary_weight=weight)
            runs[arm].append(score_frames(predict(model, test.images), test.masks))
    difference = judged(paired(runs["with"], runs["without"], blocks=lab.test_blocks()),
                        RULES["pspnet_auxiliary_loss"])
    miou = {arm: pooled_score(r) for arm, r in runs.items()}
    return Outcome(difference["verdict"],
                   f"PSPNet on the ImageNet EfficientNet-Lite0 (output stride 8), fine-tuned end to end, "
                   f"{config.steps} steps at {size[0]}x{size[1]}, {len(config.seeds)} seeds pooled: test mIoU with "
                   f"the auxiliary loss ({AUXILIARY_WEIGHT:g}) {100 * miou['with']:.1f}, without "
                   f"{100 * miou['without']:.1f}. " + shown("with - without", difference)
                   + " points, 95% two-level bootstrap (seeds, then blocks of test frames)",
                   difference["effect"], tuple(difference["interval"]), "points", {"miou": miou, "step": difference},
                   config.seeds)
