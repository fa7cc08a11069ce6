"""U-Net's weight map (equation 2) as computed fast (`segedu.losses`: distances only within the cutoff R of each
cell, in integers) against a brute-force reference written out here: every pixel against every pixel of every
cell, exact Euclidean distances in float64, the equation as printed.

Tolerance: the map drops the border term where d1 + d2 > R = |sigma| sqrt(2 ln 1e6), where it is below 1e-6 w0, so
it may differ from equation 2 by up to 1e-6 w0 there; elsewhere it computes the same value in float32 (a few ulps
of weights up to ~20: below 1e-5). Hence |fast - exact| <= 1e-6 w0 + 1e-5, and against the reference with the same
cutoff applied only the float32 rounding is left (1e-5).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segedu import losses
from segedu.losses import BorderWeightedLoss, border_weight_map, connected_components

ROUNDING = 1e-5  # float32 rounding of weights up to ~20


def reference_maps(mask, *, foreground=1, w0=10.0, sigma=5.0, class_weights=None, ignore_index=255, cutoff=None):
    """Equation 2 by brute force, float64 -> (the exact map, the map with the border term dropped where
    d1 + d2 > cutoff)."""
    mask = mask.long()
    height, width = mask.shape
    valid = mask != ignore_index
    if class_weights is None:  # each class: the valid pixels / (its pixels * the classes present); absent classes 0
        classes = sorted(set(mask[valid].tolist()) | {foreground})
        counts = {k: int((mask[valid] == k).sum()) for k in classes}
        present = sum(1 for k in classes if counts[k] > 0)
        table = {k: (int(valid.sum()) / max(counts[k] * present, 1) if counts[k] else 0.0) for k in classes}
    else:
        table = {k: float(v) for k, v in enumerate(class_weights.tolist())}
    weights = torch.zeros(height, width, dtype=torch.float64)
    for (y, x), k in zip(torch.nonzero(valid).tolist(), mask[valid].tolist()):
        weights[y, x] = table[k]
    cells = connected_components(mask == foreground)
    count = int(cells.max())
    truncated = weights.clone()
    if count >= 2:
        pixels = torch.stack(torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij"), -1).view(-1, 2)
        distances = []
        for cell in range(1, count + 1):
            members = pixels[cells.flatten() == cell]
            best = torch.full((height * width,), 2 ** 62, dtype=torch.int64)
            for chunk in members.split(256):  # exact squared distances in integers, every pixel pair
                best = torch.minimum(best, ((pixels[:, None] - chunk[None]) ** 2).sum(-1).amin(1))
            distances.append(best.double().sqrt())
        nearest = torch.stack(distances).sort(0).values
        d1, d2 = nearest[0], nearest[1]
        term = w0 * torch.exp(-(d1 + d2) ** 2 / (2 * sigma ** 2))
        weights += term.view(height, width)
        if cutoff is not None:
            truncated += torch.where(d1 + d2 <= cutoff, term, 0.0).view(height, width)
    return torch.where(valid, weights, 0.0), torch.where(valid, truncated, 0.0)


def reference_map(mask, **options):
    return reference_maps(mask, **options)[0]


def assert_matches(mask, **options):
    """The fast map against the reference: exact up to the cutoff's bound, and equal to the truncated reference."""
    fast = border_weight_map(mask, **options).double()
    w0, sigma = options.get("w0", 10.0), options.get("sigma", 5.0)
    exact, truncated = reference_maps(mask, cutoff=losses._cutoff_radius(sigma), **options)
    assert fast.shape == mask.shape
    error = (fast - exact).abs().max().item()
    assert error <= 1e-6 * abs(w0) + ROUNDING, f"max |fast - exact| = {error}"
    assert (fast - truncated).abs().max().item() <= ROUNDING


