"""Notebook 08 (DeconvNet's second training stage): crops of object proposals that overlap an object by IoU >= 0.5,
which the lecture says make the network robust to misaligned proposals at test time.

The same frozen encoder, DeconvNet decoder, training frames (`few_frames`), steps and seeds as `segnet_deconvnet`'s
two-stage claims; the proposals are an oracle's (`segedu.lab.proposals`), drawn by generators of their own, apart
from the training seeds. Settings fixed before the run: `PROPOSALS_PER_OBJECT`, `PROPOSAL_IOU`, `TRAINING_DRAW`,
`TEST_DRAW`."""

from __future__ import annotations

import torch

from ...metrics import predicted_classes
from ..scoring import Scores
from . import segnet_deconvnet as deconvnet  # its settings: few_frames, OBJECT_PIXELS, LABEL_SIZE
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import judged, paired, pooled_score, shown

claims = Registry()

PROPOSALS_PER_OBJECT = 4  # the second stage's examples: proposals drawn around each object of the training frames
# the paper's threshold for proposals overlapping the ground truth (Noh et al. 2015, section 4.2); here measured
# against the object's centred window (`segedu.lab.proposals`)
PROPOSAL_IOU = 0.5
TRAINING_DRAW, TEST_DRAW = 1, 2  # the proposals' own generators, one for the training frames, one for the test frames


def proposal_crops(lab: Lab, split: str, *, subset: int | None, per_object: int, draw: int) -> dict:
    """`per_object` proposals around each object of `split`'s frames (at 360x480), drawn by a generator seeded by
    `draw` and the frame's index (`proposals.proposal_windows`: a frame's proposals depend on nothing else), cut out,
    resized to the heads' image size and passed through the frozen encoder. {"cache": FeatureCache of the N crops
    with their labels, "frames": (N,) the frame each was cut from, "overlaps": (N,) each proposal's IoU with its
    object's centred window}."""
    from ..endtoend import camvid_frames, object_windows
    from ..frozen import FeatureCache
    from ..proposals import box_iou, cut_windows, proposal_windows

    def compute():
        frames = camvid_frames(split, size=deconvnet.LABEL_SIZE, subset=subset, data=lab.data)
        crops, sources, overlaps = [], [], []
        for index, (image, mask) in enumerate(zip(frames.images, frames.masks)):
            generator = torch.Generator().manual_seed(draw * 100_003 + index)
            windows = proposal_windows(mask, generator, per_object=per_object, minimum_pixels=deconvnet.OBJECT_PIXELS,
                                       minimum_iou=PROPOSAL_IOU)
            centred = [window for window in object_windows(mask, minimum_pixels=deconvnet.OBJECT_PIXELS)
                       for _ in range(per_object)]
            overlaps += [box_iou(window, around) for window, around in zip(windows, centred)]
            crops.append(cut_windows(image, mask, windows, lab.config.image_size))
            sources += [index] * len(windows)
        cache = FeatureCache.of_images(torch.cat([images for images, _ in crops]),
                                       torch.cat([masks for _, masks in crops]), name=f"{lab.data} proposal crops",
                                       backbone=lab.backbone)
        return {"cache": cache, "frames": torch.tensor(sources, dtype=torch.long), "overlaps": torch.tensor(overlaps)}

    return lab.shared(f"{split} proposals of {subset or 'all'} frames, {per_object} per object, draw {draw}", compute)


@torch.inference_mode()
def crop_scores(head, cache, *, band_width: int, chunk: int = 256) -> Scores:
    """The per-crop counts of `head` on every crop of `cache`, predicted at the crops' size a chunk at a time (the
    logits of thousands of crops at once would take gigabytes)."""
    from ..frozen import head_logits
    from ..scoring import score_frames

    parts = [score_frames(predicted_classes(logits), cache.masks[indices].long(), band_width=band_width)
             for indices, logits in head_logits(head, cache, batch_size=chunk)]
    return Scores(torch.cat([part.confusions for part in parts]), torch.cat([part.band for part in parts]))


def per_frame(scores: Scores, frames: torch.Tensor, count: int) -> Scores:
    """The counts of N crops summed into the `count` frames they were cut from (a frame without crops counts 0):
    the unit the bootstrap resamples in blocks of frames."""
    confusions = scores.confusions.new_zeros(count, *scores.confusions.shape[1:])
    band = scores.band.new_zeros(count, *scores.band.shape[1:])
    return Scores(confusions.index_add_(0, frames, scores.confusions), band.index_add_(0, frames, scores.band))


@claims.claim("deconvnet_misalignment", "DeconvNet's second stage, fine-tuning on crops of object proposals that "
              "overlap an object by IoU >= 0.5, makes the network robust to misaligned proposals at test time",
              "08_segnet_deconvnet", "DeconvNet: two-stage training",
              "mIoU on crops of misaligned test proposals (one per object, IoU >= 0.5 with its centred crop) of "
              "DeconvNet's decoder on 32 training frames: centred crops then proposal crops against centred crops "
              "throughout, the same initial weights and steps, 10 seeds",
              "two stages - centred crops only on the test proposals, two-level 95% interval: above 0 holds, below +1 "
              "point contradicts",
              note="The second stage may make the network less sensitive to misalignment; it is not shown to make it "
                   "better on misaligned proposals. Moving from the centred test crops to the misaligned ones (mean "
                   "IoU 0.58 with the centred crop) costs the network trained on centred crops alone 2.2 points of "
                   "mIoU (31.0 to 28.8) and the two-stage network 0.7 (29.7 to 29.0); but the two-stage network "
                   "starts lower, 1.3 points [0.4, 2.3] below on the centred crops, so on the misaligned proposals it"
                   " is level: +0.3 [-0.7, +1.2], five of ten seeds ahead. Inconclusive by the rule: a gain of about "
                   "a point is not ruled out. The review's 'more robust to misalignment' shows only as a smaller "
                   "drop, which no rule judged. An oracle's proposals stand in for edge boxes, and DeconvNet's "
                   "decoder sits on a frozen encoder: the paper's network learns its encoder from the proposals too.")
