"""Short end-to-end trainings on a 2-core CPU, for the claims that need an encoder trained (not only a head).

`segedu.lab.frozen` answers the head questions on cached features. Four claims of the lecture need more: the
transfer-learning regimes (fine-tuning and training from scratch move the encoder), SegNet against FCN (two
decoders on one encoder, trained together), and U-Net's weight map, elastic deformation and momentum. Each is a
paired comparison: the same frames, the same number of optimizer steps, the same batches for the same seed (the
order and the flips come from a generator of their own, which nothing else draws from), the same initial weights
wherever the two arms share a part; only the thing under study differs. Settings are fixed in `TrainingConfig`
before any result was looked at.

    frames = camvid_frames("train", size=(96, 128))
    model, groups = regime_model("fine_tune", num_classes=11)
    train(model, groups, frames, TrainingConfig(), seed=0)
    scores = score_frames(predict(model, test.images), test.masks)

Departures from the papers, all for a CPU budget of about a minute per run: small inputs (CamVid at 96x128;
ISBI 2012 in 128x128 tiles), a few hundred steps, narrow VGG and U-Net encoders (width 0.25) trained from scratch,
and U-Net's weight map computed per 128x128 tile (cells cut by a tile's edge count as cells there). U-Net's
elastic deformation is the paper's (`segedu.lab.deformation`); its SGD with momentum is bias-corrected
(`momentum_sgd`).
"""

from __future__ import annotations

import dataclasses
import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import build_backbone
from ..data.classes import CAMVID_THINGS
from ..engine import predict as predict_logits
from ..engine import segmentation_objective, train_steps
from ..losses import border_weight_map, connected_components, weighted_cross_entropy
from ..metrics import predicted_classes
from .deformation import elastic_deformation
from .frozen import Head
from .proposals import cut_windows, object_boxes, window_around
from .scoring import Scores, score_frames
from .settings import LabSettings

__all__ = ["TrainingConfig", "Frames", "camvid_frames", "object_windows", "object_crops", "isbi_tiles", "class_balance_map",
           "EncoderHead", "REGIMES", "regime_model", "momentum_sgd", "DEFORMATION_SEED", "train", "predict", "tile",
           "merged_cells", "split_cells", "separation_counts", "tile_scores"]


REGIMES = ("frozen", "fine_tune", "scratch", "early")


@dataclasses.dataclass(frozen=True)
class TrainingConfig(LabSettings):
    """Every end-to-end run of the claims; fixed before looking at any result."""

    seeds: tuple[int, ...] = tuple(range(5))  # five training runs per arm
    steps: int = 250
    fine_tune_factor: float = 0.1  # the encoder's learning rate when fine-tuning: "tuned finely", not retrained
    camvid_size: tuple[int, int] = (96, 128)
    tile: int = 128  # ISBI 2012 slices (512x512) are cut into 16 tiles of 128x128
    small_camvid: int = 16  # frames: the "small data" of the transfer claim (the large is all 367)
    small_isbi: int = 2  # slices (32 tiles; the large is all 25 training slices, 400 tiles)
    few_slices: int = 5  # U-Net's "only 5-10 slices labelled"
    scratch_steps: int = 500  # SegNet against FCN: both trained from scratch, so more steps
    vgg_width: float = 0.25
    unet_steps: int = 300  # U-Net's elastic deformation claim (2 arms)
    weight_map_steps: int = 240  # U-Net's weight map claim: 3 arms, so fewer steps, to stay within ~20 CPU minutes
    unet_width: float = 0.25
    momentum_tile: int = 128  # U-Net's optimizer claim: one 128x128 tile per step (256x256 cost 29 min for 6 runs)
    momentum_steps: int = 400
    sgd_step: float = 0.1  # SGD's effective step lr / (1 - momentum): the same for momentum 0.9 and 0.99
    pspnet_steps: int = 150  # PSPNet's auxiliary loss: the pretrained encoder fine-tuned end to end (2 arms)
    pspnet_size: tuple[int, int] = (96, 128)


