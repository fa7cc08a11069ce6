"""Checks of notebook 00, segmentation basics: pixel accuracy, the confusion matrix and mean IoU.

The cases include an ignore index other than 255, a class that is predicted but never true, a class that
never occurs, and class pairs that never occur (bincount without minlength).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...metrics import ConfusionMatrix
from ..messages import tr
from .harness import Case, _generator, compare


# ---- 00 Segmentation basics ---------------------------------------------------------------------

def _label_cases(seed: int) -> list[Case]:
    """Random labels with 20% ignored; also an ignore index other than 255 (-1, and one equal to the class count),
    and classes that never occur at all (so some class pairs are absent: bincount needs minlength)."""
    generator, cases = _generator(seed), []
    for batch, size, classes, occurring, ignore_index in [(1, (4, 5), 3, 3, 255), (2, (9, 7), 5, 5, 255),
                                                         (3, (16, 16), 11, 11, 255), (2, (6, 8), 4, 4, -1),
                                                         (1, (7, 6), 5, 5, 5), (2, (5, 9), 6, 4, 255)]:
        predictions = torch.randint(0, occurring, (batch, *size), generator=generator)
        targets = torch.randint(0, occurring, (batch, *size), generator=generator)
        targets[torch.rand(targets.shape, generator=generator) < 0.2] = ignore_index
        note = tr(", classes {first}-{last} never occur", first=occurring, last=classes - 1) \
            if occurring < classes else ""
        cases.append((tr("{shape}, {classes} classes, ignore_index {ignore}", shape=f"{batch}x{size[0]}x{size[1]}",
                         classes=classes, ignore=ignore_index) + note,
                      (predictions, targets), {"num_classes": classes, "ignore_index": ignore_index}))
    return cases


def _confusion(predictions, targets, num_classes, ignore_index):
    return ConfusionMatrix(num_classes, ignore_index=ignore_index).update(predictions, targets).matrix


def check_pixel_accuracy(function: Callable) -> None:
    """function(predictions (N, H, W), targets (N, H, W), ignore_index) -> fraction of labelled pixels right."""
    cases = [(d, a, {"ignore_index": k["ignore_index"]}) for d, a, k in _label_cases(0)]
    compare("pixel_accuracy", function,
            lambda p, t, ignore_index: ConfusionMatrix(256, ignore_index=ignore_index).update(p, t).pixel_accuracy(),
            cases, hint=("which pixels have a label at all? Compare the targets with the ignore_index argument",
                         "build one boolean mask of the labelled pixels and use it in the numerator and the "
                         "denominator alike; do not assume the ignore index is 255",
                         "a pixel is right when it is labelled and its prediction equals its target; count those, "
                         "divide by the labelled pixels, and return the share as a float, not a count"))


def check_confusion_matrix(function: Callable) -> None:
    """function(predictions, targets, num_classes, ignore_index) -> (K, K) int64, rows = truth, columns = prediction."""
    compare("confusion_matrix", function, _confusion, _label_cases(1),
            hint=("each labelled pixel adds 1 at row = its true class, column = its predicted class; pixels whose "
                  "target is ignore_index (whatever its value) are left out",
                  "a pair (true, predicted) can be numbered true * K + predicted, and torch.bincount counts numbers; "
                  "a class that never occurs must still get its row and column",
                  "bincount's result is only as long as the largest number it saw unless you give it minlength; "
                  "the result must be int64 of shape (K, K)"))


def check_mean_iou(function: Callable) -> None:
    """function(confusion (K, K)) -> mean over classes present in truth or prediction of TP / (TP + FP + FN)."""
    cases = [(d, (_confusion(*a, **k),), {}) for d, a, k in _label_cases(2)]
    absent = torch.tensor([[5, 1, 0], [2, 7, 0], [0, 0, 0]])  # class 2 never occurs: it must not count as IoU 0
    cases.append((tr("class 2 absent from truth and prediction"), (absent,), {}))
    false_alarm = torch.tensor([[5, 1, 2], [2, 7, 1], [0, 0, 0]])  # class 2 predicted, never true: IoU 0, counted
    cases.append((tr("class 2 predicted 3 times but never true"), (false_alarm,), {}))
    compare("mean_iou", function, lambda matrix: ConfusionMatrix.from_matrix(matrix).miou(), cases,
            hint=("per class, IoU = TP / (TP + FP + FN); where in the matrix are the true positives, the false "
                  "positives (predicted as the class) and the false negatives (truly the class)?",
                  "TP is the diagonal; FP and FN come from the column and row sums. Which classes should the mean "
                  "skip? Only those that occur in neither the truth nor the prediction",
                  "a class that is predicted but never true has IoU 0 and counts; a class with TP + FP + FN = 0 "
                  "gives 0 / 0: leave it out (torch.nanmean)"))
