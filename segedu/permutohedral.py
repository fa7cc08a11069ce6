"""High-dimensional Gaussian filtering on the permutohedral lattice (Adams, Baek, Davis, Eurographics 2010), in torch.

The dense CRF's bilateral kernel needs, for every pixel i, the sum over ALL pixels j of
exp(-|f_i - f_j|^2 / 2) v_j, with f the pixel's position and colour divided by the kernel widths (5 numbers).
Computed exactly that is N^2 work (`segedu.crf`'s reference). The lattice does it in O(N d^2):

1. **splat**: lift each feature vector f (d numbers) onto the plane x_0 + ... + x_d = 0 of d+1 dimensions, scaled so
   that the lattice's spacing matches a Gaussian of standard deviation 1, and find the simplex of the permutohedral
   lattice that holds it: d+1 lattice points (its vertices) and barycentric weights summing to 1. Each pixel's value
   is spread onto those d+1 points by its weights. Only the points some pixel touches exist (a hash table in the
   authors' C++; here `torch.unique` over the points' keys and `torch.searchsorted` to find neighbours). Neighbouring
   pixels mostly fall in the same simplex, so the vertices are found once per simplex (here, not in the C++ code);
2. **blur**: along each of the d+1 lattice directions, every point takes [1/2, 1, 1/2] of itself and its two
   neighbours (a missing neighbour counts as 0): together the d+1 passes approximate the Gaussian;
3. **slice**: each pixel reads the blurred values of its d+1 vertices back, with the same barycentric weights.

This follows Krähenbühl and Koltun's ``permutohedral.cpp`` (the code released with the dense CRF, which
``pydensecrf`` wraps) step for step, vectorized: every pixel and every lattice point at once, no Python loop over
them, the same code on the CPU and on CUDA. Like theirs it is an approximation (the result includes the pixel's
own weight, and the kernel is a little wider than the Gaussian); `tests/test_permutohedral.py` measures it against
the exact sum.
"""

from __future__ import annotations

import warnings

import torch
from .language import tr

__all__ = ["PermutohedralLattice"]


