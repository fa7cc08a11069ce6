"""Mask R-CNN's idea, small: a region, RoIAlign, a mask per region (He, Gkioxari, Dollar, Girshick, ICCV 2017).

A semantic network labels pixels; two touching discs come out as one disc-shaped region. Mask R-CNN works per
object instead: for every region (a box), RoIAlign samples the shared feature map at a fixed 14x14 grid inside
the box (bilinear, no rounding of the box's corners: section 3 of the paper), a small head predicts the region's
class, and a mask head predicts a 28x28 mask for each class; the mask of the predicted class is resized into the
box. Overlapping objects are separated because each has its own box.

    model = TinyMaskRCNN(num_classes=4)                    # 4 thing classes; 0 is the background
    classes, masks = model(images, boxes)                  # images (N, 3, H, W), boxes: N tensors (B_i, 4) x0 y0 x1 y1
    # classes (sum B_i, num_classes) logits; masks (sum B_i, num_classes, 28, 28) logits
    ids, labels = paste_instances(model, image, boxes)     # (H, W) instance ids 1..B and their classes

Departures from the paper, to train in seconds on a CPU: no region proposal network and no box regression (the
boxes come from outside: the true boxes, jittered during training, stand in for a detector, so what is measured is
the region-then-mask idea, not detection); a five-layer stride-4 encoder instead of ResNet-50-FPN; one RoIAlign
level; the mask head has two 3x3 convolutions instead of four. The class-specific masks and the per-mask sigmoid
loss on the true class's mask only (section 3, "decoupling" mask and class) are as published.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import masks_to_boxes, roi_align

from .engine import train_steps
from .layers import ConvBNReLU

__all__ = ["TinyMaskRCNN", "MaskConfig", "instance_targets", "jitter_boxes", "mask_rcnn_loss", "paste_instances",
           "train_mask_rcnn", "score_instances", "load_shipped"]

POOLED = 14  # RoIAlign's output grid, as in the paper's mask branch
MASK = 28  # the mask head's output: 2x the pooled grid


class TinyMaskRCNN(nn.Module):
    """images (N, 3, H, W) in [0, 1] + boxes per image -> region class logits (R, K) and mask logits (R, K, 28, 28).

    `num_classes` counts the thing classes (K); the region classifier has no background class, since every box
    given is an object here (no proposals to reject)."""

    def __init__(self, num_classes: int, *, width: int = 64):
        super().__init__()
        self.num_classes = num_classes
        self.encoder = nn.Sequential(  # (N, 3, H, W) -> (N, width, H/4, W/4); receptive field 51 px
            ConvBNReLU(3, width // 2, stride=2), ConvBNReLU(width // 2, width), ConvBNReLU(width, width, stride=2),
            ConvBNReLU(width, width, dilation=2), ConvBNReLU(width, width, dilation=4))
        self.stride = 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * (POOLED // 2) ** 2, 128), nn.ReLU(inplace=True),
                                        nn.Linear(128, num_classes))
        self.mask_head = nn.Sequential(  # (R, width, 14, 14) -> (R, K, 28, 28)
            ConvBNReLU(width, width), ConvBNReLU(width, width),
            nn.ConvTranspose2d(width, width, 2, stride=2), nn.ReLU(inplace=True), nn.Conv2d(width, num_classes, 1))

    def forward(self, images: torch.Tensor, boxes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(images)  # (N, C, H/4, W/4)
        # RoIAlign: each box in image pixels, scaled by 1/4 onto the feature map, sampled at 14x14 bilinearly
        regions = roi_align(features, [box.to(features.dtype) for box in boxes], output_size=POOLED,
                            spatial_scale=1 / self.stride, sampling_ratio=2, aligned=True)  # (R, C, 14, 14)
        classes = self.classifier(F.max_pool2d(regions, 2))  # (R, K)
        return classes, self.mask_head(regions)  # (R, K), (R, K, 28, 28)


def instance_targets(mask: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One scene's true instances: boxes (B, 4) x0 y0 x1 y1 (pixel edges), classes (B,) in 0..K-1 (the semantic
    class minus one: class 0 is the background), binary masks (B, H, W)."""
    numbers = ids.unique()
    numbers = numbers[numbers > 0]
    masks = ids[None] == numbers[:, None, None]  # (B, H, W)
    if len(numbers) == 0:
        return torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), masks
    boxes = masks_to_boxes(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0])  # last pixel's index -> its far edge
    classes = torch.stack([mask[region][0] for region in masks]) - 1
    return boxes, classes, masks


