"""U-Net's weighted loss (Ronneberger et al. 2015, section 3, equation 2 and figure 3).

Touching cells are separated by membranes a few pixels wide; an unweighted loss hardly notices if a
network merges two cells. U-Net weights every pixel's cross-entropy by

    w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

where w_c balances the class frequencies, d1 and d2 are the distances to the nearest and the second
nearest cell, and the paper sets w0 = 10, sigma = 5 pixels: thin gaps between two cells weigh up to 11x.
Cells are the (8-connected) connected components of the foreground class; distances are Euclidean. The border
term is computed exactly where d1 + d2 <= R = 5.26 sigma and dropped beyond, where it is below 1e-6 w0: only pixels
within R of a cell need their distance to it, so a batch of 256x256 ISBI tiles takes milliseconds (see
`border_weight_map`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from .language import tr

__all__ = ["connected_components", "border_weight_map", "weighted_cross_entropy", "BorderWeightedLoss"]


def connected_components(foreground: torch.Tensor, *, connectivity: int = 8) -> torch.Tensor:
    """Label the connected components of a boolean (H, W) map: (H, W) int64, 0 for background, 1..C for the components.
    A batch (N, H, W) is labelled in one pass, each map's components numbered 1..C_n on their own.

    `connectivity` 8 joins a pixel to all eight neighbours (diagonals too); 4 only to the pixels above, below, left and
    right, so two cells touching at a corner stay two (as the ISBI 2012 challenge labels cells).
    """
    if connectivity not in (4, 8):
        raise ValueError(tr("connectivity must be 4 or 8 (neighbours of a pixel), got {connectivity!r}",
                            connectivity=connectivity))
    if foreground.dim() not in (2, 3):
        raise ValueError(tr("connected_components takes an (H, W) map or a batch (N, H, W), got shape "
                            "{foreground_shape}", foreground_shape=tuple(foreground.shape)))
    maps = foreground if foreground.dim() == 3 else foreground[None]
    count, height, width = maps.shape
    numbers = torch.arange(1, count * height * width + 1).view(count, height, width)  # each pixel's own number
    labels = torch.where(maps, numbers, 0)
    zero = torch.zeros(1, dtype=labels.dtype)
    while True:  # every pixel takes its neighbourhood's largest label until nothing changes
        grown = torch.where(maps, _neighbourhood_max(labels, connectivity), 0)
        # A label is the number of a pixel of the same component; taking that pixel's label as well (pointer
        # jumping; background's 0 points at 0) carries the largest label along a long, winding component in far
        # fewer rounds.
        grown = torch.maximum(grown, torch.cat([zero, grown.flatten()])[grown])
        if torch.equal(grown, labels):
            break
        labels = grown
    renumbered = torch.zeros(maps.shape, dtype=torch.int64)
    for index in range(count):  # each map's components 1..C, in the order of their labels
        if maps[index].any():
            values, inverse = torch.unique(labels[index], return_inverse=True)
            renumbered[index] = inverse + int(values[0] > 0)  # background is 0 when present
    return renumbered if foreground.dim() == 3 else renumbered[0]


def _neighbourhood_max(labels: torch.Tensor, connectivity: int) -> torch.Tensor:
    """(N, H, W) -> (N, H, W): each pixel's largest value over itself and its 8 (a 3x3 square) or 4 (a cross)
    neighbours, by shifted maxima (integer labels, no pooling)."""
    vertical = _largest_of_three(labels, 1)  # the pixel, the one above and the one below
    if connectivity == 8:
        return _largest_of_three(vertical, 2)
    return torch.maximum(vertical, _largest_of_three(labels, 2))  # or the pixel and its left and right neighbours


def _largest_of_three(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Each entry's largest value over itself and its two neighbours along `dim` (one at either end)."""
    largest, length = values.clone(), values.shape[dim]
    if length > 1:
        before, after = values.narrow(dim, 0, length - 1), values.narrow(dim, 1, length - 1)
        largest.narrow(dim, 1, length - 1).copy_(torch.maximum(largest.narrow(dim, 1, length - 1), before))
        largest.narrow(dim, 0, length - 1).copy_(torch.maximum(largest.narrow(dim, 0, length - 1), after))
    return largest


def border_weight_map(mask: torch.Tensor, *, foreground: int = 1, w0: float = 10.0, sigma: float = 5.0,
                      class_weights: torch.Tensor | None = None, ignore_index: int = 255) -> torch.Tensor:
    """U-Net's pixel weights for one mask (H, W) of class indices -> (H, W) float32.

    `class_weights` (K,) is w_c; by default each class weighs the inverse of its pixel share, scaled so the mean
    weight over the image is 1. Ignored pixels get weight 0. Cells are the 8-connected components of `foreground`.

    The border term is computed exactly (squared distances in integers) wherever d1 + d2 <= R, with the cutoff
    R = |sigma| sqrt(2 ln 1e6) (5.26 sigma, 26.3 pixels for sigma = 5), and set to 0 beyond it, where it is below
    1e-6 w0 (1e-5 for w0 = 10): the map differs from equation 2 by less than 1e-6 w0 at any pixel (plus float32
    rounding). That is what makes it cheap: only pixels within R of a cell need their distance to it.
    """
    return _weight_maps(mask[None], foreground=foreground, w0=w0, sigma=sigma, class_weights=class_weights,
                        ignore_index=ignore_index)[0]


