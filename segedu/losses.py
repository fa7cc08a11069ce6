"""U-Net's weighted loss (Ronneberger et al. 2015, section 3, equation 2 and figure 3).

Touching cells are separated by membranes a few pixels wide; an unweighted loss hardly notices if a
network merges two cells. U-Net weights every pixel's cross-entropy by

    w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

where w_c balances the class frequencies, d1 and d2 are the distances to the nearest and the second
nearest cell, and the paper sets w0 = 10, sigma = 5 pixels: thin gaps between two cells weigh up to 11x.
Cells are the connected components of the foreground class; distances are Euclidean, computed exactly
(pairwise, in chunks), which is fine for the course's crops up to 512x512.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["connected_components", "border_weight_map", "weighted_cross_entropy", "BorderWeightedLoss"]


def connected_components(foreground: torch.Tensor) -> torch.Tensor:
    """Label the 8-connected components of a boolean (H, W) map: 0 for background, 1..C for the components."""
    height, width = foreground.shape
    labels = torch.where(foreground, torch.arange(1, height * width + 1, dtype=torch.float32).view(height, width), 0.0)
    while True:  # every pixel takes its neighbourhood's largest label until nothing changes
        grown = F.max_pool2d(labels[None, None], 3, stride=1, padding=1)[0, 0] * foreground
        if torch.equal(grown, labels):
            break
        labels = grown
    if not foreground.any():
        return labels.long()
    values, inverse = torch.unique(labels, return_inverse=True)
    return inverse + int(values[0] > 0)  # background is 0 when present; with none, the components still start at 1


def border_weight_map(mask: torch.Tensor, *, foreground: int = 1, w0: float = 10.0, sigma: float = 5.0,
                      class_weights: torch.Tensor | None = None, ignore_index: int = 255) -> torch.Tensor:
    """U-Net's pixel weights for one mask (H, W) of class indices -> (H, W) float32.

    `class_weights` (K,) is w_c; by default each class weighs the inverse of its pixel share, scaled so the
    mean weight over the image is 1. Ignored pixels get weight 0.
    """
    valid = mask != ignore_index
    labels = mask.clamp_max(max(int(mask[valid].max()) if valid.any() else 0, foreground))
    if class_weights is None:
        counts = torch.bincount(labels[valid].flatten(), minlength=foreground + 1).float()
        class_weights = torch.where(counts > 0, valid.sum() / (counts * (counts > 0).sum()).clamp_min(1), 0.0)
    weights = class_weights[labels].float()
    components = connected_components(mask == foreground)
    count = int(components.max())
    if count >= 2:
        coordinates = torch.stack(torch.meshgrid(torch.arange(mask.shape[0]), torch.arange(mask.shape[1]),
                                                 indexing="ij"), -1).view(-1, 2).float()  # (HW, 2)
        flat = components.flatten()
        distances = torch.stack([torch.cdist(coordinates, coordinates[flat == c]).amin(1)
                                 for c in range(1, count + 1)])  # (C, HW): distance to each cell
        nearest = distances.topk(2, dim=0, largest=False).values  # d1, d2: (2, HW)
        weights = weights + w0 * torch.exp(-(nearest.sum(0) ** 2) / (2 * sigma ** 2)).view(mask.shape)
    return torch.where(valid, weights, 0.0)


def weighted_cross_entropy(logits: torch.Tensor, masks: torch.Tensor, weights: torch.Tensor,
                           ignore_index: int = 255) -> torch.Tensor:
    """sum_x w(x) CE(x) / sum_x w(x): logits (N, K, H, W), masks (N, H, W), weights (N, H, W) -> scalar."""
    losses = F.cross_entropy(logits, masks, ignore_index=ignore_index, reduction="none")  # (N, H, W)
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


class BorderWeightedLoss:
    """U-Net's loss for ``fit(model, ..., loss=BorderWeightedLoss())``: each pixel's cross-entropy weighted by the
    border weight map (equation 2) of its mask, computed for every training batch after augmentation (so elastic
    deformation moves the weights with the cells). (logits (N, K, H, W), masks (N, H, W)) -> scalar.
    """

    def __init__(self, *, foreground: int = 1, w0: float = 10.0, sigma: float = 5.0, ignore_index: int = 255):
        if sigma <= 0 or w0 < 0:
            raise ValueError(f"BorderWeightedLoss needs sigma > 0 and w0 >= 0, got sigma={sigma}, w0={w0}")
        self.foreground, self.w0, self.sigma, self.ignore_index = foreground, w0, sigma, ignore_index

    def weights(self, masks: torch.Tensor) -> torch.Tensor:
        """(N, H, W) class indices -> (N, H, W) float32 pixel weights, on the masks' device."""
        with torch.no_grad():
            maps = [border_weight_map(mask.cpu(), foreground=self.foreground, w0=self.w0, sigma=self.sigma,
                                      ignore_index=self.ignore_index) for mask in masks]
        return torch.stack(maps).to(masks.device)

    def __call__(self, logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return weighted_cross_entropy(logits.float(), masks, self.weights(masks), self.ignore_index)