def deconvnet_misalignment(lab: Lab) -> Outcome:
    """DeconvNet (Noh et al. 2015, section 4.2; the lecture: "two-stage training makes the network more robust to
    misalignment at test time"): after the easy examples (crops centred on each ground-truth object) the network is
    fine-tuned on crops of object proposals that overlap an object by IoU >= 0.5, so it learns objects off-centre, cut
    and at other scales, as the proposals it segments at test time show them. Proposals are an oracle's: each
    object's centred window (what the first stage cuts) shifted and rescaled at random until it overlaps that window
    by IoU >= `PROPOSAL_IOU` (`segedu.lab.proposals`). DeconvNet's decoder on the frozen encoder
    (`segedu.lab.unpooling`), `segnet_deconvnet.few_frames` training frames and `deconvnet_two_stage`'s steps:
    half the steps on their centred crops and half on `PROPOSALS_PER_OBJECT` proposal crops per object, against all
    the steps on the centred crops (the first stage alone); the same initial weights, ten seeds. Scored on one
    proposal per object of the 233 test frames, drawn by a generator of their own (`TEST_DRAW`), each crop against
    its own labels; the centred test crops (`deconvnet_instance_wise`'s proposals) and the whole test frames are
    shown beside. Two stages - centred only on the test proposals is
    judged by `preregistration.RULES` on its two-level interval (seeds, then blocks of test frames)."""
    from ..frozen import predict_head
    from ..scoring import score_frames

    steps, frames = deconvnet.head_steps(lab), deconvnet.few_frames(lab)
    crops = deconvnet.object_crop_features(lab, frames)
    training = proposal_crops(lab, "train", subset=frames, per_object=PROPOSALS_PER_OBJECT, draw=TRAINING_DRAW)
    networks = {"centred only": deconvnet.staged_deconvnets(lab, f"deconvnet, crops of {frames} frames",
                                                            lambda: [(crops, steps)]),
                "two stages": deconvnet.staged_deconvnets(
                    lab, f"deconvnet, crops then proposals of {frames} frames",
                    lambda: [(crops, steps // 2), (training["cache"], steps - steps // 2)])}
    tests = {"proposals": proposal_crops(lab, "test", subset=lab.subset.get("test"), per_object=1, draw=TEST_DRAW),
             "centred": deconvnet.test_proposals(lab)}  # the window centred on each object: instance-wise's proposals
    whole = lab.stride32["test"]
    scores = {(arm, kind): [] for arm in networks for kind in (*tests, "whole frames")}
    for arm, heads in networks.items():
        for head in heads:
            for kind, test in tests.items():
                counts = crop_scores(head, test["cache"], band_width=lab.config.band_width)
                scores[arm, kind].append(per_frame(counts, test["frames"], len(whole)))
            scores[arm, "whole frames"].append(score_frames(predicted_classes(predict_head(head, whole)),
                                                            whole.masks.long(), band_width=lab.config.band_width,
                                                            band=lab.band(whole)))
    blocks = lab.test_blocks()
    difference = judged(paired(scores["two stages", "proposals"], scores["centred only", "proposals"], blocks=blocks),
                        RULES["deconvnet_misalignment"])
    beside = {kind: paired(scores["two stages", kind], scores["centred only", kind], blocks=blocks)
              for kind in ("centred", "whole frames")}
    miou = {f"{arm}, {kind}": pooled_score(runs) for (arm, kind), runs in scores.items()}
    count, overlap = len(tests["proposals"]["frames"]), tests["proposals"]["overlaps"].mean().item()
    return Outcome(difference["verdict"],
                   f"DeconvNet's decoder on the frozen encoder, {frames} training frames, {steps} steps, "
                   f"{len(crops)} centred crops and {len(training['frames'])} proposal crops (IoU >= {PROPOSAL_IOU:g}) "
                   f"of those frames, {len(lab.config.seeds)} seeds pooled: test mIoU at "
                   f"{deconvnet.size(lab.config.image_size)} "
                   "on " + "; on ".join(f"{kind}: " + ", ".join(f"{arm} {100 * miou[f'{arm}, {kind}']:.1f}"
                                                                for arm in networks)
                                        for kind in ("proposals", "centred", "whole frames"))
                   + f" ({count} test proposals, mean IoU {overlap:.2f} with their centred crops, and as many "
                     "centred crops). "
                   + shown("two stages - centred only on the proposals", difference) + "; on the centred crops "
                   + shown("", beside["centred"]).strip() + "; on the whole frames "
                   + shown("", beside["whole frames"]).strip()
                   + f" points, 95% two-level bootstrap (seeds, then {difference['blocks']} blocks of "
                     f"{difference['frames']} test frames)",
                   difference["effect"], tuple(difference["interval"]), "points",
                   {"miou": miou, "step": difference, "beside": beside, "proposal_crops": len(training["frames"]),
                    "test_proposals": count, "test_overlap": overlap}, lab.config.seeds)
