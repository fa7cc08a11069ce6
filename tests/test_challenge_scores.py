"""The ISBI 2012 challenge's scores (segedu.challenge_scores): equal to scikit-image's adapted Rand error and variation
of information, worked by hand on split and merged cells, and labelling cells 4-connected as the challenge does."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from segedu.challenge_scores import (cell_labels, information_scores, mean_membrane_scores, membrane_scores,
                                     rand_scores)
from segedu.losses import connected_components

MEMBRANE, CELL = 0, 1


def grid_mask(size: int = 64, spacing: int = 16, width: int = 2) -> torch.Tensor:
    """(size, size) classes: a grid of square cells (1) behind membranes (0) `width` pixels wide every `spacing`."""
    mask = torch.ones(size, size, dtype=torch.long)
    for start in range(0, size, spacing):
        mask[start:start + width, :] = MEMBRANE
        mask[:, start:start + width] = MEMBRANE
    return mask


def flawed_prediction() -> torch.Tensor:
    """The grid with one cell cut in two, two cells merged and a membrane drawn three pixels too wide."""
    prediction = grid_mask()
    prediction[18:32, 24] = MEMBRANE  # a false membrane through the cell of rows 18..31, columns 18..31: a split
    prediction[40:48, 32:34] = CELL  # a gap in the membrane between two cells: a merge
    prediction[2:62, 50:53] = MEMBRANE  # the membrane at columns 48..49 widened into the cells to its right
    return prediction


def scikit_image_entropies(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """H(S), H(T), H(S|T), H(T|S) over the truth's foreground, all from skimage.metrics.variation_of_information,
    which returns (H(image1 | image0), H(image0 | image1)); against a map that is 1 on the whole foreground, the
    conditional entropy is the entropy itself."""
    metrics = pytest.importorskip("skimage.metrics")
    foreground = (truth != 0).astype(np.int64)
    predicted_given_truth, truth_given_predicted = metrics.variation_of_information(truth, predicted,
                                                                                    ignore_labels=(0,))
    return {"predicted": metrics.variation_of_information(foreground, predicted, ignore_labels=(0,))[0],
            "truth": metrics.variation_of_information(foreground, truth, ignore_labels=(0,))[0],
            "predicted_given_truth": predicted_given_truth, "truth_given_predicted": truth_given_predicted}


def random_maps(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, truth) random (13, 17) label maps, label 0 (background) frequent in both."""
    generator = np.random.default_rng(seed)
    return generator.integers(0, 6, (13, 17)), generator.integers(0, 4, (13, 17))


def realistic_maps() -> tuple[np.ndarray, np.ndarray]:
    """(predicted, truth) 4-connected cell labels of `flawed_prediction` and `grid_mask`."""
    return (cell_labels(flawed_prediction() == CELL).numpy(), cell_labels(grid_mask() == CELL).numpy())


