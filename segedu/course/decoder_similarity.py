"""Example-specific against class-specific: how alike two objects' maps are inside DeconvNet's decoder, after each
unpooling and after the deconvolutions that follow it (notebook 08).

Noh et al. (2015, Sec. 3.2.3 and Fig. 4) describe the trained decoder this way: unpooling puts each activation back
where *this* image's maximum was, so its sparse map traces the example's own structure; the deconvolution layers
after it fill the map with shapes learned across the training set, so their output is *class*-specific. Measured
here on objects (connected regions of one class in the labels, from different frames):

    descriptor(object, map) = the map cropped on the object's bounding box, resized to grid x grid, every channel
    class specificity(map) = mean cosine similarity of two objects of one class
                             - mean cosine similarity of two objects of different classes

"Class-specific" predicts a higher class specificity after the deconvolutions than after the unpooling before
them, stage by stage. The interval resamples the frames (the objects of one frame go together); one trained network
is measured, so there are no seeds to resample: this is a property of the shipped network, not of its training.
Where we depart from the paper: it shows the maps (Fig. 4) and measures nothing.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import connected_components

__all__ = ["DecoderObjects", "decoder_objects", "class_specificity", "specificity_gain"]


@dataclasses.dataclass
class DecoderObjects:
    """descriptors[(kind, stage)]: (K, C * grid * grid), kind "unpooled" or "dense"; classes, frames: (K,)."""

    descriptors: dict[tuple[str, int], torch.Tensor]
    classes: torch.Tensor
    frames: torch.Tensor
    stages: int


def _boxes(mask: torch.Tensor, classes: list[int], min_area: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """[(class, (top, bottom, left, right))] of the connected regions of `classes` in (H, W) `mask` whose bounding
    box covers at least `min_area` pixels. The regions are found at half resolution (a box is off by a pixel at
    most), every class in one pass."""
    coarse = mask[::2, ::2]
    components = connected_components(torch.stack([coarse == label for label in classes]))
    found = []
    for label, labelled in zip(classes, components):
        for number in range(1, int(labelled.max()) + 1):
            rows, columns = torch.nonzero(labelled == number, as_tuple=True)
            top, bottom, left, right = (2 * int(rows.min()), 2 * int(rows.max()) + 2, 2 * int(columns.min()),
                                        2 * int(columns.max()) + 2)
            if (bottom - top) * (right - left) >= min_area:
                found.append((label, (top, bottom, left, right)))
    return found


def _crop(feature_map: torch.Tensor, box: tuple[int, int, int, int], image_size: tuple[int, int],
          grid: int) -> torch.Tensor:
    """(C, h, w) map, a box in image pixels -> (C * grid * grid,): the map under the box, resized."""
    height, width = feature_map.shape[-2:]
    top, bottom, left, right = box
    y0, x0 = top * height // image_size[0], left * width // image_size[1]
    y1 = max(y0 + 1, -(-bottom * height // image_size[0]))
    x1 = max(x0 + 1, -(-right * width // image_size[1]))
    crop = feature_map[None, :, y0:y1, x0:x1]
    return F.interpolate(crop, size=(grid, grid), mode="bilinear", align_corners=False).flatten()


@torch.no_grad()
def decoder_objects(model: nn.Module, samples, classes: list[int], *, min_area: int = 600,
                    grid: int = 4) -> DecoderObjects:
    """The descriptors of every object of `classes` in `samples` ([(image (3, H, W), mask (H, W))]) after each
    unpooling ("unpooled": the input of a decoder stage) and after its deconvolutions ("dense": its output) of a
    DeconvNet or SegNet (`model.decoder.unpooling.stages`)."""
    stages = model.decoder.unpooling.stages
    descriptors: dict[tuple[str, int], list[torch.Tensor]] = {}
    labels, frames = [], []
    model.eval()
    for frame, (image, mask) in enumerate(samples):
        objects = _boxes(mask, classes, min_area)
        if not objects:
            continue
        captured = {}
        hooks = []
        for index, stage in enumerate(stages):
            hooks.append(stage.register_forward_pre_hook(
                lambda module, inputs, i=index: captured.__setitem__(("unpooled", i), inputs[0][0])))
            hooks.append(stage.register_forward_hook(
                lambda module, inputs, output, i=index: captured.__setitem__(("dense", i), output[0])))
        try:
            model(image[None])
        finally:
            for hook in hooks:
                hook.remove()
        for label, box in objects:
            for key, feature_map in captured.items():
                descriptors.setdefault(key, []).append(_crop(feature_map, box, tuple(mask.shape), grid))
            labels.append(label)
            frames.append(frame)
    return DecoderObjects({key: torch.stack(found) for key, found in descriptors.items()},
                          torch.tensor(labels, dtype=torch.long), torch.tensor(frames, dtype=torch.long), len(stages))


def class_specificity(descriptors: torch.Tensor, classes: torch.Tensor, frames: torch.Tensor) -> float:
    """Mean cosine similarity of two objects of one class minus that of two objects of different classes, over the
    pairs of objects from different frames. descriptors (K, D), classes and frames (K,). NaN without both kinds."""
    unit = F.normalize(descriptors.float(), dim=1)
    similarity = unit @ unit.T
    apart = frames[:, None] != frames[None]
    same = (classes[:, None] == classes[None]) & apart
    different = (classes[:, None] != classes[None]) & apart
    if not same.any() or not different.any():
        return float("nan")
    return float(similarity[same].mean() - similarity[different].mean())


def specificity_gain(objects: DecoderObjects, stage: int, *, resamples: int = 500, seed: int = 0,
                     confidence: float = 0.95) -> tuple[float, float, float, float, float]:
    """(after unpooling, after the deconvolutions, their difference, its interval's low and high end) of stage
    `stage`'s class specificity; the interval resamples the frames with replacement (a frame drawn twice counts twice,
    and its copies are never paired with each other: an object and its copy are the same object)."""
    unpooled, dense = objects.descriptors["unpooled", stage], objects.descriptors["dense", stage]

    def gain(index: torch.Tensor, frames: torch.Tensor) -> float:
        return (class_specificity(dense[index], objects.classes[index], frames)
                - class_specificity(unpooled[index], objects.classes[index], frames))

    everything = torch.arange(len(objects.classes))
    difference = gain(everything, objects.frames)
    members = [torch.nonzero(objects.frames == name).flatten() for name in objects.frames.unique()]
    generator = torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(resamples):
        picked = torch.randint(len(members), (len(members),), generator=generator).tolist()
        index = torch.cat([members[frame] for frame in picked])
        value = gain(index, objects.frames[index])
        if value == value:  # NaN: the draw lacks a pair of one kind
            draws.append(value)
    tail = (1 - confidence) / 2
    low, high = torch.tensor(draws).quantile(torch.tensor([tail, 1 - tail])).tolist()
    return (class_specificity(unpooled, objects.classes, objects.frames),
            class_specificity(dense, objects.classes, objects.frames), difference, low, high)