def jitter_boxes(boxes: torch.Tensor, generator: torch.Generator, *, fraction: float = 0.1,
                 size: int | None = None) -> torch.Tensor:
    """Move each corner by up to `fraction` of the box's side: what a detector's imperfect boxes look like."""
    sides = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)  # (B, 4): w h w h
    moved = boxes + fraction * sides * (2 * torch.rand(boxes.shape, generator=generator) - 1)
    return moved.clamp(0, size) if size is not None else moved


def mask_rcnn_loss(model: TinyMaskRCNN, images: torch.Tensor, boxes: list[torch.Tensor], classes: list[torch.Tensor],
                   masks: list[torch.Tensor]) -> torch.Tensor:
    """Cross-entropy on each region's class + binary cross-entropy on its true class's 28x28 mask (equation 1's
    L_cls + L_mask; the paper's L_box has no box regression to train here). The mask target is the instance's
    binary mask sampled by RoIAlign in the same box, as in the paper."""
    class_logits, mask_logits = model(images, boxes)
    true_classes = torch.cat(classes)
    targets = roi_align(torch.cat(masks)[:, None].float(), _indexed(boxes), output_size=MASK, sampling_ratio=2,
                        aligned=True)[:, 0]  # (R, 28, 28) in [0, 1]
    chosen = mask_logits[torch.arange(len(true_classes)), true_classes]  # (R, 28, 28): the true class's mask
    return F.cross_entropy(class_logits, true_classes) + F.binary_cross_entropy_with_logits(chosen, targets)


def _indexed(boxes: list[torch.Tensor]) -> torch.Tensor:
    """Every box against its own instance mask: (R, 5) rows [r, x0, y0, x1, y1] for roi_align on (R, 1, H, W)."""
    flat = torch.cat(boxes).float()
    return torch.cat([torch.arange(len(flat), dtype=flat.dtype)[:, None], flat], 1)


