"""Panoptic quality (Kirillov, He, Girshick, Rother, Dollar, "Panoptic Segmentation", CVPR 2019, section 4).

A panoptic map gives every pixel a class and, for countable *things*, an instance id; uncountable *stuff*
(sky, road) is one segment per class. A predicted and a true segment of the same class *match* when their IoU
exceeds 0.5, which makes the matching unique (equation 1's argument: two segments cannot both overlap a third
by more than half). Per class,

    PQ = sum over matches of IoU / (|TP| + |FP| / 2 + |FN| / 2)  =  SQ (mean IoU of the matches)  x  RQ (an F1 score)

and PQ is the mean over the classes that occur in the truth or the prediction. Void pixels (`void`) are left
out of every IoU, and a predicted segment that is mostly void is not counted as a false positive, as in the
paper. Tested equal to torchmetrics' `PanopticQuality`.

    maps: (N, H, W, 2) int64, [..., 0] the class, [..., 1] the instance id (0 for stuff)
"""

from __future__ import annotations

import torch
from .language import tr

__all__ = ["panoptic_quality"]


def _segments(panoptic: torch.Tensor, stuffs: set[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(H, W, 2) -> segment id per pixel (H, W), and each segment's class and pixel count."""
    classes, instances = panoptic[..., 0], panoptic[..., 1]
    instances = torch.where(torch.isin(classes, torch.tensor(sorted(stuffs), dtype=classes.dtype)), 0, instances)
    keys = classes * (int(instances.max()) + 1) + instances
    unique, ids = torch.unique(keys, return_inverse=True)
    segment_classes = torch.zeros(len(unique), dtype=torch.long).scatter_(0, ids.flatten(), classes.flatten())
    return ids, segment_classes, torch.bincount(ids.flatten(), minlength=len(unique))


def panoptic_quality(predictions: torch.Tensor, targets: torch.Tensor, *, things: set[int], stuffs: set[int],
                     void: int = 255) -> dict:
    """PQ, SQ and RQ over a batch of panoptic maps (N, H, W, 2); also `per_class` {class: (pq, sq, rq)}.

    Classes outside `things | stuffs` in a prediction are an error; in the truth they must be `void`."""
    if predictions.shape != targets.shape or predictions.ndim != 4 or predictions.shape[-1] != 2:
        raise ValueError(tr("panoptic_quality needs two (N, H, W, 2) maps of one shape, got {predictions_shape} and "
                            "{targets_shape}",
                            predictions_shape=tuple(predictions.shape), targets_shape=tuple(targets.shape)))
    known = set(things) | set(stuffs)
    if set(things) & set(stuffs):
        raise ValueError(tr("classes {both} are both things and stuffs",
                            both=sorted(set(things) & set(stuffs))))
    for name, maps, allowed in (("predictions", predictions, known), ("targets", targets, known | {void})):
        unknown = set(maps[..., 0].unique().tolist()) - allowed
        if unknown:
            values = dict(name=name, unknown=sorted(unknown), things=sorted(things), stuffs=sorted(stuffs), void=void)
            if name == "predictions":
                raise ValueError(tr("{name} hold classes {unknown} that are neither things {things} nor stuffs "
                                    "{stuffs}", **values))
            raise ValueError(tr("{name} hold classes {unknown} that are neither things {things} nor stuffs {stuffs} "
                                "nor void ({void})", **values))
    totals = {c: [0.0, 0, 0, 0] for c in known}  # class -> [sum of matched IoU, TP, FP, FN]
    for prediction, target in zip(predictions, targets):
        valid = target[..., 0] != void
        predicted, predicted_classes, predicted_areas = _segments(prediction, stuffs)
        true, true_classes, true_areas = _segments(torch.where(valid[..., None], target, 0), stuffs)
        # pixel counts of every (predicted, true) pair inside valid pixels, and of each predicted segment on void
        pairs = torch.zeros(len(predicted_areas), len(true_areas), dtype=torch.long)
        pairs.index_put_((predicted[valid], true[valid]), torch.ones(int(valid.sum()), dtype=torch.long),
                         accumulate=True)
        on_void = torch.bincount(predicted[~valid], minlength=len(predicted_areas))
        true_areas = torch.bincount(true[valid], minlength=len(true_areas))
        union = (predicted_areas - on_void)[:, None] + true_areas[None, :] - pairs
        iou = torch.where(union > 0, pairs / union.clamp_min(1), torch.zeros(()).double())
        same = predicted_classes[:, None] == true_classes[None, :]
        matched = (iou > 0.5) & same
        matched_predicted, matched_true = matched.any(1), matched.any(0)
        for segment in range(len(true_areas)):
            if true_areas[segment] > 0:  # segments entirely void do not exist in the truth
                cls = int(true_classes[segment])
                if matched_true[segment]:
                    totals[cls][0] += float(iou[:, segment][matched[:, segment]].sum())
                    totals[cls][1] += 1
                else:
                    totals[cls][3] += 1
        for segment in range(len(predicted_areas)):
            if not matched_predicted[segment] and on_void[segment] * 2 <= predicted_areas[segment]:
                totals[int(predicted_classes[segment])][2] += 1
    per_class = {}
    for cls, (iou_sum, tp, fp, fn) in totals.items():
        if tp + fp + fn == 0:
            continue  # a class absent from truth and prediction does not count
        sq = iou_sum / tp if tp else 0.0
        rq = tp / (tp + fp / 2 + fn / 2)
        per_class[cls] = (sq * rq, sq, rq)
    mean = lambda index: sum(v[index] for v in per_class.values()) / len(per_class) if per_class else 0.0  # noqa: E731
    return {"pq": mean(0), "sq": mean(1), "rq": mean(2), "per_class": per_class}