_NEGLIGIBLE = 1e-6  # the border term is dropped (set to 0) where it is below this fraction of w0


def _cutoff_radius(sigma: float) -> float:
    """R with exp(-R^2 / (2 sigma^2)) = _NEGLIGIBLE: beyond d1 + d2 = R the border term is below _NEGLIGIBLE w0."""
    return abs(sigma) * math.sqrt(2 * math.log(1 / _NEGLIGIBLE))


def _weight_maps(masks: torch.Tensor, *, foreground: int, w0: float, sigma: float,
                 class_weights: torch.Tensor | None, ignore_index: int) -> torch.Tensor:
    """`border_weight_map` of each mask of a batch (N, H, W) -> (N, H, W) float32, all the masks at once."""
    if masks.numel() == 0:
        return torch.zeros(masks.shape, dtype=torch.float32, device=masks.device)
    count = masks.shape[0]
    valid = masks != ignore_index
    # each mask's classes capped at max(its largest valid class, foreground), so that its ignored pixels index w_c
    caps = torch.where(valid, masks, 0).flatten(1).amax(1).clamp_min(foreground)
    labels = torch.minimum(masks, caps.view(count, 1, 1))
    if class_weights is None:  # per mask: the pixels / (pixels of the class * classes present), 0 for absent classes
        size = int(caps.max()) + 1
        index = (torch.arange(count, device=masks.device) * size).view(count, 1, 1) + labels
        counts = torch.bincount(index.flatten(), weights=valid.flatten().float(), minlength=count * size)
        counts = counts.float().view(count, size)
        balance = torch.where(counts > 0, valid.flatten(1).sum(1, keepdim=True)
                              / (counts * (counts > 0).sum(1, keepdim=True)).clamp_min(1), 0.0)
        weights = balance.flatten().index_select(0, index.flatten()).view(masks.shape)
    else:
        weights = class_weights[labels].float()
    return torch.where(valid, weights + _border_terms(masks == foreground, w0=w0, sigma=sigma), 0.0)


def _border_terms(cells: torch.Tensor, *, w0: float, sigma: float) -> torch.Tensor:
    """w0 exp(-(d1 + d2)^2 / (2 sigma^2)) where d1 + d2 <= R (`_cutoff_radius`), else 0, for a batch of boolean cell
    maps (N, H, W) -> (N, H, W) float32; 0 everywhere in an image with fewer than two cells (d2 undefined)."""
    terms = torch.zeros(cells.shape, dtype=torch.float32, device=cells.device)
    if w0 == 0 or sigma == 0 or cells.numel() == 0:
        return terms
    radius = _cutoff_radius(sigma)
    labels, runs = _label_cells(cells.cpu())
    if runs is None:
        return terms
    nearest, second = _nearest_two_squared(labels, runs, radius)  # exact where <= radius^2
    total = nearest.float().sqrt_() + second.float().sqrt_()  # d1 + d2
    terms = (total <= radius) * (w0 * torch.exp(total.square_().mul_(-1 / (2 * sigma ** 2))))
    return terms.to(cells.device)


