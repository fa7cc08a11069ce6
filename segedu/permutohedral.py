"""High-dimensional Gaussian filtering on the permutohedral lattice (Adams, Baek, Davis, Eurographics 2010), in torch.

The dense CRF's bilateral kernel needs, for every pixel i, the sum over ALL pixels j of
exp(-|f_i - f_j|^2 / 2) v_j, with f the pixel's position and colour divided by the kernel widths (5 numbers).
Computed exactly that is N^2 work (`segedu.crf`'s reference). The lattice does it in O(N d^2):

1. **splat**: lift each feature vector f (d numbers) onto the plane x_0 + ... + x_d = 0 of d+1 dimensions, scaled so
   that the lattice's spacing matches a Gaussian of standard deviation 1, and find the simplex of the permutohedral
   lattice that holds it: d+1 lattice points (its vertices) and barycentric weights summing to 1. Each pixel's value
   is spread onto those d+1 points by its weights. Only the points some pixel touches exist (a hash table in the
   authors' C++; here `torch.unique` over the points' keys and `torch.searchsorted` to find neighbours);
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

__all__ = ["PermutohedralLattice"]


class PermutohedralLattice:
    """The lattice for N feature vectors (N, d), built once; `filter(values (N, C)) -> (N, C)` as often as needed.

    `filter` computes approximately sum_j exp(-|f_i - f_j|^2 / 2) v_j for every i (the point itself included).
    """

    def __init__(self, features: torch.Tensor):
        if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
            raise ValueError(f"PermutohedralLattice needs features of shape (N, d) with N, d > 0, got "
                             f"{tuple(features.shape)}")
        if not torch.isfinite(features).all():
            raise ValueError("PermutohedralLattice: the features hold NaN or infinite values")
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
        # 4. The vertices: key = nearest + canonical[remainder][rank], first d coordinates (the last is implied).
        remainders = torch.arange(d + 1, device=device)
        canonical = torch.where(torch.arange(d + 1, device=device)[None, :] <= d - remainders[:, None],
                                remainders[:, None], remainders[:, None] - (d + 1))  # (d+1, d+1): [remainder, rank]
        keys = nearest[:, None, :d].long() + canonical[:, rank[:, :d]].permute(1, 0, 2)  # (N, d+1, d)
        corners = nearest[:, :d].long()  # every key is within d+1 of its remainder-0 point
        self._base = int(corners.min()) - (d + 1) - 2
        self._span = int(corners.max()) + (d + 1) - self._base + 3  # room for the neighbours' +-1 and +-d steps
        if self._span ** d >= 2 ** 62:
            raise ValueError(f"the features span too large a range for a {d}-dimensional lattice; scale them down")
        codes = self._encode(keys.reshape(-1, d))  # (N (d+1),)
        self.points, inverse = torch.unique(codes, sorted=True, return_inverse=True)  # sorted keys of the M points
        self.vertices = inverse.view(count, d + 1)  # (N, d+1): lattice point index of each vertex
        # 5. Each point's two neighbours along each of the d+1 directions (M = a missing one: it reads a zero).
        point_keys = self._decode(self.points)  # (M, d)
        self.neighbours = []
        for direction in range(d + 1):
            step = -torch.ones(d, dtype=torch.long, device=device)
            if direction < d:
                step[direction] = d
            self.neighbours.append((self._find(point_keys + step), self._find(point_keys - step)))
        self.alpha = 1.0 / (1 + 2.0 ** -d)  # the C++ code's correction for the blur's total weight
        # splat and slice as sparse matrices (M x N and N x M, d+1 weights per pixel): one sparse product each
        pixels = torch.arange(count, device=device).repeat_interleave(d + 1)
        flat_vertices, flat_weights = self.vertices.reshape(-1), self.weights.reshape(-1)
        by_vertex = torch.argsort(flat_vertices, stable=True)
        starts = torch.cat([flat_vertices.new_zeros(1), torch.bincount(flat_vertices, minlength=self.size).cumsum(0)])
        with warnings.catch_warnings():  # PyTorch calls sparse CSR "beta"; the two products used here are long stable
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._splat = torch.sparse_csr_tensor(starts, pixels[by_vertex], flat_weights[by_vertex],
                                                  (self.size, count), check_invariants=False)
            self._slice = torch.sparse_csr_tensor(torch.arange(0, count * (d + 1) + 1, d + 1, device=device),
                                                  flat_vertices, flat_weights * self.alpha, (count, self.size),
                                                  check_invariants=False)

    def _encode(self, keys: torch.Tensor) -> torch.Tensor:
        codes = torch.zeros(keys.shape[0], dtype=torch.long, device=keys.device)
        for column in range(keys.shape[1]):
            codes = codes * self._span + (keys[:, column] - self._base)
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
            raise ValueError(f"the lattice was built for {self.count} points; values must be ({self.count}, C), "
                             f"got {tuple(values.shape)}")
        values = values.float()
        lattice = torch.cat([self._splat @ values, values.new_zeros(1, values.shape[1])])  # splat; a last row of 0
        for forward, backward in self.neighbours:  # blur along each lattice direction: [1/2, 1, 1/2]
            blurred = lattice[:-1] + 0.5 * (lattice[forward] + lattice[backward])  # missing neighbours read the 0 row
            lattice = torch.cat([blurred, lattice[-1:]])
        return self._slice @ lattice[:-1]  # slice, times alpha: (N, C)
