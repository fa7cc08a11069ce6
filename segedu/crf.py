"""The fully connected CRF of DeepLab v1/v2 and DeconvNet (Krähenbühl and Koltun, NeurIPS 2011), in torch.

Every pixel i gets a label x_i; the energy of a labelling is

    E(x) = sum_i  -log P(x_i)                                     (unary: the network's softmax)
         + sum_{i<j} [x_i != x_j] k(f_i, f_j)                     (Potts: disagreeing pairs pay)
    k    = w_bilateral exp(-|p_i - p_j|^2 / 2 sigma_xy^2 - |I_i - I_j|^2 / 2 sigma_rgb^2)   (appearance)
         + w_spatial   exp(-|p_i - p_j|^2 / 2 sigma_spatial^2)                              (smoothness)

over ALL pairs of pixels, with positions p in pixels and colours I in 0..255. Mean-field inference keeps
a distribution Q_i(l) per pixel and repeats (equation 4 of the paper, Potts compatibility):

    message_i(l) = sum_{j != i} n_i k(f_i, f_j) n_j Q_j(l)  # how much pixel i's similar pixels like label l
    Q_i(l)       = softmax_l( log P_i(l) + message_i(l) )

with each kernel normalized symmetrically, n_i = (sum_j k(f_i, f_j))^-1/2, as in the authors' released
code; so a pixel is pulled towards the labels of pixels that are near it and look like it: boundaries snap to
colour edges. Two ways to compute the messages: ``CRFConfig(method="lattice")`` (the default) is the authors'
algorithm, the permutohedral lattice in O(N) (`segedu.permutohedral`), which sums over all j, the pixel itself
included, as their released code does; ``method="exact"`` is the readable reference below, exact and O(N^2). The spatial kernel is separable, two small matrix products per
class; the bilateral kernel is a dense N x N product computed in row chunks, O(N^2) time and
O(chunk x N) memory, or the whole kernel kept when it fits (see `CRFConfig.cache_bytes`). `tests/test_crf.py` compares it with a brute-force loop over all pairs.
"""

from __future__ import annotations

import dataclasses

import torch

from .errors import InputError
from .language import said_later, tr

__all__ = ["CRFConfig", "DenseCRF", "dense_crf"]


_LOGITS_HINT = said_later(" (NaN logits come from a diverged network: check its training loss)")


def _check_finite(tensor: torch.Tensor, what: str, hint: str = "") -> None:
    """Refuse (InputError) a tensor holding NaN or infinity: one would spread through every message of mean field
    and come back as NaN probabilities in silence. The message names `what`, the count and the first position."""
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        bad = (~finite).nonzero()
        first = tuple(bad[0].tolist())
        raise InputError(tr("{what} hold {number_of_bad} non-finite value(s) (NaN or infinity), the first "
                            "{tensor_first_item} at index {first}: the CRF needs finite values{hint}",
                            what=what, number_of_bad=len(bad), tensor_first_item=tensor[first].item(), first=first,
                            hint=hint))