@dataclasses.dataclass
class Frames:
    """images (N, C, H, W) float32 in [0, 1]; masks (N, H, W) int64 (255 = void); weights (N, H, W) or None."""

    images: torch.Tensor
    masks: torch.Tensor
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.masks)

    def batch(self, indices: torch.Tensor, generator: torch.Generator, *,
              deformation: torch.Generator | None = None):
        """The frames at `indices`, each flipped at random from `generator` (the batch order's: the same draws for
        every arm with the same seed), then, when `deformation` is given, moved by U-Net's elastic deformation
        drawn from that generator alone (`segedu.lab.deformation.elastic_deformation`: image, mask and weight map
        by one field). Returns images (B, C, H, W), masks (B, H, W), weights (B, H, W) or None."""
        images, masks = self.images[indices].clone(), self.masks[indices].clone()
        weights = None if self.weights is None else self.weights[indices].clone()
        flips = torch.rand(len(indices), generator=generator) < 0.5
        images[flips], masks[flips] = images[flips].flip(-1), masks[flips].flip(-1)
        if weights is not None:
            weights[flips] = weights[flips].flip(-1)
        if deformation is not None:
            images, masks, weights = elastic_deformation(images, masks, weights, generator=deformation)
        return images, masks, weights


def camvid_frames(split: str, *, size: tuple[int, int], subset: int | None = None, data: str = "camvid") -> Frames:
    """CamVid's `split` resized to `size`; `subset` keeps that many frames evenly spread over the split."""
    from ..data import build_dataset

    dataset = build_dataset(data, split, image_size=size, subset=subset)
    images, masks = zip(*[dataset[index] for index in range(len(dataset))])
    return Frames(torch.stack(images), torch.stack(masks).long())


