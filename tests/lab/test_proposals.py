"""DeconvNet's windows (`segedu.lab.proposals`): object boxes, the window around a box, the IoU (against
torchvision's), the oracle's misaligned proposals and the crops, and how the misalignment claim pools crops into
their frames."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou as torchvision_box_iou

from segedu.lab.proposals import box_iou, cut_windows, object_boxes, proposal_box, proposal_windows, window_around


def frame_with_objects() -> torch.Tensor:
    mask = torch.zeros(96, 128, dtype=torch.long)
    mask[60:76, 90:110] = 8  # a 16x20 car
    mask[20:50, 10:14] = 2  # a 30x4 pole
    mask[5:7, 5:7] = 9  # a 4-pixel pedestrian: below the minimum
    return mask


def test_object_boxes_are_the_regions_bounding_boxes_above_the_minimum():
    assert object_boxes(frame_with_objects(), minimum_pixels=64) == [(20, 10, 30, 4), (60, 90, 16, 20)]
    assert len(object_boxes(frame_with_objects(), minimum_pixels=4)) == 3  # the pedestrian too


def test_the_window_is_centred_on_the_box_at_the_frames_aspect_ratio_and_inside_it():
    # 1.5 x 16 = 24 = 96 / 4 high, 32 wide, centred on the car's centre (68, 100)
    assert window_around((60, 90, 16, 20), (96, 128)) == (56, 84, 24, 32)
    # a box at the corner: the window moves inside the frame
    assert window_around((0, 120, 10, 8), (96, 128)) == (0, 96, 24, 32)


def test_box_iou_is_torchvisions():
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        first, second = (tuple(int(v) for v in torch.randint(1, 40, (4,), generator=generator)) for _ in range(2))
        as_corners = torch.tensor([[b[1], b[0], b[1] + b[3], b[0] + b[2]] for b in (first, second)], dtype=torch.float)
        assert box_iou(first, second) == pytest.approx(torchvision_box_iou(as_corners[:1], as_corners[1:]).item())


def test_proposals_overlap_their_box_enough_yet_are_misaligned():
    generator = torch.Generator().manual_seed(0)
    box, frame = (60, 90, 16, 20), (96, 128)
    proposals = [proposal_box(box, frame, generator) for _ in range(200)]
    overlaps = torch.tensor([box_iou(proposal, box) for proposal in proposals])
    assert overlaps.min() >= 0.5  # the paper's selection
    assert overlaps.mean() < 0.8 and len(set(proposals)) > 150  # most are off-centre or rescaled, most distinct
    assert all(top >= 0 and left >= 0 and top + height <= 96 and left + width <= 128 and height > 0 and width > 0
               for top, left, height, width in proposals)
    again = torch.Generator().manual_seed(0)
    assert [proposal_box(box, frame, again) for _ in range(200)] == proposals  # its own generator decides
    with pytest.raises(RuntimeError, match="IoU >= 1.01"):
        proposal_box(box, frame, generator, minimum_iou=1.01, tries=20)


def test_proposal_windows_are_misaligned_views_of_each_objects_centred_window():
    mask = frame_with_objects()
    windows = proposal_windows(mask, torch.Generator().manual_seed(1), per_object=3)
    assert len(windows) == 6
    centred = [window_around(box, (96, 128)) for box in object_boxes(mask) for _ in range(3)]
    overlaps = [box_iou(window, around) for window, around in zip(windows, centred)]
    assert min(overlaps) >= 0.5 and max(overlaps) < 1  # each overlaps its own object's window enough, none equals it


def test_cut_windows_resize_each_window_and_keep_labels_whole():
    image = torch.arange(96 * 128, dtype=torch.float).reshape(1, 96, 128).expand(3, -1, -1) / (96 * 128)
    mask = frame_with_objects()
    mask[56:60, 84:90] = 255  # void
    images, masks = cut_windows(image, mask, [(56, 84, 24, 32), (0, 0, 96, 128)], (48, 64))
    assert images.shape == (2, 3, 48, 64) and masks.shape == (2, 48, 64) and masks.dtype == torch.long
    assert torch.equal(masks[0], mask[56:80, 84:116].repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert (masks[0] == 255).sum() == 4 * 4 * 6  # void stays void, scaled by 2 each way
    assert set(masks[1].unique().tolist()) <= {0, 2, 8, 9, 255}  # nearest: no class invented between two
    assert torch.allclose(images[1], F.interpolate(image[None], size=(48, 64), mode="bilinear",
                                                   align_corners=False)[0])  # the whole frame, resized
    empty_images, empty_masks = cut_windows(image, mask, [], (48, 64))
    assert empty_images.shape == (0, 3, 48, 64) and empty_masks.shape == (0, 48, 64)


def test_crops_counts_are_summed_into_the_frames_they_were_cut_from():
    from segedu.lab.claims.deconvnet_proposals import per_frame
    from segedu.lab.scoring import Scores

    confusions = torch.arange(4 * 2 * 2).reshape(4, 2, 2)
    band = torch.arange(4 * 2).reshape(4, 2)
    pooled = per_frame(Scores(confusions, band), torch.tensor([2, 0, 2, 2]), 4)
    assert pooled.confusions.shape == (4, 2, 2) and pooled.band.shape == (4, 2)
    assert torch.equal(pooled.confusions[0], confusions[1]) and pooled.confusions[1].sum() == 0
    assert torch.equal(pooled.confusions[2], confusions[0] + confusions[2] + confusions[3])
    assert torch.equal(pooled.band[2], band[0] + band[2] + band[3]) and pooled.band[3].sum() == 0
