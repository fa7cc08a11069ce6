"""The confusion matrix and every segmentation score derived from it.

``matrix[t, p]`` counts pixels of true class t predicted as p; pixels whose target is the ignore
index are left out. From it:

- pixel accuracy  = sum_c TP_c / sum_c (TP_c + FN_c)                  (SegNet's "global accuracy")
- class accuracy  = TP_c / (TP_c + FN_c), i.e. recall               (mean: SegNet's "class average")
- IoU             = TP_c / (TP_c + FP_c + FN_c)                      (Jaccard; mean over classes: mIoU)
- Dice            = 2 TP_c / (2 TP_c + FP_c + FN_c)                  (F1 per class)

A class absent from both target and prediction has an undefined IoU: it is NaN and left out of
the mean, as in the PASCAL VOC devkit and torchmetrics' ``MulticlassJaccardIndex``.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from .errors import InputError
from .language import tr

__all__ = ["ConfusionMatrix", "boundary_band", "frame_confusions", "predicted_classes"]


def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) class scores -> (N, H, W) long: each pixel's highest-scoring class, the first of several that
    tie, exactly as ``logits.argmax(1)``. Computed as ``logits.max(1).indices``, which PyTorch's CPU kernels reduce
    over the channels of an (N, K, H, W) map 4 to 40 times faster than ``argmax(1)`` (docs/performance.md); every
    evaluation does it on every pixel."""
    if logits.ndim < 2:
        raise ValueError(tr("class scores must be (N, K, ...), got shape {shape}", shape=tuple(logits.shape)))
    return logits.max(1).indices


def _format_bytes(count: float) -> str:
    from .arguments import format_bytes

    return format_bytes(count)


def _memory_bytes(device: torch.device) -> int | None:
    """The device's total memory in bytes (RAM for the CPU), or None where it cannot be read."""
    try:
        if device.type == "cuda":
            return torch.cuda.get_device_properties(device).total_memory
        if device.type == "cpu":
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError, RuntimeError, AssertionError):
        pass
    return None


def _too_many_classes(num_classes: int, limit: str) -> str:
    return (f"ConfusionMatrix({num_classes}): a {num_classes}x{num_classes} int64 matrix takes "
            f"{_format_bytes(8 * num_classes ** 2)}, and each update as much again, {limit}; a segmentation data set "
            f"has tens to a few thousand classes: is {num_classes} the number of classes?")