def tile(maps: torch.Tensor, size: int) -> torch.Tensor:
    """(N, [C,] H, W) -> (N * H/size * W/size, [C,] size, size): each map cut into a grid of square tiles."""
    *lead, height, width = maps.shape
    if height % size or width % size:
        raise ValueError(f"tile: a {height}x{width} map does not divide into {size}x{size} tiles")
    grid = maps.reshape(*lead, height // size, size, width // size, size)
    grid = grid.movedim(-3, -2)  # (..., rows, columns, size, size)
    grid = grid.reshape(*lead, -1, size, size)  # (N, [C,] tiles, size, size)
    return grid.movedim(-3, 1).reshape(-1, *lead[1:], size, size)


def isbi_tiles(split: str, *, size: int, slices: int | None = None, weights: bool = False,
               channels: int = 1) -> Frames:
    """ISBI 2012's labelled slices of `split` ("train": 0-24, "val": 25-29), the first `slices` of them, cut
    into size x size tiles; `weights` adds U-Net's border weight map of each tile (`losses.border_weight_map`:
    class balance plus the border term); `channels` repeats the grey image (3 for an ImageNet encoder). Masks: 0
    membrane, 1 cell."""
    from ..data import build_dataset

    dataset = build_dataset("isbi2012", split, image_size=None)
    count = len(dataset) if slices is None else min(slices, len(dataset))
    images, masks = zip(*[dataset[index] for index in range(count)])
    images, masks = tile(torch.stack(images), size), tile(torch.stack(masks).long(), size)
    maps = torch.stack([border_weight_map(mask) for mask in masks]) if weights else None
    return Frames(images.repeat(1, channels, 1, 1), masks, maps)


def class_balance_map(mask: torch.Tensor, *, foreground: int = 1, ignore_index: int = 255) -> torch.Tensor:
    """w_c alone, the first term of U-Net's weight map (Ronneberger et al. 2015, equation 2), for one (H, W) mask ->
    (H, W) float32: each class weighs the inverse of its pixel share in the mask, scaled so the mean weight over
    the valid pixels is 1; ignored pixels weigh 0. It is `losses.border_weight_map(mask, w0=0)` (the test checks
    it) without computing the distances to the cells, which the border term needs and this map does not."""
    valid = mask != ignore_index
    labels = mask.clamp_max(max(int(mask[valid].max()) if valid.any() else 0, foreground))
    counts = torch.bincount(labels[valid].flatten(), minlength=foreground + 1).float()
    class_weights = torch.where(counts > 0, valid.sum() / (counts * (counts > 0).sum()).clamp_min(1), 0.0)
    return torch.where(valid, class_weights[labels].float(), 0.0)


class EncoderHead(nn.Module):
    """A backbone and one of `segedu.lab.frozen`'s heads: (N, C, H, W) -> logits (N, K, H, W). With `frozen` the
    backbone is in eval mode from the start and stays there (its batch-norm statistics fixed), out of the graph.

    A frozen backbone computes the same features of the same image every time, so with `remembered` (a dict, frozen
    backbones only) each image is encoded once: the levels the head reads are kept in the dict, keyed by the image's
    bytes, shape and dtype, the backbone (its name and strides), those levels, the device and the autocast dtype, and
    an image seen again (flipped the same way, training or test, in this model or in another that shares the dict)
    is not encoded again. Models sharing one dict must share the frozen weights (`regime_model`'s ImageNet encoder).
    The features differ from the unremembered ones only by float rounding (an image encoded in another batch). The
    dict grows with every image it sees (about 70 kB per 96x128 image for FCN-8s's levels of Lite0): one per
    experiment, dropped after it."""

    def __init__(self, backbone: nn.Module, head: Head, *, frozen: bool, remembered: dict | None = None):
        super().__init__()
        if remembered is not None and not frozen:
            raise ValueError("EncoderHead: only a frozen backbone's features can be remembered")
        self.backbone, self.head, self.frozen, self.remembered = backbone, head, frozen, remembered
        if frozen:
            backbone.requires_grad_(False)
            backbone.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.remembered is not None and len(images):
            features = self._remembered_features(images)
        else:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                features = self.backbone(images)
        return F.interpolate(self.head(features), size=images.shape[-2:], mode="bilinear", align_corners=False)

    def _remembered_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The head's levels of the frozen backbone's features of `images` (N, C, H, W), encoding only the images not
        yet remembered."""
        levels = tuple(getattr(self.head, "levels", ())) or tuple(self.backbone.levels)
        device = images.device.type
        autocast = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
        setting = (type(self.backbone).__name__, getattr(self.backbone, "name", None),
                   tuple(getattr(self.backbone, "strides", {}).items()), levels, tuple(images.shape[1:]),
                   str(images.dtype), device, str(autocast))
        keys = [setting + (hashlib.blake2b(image.detach().cpu().contiguous().numpy().tobytes(),
                                           digest_size=16).digest(),) for image in images]
        missing = {key: index for index, key in enumerate(keys) if key not in self.remembered}  # one per new image
        if missing:
            with torch.no_grad():
                computed = self.backbone(images[list(missing.values())])
            for row, key in enumerate(missing):
                self.remembered[key] = {level: computed[level][row].clone() for level in levels}
        return {level: torch.stack([self.remembered[key][level] for key in keys]) for level in levels}


def regime_model(regime: str, *, num_classes: int, config: TrainingConfig = TrainingConfig(),
                 backbone: str = "efficientnet_lite0",
                 remembered: dict | None = None) -> tuple[EncoderHead, list[dict]]:
    """The lecture's transfer-learning regimes on one encoder and FCN-8s's head, with their optimizer groups:

    frozen     ImageNet encoder fixed; only the head learns ("fixed feature extractor")
    fine_tune  ImageNet encoder learning at `fine_tune_factor` of the head's rate ("tuned finely")
    scratch    random encoder, everything learns at the head's rate
    early      ImageNet encoder cut after its stride-8 level, fixed; a head on its low-level features (levels 2
               and 3) only, as the lecture advises for little data unlike ImageNet

    With `remembered` (a dict) the fixed encoders of "frozen" and "early" encode each image once and keep its
    features there (`EncoderHead`); runs of one regime sharing a dict encode each image once in all of them (the two
    regimes keep different levels, so each encodes it once for itself). The regimes that train their encoder ignore
    it.
    """
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    encoder = build_backbone(backbone, pretrained=regime != "scratch")
    if regime == "early":
        del encoder.levels["level4"], encoder.levels["level5"]
    head = Head("early" if regime == "early" else "fcn8s", encoder.channels, num_classes, config.hidden)
    fixed = regime in ("frozen", "early")
    model = EncoderHead(encoder, head, frozen=fixed, remembered=remembered if fixed else None)
    rate = config.learning_rate
    groups = [{"params": list(head.parameters()), "lr": rate}]
    if regime in ("fine_tune", "scratch"):
        groups.append({"params": list(encoder.parameters()),
                       "lr": rate * (config.fine_tune_factor if regime == "fine_tune" else 1.0)})
    return model, groups


def object_windows(mask: torch.Tensor, *, classes: tuple[int, ...] = CAMVID_THINGS, margin: float = 1.5,
                   minimum_pixels: int = 64) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of a window centred on each object of one (H, W) mask: every 8-connected region
    of a class in `classes` with at least `minimum_pixels` pixels, its box enlarged by `margin` (and at least a
    quarter of the frame's height) to the frame's aspect ratio, moved inside the frame (`segedu.lab.proposals`)."""
    frame = tuple(mask.shape[-2:])
    return [window_around(box, frame, margin=margin)
            for box in object_boxes(mask, classes=classes, minimum_pixels=minimum_pixels)]


def object_crops(frames: Frames, size: tuple[int, int], *, classes: tuple[int, ...] = CAMVID_THINGS,
                 margin: float = 1.5, minimum_pixels: int = 64) -> Frames:
    """DeconvNet's easy first-stage examples (Noh et al. 2015, section 4.2): one crop per object, centred on it.

    Each of `object_windows` (every region of a class in `classes` with at least `minimum_pixels` pixels, its box
    enlarged by `margin`) cut out and resized to `size` (bilinear image, nearest mask). The paper crops the
    ground-truth boxes of PASCAL's objects enlarged 1.2x; CamVid has no boxes, so the regions stand in for them."""
    cut = [cut_windows(image, mask, object_windows(mask, classes=classes, margin=margin,
                                                   minimum_pixels=minimum_pixels), size)
           for image, mask in zip(frames.images, frames.masks)]
    if not any(len(masks) for _, masks in cut):
        raise ValueError(f"object_crops: no region of the classes {classes} has {minimum_pixels} pixels or more")
    return Frames(torch.cat([images for images, _ in cut]), torch.cat([masks for _, masks in cut]))


def momentum_sgd(groups: list[dict], momentum: float, effective_step: float, *,
                 weight_decay: float = 0.0) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LambdaLR]:
    """SGD with momentum `beta`, bias-corrected, at the effective step `effective_step` = lr / (1 - beta) from the
    first step on: (optimizer, scheduler), the scheduler to be stepped after every optimizer step.

    SGD's buffer (PyTorch, as Caffe, which U-Net used) sums the past gradients, b_t = beta b_(t-1) + g_t, and the
    update is lr b_t. For a steady gradient b_t = g (1 - beta^t) / (1 - beta): the step grows to lr / (1 - beta)
    over about 1 / (1 - beta) steps, 100 for beta = 0.99 (after 100 steps it is at 63%), 10 for 0.9. Two momenta
    at the same lr / (1 - beta) therefore differ in their step size over the first few hundred steps, which in a
    400-step run is a large part of the budget, as well as in what the lecture is about: how many past samples
    each update averages. Dividing the buffer by (1 - beta^t) / (1 - beta), as Adam corrects its first moment
    (Kingma and Ba 2015, algorithm 1), makes every update effective_step times a weighted average of the past
    gradients, the weights (1 - beta) beta^(t-k) / (1 - beta^t) summing to 1: the momenta then differ only in how
    far back the average reaches (about 1 / (1 - beta) steps). We chose this over a learning-rate warm-up of the
    same length for both arms because a warm-up does not make the two steps equal: under it the two buffers still
    fill at their own rates, so early on the 0.99 arm still steps less (at step 50, 39% of its full step against
    the 0.9 arm's 99%), only both less than without it. The buffer does not depend on lr, so the correction is the
    learning-rate factor 1 / (1 - beta^t) at step t (a LambdaLR); the paper uses plain SGD (Caffe), uncorrected:
    a departure."""
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    for group in groups:
        group["lr"] = effective_step * (1 - momentum)
    optimizer = torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    # LambdaLR sets lr = base lr x factor(s) for step s + 1 (s = 0, 1, ...): step t gets 1 / (1 - beta^t)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 - momentum ** (step + 1)))
    return optimizer, scheduler


