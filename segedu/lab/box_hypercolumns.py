"""Hypercolumns in boxes (Hariharan et al. 2015, "Hypercolumns for Object Segmentation and Fine-grained
Localization", Sec. 3): segment an object by classifying the pixels of its box, each from its hypercolumn, with
classifiers that change with the pixel's place in the box.

The paper's system starts from a detector's boxes. Inside a box, every pixel's hypercolumn (the features of every
level above it, upsampled and stacked) is classified as figure or ground by a K x K grid of classifiers, one per
cell of the box, a pixel's output interpolated bilinearly from the classifiers of the cells nearby (Sec. 3.2), one
grid per category. Here each box's hypercolumns are cut once from the frozen encoder's cached levels by RoIAlign
(`box_hypercolumns`: a size x size grid of positions), and the classifiers are trained on them; the K x K
classifiers interpolated to a position are the grid upsampled bilinearly (`grid_weights`), which is what the
paper's interpolation computes.

Compared, on the same boxes of the same test frames, by the mean over the objects of their figure mask's IoU:

    grid        K x K location-specific classifiers (K = 5 here; the paper tries several K)
    one         one classifier for the whole box (K = 1): boxes first, nothing location-specific
    per-pixel   the whole-frame hypercolumn classifier (`segedu.lab.frozen`, head "hypercolumn"), read inside the
                box: its pixels predicted as the object's class are the figure (no box, FCN's way)

Departures: the boxes are the objects' true boxes (the connected regions of one class in the labels), not a
detector's; the figure is every pixel of the object's class in its box; the grid is trained through its
interpolation (the paper interpolates at test time only); the features are the frozen encoder's cached levels 3-5
(`segedu.lab.frozen.FeatureCache`), never fine-tuned.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from ..engine import train_steps
from ..losses import connected_components

__all__ = ["LEVELS", "ObjectBoxes", "object_boxes", "grid_weights", "box_hypercolumns", "BoxClassifier",
           "train_box_classifier", "box_figures", "pixel_figures", "figure_iou", "per_frame", "mean_over_objects"]

LEVELS = ("level5", "level4", "level3")  # the hypercolumn's levels, coarsest first (as head "hypercolumn")


@dataclasses.dataclass
class ObjectBoxes:
    """The objects of some frames: frames (B,) the frame of each, classes (B,) its class's index in `kinds`,
    boxes (B, 4) its box (x1, y1, x2, y2) in image pixels, figures (B, size, size) bool: its class's pixels in it."""

    frames: torch.Tensor
    classes: torch.Tensor
    boxes: torch.Tensor
    figures: torch.Tensor
    kinds: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.frames)


def object_boxes(masks: torch.Tensor, kinds: list[int] | tuple[int, ...], *, min_area: int = 150,
                 size: int = 12) -> ObjectBoxes:
    """Every connected region (8-connected, found at half resolution, as fast as it is coarse) of a class in `kinds`
    whose box covers at least `min_area` pixels, in masks (F, H, W): its frame, class, box and figure (its class's
    pixels in the box, RoIAligned to size x size and kept where they cover at least half a cell)."""
    frames, classes, boxes = [], [], []
    for frame, mask in enumerate(masks[:, ::2, ::2]):
        for index, kind in enumerate(kinds):
            if not (mask == kind).any():
                continue
            labelled = connected_components(mask == kind)
            for number in range(1, int(labelled.max()) + 1):
                rows, columns = torch.nonzero(labelled == number, as_tuple=True)
                box = (2 * int(columns.min()), 2 * int(rows.min()), 2 * int(columns.max()) + 2,
                       2 * int(rows.max()) + 2)
                if (box[2] - box[0]) * (box[3] - box[1]) >= min_area:
                    frames.append(frame)
                    classes.append(index)
                    boxes.append(box)
    frames, classes = torch.tensor(frames, dtype=torch.long), torch.tensor(classes, dtype=torch.long)
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if not len(frames):
        return ObjectBoxes(frames, classes, boxes, torch.zeros(0, size, size, dtype=torch.bool), tuple(kinds))
    kind_of = torch.tensor(kinds)[classes]
    own = (masks[frames].long() == kind_of[:, None, None]).float()[:, None]  # (B, 1, H, W) each object's class
    rois = torch.cat([torch.arange(len(frames), dtype=torch.float32)[:, None], boxes], 1)
    figures = roi_align(own, rois, output_size=size, spatial_scale=1.0, sampling_ratio=2, aligned=True)[:, 0] >= 0.5
    return ObjectBoxes(frames, classes, boxes, figures, tuple(kinds))