class ConfusionMatrix:
    """Accumulates a (num_classes, num_classes) int64 confusion matrix on the tensors' device with bincount."""

    def __init__(self, num_classes: int, ignore_index: int = 255, device: torch.device | str | None = None):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(tr("num_classes must be a whole number of at least 1, got {num_classes!r}",
                                num_classes=num_classes))
        needed = 2 * 8 * num_classes ** 2  # the int64 matrix, and as much again for each update's bincount
        available = _memory_bytes(torch.device(device) if device is not None else torch.device("cpu"))
        if available is not None and needed > available:
            raise InputError(_too_many_classes(num_classes, f"more than this device's {_format_bytes(available)}"))
        self.num_classes, self.ignore_index = num_classes, ignore_index
        try:
            self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)
        except (RuntimeError, MemoryError) as error:  # the allocator's refusal (torch.OutOfMemoryError included)
            if "alloc" not in str(error).lower() and "memory" not in str(error).lower():
                raise
            raise InputError(_too_many_classes(num_classes, "more than the allocator could give")) from None

    @classmethod
    def from_matrix(cls, matrix: torch.Tensor, ignore_index: int = 255) -> ConfusionMatrix:
        """Wrap counts computed elsewhere: (K, K), rows = truth, columns = prediction."""
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(tr("a confusion matrix is square, got shape {matrix_shape}",
                                matrix_shape=tuple(matrix.shape)))
        confusion = cls(matrix.shape[0], ignore_index=ignore_index, device=matrix.device)
        confusion.matrix = matrix.to(torch.int64).clone()
        return confusion

    @torch.no_grad()
    def update(self, predictions: torch.Tensor, targets: torch.Tensor) -> ConfusionMatrix:
        """Add a batch: predictions and targets are class indices of the same shape, e.g. (N, H, W)."""
        if predictions.shape != targets.shape:
            raise ValueError(tr("predictions {predictions_shape} and targets {targets_shape} differ in shape; take "
                                "argmax over the class dimension of logits first",
                                predictions_shape=tuple(predictions.shape), targets_shape=tuple(targets.shape)))
        if predictions.is_floating_point() or predictions.is_complex():
            raise ValueError(tr("predictions must be class indices (an integer tensor), not logits or probabilities"))
        if predictions.dtype == torch.bool:
            raise InputError(tr("predictions must be class indices (an integer tensor), got a bool tensor: a "
                                "comparison such as logits > 0 or predictions == targets would be counted as classes "
                                "0 and 1; convert an intended binary prediction with .long()"))
        if targets.is_floating_point():
            raise ValueError(tr("targets must be class indices (an integer tensor); a float mask would be truncated "
                                "(1.7 counted as class 1): convert it with .long() after checking its values"))
        if self.matrix.device != targets.device:
            self.matrix = self.matrix.to(targets.device)
        valid = targets != self.ignore_index
        _refuse_labels_outside(predictions, targets, valid, self.num_classes, self.ignore_index)
        targets, predictions = targets[valid].long(), predictions[valid].long()
        codes = targets * self.num_classes + predictions
        self.matrix += torch.bincount(codes, minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)
        return self

    def reset(self) -> None:
        self.matrix.zero_()

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts (e.g. from another process)."""
        self.matrix += other.matrix.to(self.matrix.device)
        return self

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the counts over all processes of a torch.distributed job (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.matrix)
        return self

    # ---- scores -------------------------------------------------------------------------------------------
    def _parts(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        matrix = self.matrix.double()
        true_positive = matrix.diagonal()
        return true_positive, matrix.sum(0) - true_positive, matrix.sum(1) - true_positive  # TP, FP, FN per class

    @staticmethod
    def _divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
        return torch.where(denominator > 0, numerator / denominator.clamp(min=1), torch.full_like(numerator, float("nan")))

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum()
        return float(self.matrix.diagonal().sum() / total) if total > 0 else float("nan")

    def class_accuracy(self) -> torch.Tensor:
        """(num_classes,) recall of each class; NaN for classes with no target pixel."""
        true_positive, _, false_negative = self._parts()
        return self._divide(true_positive, true_positive + false_negative)

    def mean_class_accuracy(self) -> float:
        return float(self.class_accuracy().nanmean())

    def iou(self) -> torch.Tensor:
        """(num_classes,) intersection over union; NaN where a class is absent from target and prediction."""
        true_positive, false_positive, false_negative = self._parts()
        return self._divide(true_positive, true_positive + false_positive + false_negative)

    def miou(self) -> float:
        return float(self.iou().nanmean())

    def dice(self) -> torch.Tensor:
        """(num_classes,) Dice coefficient (F1); NaN where a class is absent from target and prediction."""
        true_positive, false_positive, false_negative = self._parts()
        return self._divide(2 * true_positive, 2 * true_positive + false_positive + false_negative)

    def summary(self) -> dict[str, float]:
        return {"pixel_accuracy": self.pixel_accuracy(), "mean_class_accuracy": self.mean_class_accuracy(),
                "miou": self.miou(), "mean_dice": float(self.dice().nanmean())}

    def table(self, class_names: tuple[str, ...] | list[str] | None = None) -> str:
        """A plain-text table of per-class IoU, Dice and accuracy, then the means."""
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ValueError(tr("table() needs one name per class: {num_classes} classes, {number_of_names} names "
                                "given",
                                num_classes=self.num_classes, number_of_names=len(names)))
        width = max(12, *(len(name) for name in names))
        rows = [f"{'class':<{width}}  {'IoU':>6}  {'Dice':>6}  {'acc':>6}"]
        for name, iou, dice, accuracy in zip(names, self.iou().tolist(), self.dice().tolist(), self.class_accuracy().tolist()):
            rows.append(f"{name:<{width}}  {100 * iou:6.1f}  {100 * dice:6.1f}  {100 * accuracy:6.1f}")
        summary = self.summary()
        rows.append(f"{'mean':<{width}}  {100 * summary['miou']:6.1f}  {100 * summary['mean_dice']:6.1f}  "
                    f"{100 * summary['mean_class_accuracy']:6.1f}")
        rows.append(f"pixel accuracy {100 * summary['pixel_accuracy']:.1f}%   mIoU {100 * summary['miou']:.1f}%")
        return "\n".join(rows)


def _refuse_labels_outside(predictions: torch.Tensor, targets: torch.Tensor, labelled: torch.Tensor, num_classes: int,
                           ignore_index: int) -> None:
    """Raise ValueError if a labelled pixel's prediction or target is not a class index 0..num_classes-1."""
    outside = (targets < 0) | (targets >= num_classes) | (predictions < 0) | (predictions >= num_classes)
    if bool((outside & labelled).any()):
        raise ValueError(tr("labels must lie in 0..{last_label} or be the ignore index {ignore_index}",
                            last_label=num_classes - 1, ignore_index=ignore_index))