DEFORMATION_SEED = 1_000_000  # the elastic arm's deformations: seed + this, never the batch order's generator


def train(model: nn.Module, groups: list[dict] | None, frames: Frames, config: TrainingConfig, *, seed: int,
          weighted: bool = False, elastic: bool = False, momentum: float | None = None,
          auxiliary_weight: float | None = None) -> nn.Module:
    """`config.steps` AdamW steps of `config.batch_size` frames drawn in a seeded order (epochs of a random
    permutation of a generator seeded with `seed`, which also draws the flips), cross-entropy with void ignored, or
    U-Net's weighted cross-entropy when `weighted` (with `frames.weights`, whatever map they hold). With `elastic`,
    every batch is moved by U-Net's elastic deformation drawn from a second generator, seeded with `seed` +
    `DEFORMATION_SEED`, so the order and flips are those of an arm without it at every step (and seed s's
    deformations are no other seed's batch order). With `momentum`, bias-corrected SGD with that momentum at the
    effective step `config.sgd_step` (`momentum_sgd`) instead of AdamW. With `auxiliary_weight`, the model's
    auxiliary head runs too (`engine.training_loss`) and its loss counts that much: 0 runs the same forward pass,
    dropout draws included, with no gradient from it."""
    if weighted and frames.weights is None:
        raise ValueError("train(weighted=True) needs frames with weight maps (isbi_tiles(..., weights=True))")
    if momentum is not None and not 0 <= momentum < 1:
        raise ValueError(f"train: momentum must lie in [0, 1), got {momentum}")
    if auxiliary_weight is not None and (weighted or getattr(model, "auxiliary_head", None) is None):
        raise ValueError("train(auxiliary_weight=...) needs a model with an auxiliary head and the plain loss")
    groups = groups if groups is not None else [{"params": list(model.parameters()), "lr": config.learning_rate}]
    scheduler = None
    if momentum is None:
        optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    else:
        optimizer, scheduler = momentum_sgd(groups, momentum, config.sgd_step, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(seed)  # the batch order and the flips, and nothing else
    deformation = torch.Generator().manual_seed(seed + DEFORMATION_SEED) if elastic else None

    def batches():
        order = torch.empty(0, dtype=torch.long)
        for _ in range(config.steps):
            if len(order) < config.batch_size:
                order = torch.cat([order, torch.randperm(len(frames), generator=generator)])
            indices, order = order[:config.batch_size], order[config.batch_size:]
            images, masks, weights = frames.batch(indices, generator, deformation=deformation)
            yield images, ((masks, weights) if weighted else masks)

    if weighted:
        objective = segmentation_objective(lambda logits, targets: weighted_cross_entropy(logits, *targets))
    else:
        objective = segmentation_objective(lambda logits, masks: F.cross_entropy(logits, masks, ignore_index=255),
                                           auxiliary_weight)
    return train_steps(model, optimizer, batches(), objective, scheduler=scheduler)


def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 16) -> torch.Tensor:
    """(N, C, H, W) -> class indices (N, H, W): `segedu.engine.predict` on chunks of `batch_size` frames."""
    model.eval()
    return torch.cat([predicted_classes(predict_logits(model, chunk)) for chunk in images.split(batch_size)])