def grid_weights(grid: int, size: int) -> torch.Tensor:
    """(grid * grid, size, size): how much each of a K x K grid's classifiers counts at each of a box's size x size
    positions. Bilinear interpolation between the centres of the grid's cells, each position's weights summing to
    1 (beyond the outer centres, the nearest cell's classifier): the grid's one-hot maps upsampled bilinearly."""
    basis = torch.eye(grid * grid).view(grid * grid, 1, grid, grid)
    return F.interpolate(basis, size=(size, size), mode="bilinear", align_corners=False)[:, 0]


def _frames_and_rois(objects: ObjectBoxes, chosen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the frames of the `chosen` objects, each once; their rois (B, 5) for RoIAlign, the frame given as its place
    among those frames)."""
    frames, place = torch.unique(objects.frames[chosen], return_inverse=True)
    return frames, torch.cat([place.float()[:, None], objects.boxes[chosen]], 1)


def box_hypercolumns(cache, objects: ObjectBoxes, *, batch_size: int = 64) -> torch.Tensor:
    """(B, C, size, size) float16: the hypercolumn of every position of every object's box: the cached levels 3-5
    of its frame upsampled bilinearly to level 3 and stacked (C = 40 + 112 + 320 on EfficientNet-Lite0), then cut
    by RoIAlign to the box's size x size grid. The encoder is frozen, so each object's are computed once."""
    size, finest = objects.figures.shape[-1], cache.features[LEVELS[-1]].shape[-2:]
    cuts = [torch.zeros(0, sum(cache.features[level].shape[1] for level in LEVELS), size, size, dtype=torch.half)]
    for chosen in torch.arange(len(objects)).split(batch_size):
        frames, rois = _frames_and_rois(objects, chosen)
        stacked = torch.cat([F.interpolate(cache.features[level][frames].float(), size=finest, mode="bilinear",
                                           align_corners=False) for level in LEVELS], 1)
        cuts.append(roi_align(stacked, rois, output_size=size, spatial_scale=finest[0] / cache.image_size[0],
                              sampling_ratio=2, aligned=True).half())
    return torch.cat(cuts)


class BoxClassifier(nn.Module):
    """Figure/ground logits inside boxes: per class of the objects (`kinds` of them), a grid x grid of linear
    classifiers of hypercolumns, interpolated to each position (`grid_weights`).

    hypercolumns (B, C, size, size), classes (B,) -> logits (B, size, size).
    """

    def __init__(self, channels: int, kinds: int, grid: int, *, size: int = 16):
        super().__init__()
        self.grid = grid
        self.weight = nn.Parameter(torch.zeros(kinds, grid * grid, channels))
        self.bias = nn.Parameter(torch.zeros(kinds, grid * grid))
        nn.init.normal_(self.weight, std=channels ** -0.5)
        self.register_buffer("weights", grid_weights(grid, size), persistent=False)

    def forward(self, hypercolumns: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        scores = torch.einsum("bchw,bgc->bghw", hypercolumns, self.weight[classes])  # every classifier of the grid
        scores = scores + self.bias[classes][:, :, None, None]
        return (scores * self.weights).sum(1)  # each position: its nearby classifiers, interpolated


def train_box_classifier(hypercolumns: torch.Tensor, objects: ObjectBoxes, grid: int, *, seed: int,
                         steps: int = 100, batch_size: int = 32, learning_rate: float = 3e-3,
                         weight_decay: float = 1e-4) -> BoxClassifier:
    """A `BoxClassifier` trained with AdamW and binary cross-entropy on the `box_hypercolumns` of `objects`,
    `steps` batches of objects drawn epoch by epoch in a seeded order. The defaults (and the 12 x 12 grid of
    `object_boxes`) were chosen on CamVid's training frames alone, the last 30% of the learner's 120 held out:
    100 to 400 steps, rates 1e-3 and 3e-3 and 12 or 16 positions all put the K = 5 grid 6 to 12 points ahead of
    K = 1; the fewest steps that reach that cost a notebook the least."""
    torch.manual_seed(seed)
    model = BoxClassifier(hypercolumns.shape[1], len(objects.kinds), grid, size=hypercolumns.shape[-1])
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)

    def batches():
        drawn = 0
        while drawn < steps:
            for chosen in torch.randperm(len(objects), generator=generator).split(batch_size)[:steps - drawn]:
                drawn += 1
                yield (hypercolumns[chosen].float(), objects.classes[chosen]), objects.figures[chosen].float()

    def objective(model, inputs, figures):
        return F.binary_cross_entropy_with_logits(model(*inputs), figures)

    return train_steps(model, optimizer, batches(), objective)


@torch.inference_mode()
def box_figures(model: BoxClassifier, hypercolumns: torch.Tensor, objects: ObjectBoxes) -> torch.Tensor:
    """(B, size, size) bool: each object's figure by a `BoxClassifier`: the positions of its box scored above 0."""
    return torch.cat([torch.zeros(0, *hypercolumns.shape[-2:], dtype=torch.bool)] + [
        model(chunk.float(), classes) > 0 for chunk, classes in zip(hypercolumns.split(64), objects.classes.split(64))])


