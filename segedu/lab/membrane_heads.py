"""U-Net's weight map and its momentum, trained in seconds: a small head on the frozen ImageNet encoder's features of
ISBI 2012's tiles, trained with plain cross-entropy, with class balancing alone, or with the whole weight map; and
on one tile per step with momentum 0.99 or 0.9.

U-Net (Ronneberger et al. 2015, section 3, equation 2) weighs each pixel's cross-entropy by
w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2)): w_c balances the two classes (the thin membranes against
the large cells), the second term, the border term, raises the membranes between two nearly touching cells. The
claims report's `unet_weight_map_training` trains whole U-Nets with each loss (about half an hour on a 2-core CPU);
this is the learner's version of the same comparison in notebook 09, the same three arms and measures on a network
that trains in about a second:

- **features**: the pretrained EfficientNet-Lite0 (frozen, `segedu.efficientnet_lite`) reads each 128x128 tile (the
  grey image repeated to three channels) once; its levels 1-3 (strides 2, 4 and 8) are kept (`membrane_tiles`);
- **the head** (`MembraneHead`): each level reduced to 16 channels by a 1x1 convolution and ReLU, upsampled to
  level 1's grid and stacked with the image, mixed by two 1x1 convolutions into two classes, upsampled to the tile;
- **the arms**: from the same initial weights, on the same batches, for the same steps, with the loss of each pixel
  weighted by nothing, by w_c (`endtoend.class_balance_map`) or by the whole map (`losses.border_weight_map`,
  w0 = 10, sigma = 5 px), each computed per tile as in the claims report (the paper computes them per slice);
- **the measures**: on the held-out slices' tiles, the share of true cells merged with a neighbour (a missed
  membrane) and split into several (`endtoend.separation_counts`), as in the claims report.

U-Net's training (section 3) takes "a single image" per step and "a high momentum (0.99) such that a large number of
the previously seen training samples determine the update in the current optimization step". `momentum_runs` is the
learner's version of the claims report's `unet_momentum_one_tile`: the head trained on one tile per step with SGD at
momentum 0.99 or 0.9, bias-corrected at the same effective step (`endtoend.momentum_sgd`), so that only how many past
tiles each update averages differs (about 100 against 10); the measure is held-out mIoU.

Departures from U-Net: the encoder is frozen and pretrained, the head is tiny and works at stride 2, and there is
no augmentation; the claims report trains the whole U-Net.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..engine import train_steps
from ..layers import resize_bilinear
from ..losses import border_weight_map, weighted_cross_entropy
from ..metrics import predicted_classes
from .endtoend import class_balance_map, momentum_sgd, separation_counts, tile
from .frozen import FeatureCache
from .scoring import Scores, score_frames

__all__ = ["ARMS", "LEVELS", "MembraneTiles", "MembraneHead", "membrane_tiles", "encoded_tiles",
           "train_membrane_head", "predict_membranes", "weight_map_runs", "MOMENTA", "MOMENTUM_STEP",
           "momentum_runs"]

LEVELS = ("level1", "level2", "level3")
ARMS = ("unweighted", "class balance", "weight map")
MOMENTA = (0.99, 0.9)  # U-Net's, and the usual one
# lr / (1 - momentum) at both momenta, fixed by the pre-registered pilot (a8e12d9) on the training tiles: the 0.9 arm
# with seed 100 at 0.03, 0.1, 0.3, 1 and 3 ended with mean training losses 0.3150, 0.3066, 0.3094, 0.4832, 0.5414
MOMENTUM_STEP = 0.1


@dataclasses.dataclass(frozen=True)
class MembraneTiles:
    """The tiles of one split, slice by slice: images (T, 1, S, S) float in [0, 1], masks (T, S, S) long (0 membrane,
    1 cell), features {level: (T, C, h, w) float16} of the frozen encoder, weights {arm: (T, S, S) float32 or None}
    (None: the unweighted cross-entropy), `per_slice` tiles from each slice."""

    images: torch.Tensor
    masks: torch.Tensor
    features: dict[str, torch.Tensor]
    weights: dict[str, torch.Tensor | None]
    per_slice: int

    def __len__(self) -> int:
        return len(self.masks)

    def blocks(self) -> torch.Tensor:
        """(T,) the slice each tile comes from: the bootstrap's blocks (tiles of one slice share its cells)."""
        return torch.arange(len(self)) // self.per_slice