def _overlaps(prediction: torch.Tensor, mask: torch.Tensor, cell: int) -> torch.Tensor:
    """(T + 1, P + 1) pixel counts of every true cell (rows; 8-connected regions of `cell` in the (H, W) mask, 0 the
    rest) overlapping every predicted cell region (columns; 0 the rest)."""
    truth = connected_components(mask == cell)  # (H, W): 0 membrane, 1..T cells
    found = connected_components(prediction == cell)  # 0 membrane, 1..P regions
    inside = (truth > 0) & (found > 0)
    overlap = torch.zeros(int(truth.max()) + 1, int(found.max()) + 1, dtype=torch.long)
    overlap.index_put_((truth[inside], found[inside]), torch.ones(int(inside.sum()), dtype=torch.long),
                       accumulate=True)
    return overlap


def _best_matches(overlap: torch.Tensor) -> torch.Tensor:
    """(R + 1, C + 1) overlaps -> (R,) for each of the rows 1..R the column 1..C that covers most of its pixels,
    0 where none does (ties: the first)."""
    rows = overlap[1:, 1:]
    if rows.shape[1] == 0:
        return torch.zeros(rows.shape[0], dtype=torch.long)
    return torch.where(rows.amax(1) > 0, rows.argmax(1) + 1, 0)


