"""The ISBI 2012 challenge's own scores: foreground-restricted Rand and information-theoretic split and merge scores.

Arganda-Carreras et al., "Crowdsourcing the creation of image segmentation algorithms for connectomics", Frontiers in
Neuroanatomy 9:142, 2015 (doi:10.3389/fnana.2015.00142). A proposed segmentation S and the truth T label cells.
With p_ij the probability that a pixel lies in segment i of S and cell j of T, s_i = sum_j p_ij and t_j = sum_i p_ij:

    V_split^Rand = sum_ij p_ij^2 / sum_j t_j^2      V_split^Info = I(S; T) / H(S)
    V_merge^Rand = sum_ij p_ij^2 / sum_i s_i^2      V_merge^Info = I(S; T) / H(T)

and V^Rand, V^Info are the harmonic means (F-scores) of each pair. Cutting one true cell into pieces lowers the split
scores (sum t_j^2 stays, sum p_ij^2 drops; H(S) grows); gluing two cells lowers the merge scores. All are 1 for a
perfect segmentation, whatever its label numbers. "Foreground-restricted": only pixels inside a true cell count.

    from segedu.challenge_scores import membrane_scores
    membrane_scores(prediction, mask)  # (H, W) classes (0 membrane, 1 cell) or (2, H, W) scores, and the (H, W) mask
    # -> {"rand_split": ..., "rand_merge": ..., "rand": ..., "info_split": ..., "info_merge": ..., "info": ...}

Departures from the challenge's Fiji script (Trainable_Segmentation's RandError and VariationOfInformation):

- Predicted background (membrane) pixels inside a true cell form, by default (`predicted_background="segment"`), one
  more ordinary segment, as in scikit-image's `adapted_rand_error` and `variation_of_information`, which treat label 0
  of the test image like any other: it is the stricter reading (an over-wide predicted membrane crossing many true
  cells counts as merging them) and it lets the tests check these scores against scikit-image. The Fiji script makes
  each such pixel a segment of its own: `predicted_background="singletons"`.
- The script thins the predicted membranes to one pixel (a watershed) and keeps the best score over thresholds of a
  probability map; here the scores are of the given segmentation as it is.
- Where H(S) = 0 (one predicted segment) nothing can be split, so V_split^Info = 1; likewise V_merge^Info = 1 where
  H(T) = 0 (one true cell). The script gives 0 there. An image with no true cell pixel scores NaN.

`distinct_pairs=True` counts pairs of two different pixels, n_ij (n_ij - 1), instead of the paper's squared
probabilities (pairs drawn with replacement), as scikit-image does; the two differ by about 1 / (pixels per segment).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import torch

from .losses import connected_components
from .language import tr

__all__ = ["cell_labels", "rand_scores", "information_scores", "membrane_scores", "mean_membrane_scores"]

PREDICTED_BACKGROUND = ("segment", "singletons")


def cell_labels(foreground: torch.Tensor) -> torch.Tensor:
    """(H, W) bool -> (H, W) int64: the 4-connected cells, 0 for background and 1..C (the challenge's labelling)."""
    return connected_components(foreground, connectivity=4)


class _Table(NamedTuple):
    """The contingency table in sparse form, in pixel counts (float64): its non-zero entries n_ij, its row sums over
    the true cells t_j and its column sums over the predicted segments s_i, and the number of pixels counted."""

    joint: torch.Tensor
    truth_sizes: torch.Tensor
    predicted_sizes: torch.Tensor
    pixels: int


def _table(predicted: torch.Tensor, truth: torch.Tensor, background: int, predicted_background: str) -> _Table:
    """Count the pixels where `truth` is not `background`, by true cell and predicted segment (both (H, W) labels)."""
    if predicted.shape != truth.shape:
        raise ValueError(tr("predicted labels {predicted_shape} and true labels {truth_shape} differ in shape; pass "
                            "two label maps of the same image",
                            predicted_shape=tuple(predicted.shape), truth_shape=tuple(truth.shape)))
    if predicted.is_floating_point() or truth.is_floating_point():
        raise ValueError(tr("expected integer label maps, got {predicted_dtype} and {truth_dtype}; label the cells "
                            "first (cell_labels), or call membrane_scores with class indices or scores",
                            predicted_dtype=predicted.dtype, truth_dtype=truth.dtype))
    if predicted_background not in PREDICTED_BACKGROUND:
        raise ValueError(tr("predicted_background must be one of {PREDICTED_BACKGROUND}, got {predicted_background!r}",
                            PREDICTED_BACKGROUND=PREDICTED_BACKGROUND, predicted_background=predicted_background))
    inside = truth != background
    truth_index = torch.unique(truth[inside], return_inverse=True)[1]
    predicted_values = predicted[inside]
    predicted_index = torch.unique(predicted_values, return_inverse=True)[1]
    if predicted_background == "singletons":  # every predicted background pixel becomes a segment of its own
        alone = predicted_values == background
        first = int(predicted_index.max()) + 1 if predicted_index.numel() else 0
        predicted_index = torch.where(alone, first + alone.cumsum(0) - 1, predicted_index)
    segments = int(predicted_index.max()) + 1 if predicted_index.numel() else 1
    joint = torch.unique(truth_index * segments + predicted_index, return_counts=True)[1]
    return _Table(joint.double(), torch.bincount(truth_index).double(), torch.bincount(predicted_index).double(),
                  int(inside.sum()))


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float:
    """numerator / denominator, and 1.0 where both are 0 (nothing to split or merge: no error)."""
    return 1.0 if float(denominator) == 0.0 else float(numerator / denominator)


def _harmonic_mean(split: float, merge: float) -> float:
    return 0.0 if split + merge == 0.0 else 2.0 * split * merge / (split + merge)


def rand_scores(predicted: torch.Tensor, truth: torch.Tensor, *, background: int = 0,
                predicted_background: str = "segment", distinct_pairs: bool = False) -> dict[str, float]:
    """The foreground-restricted Rand scores of (H, W) int label maps: {"rand_split", "rand_merge", "rand"}.

    Only pixels where `truth` != `background` count; there, a predicted `background` pixel belongs to one shared
    segment ("segment", scikit-image's reading) or is a segment of its own ("singletons", the challenge's Fiji
    script): see the module docstring. With `distinct_pairs=True` (n_ij (n_ij - 1) pairs) the scores equal
    `skimage.metrics.adapted_rand_error(truth, predicted)`'s (error, precision, recall) as (1 - rand, rand_split,
    rand_merge): its code divides its "precision" by the true cells' pairs, the reverse of its docstring (scikit-image
    issue 6485). All three are NaN when `truth` has no foreground.
    """
    table = _table(predicted, truth, background, predicted_background)
    if table.pixels == 0:
        return dict.fromkeys(("rand_split", "rand_merge", "rand"), math.nan)
    self_pairs = table.pixels if distinct_pairs else 0  # sum_k n_k (n_k - 1) = sum_k n_k^2 - N
    together_in_both = (table.joint ** 2).sum() - self_pairs
    together_in_truth = (table.truth_sizes ** 2).sum() - self_pairs
    together_in_prediction = (table.predicted_sizes ** 2).sum() - self_pairs
    return {"rand_split": _ratio(together_in_both, together_in_truth),
            "rand_merge": _ratio(together_in_both, together_in_prediction),
            "rand": _ratio(together_in_both, 0.5 * together_in_truth + 0.5 * together_in_prediction)}


def _entropy(counts: torch.Tensor, pixels: int) -> torch.Tensor:
    """-sum p log p (nats) of the distribution `counts` / `pixels`, (K,) counts -> a float64 scalar."""
    probabilities = counts[counts > 0] / pixels
    return -(probabilities * probabilities.log()).sum()


def information_scores(predicted: torch.Tensor, truth: torch.Tensor, *, background: int = 0,
                       predicted_background: str = "segment") -> dict[str, float]:
    """The foreground-restricted information-theoretic scores of (H, W) int label maps: {"info_split", "info_merge",
    "info"}, from I(S; T) = H(S) + H(T) - H(S, T) over the pixels where `truth` != `background`.

    In terms of conditional entropies, info_split = 1 - H(S|T) / H(S) and info_merge = 1 - H(T|S) / H(T), where
    `skimage.metrics.variation_of_information(truth, predicted, ignore_labels=(0,))` returns (H(S|T), H(T|S)).
    `predicted_background` as in `rand_scores`; all three are NaN when `truth` has no foreground.
    """
    table = _table(predicted, truth, background, predicted_background)
    if table.pixels == 0:
        return dict.fromkeys(("info_split", "info_merge", "info"), math.nan)
    truth_entropy = _entropy(table.truth_sizes, table.pixels)
    predicted_entropy = _entropy(table.predicted_sizes, table.pixels)
    mutual_information = truth_entropy + predicted_entropy - _entropy(table.joint, table.pixels)
    split = _ratio(mutual_information, predicted_entropy)
    merge = _ratio(mutual_information, truth_entropy)
    return {"info_split": split, "info_merge": merge, "info": _harmonic_mean(split, merge)}


def membrane_scores(prediction: torch.Tensor, true_mask: torch.Tensor, *, cell_class: int = 1,
                    predicted_background: str = "segment") -> dict[str, float]:
    """All six scores of one membrane segmentation: {"rand_split", "rand_merge", "rand", "info_split", "info_merge",
    "info"}.

    `prediction` is (H, W) class indices or (K, H, W) scores (logits or probabilities; their argmax is taken);
    `true_mask` (H, W) class indices. The cells of each are the 4-connected regions of `cell_class`; every other
    class (membrane, an ignore index) is background.
    """
    if prediction.dim() == 3:
        prediction = prediction.argmax(0)
    if prediction.shape != true_mask.shape:
        raise ValueError(tr("prediction {prediction_shape} and true mask {true_mask_shape} differ in shape; pass (H, "
                            "W) classes or (K, H, W) scores and an (H, W) mask",
                            prediction_shape=tuple(prediction.shape), true_mask_shape=tuple(true_mask.shape)))
    truth, predicted = cell_labels(true_mask == cell_class), cell_labels(prediction == cell_class)
    return {**rand_scores(predicted, truth, predicted_background=predicted_background),
            **information_scores(predicted, truth, predicted_background=predicted_background)}


def mean_membrane_scores(predictions: Iterable[torch.Tensor], true_masks: Iterable[torch.Tensor], *,
                         cell_class: int = 1, predicted_background: str = "segment") -> dict[str, float]:
    """`membrane_scores` averaged over images ((N, H, W) or (N, K, H, W) predictions and (N, H, W) masks, or lists of
    single images), the challenge's per-slice average. Images without a true cell (NaN) are left out of the mean; NaN
    when no image has one."""
    per_image = [membrane_scores(prediction, mask, cell_class=cell_class, predicted_background=predicted_background)
                 for prediction, mask in zip(predictions, true_masks, strict=True)]
    if not per_image:
        raise ValueError(tr("no images to score: predictions and true masks are empty"))
    means = {}
    for name in per_image[0]:
        values = [scores[name] for scores in per_image if not math.isnan(scores[name])]
        means[name] = sum(values) / len(values) if values else math.nan
    return means