@torch.no_grad()
def paste_instances(model: TinyMaskRCNN, image: torch.Tensor, boxes: torch.Tensor, *,
                    threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """One image (3, H, W) and its boxes (B, 4) -> instance ids (H, W) (0 = none, i + 1 = box i) and classes (B,).

    Each box's mask of its predicted class is resized into the box (bilinear, as the paper's inference); a pixel
    above `threshold` for several boxes goes to the one with the highest probability."""
    model.eval()
    height, width = image.shape[-2:]
    if len(boxes) == 0:
        return torch.zeros(height, width, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    class_logits, mask_logits = model(image[None], [boxes])
    classes = class_logits.argmax(1)
    probabilities = torch.sigmoid(mask_logits[torch.arange(len(boxes)), classes])  # (B, 28, 28)
    canvas = torch.zeros(len(boxes), height, width)
    for index, (box, probability) in enumerate(zip(boxes.tolist(), probabilities)):
        x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)  # the pixels the box covers
        x1, y1 = min(math.ceil(box[2]), width), min(math.ceil(box[3]), height)
        if x1 <= x0 or y1 <= y0:
            continue
        canvas[index, y0:y1, x0:x1] = F.interpolate(probability[None, None], size=(y1 - y0, x1 - x0),
                                                    mode="bilinear", align_corners=False)[0, 0]
    best, owner = canvas.max(0)
    return torch.where(best > threshold, owner + 1, 0), classes


# ---- training on Shapes instances, and the shipped checkpoint --------------------------------------------------

TEST_SCENES = range(64)  # render_scene seeds of the scenes scored (notebook 00's panoptic-quality scenes)
TRAIN_OFFSET = 100_000  # training scenes use seeds from here on: never a test scene


@dataclasses.dataclass(frozen=True)
class MaskConfig:
    """How the shipped TinyMaskRCNN was trained (fixed before looking at its scores)."""

    steps: int = 2000
    scenes: int = 2048  # training scenes, seeds TRAIN_OFFSET + i (drawn once: rendering one costs ~50 ms)
    batch_size: int = 16  # scenes per step, drawn at random from those
    learning_rate: float = 2e-3  # AdamW, cosine to 0
    weight_decay: float = 1e-4
    width: int = 32
    size: int = 64  # scene side in pixels
    jitter: float = 0.1  # box corners moved by up to this fraction of the side, in training
    seed: int = 0


def _scene(seed: int, size: int):
    from .data.shapes import render_scene

    return render_scene(torch.Generator().manual_seed(seed), size, instances=True)


def train_mask_rcnn(config: MaskConfig = MaskConfig(), *, progress: bool = False) -> TinyMaskRCNN:
    """Train a TinyMaskRCNN on freshly drawn Shapes scenes, deterministically in `config`."""
    torch.manual_seed(config.seed)
    model = TinyMaskRCNN(4, width=config.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    generator = torch.Generator().manual_seed(config.seed)
    steps = range(config.steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="training Mask R-CNN")
    pool = [_scene(TRAIN_OFFSET + index, config.size) for index in range(config.scenes)]

    def batches():  # (images, (jittered boxes, classes, masks)) of scenes drawn from the pool
        for _ in steps:
            scenes = [pool[index] for index in torch.randint(0, len(pool), (config.batch_size,), generator=generator)]
            targets = [instance_targets(mask, ids) for _, mask, ids in scenes]
            boxes = [jitter_boxes(boxes, generator, fraction=config.jitter, size=config.size) for boxes, _, _ in targets]
            yield (torch.stack([image for image, _, _ in scenes]),
                   (boxes, [classes for _, classes, _ in targets], [masks for _, _, masks in targets]))

    def objective(model: TinyMaskRCNN, images: torch.Tensor, targets: tuple) -> torch.Tensor:
        return mask_rcnn_loss(model, images, *targets)

    return train_steps(model, optimizer, batches(), objective, scheduler=schedule)


def score_instances(model: TinyMaskRCNN, *, size: int = 64, scenes=TEST_SCENES) -> dict:
    """PQ / SQ / RQ on the test scenes with the true boxes as the regions (an oracle detector), with and without
    the classes (class-agnostic: every thing counted as one class), and the region classes' accuracy."""
    from .panoptic import panoptic_quality

    truth, predicted, agnostic_truth, agnostic, hits, regions = [], [], [], [], 0, 0
    for seed in scenes:
        image, mask, ids = _scene(seed, size)
        boxes, classes, _ = instance_targets(mask, ids)
        instances, predicted_classes = paste_instances(model, image, boxes)
        semantic = torch.where(instances > 0, (predicted_classes + 1)[(instances - 1).clamp(min=0)], 0)
        truth.append(torch.stack([mask, ids], -1))
        predicted.append(torch.stack([semantic, instances], -1))
        agnostic_truth.append(torch.stack([(mask > 0).long(), ids], -1))
        agnostic.append(torch.stack([(instances > 0).long(), instances], -1))
        hits += int((predicted_classes == classes).sum())
        regions += len(classes)
    score = panoptic_quality(torch.stack(predicted), torch.stack(truth), things={1, 2, 3, 4}, stuffs={0})
    plain = panoptic_quality(torch.stack(agnostic), torch.stack(agnostic_truth), things={1}, stuffs={0})
    return {"pq": score["pq"], "sq": score["sq"], "rq": score["rq"], "per_class": score["per_class"],
            "agnostic": {key: plain[key] for key in ("pq", "sq", "rq")}, "class_accuracy": hits / regions,
            "regions": regions}


SHIPPED = Path(__file__).parent / "pretrained" / "mask_rcnn_shapes.pt"


def load_shipped(path: Path | str = SHIPPED) -> tuple[TinyMaskRCNN, dict]:
    """The TinyMaskRCNN that ships with the course (trained by `python -m segedu.instance`), in eval mode, and its
    checkpoint (config, metrics, command, seconds). Read with weights_only=True after a CRC check."""
    from .checkpoint import load_checkpoint

    state = load_checkpoint(path)
    config = MaskConfig(**state["config"])
    model = TinyMaskRCNN(4, width=config.width)
    model.load_state_dict({name: tensor.float() for name, tensor in state["model"].items()})
    return model.eval(), state


def main(argv: list[str] | None = None) -> None:
    """python -m segedu.instance [--steps N] [--out FILE]: train, score and save the shipped checkpoint."""
    import argparse
    import platform
    import sys
    import time

    from .checkpoint import save_checkpoint

    parser = argparse.ArgumentParser(prog="python -m segedu.instance", description=main.__doc__)
    parser.add_argument("--steps", type=int, default=MaskConfig.steps)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    arguments = parser.parse_args(argv)
    if arguments.steps < 1:
        parser.error(f"--steps must be at least 1, got {arguments.steps}")
    config = dataclasses.replace(MaskConfig(), steps=arguments.steps)
    started = time.perf_counter()
    model = train_mask_rcnn(config, progress=True)
    seconds = time.perf_counter() - started
    weights = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in model.state_dict().items()}
    model.load_state_dict({name: tensor.float() for name, tensor in weights.items()})  # score what ships: float16
    metrics = score_instances(model, size=config.size)
    save_checkpoint(arguments.out, {
        "model": weights,
        "config": dataclasses.asdict(config), "metrics": metrics, "seconds": seconds,
        "command": "python -m segedu.instance " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"})
    print(f"{arguments.out}: PQ {100 * metrics['pq']:.1f} (SQ {100 * metrics['sq']:.1f}, RQ {100 * metrics['rq']:.1f}), "
          f"class-agnostic PQ {100 * metrics['agnostic']['pq']:.1f}, region classes {100 * metrics['class_accuracy']:.1f}% "
          f"right; {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