def separation_counts(predictions: torch.Tensor, masks: torch.Tensor, *, cell: int = 1) -> dict[str, torch.Tensor]:
    """(F, H, W) predictions and masks -> {"merged": (F, 2) [merged, cells], "split": (F, 2) [split, cells]} per
    frame, the connected components computed once: `merged_cells` and `split_cells`."""
    merged, split = [], []
    for prediction, mask in zip(predictions, masks):
        overlap = _overlaps(prediction, mask, cell)  # (T + 1, P + 1)
        cells, regions = overlap.shape[0] - 1, overlap.shape[1] - 1
        region_of_cell = _best_matches(overlap)  # (T,) the region each true cell lies in most
        cells_per_region = torch.bincount(region_of_cell, minlength=regions + 1)
        merged.append((int(((region_of_cell > 0) & (cells_per_region[region_of_cell] > 1)).sum()), cells))
        cell_of_region = _best_matches(overlap.T)  # (P,) the true cell each region lies in most
        regions_per_cell = torch.bincount(cell_of_region, minlength=cells + 1)[1:]
        split.append((int((regions_per_cell > 1).sum()), cells))
    return {"merged": torch.tensor(merged, dtype=torch.long).view(-1, 2),
            "split": torch.tensor(split, dtype=torch.long).view(-1, 2)}


def merged_cells(predictions: torch.Tensor, masks: torch.Tensor, *, cell: int = 1) -> torch.Tensor:
    """(F, H, W) predictions and masks -> (F, 2) [merged, cells] per frame.

    Each true cell (an 8-connected region of `cell` in the mask) is matched with the predicted cell region that
    covers most of its pixels; it is *merged* when that region is also the best match of another true cell, i.e.
    a membrane between them was missed. A cell no predicted region touches is not merged."""
    return separation_counts(predictions, masks, cell=cell)["merged"]


def split_cells(predictions: torch.Tensor, masks: torch.Tensor, *, cell: int = 1) -> torch.Tensor:
    """(F, H, W) predictions and masks -> (F, 2) [split, cells] per frame: `merged_cells` with the roles swapped.

    Each predicted cell region is matched with the true cell (an 8-connected region of `cell` in the mask) that
    covers most of its pixels; a true cell is *split* when two or more predicted regions are matched with it, i.e.
    a membrane was predicted across it. A region that reaches into a cell but lies mostly in its neighbour is the
    neighbour's (a membrane predicted a little off its place splits nothing); a region over membrane only is
    nobody's."""
    return separation_counts(predictions, masks, cell=cell)["split"]


def tile_scores(predictions: torch.Tensor, masks: torch.Tensor, *, size: int, num_classes: int) -> Scores:
    """Per-tile counts of whole-slice predictions: more, smaller frames for the paired bootstrap."""
    return score_frames(tile(predictions, size), tile(masks, size), num_classes=num_classes)
