"""Mask R-CNN's idea, small: the true instances as targets, masks pasted into their boxes, the shipped model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segedu.instance import (SHIPPED, TinyMaskRCNN, instance_targets, jitter_boxes, load_shipped, main,
                             mask_rcnn_loss, paste_instances, score_instances)


def test_instance_targets_give_each_object_its_box_class_and_mask():
    mask = torch.zeros(16, 20, dtype=torch.long)
    ids = torch.zeros_like(mask)
    mask[2:6, 3:10], ids[2:6, 3:10] = 3, 1  # a triangle-class object, rows 2-5, columns 3-9
    mask[8:15, 12:14], ids[8:15, 12:14] = 1, 4  # a disc-class object with id 4
    boxes, classes, masks = instance_targets(mask, ids)
    assert boxes.tolist() == [[3.0, 2.0, 10.0, 6.0], [12.0, 8.0, 14.0, 15.0]]  # x0 y0 x1 y1, pixel edges
    assert classes.tolist() == [2, 0]  # semantic class minus the background
    assert masks.shape == (2, 16, 20) and masks[0].sum() == 28 and masks[1].sum() == 14
    empty = instance_targets(torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long))
    assert empty[0].shape == (0, 4) and empty[1].shape == (0,)


def test_jitter_moves_corners_by_at_most_the_fraction():
    boxes = torch.tensor([[10.0, 10.0, 30.0, 20.0]])
    moved = torch.stack([jitter_boxes(boxes, torch.Generator().manual_seed(s), fraction=0.1)[0] for s in range(50)])
    limit = torch.tensor([2.0, 1.0, 2.0, 1.0])  # 10% of the width 20 and the height 10
    assert ((moved - boxes).abs() <= limit + 1e-6).all() and ((moved - boxes).abs() > 0.5 * limit).any()


class _Fixed(nn.Module):
    """A stand-in with chosen outputs: every box predicts class `classes[i]` with a constant mask probability."""

    def __init__(self, classes, probabilities):
        super().__init__()
        self.classes, self.probabilities = classes, probabilities

    def forward(self, images, boxes):
        count = len(boxes[0])
        class_logits = torch.full((count, 4), -5.0)
        class_logits[torch.arange(count), torch.tensor(self.classes)] = 5.0
        masks = torch.full((count, 4, 28, 28), -10.0)
        for index, probability in enumerate(self.probabilities):
            masks[index] = torch.logit(torch.tensor(probability))
        return class_logits, masks


def test_paste_puts_each_mask_in_its_box_and_gives_overlaps_to_the_surer_one():
    image = torch.zeros(3, 32, 32)
    boxes = torch.tensor([[4.0, 4.0, 20.0, 12.0], [16.0, 8.0, 28.0, 24.0]])
    ids, classes = paste_instances(_Fixed([1, 3], [0.9, 0.7]), image, boxes)
    assert classes.tolist() == [1, 3]
    expected = torch.zeros(32, 32, dtype=torch.long)
    expected[8:24, 16:28] = 2
    expected[4:12, 4:20] = 1  # the overlap (rows 8-11, columns 16-19) goes to the box with probability 0.9
    assert torch.equal(ids, expected)
    ids, _ = paste_instances(_Fixed([1, 3], [0.9, 0.3]), image, boxes)  # below the threshold: no pixel
    assert (ids == 2).sum() == 0


def test_the_loss_trains_the_true_class_mask_only_and_the_model_learns_a_batch():
    torch.manual_seed(0)
    mask = torch.zeros(32, 32, dtype=torch.long)
    ids = torch.zeros_like(mask)
    mask[4:20, 6:22], ids[4:20, 6:22] = 2, 1
    mask[18:30, 20:30], ids[18:30, 20:30] = 4, 2
    images = torch.rand(1, 3, 32, 32)
    boxes, classes, masks = instance_targets(mask, ids)
    model = TinyMaskRCNN(4, width=16)
    _, mask_logits = model(images, [boxes])
    mask_logits.retain_grad()
    mask_rcnn_loss(model, images, [boxes], [classes], [masks]).backward()
    assert mask_logits.shape == (2, 4, 28, 28)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        loss = mask_rcnn_loss(model, images, [boxes], [classes], [masks])
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.3 * first


def test_the_loss_ignores_the_other_classes_masks():
    torch.manual_seed(0)
    mask = torch.zeros(32, 32, dtype=torch.long)
    ids = torch.zeros_like(mask)
    mask[4:20, 6:22], ids[4:20, 6:22] = 2, 1
    boxes, classes, masks = instance_targets(mask, ids)
    model = TinyMaskRCNN(4, width=16)
    last = model.mask_head[-1]
    mask_rcnn_loss(model, torch.rand(1, 3, 32, 32), [boxes], [classes], [masks]).backward()
    per_class = last.weight.grad.flatten(1).abs().sum(1)  # (4,): the 1x1 layer's gradient per class channel
    assert per_class[1] > 0 and per_class[[0, 2, 3]].sum() == 0  # only class 1 (semantic 2) is trained


@pytest.mark.slow
def test_the_shipped_model_loads_and_scores_what_its_checkpoint_says():
    model, state = load_shipped()
    assert state["command"].startswith("python -m segedu.instance")
    scores = score_instances(model)
    assert scores["pq"] == pytest.approx(state["metrics"]["pq"], abs=1e-3)  # CPU kernels may flip a pixel or two
    assert scores["class_accuracy"] > 0.5  # four classes: chance is 0.25


def test_a_corrupt_shipped_file_is_named(tmp_path):
    broken = tmp_path / "mask_rcnn_shapes.pt"
    broken.write_bytes(SHIPPED.read_bytes()[:1000])
    with pytest.raises(Exception, match="mask_rcnn_shapes.pt"):
        load_shipped(broken)


def test_the_command_refuses_zero_steps(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--steps", "0"])
    assert stop.value.code == 2 and "--steps must be at least 1" in capsys.readouterr().err
