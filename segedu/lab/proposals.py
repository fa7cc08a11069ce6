"""Object windows for DeconvNet's two training stages: centred on each object, or around a misaligned proposal.

DeconvNet (Noh et al. 2015, section 4.2) trains in two stages. The first cuts an easy example around each
ground-truth object, centred on it. The second cuts harder ones around object proposals (edge boxes) that overlap a
ground-truth object by IoU >= 0.5: the object is off-centre, larger or smaller, partly cut, as it will be at test
time, when the network sees proposals, not the truth (section 5.1). CamVid comes without boxes or proposals, so:

    object_boxes      the bounding box of every 8-connected region of a countable class (`CAMVID_THINGS`)
    window_around     a box's window: the box enlarged by `margin` (at least a quarter of the frame's height), at
                      the frame's aspect ratio, moved inside the frame; the paper enlarges its boxes 1.2x
    proposal_box      a box shifted and rescaled at random until its IoU with the given one is at least
                      `minimum_iou` (0.5, the paper's selection), as edge boxes that pass it would be
    proposal_windows  an oracle's proposals: each object's window (what the first stage cuts) moved by
                      `proposal_box`, so the crop the network sees overlaps the centred one by IoU >= 0.5
    cut_windows       the windows cut out of a frame and resized to the network's input (bilinear image, nearest mask)

A window is (top, left, height, width) in the frame's pixels; a box too. The paper selects its proposals by their
overlap with the object; here the overlap is the windows', so a small object (whose window is at least a quarter of
the frame high) is misaligned as much, in what the network sees, as a large one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.classes import CAMVID_THINGS
from ..losses import connected_components

__all__ = ["object_boxes", "window_around", "box_iou", "proposal_box", "proposal_windows", "cut_windows"]

Box = tuple[int, int, int, int]  # (top, left, height, width)


def object_boxes(mask: torch.Tensor, *, classes: tuple[int, ...] = CAMVID_THINGS,
                 minimum_pixels: int = 64) -> list[Box]:
    """The bounding box of every 8-connected region of a class in `classes` with at least `minimum_pixels` pixels of
    one (H, W) mask, class by class."""
    boxes = []
    for label in classes:
        regions = connected_components(mask == label)
        for region in range(1, int(regions.max()) + 1):
            rows, columns = (regions == region).nonzero(as_tuple=True)
            if len(rows) >= minimum_pixels:
                top, left = int(rows.min()), int(columns.min())
                boxes.append((top, left, int(rows.max()) + 1 - top, int(columns.max()) + 1 - left))
    return boxes


def window_around(box: Box, frame: tuple[int, int], *, margin: float = 1.5) -> Box:
    """The window centred on `box`: its larger side (at the frame's aspect ratio) times `margin`, at least a quarter
    of the frame's height, moved inside the (H, W) `frame`."""
    height, width = frame
    top, left, box_height, box_width = box
    centre_y, centre_x = top + box_height / 2, left + box_width / 2
    side = max(margin * box_height, margin * box_width * height / width, height / 4)
    crop_height, crop_width = min(round(side), height), min(round(side * width / height), width)
    return (min(max(round(centre_y - crop_height / 2), 0), height - crop_height),
            min(max(round(centre_x - crop_width / 2), 0), width - crop_width), crop_height, crop_width)


def box_iou(first: Box, second: Box) -> float:
    """Intersection over union of two boxes' areas."""
    rows = min(first[0] + first[2], second[0] + second[2]) - max(first[0], second[0])
    columns = min(first[1] + first[3], second[1] + second[3]) - max(first[1], second[1])
    overlap = max(rows, 0) * max(columns, 0)
    return overlap / (first[2] * first[3] + second[2] * second[3] - overlap)


def proposal_box(box: Box, frame: tuple[int, int], generator: torch.Generator, *, minimum_iou: float = 0.5,
                 shift: float = 0.5, scale: float = 2.0, tries: int = 1000) -> Box:
    """A box drawn around `box` whose IoU with it is at least `minimum_iou`: each side rescaled by a factor drawn
    log-uniformly in [1/scale, scale], the centre moved by up to `shift` of the box's side in each direction
    (uniformly), clipped to the (H, W) `frame`; drawn again until it overlaps enough. Raises after `tries` draws."""
    height, width = frame
    top, left, box_height, box_width = box
    for _ in range(tries):
        factors = torch.empty(4).uniform_(-1, 1, generator=generator)
        new_height = box_height * math.exp(factors[0].item() * math.log(scale))
        new_width = box_width * math.exp(factors[1].item() * math.log(scale))
        centre_y = top + box_height / 2 + factors[2].item() * shift * box_height
        centre_x = left + box_width / 2 + factors[3].item() * shift * box_width
        new_top = min(max(round(centre_y - new_height / 2), 0), height - 1)
        new_left = min(max(round(centre_x - new_width / 2), 0), width - 1)
        bottom = min(max(round(centre_y + new_height / 2), new_top + 1), height)
        right = min(max(round(centre_x + new_width / 2), new_left + 1), width)
        proposal = (new_top, new_left, bottom - new_top, right - new_left)
        if box_iou(proposal, box) >= minimum_iou:
            return proposal
    raise RuntimeError(f"proposal_box: no box overlapping {box} by IoU >= {minimum_iou} in {tries} draws")


def proposal_windows(mask: torch.Tensor, generator: torch.Generator, *, per_object: int = 1,
                     classes: tuple[int, ...] = CAMVID_THINGS, minimum_pixels: int = 64, minimum_iou: float = 0.5,
                     margin: float = 1.5) -> list[Box]:
    """DeconvNet's harder examples on one (H, W) mask: `per_object` proposals for each of `object_boxes`, each
    its centred window (`window_around`) moved and rescaled by `proposal_box` until they overlap by IoU >=
    `minimum_iou`."""
    frame = tuple(mask.shape[-2:])
    return [proposal_box(window_around(box, frame, margin=margin), frame, generator, minimum_iou=minimum_iou)
            for box in object_boxes(mask, classes=classes, minimum_pixels=minimum_pixels) for _ in range(per_object)]


def cut_windows(image: torch.Tensor, mask: torch.Tensor, windows: list[Box],
                size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, H, W) image, (H, W) mask, N windows -> (N, 3, *size) images (bilinear), (N, *size) masks (nearest)."""
    images, masks = [], []
    for top, left, height, width in windows:
        images.append(F.interpolate(image[None, :, top:top + height, left:left + width], size=size, mode="bilinear",
                                    align_corners=False)[0])
        masks.append(F.interpolate(mask[None, None, top:top + height, left:left + width].float(), size=size,
                                   mode="nearest")[0, 0].long())
    if not windows:
        return image.new_zeros(0, image.shape[0], *size), torch.zeros(0, *size, dtype=torch.long)
    return torch.stack(images), torch.stack(masks)