def voronoi_cells(height, width, seeds, *, membrane=1, generator):
    """Cells (1) around random seeds, separated by membranes (0) `membrane` pixels wide, like ISBI's EM slices."""
    points = torch.rand(seeds, 2, generator=generator) * torch.tensor([height, width])
    grid = torch.stack(torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij"), -1).float()
    owner = ((grid[:, :, None] - points) ** 2).sum(-1).argmin(-1)  # (H, W): the nearest seed
    boundary = torch.zeros(height, width, dtype=torch.bool)  # a pixel whose right or lower 8-neighbours differ:
    boundary[:-1] |= owner[:-1] != owner[1:]  # no two 8-neighbours of different seeds both stay cells
    boundary[:, :-1] |= owner[:, :-1] != owner[:, 1:]
    boundary[:-1, :-1] |= owner[:-1, :-1] != owner[1:, 1:]
    boundary[:-1, 1:] |= owner[:-1, 1:] != owner[1:, :-1]
    if membrane > 1:
        boundary = F.max_pool2d(boundary[None, None].float(), membrane, 1, membrane // 2)[0, 0, :height, :width] > 0
    return (~boundary).long()


def brute_labels_partition(cells):
    """8-connected components by a breadth-first search over pixels (independent of both library labellers)."""
    height, width = cells.shape
    labels = [[0] * width for _ in range(height)]
    grid = cells.tolist()
    count = 0
    for y in range(height):
        for x in range(width):
            if grid[y][x] and not labels[y][x]:
                count += 1
                labels[y][x] = count
                stack = [(y, x)]
                while stack:
                    a, b = stack.pop()
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            v, u = a + dy, b + dx
                            if 0 <= v < height and 0 <= u < width and grid[v][u] and not labels[v][u]:
                                labels[v][u] = count
                                stack.append((v, u))
    return torch.tensor(labels)


def same_partition(first, second):
    pairs = torch.unique(torch.stack([first.flatten(), second.flatten()]), dim=1)
    return pairs.shape[1] == torch.unique(first).numel() == torch.unique(second).numel()


@pytest.mark.parametrize("size,seeds,membrane,seed", [(64, 12, 1, 0), (64, 30, 2, 1), (128, 40, 1, 2),
                                                      (128, 25, 3, 3)])
def test_voronoi_cells_match_the_brute_force_map(size, seeds, membrane, seed):
    generator = torch.Generator().manual_seed(seed)
    mask = voronoi_cells(size, size, seeds, membrane=membrane, generator=generator)
    assert int(connected_components(mask == 1).max()) >= 5  # many cells, most of them touching the tile's border
    assert_matches(mask)


@pytest.mark.parametrize("w0,sigma", [(10.0, 2.0), (5.0, 3.0), (10.0, 8.0), (1.0, 1.0), (10.0, -5.0)])
def test_other_w0_and_sigma(w0, sigma):
    generator = torch.Generator().manual_seed(int(10 * w0 + sigma))
    assert_matches(voronoi_cells(48, 56, 15, membrane=2, generator=generator), w0=w0, sigma=sigma)


def test_a_radius_beyond_the_image_stays_exact():
    # sigma 40: R = 210 > H + W, every pair of pixels within the cutoff, the distances past int16 (int32 path)
    generator = torch.Generator().manual_seed(5)
    mask = voronoi_cells(60, 45, 6, membrane=2, generator=generator)
    assert_matches(mask, sigma=40.0)


def test_ignored_pixels_classes_and_class_weights():
    generator = torch.Generator().manual_seed(7)
    mask = voronoi_cells(50, 64, 14, membrane=2, generator=generator)
    mask[torch.rand(mask.shape, generator=generator) < 0.1] = 255  # ignored pixels: weight 0, not cells
    mask[5:15, 40:60] = 255
    mask[30:34, :] = torch.where(mask[30:34, :] == 0, 2, mask[30:34, :])  # a third class
    assert_matches(mask)
    assert (border_weight_map(mask)[mask == 255] == 0).all()
    assert_matches(mask, class_weights=torch.tensor([1.0, 2.0, 0.5]))
    assert_matches(mask, foreground=2)  # cells of another class


def test_edge_cases():
    empty = torch.zeros(20, 30, dtype=torch.long)
    assert_matches(empty)  # no cell
    assert_matches(torch.full((8, 9), 255, dtype=torch.long))  # nothing valid
    assert_matches(torch.ones(12, 10, dtype=torch.long))  # one cell, the whole tile
    one = empty.clone()
    one[3:9, 4:20] = 1
    assert_matches(one)  # one cell: class balance only
    corners = empty.clone()
    corners[0, 0] = corners[0, -1] = corners[-1, 0] = corners[-1, -1] = 1  # single pixels in the four corners
    assert_matches(corners)
    diagonal = empty.clone()
    diagonal[4, 4] = diagonal[5, 5] = diagonal[5, 8] = 1  # diagonal neighbours are one cell (8-connected)
    assert_matches(diagonal)
    edges = empty.clone()
    edges[:, :3] = 1  # cells along the borders
    edges[:, -2:] = 1
    edges[0, 10:14] = 1
    edges[-1, 5:25] = 1
    assert_matches(edges)
    for shape in [(1, 40), (40, 1), (3, 70)]:
        line = (torch.arange(shape[0] * shape[1]).view(shape) % 7 < 3).long()
        assert_matches(line)


def test_random_blobs_with_touching_cells():
    generator = torch.Generator().manual_seed(11)
    for height, width, density in [(40, 64, 0.03), (64, 40, 0.08), (33, 71, 0.15)]:
        seeds = (torch.rand(height, width, generator=generator) < density).float()
        mask = (F.max_pool2d(seeds[None, None], 3, 1, 1)[0, 0] > 0).long()  # 3x3 blobs, some merged, some touching
        assert_matches(mask)


def test_the_batched_loss_weights_are_the_per_mask_maps():
    generator = torch.Generator().manual_seed(3)
    masks = torch.stack([voronoi_cells(64, 64, seeds, membrane=1 + seeds % 3, generator=generator)
                         for seeds in (3, 10, 20, 35)] + [torch.zeros(64, 64, dtype=torch.long)])
    masks[1, :10, :10] = 255
    masks[2, 0] = 1  # a cell along the first row: no run joins rows across two masks of the batch
    masks[3, -1] = 1
    weights = BorderWeightedLoss(w0=10.0, sigma=5.0).weights(masks)
    one_by_one = torch.stack([border_weight_map(mask) for mask in masks])
    assert weights.dtype == torch.float32 and torch.allclose(weights, one_by_one, rtol=0, atol=ROUNDING)
    for mask, weight in zip(masks[[0, 2, 4]], weights[[0, 2, 4]]):
        assert (weight.double() - reference_map(mask)).abs().max() <= 1e-5 + ROUNDING


def test_the_labelling_matches_connected_components():
    generator = torch.Generator().manual_seed(4)
    batch = torch.rand(6, 23, 37, generator=generator) < torch.tensor([0.2, 0.4, 0.55, 0.6, 0.7, 0.9]).view(6, 1, 1)
    batch[2, 0] = True  # a full first row under a full last row of the previous mask
    batch[1, -1] = True
    labels, runs = losses._label_cells(batch)
    assert int(labels.max()) == int(runs[3].max()) + 1
    seen = set()
    for cells, found in zip(batch, labels):
        expected = connected_components(cells)
        assert same_partition(found, expected) and same_partition(found, brute_labels_partition(cells))
        numbers = set(found[cells].tolist())
        assert not numbers & seen  # numbered across the batch: no number shared by two masks
        seen |= numbers


def test_a_wrong_border_term_is_caught(monkeypatch):
    """The check above fails on a map that uses d1 alone (d2 := d1): the reference comparison has teeth."""
    mask = voronoi_cells(40, 40, 10, membrane=1, generator=torch.Generator().manual_seed(9))
    nearest_two = losses._nearest_two_squared
    monkeypatch.setattr(losses, "_nearest_two_squared", lambda *args: (nearest_two(*args)[0],) * 2)
    with pytest.raises(AssertionError):
        assert_matches(mask)


def test_the_cutoff_bounds_the_dropped_term():
    for sigma in (1.0, 5.0, 12.5):
        radius = losses._cutoff_radius(sigma)
        assert math.isclose(math.exp(-radius ** 2 / (2 * sigma ** 2)), 1e-6, rel_tol=1e-9)