def membrane_tiles(data: str, split: str, *, size: int = 128, weights: bool = True) -> MembraneTiles:
    """`data`'s slices of `split` ("isbi2012" or its stand-in "membranes"; "train" or "val") cut into `size` x
    `size` tiles, with the frozen encoder's features and, with `weights`, each arm's weight map per tile."""
    from ..data import build_dataset

    dataset = build_dataset(data, split, image_size=None)
    slices, masks = map(torch.stack, zip(*[dataset[index] for index in range(len(dataset))]))
    if slices.shape[1] != 1:
        raise ValueError(f"membrane_tiles: {data} {split} has {slices.shape[1]}-channel images, not grey EM slices")
    images, masks = tile(slices, size), tile(masks.long(), size)
    arms: dict[str, torch.Tensor | None] = {"unweighted": None}
    if weights:
        arms["class balance"] = torch.stack([class_balance_map(mask) for mask in masks])
        arms["weight map"] = torch.stack([border_weight_map(mask, foreground=1, w0=10.0, sigma=5.0) for mask in masks])
    return encoded_tiles(images, masks, name=f"{data} {split} tiles", weights=arms,
                         per_slice=len(images) // len(slices))


def encoded_tiles(images: torch.Tensor, masks: torch.Tensor, *, name: str,
                  weights: dict[str, torch.Tensor | None] | None = None, per_slice: int = 1) -> MembraneTiles:
    """Grey tiles (T, 1, S, S) in [0, 1] and their masks (T, S, S) read by the frozen ImageNet EfficientNet-Lite0
    (grey repeated as RGB, `LEVELS` kept): a `MembraneTiles` with `weights` (default: the unweighted arm only)."""
    encoded = FeatureCache.of_images(images.repeat(1, 3, 1, 1), masks, name=name, levels=LEVELS, batch_size=40)
    return MembraneTiles(images, masks, encoded.features, weights or {"unweighted": None}, per_slice=per_slice)


class MembraneHead(nn.Module):
    """features {level1: (N, 16, S/2, S/2), level2: (N, 24, S/4, S/4), level3: (N, 40, S/8, S/8)} and images
    (N, 1, S, S) -> logits (N, 2, S, S). Each level is reduced to `hidden` channels (1x1 convolution, ReLU) and
    upsampled bilinearly to level 1's grid, stacked with the image averaged to that grid, mixed by a 1x1
    convolution, ReLU and a 1x1 convolution into the two classes, and upsampled bilinearly to the tile."""

    def __init__(self, channels: dict[str, int], *, hidden: int = 16, num_classes: int = 2):
        super().__init__()
        self.levels = tuple(channels)
        self.reduce = nn.ModuleDict({level: nn.Conv2d(count, hidden, 1) for level, count in channels.items()})
        self.mix = nn.Sequential(nn.Conv2d(hidden * len(channels) + 1, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, num_classes, 1))

    def forward(self, features: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        grid = features[self.levels[0]].shape[-2:]
        stacked = [F.adaptive_avg_pool2d(images, grid)]
        for level in self.levels:
            reduced = F.relu(self.reduce[level](features[level].float()))
            stacked.append(resize_bilinear(reduced, grid))  # F.interpolate's numbers, 1.3x faster
        return resize_bilinear(self.mix(torch.cat(stacked, 1)), images.shape[-2:])


def train_membrane_head(tiles: MembraneTiles, arm: str, *, seed: int, epochs: int = 1, batch_size: int = 8,
                        learning_rate: float = 2e-2, momentum: float | None = None,
                        effective_step: float | None = None) -> MembraneHead:
    """A `MembraneHead` trained with AdamW at `learning_rate` on `tiles` for `epochs`, each pixel's cross-entropy
    weighted by the `arm`'s map (`losses.weighted_cross_entropy`; "unweighted": the plain mean); with `momentum`,
    bias-corrected SGD with that momentum at `effective_step` instead (`endtoend.momentum_sgd`). The initial weights
    and the order of the batches depend on `seed` only, so every arm with the same seed starts and trains alike but
    for its loss (or its momentum)."""
    if arm not in tiles.weights:
        raise ValueError(f"train_membrane_head: no arm {arm!r}; the tiles have {', '.join(tiles.weights)}")
    weights = tiles.weights[arm]
    torch.manual_seed(seed)
    head = MembraneHead({level: tiles.features[level].shape[1] for level in LEVELS})
    generator = torch.Generator().manual_seed(seed)

    def batches():  # ((features, images), (masks, weights)) in a seeded order, epoch after epoch
        for _ in range(epochs):
            for indices in torch.randperm(len(tiles), generator=generator).split(batch_size):
                features = {level: tiles.features[level][indices] for level in LEVELS}
                yield (features, tiles.images[indices]), (tiles.masks[indices],
                                                          None if weights is None else weights[indices])

    def objective(model, inputs, targets):
        logits, (masks, pixel_weights) = model(*inputs), targets
        return F.cross_entropy(logits, masks) if pixel_weights is None else weighted_cross_entropy(
            logits, masks, pixel_weights)

    if momentum is None:
        optimizer, scheduler = torch.optim.AdamW(head.parameters(), lr=learning_rate, fused=True), None  # one kernel
    else:
        if effective_step is None:
            raise ValueError("train_membrane_head: SGD with momentum needs its effective_step")
        optimizer, scheduler = momentum_sgd([{"params": list(head.parameters())}], momentum, effective_step)
    return train_steps(head, optimizer, batches(), objective, scheduler=scheduler)


@torch.inference_mode()
def predict_membranes(head: MembraneHead, tiles: MembraneTiles, *, batch_size: int = 40) -> torch.Tensor:
    """(T, S, S) long: the head's class at every pixel of every tile (0 membrane, 1 cell)."""
    return torch.cat([predicted_classes(head({level: tiles.features[level][start:start + batch_size]
                                              for level in LEVELS}, tiles.images[start:start + batch_size]))
                      for start in range(0, len(tiles), batch_size)])


def weight_map_runs(train: MembraneTiles, test: MembraneTiles, *, seeds=(0, 1, 2), epochs: int = 1
                    ) -> dict[str, dict[str, list[torch.Tensor]]]:
    """Every arm (`ARMS`) trained with every seed on `train`, scored on `test`:
    {arm: {"merged": [...], "split": [...]}}, one (T, 2) tensor of [cells merged (or split), cells] per tile for
    each seed (`endtoend.separation_counts`): the counts `claims.verdict.paired` compares with
    `statistics.accuracy_of` and the tiles' slices as blocks."""
    runs = {arm: {"merged": [], "split": []} for arm in ARMS}
    for seed in seeds:
        for arm in ARMS:
            head = train_membrane_head(train, arm, seed=seed, epochs=epochs)
            counts = separation_counts(predict_membranes(head, test), test.masks)
            for measure in ("merged", "split"):
                runs[arm][measure].append(counts[measure])
    return runs


def momentum_runs(train: MembraneTiles, test: MembraneTiles, *, seeds=(0, 1, 2),
                  effective_step: float | None = None) -> dict[float, list[Scores]]:
    """Each of `MOMENTA` with every seed: {momentum: [the held-out tiles' counts (`scoring.score_frames`), one per
    seed]}. Each head learns from one tile per step, one pass over `train`'s tiles in the seed's order, from the
    seed's initial weights, with plain cross-entropy and bias-corrected SGD at `effective_step` (default
    `MOMENTUM_STEP`): the same initial weights, tiles, order and step size at both momenta. Unlike the claims
    report's U-Nets (weight decay 1e-4), the head trains without weight decay."""
    step = MOMENTUM_STEP if effective_step is None else effective_step
    return {momentum: [score_frames(predict_membranes(train_membrane_head(
                train, "unweighted", seed=seed, batch_size=1, momentum=momentum, effective_step=step), test),
                test.masks, num_classes=2) for seed in seeds]
            for momentum in MOMENTA}