def _label_cells(cells: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """The 8-connected components of a batch of boolean maps (N, H, W), as `connected_components` draws them, but
    numbered 1..C across the whole batch (0 background) -> (labels (N, H, W) int32, runs).

    Works on runs (maximal horizontal segments of cell pixels): two runs on consecutive rows of one image touch when
    one's columns [s, e] meet the other's [s - 1, e + 1]; the runs are then joined by union-find (hooking each root
    under the smaller one, then pointer jumping), a few vectorized rounds. `runs` is (global row n * H + y, first
    column, last column, cell index 0..C-1) for each run, or None when there is no cell at all.
    """
    count, height, width = cells.shape
    rows = cells.reshape(count * height, width)
    left = torch.zeros_like(rows)
    left[:, 1:] = rows[:, :-1]
    right = torch.zeros_like(rows)
    right[:, :-1] = rows[:, 1:]
    begins = (rows & ~left).flatten()
    starts = torch.nonzero(begins).squeeze(1)  # flat index of each run's first pixel, in raster order
    if starts.numel() == 0:
        return torch.zeros(cells.shape, dtype=torch.int32), None
    ends = torch.nonzero((rows & ~right).flatten()).squeeze(1)
    row = starts // width
    first, last = starts - row * width, ends - row * width
    span = width + 2  # sortable keys of (row, column) with column in -1..width
    above = row - 1
    low = torch.searchsorted(row * span + last + 1, above * span + first)  # first run above ending at >= s - 1
    high = torch.searchsorted(row * span + first + 1, above * span + last + 2, right=True)  # ... starting <= e + 1
    touching = torch.where(row % height == 0, 0, (high - low).clamp_min(0))  # an image's first row touches nothing
    run = torch.repeat_interleave(torch.arange(starts.numel()), touching)
    offsets = torch.cumsum(touching, 0) - touching
    other = torch.repeat_interleave(low - offsets, touching) + torch.arange(run.numel())
    parent = torch.arange(starts.numel())
    while True:
        a, b = parent[run], parent[other]
        hooked = parent.scatter_reduce(0, torch.maximum(a, b), torch.minimum(a, b), "amin")
        while True:
            jumped = hooked[hooked]
            if torch.equal(jumped, hooked):
                break
            hooked = jumped
        if torch.equal(hooked, parent):
            break
        parent = hooked
    cell = torch.unique(parent, return_inverse=True)[1]
    run_of_pixel = torch.cumsum(begins, 0, dtype=torch.int32).mul_(rows.flatten())  # 1.. on cells, 0 elsewhere
    labels = torch.cat([torch.zeros(1, dtype=torch.int32), (cell + 1).to(torch.int32)]).index_select(0, run_of_pixel)
    return labels.view(cells.shape), (row, first, last, cell)


def _width_bucket(widths: torch.Tensor) -> torch.Tensor:
    """Round box widths up (multiples of 8 up to 64, then of 1/8 of the power of two below) so that few groups of
    equal widths remain, each processed as one array."""
    power = torch.floor(torch.log2((widths - 1).clamp_min(1).double())).long()
    step = torch.where(widths > 64, torch.pow(2, power) // 8, 8)
    return (widths + step - 1) // step * step


def _nearest_two_squared(labels: torch.Tensor, runs: tuple[torch.Tensor, ...],
                         radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances to the nearest and the second nearest cell: labels (N, H, W) 1..C -> two (N, H, W) integer
    tensors, exact where <= radius^2, and > radius^2 (some value) where the true one is.

    Each cell's squared distance map is computed only in its bounding box dilated by r = floor(radius) (clipped to
    the image), by the separable exact transform: down the columns g = the distance to the cell's nearest pixel in
    the column, capped at r + 1 (min-plus steps of 1, 2, 4... rows, costing 1, 2, 4...), then along the rows
    D^2(x) = min over |dx| <= r of dx^2 + g(x + dx)^2 (r min-plus steps of one column, step k costing 2k - 1, which
    add up to dx^2 over |dx| steps). Boxes of one (bucketed) width are stacked for the column steps, and all boxes
    are laid end to end, row after row, for the row steps, so each step is one operation on every box at once;
    each box then updates the running (d1^2, d2^2) of its image.
    """
    count, height, width = labels.shape
    r = min(int(radius), height + width)  # no distance in the image exceeds height + width
    far = (int(radius) + 1) ** 2  # farther than the radius: no cell near enough (also the initial value)
    dtype = torch.int16 if far + 2 * r < 2 ** 15 else torch.int32
    row, first, last, cell = runs
    cells = int(cell.max()) + 1
    image = row // height
    y = row - image * height
    top = torch.full((cells,), height).scatter_reduce(0, cell, y, "amin").sub_(r).clamp_min_(0)
    bottom = torch.full((cells,), -1).scatter_reduce(0, cell, y, "amax").add_(r).clamp_max_(height - 1)
    left = torch.full((cells,), width).scatter_reduce(0, cell, first, "amin").sub_(r).clamp_min_(0)
    right = torch.full((cells,), -1).scatter_reduce(0, cell, last, "amax").add_(r).clamp_max_(width - 1)
    start_row = torch.zeros(cells, dtype=torch.int64).scatter_reduce(0, cell, image, "amax") * height + top
    heights = bottom - top + 1
    widths = _width_bucket(right - left + 1)
    padded = max(width, int((left + widths).max()))  # room for the bucketed widths on the right
    frame = torch.zeros(count * height, padded, dtype=torch.int32)
    frame[:, :width] = labels.reshape(count * height, width)
    flat = frame.flatten()
    vertical, reach = [], 0
    while reach < min(r, height - 1):
        vertical.append(1 << len(vertical))
        reach += vertical[-1]
    pieces, separators, boxes, offset = [], [], [], 0
    for box_width in torch.unique(widths).tolist():
        members = torch.nonzero(widths == box_width).squeeze(1)
        box_heights = heights[members]
        offsets = torch.cumsum(box_heights, 0) - box_heights
        box_of_row = torch.repeat_interleave(torch.arange(members.numel()), box_heights)
        rows = box_of_row.numel()
        row_in_box = torch.arange(rows) - offsets[box_of_row]
        starts = (start_row[members] * padded + left[members])[box_of_row] + row_in_box * padded  # in `flat`
        windows = flat.as_strided((flat.numel() - box_width + 1, box_width), (1, 1)).index_select(0, starts)
        g = torch.full((rows, box_width + 1), r + 1, dtype=dtype)  # one more column: a separator between rows
        torch.mul(windows != (members + 1).to(torch.int32)[box_of_row, None], r + 1, out=g[:, :box_width])
        for step in vertical:  # g: 0 on the cell; no step crosses from one box into the next
            if step >= rows:
                break
            crossing = (box_of_row[step:] != box_of_row[:-step]).to(dtype).mul_(r + 1).add_(step)[:, None]
            shifted = g[step:] + crossing  # the row `step` below, one step farther (or far, from another box)
            above = g[:-step] + crossing
            torch.minimum(g[:-step], shifted, out=g[:-step])
            torch.minimum(g[step:], above, out=g[step:])
        pieces.append(g.mul_(g).flatten())
        separators.append(torch.arange(rows) * (box_width + 1) + (offset + box_width))
        boxes += zip(start_row[members].tolist(), left[members].tolist(), (offset + offsets * (box_width + 1)).tolist(),
                     box_heights.tolist(), [box_width] * members.numel())
        offset += rows * (box_width + 1)
    d = torch.cat(pieces)
    separators = torch.cat(separators)
    shifted = torch.empty_like(d)  # one buffer for all the steps (a fresh one each step costs more than the step)
    for k in range(1, min(r, int(widths.max()) - 1) + 1):  # after step k: min over |dx| <= k of dx^2 + g(x + dx)^2
        d.index_fill_(0, separators, far)  # nothing flows from one row into the next
        torch.add(d, 2 * k - 1, out=shifted)
        torch.minimum(d[:-1], shifted[1:], out=d[:-1])
        torch.minimum(d[1:], shifted[:-1], out=d[1:])
    nearest = torch.full((count * height, padded), far, dtype=dtype)
    second = torch.full((count * height, padded), far, dtype=dtype)
    for start, box_left, box_offset, box_height, box_width in boxes:
        distance = d[box_offset:box_offset + box_height * (box_width + 1)].view(box_height, box_width + 1)[:, :-1]
        best = nearest[start:start + box_height, box_left:box_left + box_width]
        runner_up = second[start:start + box_height, box_left:box_left + box_width]
        torch.minimum(runner_up, torch.maximum(best, distance), out=runner_up)
        torch.minimum(best, distance, out=best)
    return nearest.view(count, height, padded)[:, :, :width], second.view(count, height, padded)[:, :, :width]


def weighted_cross_entropy(logits: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor,
                           ignore_index: int = 255) -> torch.Tensor:
    """sum_x w(x) CE(x) / sum_x w(x) over the labelled pixels x (those labelled `ignore_index` count in neither sum, as
    in `F.cross_entropy(weight=...)`): logits (N, K, H, W), masks (N, H, W), weights (N, H, W) -> scalar."""
    losses = F.cross_entropy(logits, masks, ignore_index=ignore_index, reduction="none")  # (N, H, W)
    weights = weights * (masks != ignore_index)
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


class BorderWeightedLoss:
    """U-Net's loss for ``fit(model, ..., loss=BorderWeightedLoss())``: each pixel's cross-entropy weighted by the
    border weight map (equation 2) of its mask, computed for every training batch after augmentation (so elastic
    deformation moves the weights with the cells). (logits (N, K, H, W), masks (N, H, W)) -> scalar.
    """

    def __init__(self, *, foreground: int = 1, w0: float = 10.0, sigma: float = 5.0, ignore_index: int = 255):
        if sigma <= 0 or w0 < 0:
            raise ValueError(tr("BorderWeightedLoss needs sigma > 0 and w0 >= 0, got sigma={sigma}, w0={w0}",
                                sigma=sigma, w0=w0))
        self.foreground, self.w0, self.sigma, self.ignore_index = foreground, w0, sigma, ignore_index

    def weights(self, masks: torch.Tensor) -> torch.Tensor:
        """(N, H, W) class indices -> (N, H, W) float32 pixel weights, on the masks' device."""
        with torch.no_grad():  # border_weight_map of each mask, the border terms of the whole batch computed at once
            maps = _weight_maps(masks.cpu(), foreground=self.foreground, w0=self.w0, sigma=self.sigma,
                                class_weights=None, ignore_index=self.ignore_index)
        return maps.to(masks.device)

    def __call__(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return weighted_cross_entropy(logits.float(), masks, self.weights(masks), self.ignore_index)
