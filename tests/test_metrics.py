"""ConfusionMatrix against hand-computed values and against torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassJaccardIndex

from segedu.metrics import ConfusionMatrix, frame_confusions


def test_hand_computed_example_with_ignore_index():
    targets = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 0]])
    predictions = torch.tensor([[0, 1, 1, 1], [2, 0, 1, 0]])
    matrix = ConfusionMatrix(4).update(predictions, targets)
    # rows: true class, columns: predicted. The pixel labelled 255 is not counted.
    expected = torch.tensor([[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    assert torch.equal(matrix.matrix.cpu(), expected)
    assert matrix.pixel_accuracy() == pytest.approx(5 / 7)
    iou = matrix.iou()
    assert iou[:3].tolist() == pytest.approx([2 / 4, 2 / 3, 1 / 2])
    assert math.isnan(iou[3]), "class 3 is absent from target and prediction"
    assert matrix.miou() == pytest.approx((2 / 4 + 2 / 3 + 1 / 2) / 3), "absent classes are left out of the mean"
    assert matrix.dice()[:3].tolist() == pytest.approx([4 / 6, 4 / 5, 2 / 3])
    assert matrix.class_accuracy()[:3].tolist() == pytest.approx([2 / 3, 1, 1 / 2])


def test_class_predicted_but_absent_from_targets_counts_as_zero():
    matrix = ConfusionMatrix(3).update(torch.tensor([0, 2]), torch.tensor([0, 0]))
    assert matrix.iou().tolist()[0] == pytest.approx(0.5) and matrix.iou()[2] == 0
    assert matrix.miou() == pytest.approx(0.25)


def test_accumulates_over_batches_and_merges():
    generator = torch.Generator().manual_seed(0)
    predictions, targets = torch.randint(0, 5, (6, 9, 11), generator=generator), torch.randint(0, 5, (6, 9, 11), generator=generator)
    whole = ConfusionMatrix(5).update(predictions, targets)
    first, second = ConfusionMatrix(5).update(predictions[:2], targets[:2]), ConfusionMatrix(5).update(predictions[2:], targets[2:])
    assert torch.equal(first.merge(second).matrix, whole.matrix)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_torchmetrics(seed):
    generator = torch.Generator().manual_seed(seed)
    num_classes = 6
    targets = torch.randint(0, num_classes, (4, 17, 23), generator=generator)
    targets[torch.rand(targets.shape, generator=generator) < 0.1] = 255
    targets[targets == 5] = 0  # class 5 never in the targets...
    predictions = torch.where(torch.rand(targets.shape, generator=generator) < 0.6, targets.clamp(max=num_classes - 1),
                              torch.randint(0, num_classes - 1, targets.shape, generator=generator))  # ...nor predicted
    ours = ConfusionMatrix(num_classes).update(predictions, targets)
    options = {"num_classes": num_classes, "ignore_index": 255}
    theirs_matrix = MulticlassConfusionMatrix(**options)(predictions, targets)
    assert torch.equal(ours.matrix, theirs_matrix)
    theirs_iou = MulticlassJaccardIndex(average="none", **options)(predictions, targets)
    assert torch.allclose(ours.iou()[:5].float(), theirs_iou[:5])
    assert ours.miou() == pytest.approx(MulticlassJaccardIndex(average="macro", **options)(predictions, targets).item(), abs=1e-6)
    assert ours.pixel_accuracy() == pytest.approx(MulticlassAccuracy(average="micro", **options)(predictions, targets).item())
    assert torch.allclose(ours.class_accuracy()[:5].float(), MulticlassAccuracy(average="none", **options)(predictions, targets)[:5])


def test_rejects_logits_and_mismatched_shapes():
    with pytest.raises(ValueError, match="logits"):
        ConfusionMatrix(3).update(torch.rand(2, 3), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="differ in shape"):
        ConfusionMatrix(3).update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        ConfusionMatrix(3).update(torch.tensor([0]), torch.tensor([7]))


def test_predicted_classes_are_argmax_over_the_channels_with_ties_to_the_first_class():
    from segedu.metrics import predicted_classes

    logits = torch.randn(3, 11, 17, 23)
    assert torch.equal(predicted_classes(logits), logits.argmax(1))
    tied = torch.zeros(2, 4, 5, 6)
    tied[:, 1] = tied[:, 3] = 1.0  # classes 1 and 3 tie everywhere: the first of them, as argmax says
    assert torch.equal(predicted_classes(tied), torch.ones(2, 5, 6, dtype=torch.long))
    assert predicted_classes(tied).dtype == torch.long
    with pytest.raises(ValueError, match=r"\(N, K, \.\.\.\), got shape \(5,\)"):
        predicted_classes(torch.zeros(5))


@pytest.mark.parametrize("target_dtype", [torch.uint8, torch.long])
def test_frame_confusions_are_torchmetrics_confusion_matrices_frame_by_frame(target_dtype):
    """One confusion matrix per frame, void pixels left out, whatever the labels' integer type. 60 frames of 5
    classes: more than 255 / 5, so a void label taken for a class would land among a later frame's counts."""
    generator = torch.Generator().manual_seed(3)
    predictions = torch.randint(0, 5, (60, 6, 7), generator=generator)
    targets = torch.randint(0, 5, (60, 6, 7), generator=generator)
    targets[torch.rand(targets.shape, generator=generator) < 0.2] = 255  # void
    targets[2][targets[2] == 4] = 0  # a class absent from one frame
    found = frame_confusions(predictions, targets.to(target_dtype), 5)
    for frame in range(60):
        reference = MulticlassConfusionMatrix(num_classes=5, ignore_index=255)
        reference.update(predictions[frame].flatten(), targets[frame].flatten())
        assert torch.equal(found[frame], reference.compute())


def test_frame_confusions_refuse_labels_outside_the_classes():
    """A label of K or more (not the ignore index) would land in another frame's matrix: it is refused instead."""
    predictions, targets = torch.zeros(3, 4, 4, dtype=torch.long), torch.zeros(3, 4, 4, dtype=torch.long)
    targets[0, 1, 1], predictions[1, 2, 2] = 255, 5  # void truth anywhere is fine; a prediction there too
    frame_confusions(predictions, targets, 5 + 1)
    with pytest.raises(ValueError, match=r"labels must lie in 0..4"):
        frame_confusions(predictions, targets, 5)
    targets[2, 0, 0] = 7
    with pytest.raises(ValueError, match=r"labels must lie in 0..4"):
        frame_confusions(predictions.clamp(max=4), targets, 5)