def frame_confusions(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """(F, H, W) predictions and targets -> (F, K, K) one confusion matrix per frame (rows: truth), for resampling
    frames (`segedu.lab.statistics.paired_bootstrap`). Summed over frames it equals `ConfusionMatrix`'s matrix."""
    if predictions.shape != targets.shape or predictions.ndim != 3:
        raise ValueError(tr("predictions and targets must both be (F, H, W), got {predictions_shape} and "
                            "{targets_shape}",
                            predictions_shape=tuple(predictions.shape), targets_shape=tuple(targets.shape)))
    labelled = targets != ignore_index
    _refuse_labels_outside(predictions, targets, labelled, num_classes, ignore_index)  # else counted in another frame
    frames = predictions.shape[0]
    bins = frames * num_classes ** 2  # one per (frame, truth, prediction); void pixels go to one more, dropped
    # every pixel's bin in place, no boolean selection (6x faster on the CPU); int32 while the bins fit in it
    dtype = torch.int32 if bins < 2 ** 31 - 1 else torch.long
    frame = torch.arange(frames, device=targets.device, dtype=dtype).view(-1, 1, 1) * num_classes
    codes = (frame + targets.to(dtype)) * num_classes + predictions.to(dtype)
    codes = torch.where(labelled, codes, bins)
    return torch.bincount(codes.view(-1), minlength=bins + 1)[:bins].view(frames, num_classes, num_classes)


def boundary_band(targets: torch.Tensor, *, width: int = 3, ignore_index: int = 255) -> torch.Tensor:
    """(F, H, W) labels -> (F, H, W) bool: labelled pixels within `width` pixels (a (2 width + 1)^2 square) of a
    pixel of another labelled class. The "trimap" band of DeepLab v1 (Chen et al. 2015, figure 5), where accuracy
    measures how well boundaries are placed; void pixels neither count nor make a boundary."""
    if width < 1:
        raise ValueError(tr("the band's width must be at least 1 pixel, got {width}", width=width))
    labels = targets.float()[:, None]
    void = labels == ignore_index
    window = dict(kernel_size=2 * width + 1, stride=1, padding=width)
    largest = F.max_pool2d(torch.where(void, -1.0, labels), **window)
    smallest = -F.max_pool2d(torch.where(void, -float(ignore_index + 1), -labels), **window)
    return ((largest != smallest) & (largest >= 0) & ~void)[:, 0]