@torch.inference_mode()
def pixel_figures(head: nn.Module, cache, objects: ObjectBoxes, *, batch_size: int = 64) -> torch.Tensor:
    """(B, size, size) bool: each object's figure by a whole-frame head ({level: features} -> (N, classes, h, w)
    logits, `segedu.lab.frozen.Head`): the positions of its box the head gives the object's class."""
    size, found = objects.figures.shape[-1], []
    for chosen in torch.arange(len(objects)).split(batch_size):
        frames, rois = _frames_and_rois(objects, chosen)
        logits = head({level: cache.features[level][frames].float() for level in head.levels})
        cut = roi_align(logits, rois, output_size=size, spatial_scale=logits.shape[-2] / cache.image_size[0],
                        sampling_ratio=2, aligned=True)
        found.append(cut.argmax(1) == torch.tensor(objects.kinds)[objects.classes[chosen]][:, None, None])
    return torch.cat(found) if found else torch.zeros(0, size, size, dtype=torch.bool)


def figure_iou(predicted: torch.Tensor, objects: ObjectBoxes) -> torch.Tensor:
    """(B,) each object's IoU of its predicted figure (B, size, size) with its true one."""
    true = objects.figures
    union = (predicted | true).flatten(1).sum(1)
    return ((predicted & true).flatten(1).sum(1) / union.clamp(min=1)).double()


def per_frame(ious: torch.Tensor, objects: ObjectBoxes, frames: int) -> torch.Tensor:
    """(frames, 2) per test frame: its objects' IoUs summed and their number; `mean_over_objects` of the rows
    a bootstrap draws is the mean IoU over those frames' objects (`segedu.lab.statistics.two_level_bootstrap`)."""
    counts = torch.zeros(frames, 2, dtype=torch.float64)
    counts[:, 0].index_add_(0, objects.frames, ious)
    counts[:, 1].index_add_(0, objects.frames, torch.ones_like(ious))
    return counts


def mean_over_objects(counts: torch.Tensor) -> torch.Tensor:
    """(R, 2) summed per-frame counts -> (R,) the mean IoU over the objects they hold."""
    return counts[..., 0] / counts[..., 1].clamp(min=1)