@dataclasses.dataclass(frozen=True)
class CRFConfig:
    """Kernel weights and widths (pixels, colour levels 0..255) and the number of mean-field iterations.

    Defaults are those of the example released with Krähenbühl and Koltun's code (densecrf 2.x's
    ``dense_inference.cpp``: bilateral w 10, sigma_xy 80, sigma_rgb 13; spatial w 3, sigma 3). The paper sets the spatial kernel's w and sigma to 1 and grid-searches
    the bilateral kernel's on validation images; DeepLab cross-validates the bilateral ones with w 3, sigma 3 for the
    spatial kernel. The sigmas are in pixels: the course takes them as given at CamVid's 360x480 and scales them
    with the image size (`scaled_to`).
    """

    iterations: int = 5
    bilateral_weight: float = 10.0
    bilateral_sigma_xy: float = 80.0
    bilateral_sigma_rgb: float = 13.0
    spatial_weight: float = 3.0
    spatial_sigma: float = 3.0
    chunk_size: int = 2048  # rows of the N x N bilateral kernel computed at once
    cache_bytes: int = 2 ** 30  # keep the whole kernel between iterations when it is at most this large
    method: str = "lattice"  # "lattice": the authors' permutohedral approximation, O(N); "exact": the N x N sums

    def __post_init__(self):
        if self.method not in ("exact", "lattice"):
            raise ValueError(tr("CRFConfig.method must be 'exact' or 'lattice', got {method!r}", method=self.method))
        for name in ("bilateral_sigma_xy", "bilateral_sigma_rgb", "spatial_sigma"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(tr("CRFConfig.{name} must be a finite width above 0, got {value!r}",
                                    name=name, value=value))
        for name in ("bilateral_weight", "spatial_weight"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise ValueError(tr("CRFConfig.{name} must be a finite weight of at least 0, got "
                                    "{weight!r}",
                                    name=name, weight=getattr(self, name)))
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(tr("CRFConfig.iterations must be a whole number of at least 1, got {iterations!r}",
                                iterations=self.iterations))

    def scaled_to(self, factor: float) -> "CRFConfig":
        """The same CRF for an image `factor` times the size (0.25: a quarter of the height and width)."""
        return dataclasses.replace(self, bilateral_sigma_xy=self.bilateral_sigma_xy * factor,
                                   spatial_sigma=max(self.spatial_sigma * factor, 0.5))


def _gaussian_matrix(length: int, sigma: float, device, dtype) -> torch.Tensor:
    positions = torch.arange(length, device=device, dtype=dtype)
    return torch.exp(-(positions[:, None] - positions[None, :]) ** 2 / (2 * sigma ** 2))  # (L, L)


_SPATIAL_LATTICES: dict[tuple, tuple] = {}  # (H, W, sigma_xy, sigma, device) -> (lattice, norm), the latest few


def _spatial_lattice(positions: torch.Tensor, height: int, width: int, config: CRFConfig):
    """The spatial kernel's lattice and its normalization for an H x W image: they depend on the pixels' positions
    alone, so frames of one size share them (a quarter of a 360x480 frame's CRF time, built once instead of per
    frame). `positions` (N, 2): the bilateral features' (x, y), scaled here exactly as a lattice built per frame
    scaled them, so the numbers are the same. Built outside inference mode (the first call often runs under it): normal
    tensors, which any later call may use; `_SPATIAL_LATTICES.clear()` frees them."""
    from .permutohedral import PermutohedralLattice

    key = (height, width, config.bilateral_sigma_xy, config.spatial_sigma, str(positions.device))
    if key not in _SPATIAL_LATTICES:
        with torch.inference_mode(False):
            lattice = PermutohedralLattice(positions * config.bilateral_sigma_xy / config.spatial_sigma)
            norm = lattice.filter(torch.ones(len(positions), 1, device=positions.device)).clamp_min(1e-20).rsqrt()
        while len(_SPATIAL_LATTICES) >= 4:  # a few image sizes at once at most (multi-scale testing, crops)
            _SPATIAL_LATTICES.pop(next(iter(_SPATIAL_LATTICES)))
        _SPATIAL_LATTICES[key] = (lattice, norm)
    return _SPATIAL_LATTICES[key]


class DenseCRF:
    """Mean-field inference of the fully connected CRF for one image.

    image (3, H, W) in [0, 1]; `__call__(logits (K, H, W))` -> refined probabilities Q (K, H, W).
    """

    def __init__(self, image: torch.Tensor, config: CRFConfig = CRFConfig()):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(tr("DenseCRF needs one RGB image of shape (3, H, W), got {image_shape}",
                                image_shape=tuple(image.shape)))
        _check_finite(image, tr("the image {shape} given to DenseCRF", shape=tuple(image.shape)))
        self.config, (height, width) = config, image.shape[-2:]
        self.size = (height, width)
        image = image.float()
        rows, columns = torch.meshgrid(torch.arange(height, device=image.device, dtype=torch.float32),
                                       torch.arange(width, device=image.device, dtype=torch.float32), indexing="ij")
        # bilateral features f = (y / sigma_xy, x / sigma_xy, rgb / sigma_rgb): k = exp(-|f_i - f_j|^2 / 2)
        self.features = torch.cat([torch.stack([rows, columns]) / config.bilateral_sigma_xy,
                                   image * 255 / config.bilateral_sigma_rgb]).flatten(1).T.contiguous()  # (N, 5)
        self.spatial_rows = _gaussian_matrix(height, config.spatial_sigma, image.device, torch.float32)  # (H, H)
        self.spatial_columns = _gaussian_matrix(width, config.spatial_sigma, image.device, torch.float32)  # (W, W)
        self._cache: list[torch.Tensor] | None = None
        # symmetric normalization of each kernel, n_i = (sum_j k_ij)^-1/2, as the authors' released code does
        # (densecrf's NORMALIZE_SYMMETRIC): without it a wide kernel's messages grow with the image and drown the unary
        if config.method == "exact":
            ones = torch.ones(height * width, 1, device=image.device)
            self.bilateral_norm = (self.bilateral(ones) + 1).rsqrt()  # (N, 1)
            self.spatial_norm = (self.spatial(ones.view(1, height, width)) + 1).rsqrt()  # (1, H, W)

    def _kernel_rows(self, rows: slice) -> torch.Tensor:
        """Rows of the bilateral kernel, k(f_i, f_j) = exp(-|f_i - f_j|^2 / 2) for i in `rows`: (n, N)."""
        squared = (self.features ** 2).sum(1)  # (N,)
        distances = torch.addmm(squared[None, :], self.features[rows], self.features.T, alpha=-2)  # (n, N)
        # clamped at 170 so exp stays above float32's denormals (e^-85 ~ 1e-37), which are 10x slower to compute
        return distances.add_(squared[rows, None]).clamp_(0, 170).mul_(-0.5).exp_()

    def bilateral(self, probabilities: torch.Tensor) -> torch.Tensor:
        """sum_{j != i} k_bilateral(f_i, f_j) Q_j for every pixel i: (N, K) -> (N, K), exact, in row chunks.

        The kernel is kept between iterations when it fits in `cache_bytes` (96x128 pixels: 0.6 GB)."""
        pixels, chunk = len(self.features), self.config.chunk_size
        chunks = [slice(start, start + chunk) for start in range(0, pixels, chunk)]
        if self._cache is None and pixels ** 2 * 4 <= self.config.cache_bytes:
            self._cache = [self._kernel_rows(rows) for rows in chunks]
        output = torch.empty_like(probabilities)
        for index, rows in enumerate(chunks):
            kernel = self._cache[index] if self._cache is not None else self._kernel_rows(rows)
            output[rows] = kernel @ probabilities
        return output - probabilities  # the pair (i, i) has k = 1: leave it out

    def spatial(self, probabilities: torch.Tensor) -> torch.Tensor:
        """sum_{j != i} k_spatial(p_i, p_j) Q_j: separable, so Gy @ Q @ Gx per class. (K, H, W) -> (K, H, W)."""
        return self.spatial_rows @ probabilities @ self.spatial_columns - probabilities

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if logits.ndim != 3 or tuple(logits.shape[-2:]) != self.size:
            raise ValueError(tr("DenseCRF was built for a {size_0}x{size_1} image; logits must be (K, {size_0}, "
                                "{size_1}), got {logits_shape}",
                                size_0=self.size[0], size_1=self.size[1], logits_shape=tuple(logits.shape)))
        _check_finite(logits, tr("the logits {shape} given to DenseCRF", shape=tuple(logits.shape)), tr(_LOGITS_HINT))
        if self.config.method == "lattice":
            return self._lattice_mean_field(logits)
        classes, height, width = logits.shape
        unary = torch.log_softmax(logits.float(), dim=0)  # log P, (K, H, W)
        probabilities = unary.exp()
        for _ in range(self.config.iterations):
            flat = probabilities.flatten(1).T  # (N, K)
            bilateral = self.bilateral_norm * self.bilateral(self.bilateral_norm * flat)  # (N, K)
            spatial = self.spatial_norm * self.spatial(self.spatial_norm * probabilities)  # (K, H, W)
            message = self.config.bilateral_weight * bilateral.T.view_as(unary) + self.config.spatial_weight * spatial
            probabilities = torch.softmax(unary + message, dim=0)
        return probabilities


    def _lattice_mean_field(self, logits: torch.Tensor) -> torch.Tensor:
        """Mean field as the authors' released code runs it (``densecrf``, which ``pydensecrf`` wraps): both kernels
        filtered on the permutohedral lattice (`segedu.permutohedral`), each pixel's own term included in its
        message, the same symmetric normalization. O(N) per iteration instead of O(N^2)."""
        from .permutohedral import PermutohedralLattice

        classes, height, width = logits.shape
        if not hasattr(self, "_lattices"):
            # densecrf's feature order, (x, y, r, g, b): the lattice is not rotation invariant, so the order matters
            features = self.features[:, [1, 0, 2, 3, 4]].contiguous()
            bilateral = PermutohedralLattice(features)
            ones = torch.ones(len(self.features), 1, device=self.features.device)
            norm = bilateral.filter(ones).clamp_min(1e-20).rsqrt()  # (N, 1)
            spatial, spatial_norm = _spatial_lattice(features[:, :2], height, width, self.config)
            self._lattices = [bilateral, spatial]
            self._norms = [(norm, self.config.bilateral_weight * norm),
                           (spatial_norm, self.config.spatial_weight * spatial_norm)]
        unary = torch.log_softmax(logits.float().flatten(1), dim=0).T.contiguous()  # (N, K) log P
        probabilities = unary.exp()
        for _ in range(self.config.iterations):
            energy = unary.clone()
            for lattice, (norm, weighted_norm) in zip(self._lattices, self._norms):
                energy.addcmul_(weighted_norm, lattice.filter(norm * probabilities))  # + w n_i sum_j k_ij n_j Q_j
            # softmax over each pixel's K labels, written out: torch.softmax over the last of (N, K) is 5x slower here
            probabilities = energy.sub_(energy.amax(1, keepdim=True)).exp_()
            probabilities /= probabilities.sum(1, keepdim=True)
        return probabilities.T.reshape(classes, height, width)


@torch.no_grad()
def dense_crf(images: torch.Tensor, logits: torch.Tensor, config: CRFConfig = CRFConfig()) -> torch.Tensor:
    """Refine a batch: images (N, 3, H, W) in [0, 1], logits (N, K, H, W) -> probabilities (N, K, H, W)."""
    if images.ndim != 4 or logits.ndim != 4:
        raise ValueError(tr("dense_crf refines a batch: images (N, 3, H, W) and logits (N, K, H, W), got "
                            "{images_shape} and {logits_shape} (add a batch dimension with [None])",
                            images_shape=tuple(images.shape), logits_shape=tuple(logits.shape)))
    if images.shape[0] == 0:
        raise ValueError(tr("dense_crf was given an empty batch (N = 0)"))
    if images.shape[0] != logits.shape[0] or images.shape[-2:] != logits.shape[-2:]:
        raise ValueError(tr("images {images_shape} and logits {logits_shape} must share N, H and W",
                            images_shape=tuple(images.shape), logits_shape=tuple(logits.shape)))
    _check_finite(images, tr("the images {shape} given to dense_crf", shape=tuple(images.shape)))
    _check_finite(logits, tr("the logits {shape} given to dense_crf", shape=tuple(logits.shape)), tr(_LOGITS_HINT))
    return torch.stack([DenseCRF(image, config)(scores) for image, scores in zip(images, logits)])
