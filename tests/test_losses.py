"""U-Net's weight map: components, the formula at a pixel computed by hand, and the weighted loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segedu.losses import border_weight_map, connected_components, weighted_cross_entropy


def two_cells(gap: int = 2) -> torch.Tensor:
    """Background 0; two cells (class 1): columns 2..7 and 8+gap..13+gap, rows 3..10."""
    mask = torch.zeros(14, 16 + gap, dtype=torch.long)
    mask[3:11, 2:8] = 1
    mask[3:11, 8 + gap: 14 + gap] = 1
    return mask


def test_connected_components_counts_cells():
    mask = two_cells()
    mask[0, 0] = 1  # a third, one-pixel cell
    labels = connected_components(mask == 1)
    assert labels.max() == 3 and labels[0, 0] != labels[5, 3] != labels[5, 12]
    assert (labels[mask == 0] == 0).all()


def test_weight_at_a_gap_pixel_follows_equation_2():
    mask = two_cells(gap=2)
    class_weights = torch.tensor([1.0, 1.0])
    weights = border_weight_map(mask, class_weights=class_weights, w0=10.0, sigma=5.0)
    # pixel (5, 8): the left cell ends at column 7 (d1 = 1), the right one starts at column 10 (d2 = 2)
    assert math.isclose(weights[5, 8].item(), 1 + 10 * math.exp(-(1 + 2) ** 2 / 50), rel_tol=1e-5)
    assert weights[5, 8] > weights[0, 17] + 3  # gaps between cells weigh far more than open background


def test_weighted_cross_entropy_is_the_weighted_mean():
    torch.manual_seed(0)
    logits, masks, weights = torch.randn(2, 3, 5, 6), torch.randint(0, 3, (2, 5, 6)), torch.rand(2, 5, 6)
    per_pixel = F.cross_entropy(logits, masks, reduction="none")
    expected = (per_pixel * weights).sum() / weights.sum()
    assert torch.allclose(weighted_cross_entropy(logits, masks, weights), expected)
    assert torch.allclose(weighted_cross_entropy(logits, masks, torch.ones_like(weights)), per_pixel.mean())
    unlabelled = masks.clone()
    unlabelled[0, :2] = 255  # two rows without a label: out of both sums, as PyTorch's class-weighted mean does
    labelled = unlabelled != 255
    expected = (per_pixel * weights)[labelled].sum() / weights[labelled].sum()
    assert torch.allclose(weighted_cross_entropy(logits, unlabelled, weights), expected)
    assert torch.allclose(weighted_cross_entropy(logits, unlabelled, torch.ones_like(weights)),
                          F.cross_entropy(logits, unlabelled, ignore_index=255))


def test_a_batch_of_maps_is_labelled_as_each_map_alone_and_agrees_with_scikit_image():
    """connected_components on (N, H, W): each map's components numbered 1..C_n on their own, equal to labelling the
    maps one at a time and, up to the numbering, to scikit-image's `label` (8- and 4-connectivity)."""
    from skimage.measure import label

    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(4, 20, 24, generator=generator) > 0.55
    maps[2] = False  # a map with no foreground
    for connectivity in (8, 4):
        batched = connected_components(maps, connectivity=connectivity)
        assert batched.shape == maps.shape and batched[2].eq(0).all()
        for index in range(len(maps)):
            alone = connected_components(maps[index], connectivity=connectivity)
            assert torch.equal(batched[index], alone)
            theirs = torch.from_numpy(label(maps[index].numpy(), connectivity=2 if connectivity == 8 else 1))
            pairs = torch.stack([alone.flatten(), theirs.flatten()]).unique(dim=1)  # a one-to-one renaming
            assert pairs.shape[1] == int(theirs.max()) + 1 == int(alone.max()) + 1
    with pytest.raises(ValueError, match="an \\(H, W\\) map or a batch"):
        connected_components(maps[None])
