"""Hypercolumns in boxes (segedu.lab.box_hypercolumns): the boxes found, the grid's interpolation weights, the
hypercolumns cut from the right place, the location-specific classifier, and the two ways of reading a figure."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from segedu.lab.box_hypercolumns import (BoxClassifier, ObjectBoxes, box_figures, box_hypercolumns, figure_iou,
                                         grid_weights, mean_over_objects, object_boxes, per_frame, pixel_figures,
                                         train_box_classifier)


def test_object_boxes_finds_each_region_of_each_class_and_its_figure():
    masks = torch.zeros(2, 32, 48, dtype=torch.uint8)
    masks[0, 4:20, 6:14] = 3          # a 16 x 8 object of class 3: kept
    masks[0, 24:26, 30:32] = 3        # 2 x 2 pixels: below min_area, dropped
    masks[1, 10:30, 20:40] = 5        # class 5 in the second frame
    masks[1, 14:20, 24:30] = 3        # a class-3 object inside it
    found = object_boxes(masks, [3, 5], min_area=20, size=4)
    assert found.frames.tolist() == [0, 1, 1]
    assert found.classes.tolist() == [0, 0, 1]  # indices into kinds
    assert found.boxes.tolist() == [[6, 4, 14, 20], [24, 14, 30, 20], [20, 10, 40, 30]]  # x1, y1, x2, y2
    assert found.figures[0].all() and found.figures[1].all()  # a box its object fills
    assert found.figures[2].sum() == 15 and not found.figures[2, 1, 1]  # the class-3 object fills that cell alone


def test_the_grid_weights_interpolate_bilinearly_between_cell_centres():
    weights = grid_weights(2, 4)  # centres at 1/4 and 3/4 of the box, positions at 1/8, 3/8, 5/8, 7/8
    along = torch.tensor([1.0, 0.75, 0.25, 0.0])  # the first cell's share, by hand (the outer positions clamp)
    assert torch.allclose(weights[0], along[:, None] * along[None, :])
    assert torch.allclose(weights[3], along.flip(0)[:, None] * along.flip(0)[None, :])
    assert torch.allclose(weights.sum(0), torch.ones(4, 4))
    assert torch.allclose(grid_weights(1, 5), torch.ones(1, 5, 5))


def test_box_hypercolumns_are_the_levels_read_at_the_box_positions():
    # every level a ramp along x (feature value = image x of the cell centre), so bilinear reading is exact
    image_size, shapes = (32, 64), {"level3": (4, 8), "level4": (2, 4), "level5": (1, 2)}
    features = {}
    for level, (height, width) in shapes.items():
        stride = image_size[1] / width
        x = (torch.arange(width) + 0.5) * stride
        features[level] = x.expand(1, 1, height, width).clone()
    cache = types.SimpleNamespace(features=features, image_size=image_size)
    objects = ObjectBoxes(torch.tensor([0]), torch.tensor([0]), torch.tensor([[16.0, 8.0, 48.0, 24.0]]),
                          torch.ones(1, 4, 4, dtype=torch.bool), (1,))
    cut = box_hypercolumns(cache, objects).float()
    expected = 16 + (torch.arange(4) + 0.5) * 8  # the box's four columns, in image x
    assert cut.shape == (1, 3, 4, 4)
    assert torch.allclose(cut[0, 2], expected.expand(4, 4), atol=0.05)  # level 3 (finest, last)
    assert torch.allclose(cut[0, 1], expected.expand(4, 4), atol=0.05)  # level 4, upsampled first


def test_a_grid_of_equal_classifiers_is_one_classifier():
    torch.manual_seed(0)
    one, grid = BoxClassifier(6, 2, 1, size=5), BoxClassifier(6, 2, 3, size=5)
    with torch.no_grad():
        grid.weight.copy_(one.weight.expand(2, 9, 6))
        grid.bias.copy_(one.bias.expand(2, 9))
    hypercolumns, classes = torch.randn(4, 6, 5, 5), torch.tensor([0, 1, 1, 0])
    assert torch.allclose(grid(hypercolumns, classes), one(hypercolumns, classes), atol=1e-5)


def test_only_the_grid_learns_a_figure_that_depends_on_where_the_pixel_sits_in_its_box():
    # the same hypercolumn everywhere; the figure is the box's top half: only location tells the two halves apart
    objects = ObjectBoxes(torch.arange(8), torch.zeros(8, dtype=torch.long), torch.zeros(8, 4),
                          torch.zeros(8, 6, 6, dtype=torch.bool), (1,))
    objects.figures[:, :3] = True
    hypercolumns = torch.ones(8, 4, 6, 6)
    scores = {}
    for grid in (1, 3):
        model = train_box_classifier(hypercolumns, objects, grid, seed=0, steps=200, batch_size=8,
                                     learning_rate=0.05)
        scores[grid] = figure_iou(box_figures(model, hypercolumns, objects), objects).mean().item()
    assert scores[3] == pytest.approx(1.0) and scores[1] <= 0.5


class Everywhere(nn.Module):
    """A whole-frame head that gives class `kind` to every pixel."""

    levels = ("level3",)

    def __init__(self, kind: int):
        super().__init__()
        self.kind = kind

    def forward(self, features):
        logits = torch.zeros(features["level3"].shape[0], 4, *features["level3"].shape[-2:])
        logits[:, self.kind] = 1.0
        return logits


def test_the_whole_frame_head_reads_the_object_class_inside_the_box():
    cache = types.SimpleNamespace(features={"level3": torch.zeros(2, 1, 4, 6)}, image_size=(32, 48))
    objects = ObjectBoxes(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([[0, 0, 16, 16.0]] * 2),
                          torch.ones(2, 4, 4, dtype=torch.bool), (2, 3))
    assert pixel_figures(Everywhere(2), cache, objects).tolist() == [[[True] * 4] * 4, [[False] * 4] * 4]


def test_per_frame_counts_give_the_mean_over_objects():
    objects = types.SimpleNamespace(frames=torch.tensor([0, 0, 2]))
    counts = per_frame(torch.tensor([0.5, 1.0, 0.0], dtype=torch.float64), objects, 3)
    assert counts.tolist() == [[1.5, 2.0], [0.0, 0.0], [0.0, 1.0]]
    assert mean_over_objects(counts.sum(0, keepdim=True)).item() == pytest.approx(0.5)


def test_frames_without_objects_give_empty_results_not_an_error():
    cache = types.SimpleNamespace(features={level: torch.zeros(1, channels, 4, 6) for level, channels in
                                            (("level3", 2), ("level4", 3), ("level5", 5))}, image_size=(32, 48))
    objects = object_boxes(torch.zeros(1, 32, 48, dtype=torch.uint8), [3], size=4)
    columns = box_hypercolumns(cache, objects)
    assert len(objects) == 0 and columns.shape == (0, 10, 4, 4)
    assert box_figures(BoxClassifier(10, 1, 2, size=4), columns, objects).shape == (0, 4, 4)