def singletons(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The prediction with each background pixel inside a true cell given a label of its own (numpy, for skimage)."""
    relabelled = predicted.copy()
    alone = (predicted == 0) & (truth != 0)
    relabelled[alone] = predicted.max() + 1 + np.arange(alone.sum())
    return relabelled


MAPS = {"random 0": lambda: random_maps(0), "random 1": lambda: random_maps(1), "random 2": lambda: random_maps(2),
        "grid": realistic_maps}


@pytest.mark.parametrize("maps", MAPS.values(), ids=MAPS.keys())
def test_rand_scores_equal_scikit_image_adapted_rand_error(maps):
    """skimage counts pairs of distinct pixels and (its code, not its docstring: scikit-image issue 6485) divides its
    "precision" by the true cells' pairs, which makes it the split score and its "recall" the merge score."""
    metrics = pytest.importorskip("skimage.metrics")
    predicted, truth = maps()
    error, precision, recall = metrics.adapted_rand_error(truth, predicted, ignore_labels=(0,))
    assert precision != pytest.approx(recall)  # else a swap of split and merge would pass unseen
    ours = rand_scores(torch.from_numpy(predicted), torch.from_numpy(truth), distinct_pairs=True)
    assert ours == pytest.approx({"rand_split": precision, "rand_merge": recall, "rand": 1 - error}, rel=1e-12)


@pytest.mark.parametrize("maps", MAPS.values(), ids=MAPS.keys())
def test_information_scores_equal_scikit_image_variation_of_information(maps):
    """I(S; T) = H(S) - H(S|T) = H(T) - H(T|S), so split = I / H(S) = 1 - H(S|T) / H(S), merge = 1 - H(T|S) / H(T)."""
    predicted, truth = maps()
    entropies = scikit_image_entropies(predicted, truth)
    split = 1 - entropies["predicted_given_truth"] / entropies["predicted"]
    merge = 1 - entropies["truth_given_predicted"] / entropies["truth"]
    assert split != pytest.approx(merge)
    ours = information_scores(torch.from_numpy(predicted), torch.from_numpy(truth))
    assert ours == pytest.approx({"info_split": split, "info_merge": merge,
                                  "info": 2 * split * merge / (split + merge)}, rel=1e-9)


@pytest.mark.parametrize("maps", MAPS.values(), ids=MAPS.keys())
def test_singletons_equal_scikit_image_on_a_relabelled_prediction(maps):
    """predicted_background="singletons" (the challenge's Fiji script) is scikit-image on a prediction whose background
    pixels inside true cells each got a label of their own."""
    metrics = pytest.importorskip("skimage.metrics")
    predicted, truth = maps()
    error, precision, recall = metrics.adapted_rand_error(truth, singletons(predicted, truth), ignore_labels=(0,))
    ours = rand_scores(torch.from_numpy(predicted), torch.from_numpy(truth), predicted_background="singletons",
                       distinct_pairs=True)
    assert ours == pytest.approx({"rand_split": precision, "rand_merge": recall, "rand": 1 - error}, rel=1e-12)
    assert ours != pytest.approx(rand_scores(torch.from_numpy(predicted), torch.from_numpy(truth), distinct_pairs=True))


def test_the_grid_flaws_lower_both_split_and_merge():
    predicted, truth = (torch.from_numpy(labels) for labels in realistic_maps())
    scores = {**rand_scores(predicted, truth), **information_scores(predicted, truth)}
    assert all(0.5 < value < 1 for value in scores.values()), scores


def test_a_perfect_segmentation_scores_one_whatever_its_labels_and_its_membrane():
    truth = torch.tensor([[1, 1, 0, 2, 2, 0, 3],
                          [1, 1, 0, 2, 2, 0, 3]])
    predicted = torch.tensor([[9, 9, 5, 4, 4, 7, 6],  # other label numbers; the true membrane's pixels do not count
                              [9, 9, 4, 4, 4, 0, 6]])
    scores = {**rand_scores(predicted, truth), **information_scores(predicted, truth)}
    assert scores == pytest.approx(dict.fromkeys(scores, 1.0), rel=1e-12)
    assert len(scores) == 6


def test_one_cell_cut_in_halves_lowers_only_the_split_scores():
    # two true cells of 8 pixels (columns 0..3 and 5..8 of 2 rows); the first predicted as two halves of 4
    truth = torch.tensor([[1, 1, 1, 1, 0, 2, 2, 2, 2]] * 2)
    predicted = torch.tensor([[7, 7, 8, 8, 0, 9, 9, 9, 9]] * 2)
    # Rand, in pixel counts (the 1/N^2 cancels): sum n_ij^2 = 4^2 + 4^2 + 8^2 = 96, sum t^2 = 8^2 + 8^2 = 128,
    # sum s^2 = 4^2 + 4^2 + 8^2 = 96
    assert rand_scores(predicted, truth) == pytest.approx(
        {"rand_split": 96 / 128, "rand_merge": 96 / 96, "rand": 96 / (0.5 * 128 + 0.5 * 96)}, rel=1e-12)
    # Information: T = (1/2, 1/2), H(T) = log 2; S = (1/4, 1/4, 1/2), H(S) = 1/2 log 4 + 1/2 log 2 = 1.5 log 2;
    # S refines T, so H(S, T) = H(S) and I = H(T) = log 2: split = 1 / 1.5, merge = 1, F = 2 (2/3) 1 / (2/3 + 1) = 4/5
    assert information_scores(predicted, truth) == pytest.approx(
        {"info_split": 2 / 3, "info_merge": 1.0, "info": 4 / 5}, rel=1e-12)


def test_two_cells_merged_lower_only_the_merge_scores():
    # three true cells of 8 pixels; the prediction joins the first two (across the membrane, whose pixels do not count)
    truth = torch.tensor([[1, 1, 1, 1, 0, 2, 2, 2, 2, 0, 3, 3, 3, 3]] * 2)
    predicted = torch.tensor([[5, 5, 5, 5, 5, 5, 5, 5, 5, 0, 6, 6, 6, 6]] * 2)
    # Rand: sum n_ij^2 = 3 x 8^2 = 192 = sum t^2; sum s^2 = 16^2 + 8^2 = 320
    assert rand_scores(predicted, truth) == pytest.approx(
        {"rand_split": 1.0, "rand_merge": 192 / 320, "rand": 192 / (0.5 * 192 + 0.5 * 320)}, rel=1e-12)
    # Information: H(T) = log 3; S = (2/3, 1/3), H(S) = 2/3 log 3/2 + 1/3 log 3; T refines S, so I = H(S):
    # split = 1, merge = H(S) / H(T) = 1 - (2/3) log 2 / log 3
    merge = 1 - (2 / 3) * math.log(2) / math.log(3)
    assert information_scores(predicted, truth) == pytest.approx(
        {"info_split": 1.0, "info_merge": merge, "info": 2 * merge / (1 + merge)}, rel=1e-12)


def test_predicted_membrane_inside_cells_is_one_segment_or_singletons():
    truth = torch.tensor([[1, 1, 1, 1, 0, 2, 2, 2, 2]] * 2)
    predicted = torch.tensor([[1, 1, 1, 0, 0, 0, 2, 2, 2]] * 2)  # the membrane drawn over a column of each cell
    # "segment": the 4 predicted-membrane pixels inside cells are one segment that spans both cells:
    # sum n_ij^2 = 6^2 + 2^2 + 6^2 + 2^2 = 80, sum t^2 = 128, sum s^2 = 6^2 + 6^2 + 4^2 = 88
    assert rand_scores(predicted, truth) == pytest.approx(
        {"rand_split": 80 / 128, "rand_merge": 80 / 88, "rand": 80 / 108}, rel=1e-12)
    # "singletons": each is a segment of one pixel: sum n_ij^2 = 6^2 + 6^2 + 4 x 1^2 = 76 = sum s^2: nothing merged
    assert rand_scores(predicted, truth, predicted_background="singletons") == pytest.approx(
        {"rand_split": 76 / 128, "rand_merge": 1.0, "rand": 76 / 102}, rel=1e-12)
    assert information_scores(predicted, truth)["info_merge"] < 1
    assert information_scores(predicted, truth, predicted_background="singletons")["info_merge"] == pytest.approx(1.0)


def test_no_true_cell_scores_nan():
    truth = torch.zeros(3, 3, dtype=torch.long)
    scores = {**rand_scores(truth + 1, truth), **information_scores(truth + 1, truth)}
    assert all(math.isnan(value) for value in scores.values())


def test_cells_touching_at_a_corner_are_two_with_connectivity_4_and_one_with_8():
    foreground = torch.tensor([[1, 1, 0, 0],
                               [1, 1, 0, 0],
                               [0, 0, 1, 1],
                               [0, 0, 1, 1]], dtype=torch.bool)
    assert connected_components(foreground, connectivity=4).unique().tolist() == [0, 1, 2]
    assert connected_components(foreground, connectivity=8).unique().tolist() == [0, 1]
    assert connected_components(foreground).unique().tolist() == [0, 1]  # 8 stays the default
    labels = cell_labels(foreground)
    assert labels.dtype == torch.int64 and labels[0, 0] != labels[3, 3] and labels[0, 0] == labels[1, 1] != 0


def test_connectivity_4_follows_a_winding_cell():
    foreground = torch.tensor([[1, 1, 1, 1, 1],
                               [0, 0, 0, 0, 1],
                               [1, 1, 1, 0, 1],
                               [1, 0, 1, 1, 1]], dtype=torch.bool)
    assert connected_components(foreground, connectivity=4).unique().tolist() == [0, 1]


def test_membrane_scores_label_cells_4_connected_and_take_the_argmax_of_scores():
    mask = torch.tensor([[1, 1, 0, 0, 0],
                         [1, 1, 0, 0, 0],
                         [0, 0, 0, 0, 0],
                         [0, 0, 0, 1, 1],
                         [0, 0, 0, 1, 1]])
    prediction = mask.clone()
    prediction[2, 2] = CELL  # on the true membrane (not scored), touching both cells at a corner
    scores = membrane_scores(prediction, mask)
    assert scores == pytest.approx(dict.fromkeys(scores, 1.0))  # 8-connected, it would join them: a merge
    logits = torch.stack([(prediction == MEMBRANE).float(), (prediction == CELL).float()]) * 3 - 1  # (2, H, W)
    assert membrane_scores(logits, mask) == scores


def test_mean_membrane_scores_average_images_and_skip_those_without_cells():
    masks, predictions = torch.stack([grid_mask()] * 3), torch.stack([grid_mask(), flawed_prediction(), grid_mask()])
    masks[2] = MEMBRANE  # no true cell: NaN scores, left out
    flawed = membrane_scores(predictions[1], masks[1])
    assert mean_membrane_scores(predictions, masks) == pytest.approx(
        {name: (1.0 + value) / 2 for name, value in flawed.items()})
    assert mean_membrane_scores(list(predictions), list(masks)) == mean_membrane_scores(predictions, masks)


@pytest.mark.fault
@pytest.mark.parametrize("call, message", [
    (lambda: rand_scores(torch.zeros(3, 4, dtype=torch.long), torch.zeros(4, 3, dtype=torch.long)), "differ in shape"),
    (lambda: information_scores(torch.rand(3, 3), torch.ones(3, 3, dtype=torch.long)), "integer label maps"),
    (lambda: rand_scores(torch.ones(2, 2, dtype=torch.long), torch.ones(2, 2, dtype=torch.long),
                         predicted_background="ignore"), "predicted_background"),
    (lambda: membrane_scores(torch.zeros(2, 3, 3), torch.zeros(4, 4, dtype=torch.long)), "differ in shape"),
    (lambda: connected_components(torch.ones(2, 2, dtype=torch.bool), connectivity=6), "4 or 8"),
    (lambda: mean_membrane_scores([], []), "no images"),
])
def test_bad_inputs_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