def _csr(rows: torch.Tensor, columns: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A sparse CSR matrix; 32-bit indices when they fit (the CPU kernels convert 64-bit ones on every product)."""
    index_type = torch.int32 if max(shape) < 2 ** 31 and len(values) < 2 ** 31 else torch.long
    return torch.sparse_csr_tensor(rows.to(index_type), columns.to(index_type), values, shape, check_invariants=False)


class PermutohedralLattice:
    """The lattice for N feature vectors (N, d), built once; `filter(values (N, C)) -> (N, C)` as often as needed.

    `filter` computes approximately sum_j exp(-|f_i - f_j|^2 / 2) v_j for every i (the point itself included).
    """

    def __init__(self, features: torch.Tensor):
        if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(tr("PermutohedralLattice needs features of shape (N, d) with N, d > 0, got "
                                "{features_shape}",
                                features_shape=tuple(features.shape)))
        if not torch.isfinite(features).all():
            raise ValueError(tr("PermutohedralLattice: the features hold NaN or infinite values"))
        count, d = features.shape
        device = features.device
        self.count, self.dimensions = count, d
        # 1. Elevate to the plane sum = 0 in d+1 dimensions, scaled for a Gaussian of standard deviation 1.
        index = torch.arange(1, d + 1, device=device, dtype=torch.float32)  # 1..d
        scale = (d + 1) * (2.0 / 3.0) ** 0.5 / torch.sqrt(index * (index + 1))  # (d,)
        scaled = features.float() * scale  # (N, d), float32 as in the C++ code
        suffix = torch.flip(torch.cumsum(torch.flip(scaled, [1]), 1), [1])  # suffix[:, k] = sum_{m >= k} scaled[:, m]
        elevated = torch.empty(count, d + 1, device=device, dtype=torch.float32)
        elevated[:, 0] = suffix[:, 0]
        after = torch.cat([suffix[:, 1:], torch.zeros(count, 1, device=device, dtype=torch.float32)], 1)  # sum_{m>=j}
        elevated[:, 1:] = after - index * scaled  # elevated[j] = sum_{m >= j} scaled[m] - j scaled[j - 1]
        # 2. The nearest remainder-0 point, and the rank of each coordinate's offset from it.
        rounded = torch.round(elevated / (d + 1))
        nearest = rounded * (d + 1)  # (N, d+1)
        total = rounded.sum(1).long()  # how far the point is off the plane, in lattice steps
        offset = elevated - nearest
        # rank[i] = #{j > i: offset_j > offset_i} + #{j < i: offset_j >= offset_i} (the C++ loop's tie rule): the
        # position of coordinate i when the offsets are sorted from largest to smallest, earlier coordinates first on ties
        order = torch.sort(offset, dim=1, descending=True, stable=True).indices
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(d + 1, device=device).expand(count, d + 1))
        rank = rank + total[:, None]
        low, high = rank < 0, rank > d
        rank = torch.where(low, rank + d + 1, torch.where(high, rank - d - 1, rank))
        nearest = torch.where(low, nearest + d + 1, torch.where(high, nearest - d - 1, nearest))
        # 3. Barycentric weights of the d+1 vertices of the enclosing simplex.
        share = (elevated - nearest) / (d + 1)  # (N, d+1)
        barycentric = torch.zeros(count, d + 2, device=device, dtype=torch.float32)
        barycentric.scatter_add_(1, d - rank, share)
        barycentric.scatter_add_(1, d - rank + 1, -share)
        barycentric[:, 0] += 1 + barycentric[:, d + 1]
        self.weights = barycentric[:, : d + 1].contiguous()  # (N, d+1): the weight of each vertex, remainder 0..d
        # 4. The simplices: one is fixed by its remainder-0 point and the ranks, and neighbouring pixels share
        # simplices (about 1 in 10 on a CamVid frame is new), so the vertices are found once per simplex, not per pixel.
        corners = nearest[:, :d].long()  # multiples of d+1; every vertex is within d+1 of its simplex's corner
        self._base = int(corners.min()) - (d + 1) - 2
        self._span = int(corners.max()) + (d + 1) - self._base + 3  # room for the neighbours' +-1 and +-d steps
        if self._span ** d >= 2 ** 62:
            raise ValueError(tr("the features span too large a range for a {d}-dimensional lattice; scale them down",
                                d=d))
        ranks = rank[:, :d] @ (d + 1) ** torch.arange(d, device=device)  # the first d ranks in base d+1 (the last is implied)
        steps = torch.div(corners, d + 1, rounding_mode="floor")  # the corner in lattice steps
        low = int(steps.min())
        simplex_codes = self._encode(steps, span=int(steps.max()) - low + 1, base=low) * (d + 1) ** d + ranks  # < span^d
        simplices, self.pixel_simplex = torch.unique(simplex_codes, return_inverse=True)  # S simplices; (N,)
        first = torch.empty(len(simplices), dtype=torch.long, device=device)
        first.scatter_(0, self.pixel_simplex, torch.arange(count, device=device))  # one pixel of each simplex
        # the vertices: key = corner + canonical[remainder][rank], first d coordinates (the last is implied)
        remainders = torch.arange(d + 1, device=device)
        canonical = torch.where(torch.arange(d + 1, device=device)[None, :] <= d - remainders[:, None],
                                remainders[:, None], remainders[:, None] - (d + 1))  # (d+1, d+1): [remainder, rank]
        keys = corners[first, None, :] + canonical[:, rank[first, :d]].permute(1, 0, 2)  # (S, d+1, d)
        self.points, inverse = torch.unique(self._encode(keys.reshape(-1, d)), return_inverse=True)  # sorted codes, M
        self.simplex_vertices = inverse.view(-1, d + 1)  # (S, d+1): lattice point index of each vertex
        # 5. Each point's two neighbours along each of the d+1 directions (M = a missing one: it reads a zero).
        point_keys = self._decode(self.points)  # (M, d)
        self.neighbours = []
        for direction in range(d + 1):
            step = -torch.ones(d, dtype=torch.long, device=device)
            if direction < d:
                step[direction] = d
            self.neighbours.append((self._find(point_keys + step), self._find(point_keys - step)))
        self.alpha = 1.0 / (1 + 2.0 ** -d)  # the C++ code's correction for the blur's total weight
        # 6. Splat and slice as sparse products. Splat goes through the simplices: for each remainder k, a matrix
        # (S x N) sums weight_k * value over each simplex's pixels (its rows are the simplices, so building it needs
        # only the pixels sorted by simplex); each simplex then adds its d+1 sums to its vertices. Slice is one N x M
        # matrix, d+1 weights per row, times alpha.
        order = torch.argsort(self.pixel_simplex, stable=True)  # pixels grouped by simplex, in order within each
        starts = torch.cat([order.new_zeros(1), torch.bincount(self.pixel_simplex, minlength=len(simplices)).cumsum(0)])
        rows = torch.cat([starts[:-1] + k * count for k in range(d + 1)] + [starts[-1:] + d * count])
        vertices = self.simplex_vertices[self.pixel_simplex]  # (N, d+1)
        slots = self.simplex_vertices.T.reshape(-1)  # ((d+1) S,): the vertex that each simplex's k-th sum goes to
        by_vertex = torch.argsort(slots, stable=True)
        first_slot = torch.cat([slots.new_zeros(1), torch.bincount(slots, minlength=self.size).cumsum(0)])
        with warnings.catch_warnings():  # PyTorch calls sparse CSR "beta"; the products used here are long stable
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._gather = _csr(rows, order.repeat(d + 1), self.weights[order].T.reshape(-1),
                                ((d + 1) * len(simplices), count))  # (d+1) S x N
            self._scatter = _csr(first_slot, by_vertex, torch.ones(len(slots), device=device), (self.size, len(slots)))
            self._slice = _csr(torch.arange(0, count * (d + 1) + 1, d + 1, device=device), vertices.reshape(-1),
                               (self.weights * self.alpha).reshape(-1), (count, self.size))  # N x M

    def _encode(self, keys: torch.Tensor, *, span: int | None = None, base: int | None = None) -> torch.Tensor:
        """(n, d) integer keys -> (n,) codes, one number per key in base `span` (default: the lattice's)."""
        span = self._span if span is None else span
        base = self._base if base is None else base
        codes = torch.zeros(keys.shape[0], dtype=torch.long, device=keys.device)
        for column in range(keys.shape[1]):
            codes = codes * span + (keys[:, column] - base)
        return codes

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        columns = []
        for _ in range(self.dimensions):
            columns.append(codes % self._span + self._base)
            codes = torch.div(codes, self._span, rounding_mode="floor")
        return torch.stack(columns[::-1], 1)

    def _find(self, keys: torch.Tensor) -> torch.Tensor:
        """The index of each key among the lattice's points, or M (len(points)) where there is no such point."""
        codes = self._encode(keys)
        position = torch.searchsorted(self.points, codes).clamp_(max=len(self.points) - 1)
        return torch.where(self.points[position] == codes, position, len(self.points))

    @property
    def size(self) -> int:
        """M, the number of lattice points the features touch."""
        return len(self.points)

    def filter(self, values: torch.Tensor) -> torch.Tensor:
        """(N, C) -> (N, C): approximately sum_j exp(-|f_i - f_j|^2 / 2) values_j for every i, self included."""
        if values.ndim != 2 or values.shape[0] != self.count:
            raise ValueError(tr("the lattice was built for {count} points; values must be ({count}, C), got "
                                "{values_shape}",
                                count=self.count, values_shape=tuple(values.shape)))
        values = values.float()
        sums = self._gather @ values  # ((d+1) S, C): per simplex and remainder, the weighted sum of its pixels
        lattice = torch.cat([self._scatter @ sums, values.new_zeros(1, values.shape[1])])  # splat; a last row of 0
        for forward, backward in self.neighbours:  # blur along each lattice direction: [1/2, 1, 1/2]
            blurred = lattice[:-1] + 0.5 * (lattice[forward] + lattice[backward])  # missing neighbours read the 0 row
            lattice = torch.cat([blurred, lattice[-1:]])
        return self._slice @ lattice[:-1]  # slice, times alpha: (N, C)
