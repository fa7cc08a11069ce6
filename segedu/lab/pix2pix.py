"""U-Net as an image generator: pix2pix (Isola et al., CVPR 2017) on ISBI 2012, membrane label maps painted as
electron microscopy tiles.

The lecture says U-Net is "much used in GANs such as pix2pix" and "to generate the data that medical imaging
lacks". Notebook 09 asks whether that works: the same U-Net the course segments with, given one output channel
(a grey level through a sigmoid), learns to paint a label map as an EM image, trained two ways on the 25 training
slices and compared on the 5 held-out ones:

- **L1 alone**: each pixel's absolute error. It asks, at every pixel, for the median grey that fits the label map
  there; the texture inside a cell is not in the label map, so it comes out smooth;
- **pix2pix**: L1 (weight 100, the paper's lambda) plus the conditional GAN loss of `PatchDiscriminator`, which
  judges 70x70 patches of (label map, image) pairs real or generated. The generator is trained to make the
  discriminator say "real" (the non-saturating loss, -log D(x, G(x)), as the paper does), the discriminator to tell
  them apart, halved (the paper's "divide the objective by 2"), one step each in turn.

Both train from the same initial generator weights on the same batches (128x128 tiles of the slices resized to
256x256, each turned by a random multiple of 90 degrees and mirrored) for the same steps, with Adam at 2e-4 and
betas (0.5, 0.999) as in the paper. `python -m segedu.lab.pix2pix --out FOLDER` trains the two and writes the
course's checkpoints (`pix2pix_isbi2012`, `l1_painter_isbi2012`) with what `painting_scores` measures on the
held-out tiles.

Departures: the generator is the course's U-Net at width 0.125 (3x3 padded convolutions and max pooling, batch norm,
no dropout), not pix2pix's eight levels of 4x4 strided convolutions with dropout as its only noise (the paper found
the output nearly deterministic anyway); at test time batch norm uses its running statistics, where the paper uses
the test batch's; grey is in [0, 1], not [-1, 1], so the L1 term of weight 100 weighs as 50 would in the paper's
range; the weights start from PyTorch's default initialization, not N(0, 0.02); the discriminator is at width 0.25,
the tiles are 128x128 at half the slices' resolution, and training is a few thousand steps on a CPU, not 200 epochs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..models.patchgan import PatchDiscriminator
from .endtoend import tile

__all__ = ["PAINTER", "L1_WEIGHT", "label_and_image_tiles", "build_painter", "discriminator_loss",
           "painter_adversarial_loss", "train_painter", "paint", "painting_scores", "painted_data_runs",
           "shipped_scores", "main"]

PAINTER = {"num_classes": 1, "in_channels": 1, "width": 0.125}  # U-Net: one grey channel out of one label map in
L1_WEIGHT = 100.0  # the paper's lambda
STEPS = 3000


def label_and_image_tiles(data: str, split: str, *, size: int = 128, scale: int = 256
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """`data`'s slices of `split` resized to `scale` x `scale`, cut into `size` x `size` tiles: label maps
    (T, 1, size, size) float (0 membrane, 1 cell) and images (T, 1, size, size) in [0, 1]."""
    from ..data import build_dataset

    frames = build_dataset(data, split, image_size=(scale, scale))
    images, masks = map(torch.stack, zip(*[frames[index] for index in range(len(frames))]))
    if images.shape[1] != 1:
        raise ValueError(f"label_and_image_tiles: {data} {split} has {images.shape[1]}-channel images, not grey "
                         f"EM slices")
    return tile(masks[:, None].float(), size), tile(images, size)


def build_painter(*, seed: int) -> nn.Module:
    """The generator, U-Net with one output channel (`PAINTER`), its initial weights drawn from `seed`."""
    from ..models import build_model

    torch.manual_seed(seed)
    return build_model("unet", **PAINTER)


def _turned(labels: torch.Tensor, images: torch.Tensor, generator: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch turned by one random multiple of 90 degrees and, half the time, mirrored: both alike."""
    quarter = int(torch.randint(0, 4, (1,), generator=generator))
    mirrored = bool(torch.randint(0, 2, (1,), generator=generator))
    labels, images = torch.rot90(labels, quarter, (-2, -1)), torch.rot90(images, quarter, (-2, -1))
    return (labels.flip(-1), images.flip(-1)) if mirrored else (labels, images)


def discriminator_loss(real_logits: torch.Tensor, painted_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's loss on one batch: real pairs' patches labelled 1, painted pairs' 0, binary cross-entropy
    on the logits, the two halves averaged (the paper divides the discriminator's objective by 2, so it learns
    more slowly than the generator)."""
    return 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(painted_logits, torch.zeros_like(painted_logits)))


def painter_adversarial_loss(painted_logits: torch.Tensor) -> torch.Tensor:
    """The generator's GAN loss: -log D(x, G(x)) averaged over the patches (the non-saturating loss the paper
    trains with, instead of minimizing log(1 - D), whose gradient vanishes while D easily spots the fakes)."""
    return F.binary_cross_entropy_with_logits(painted_logits, torch.ones_like(painted_logits))


def train_painter(labels: torch.Tensor, images: torch.Tensor, *, adversarial: bool, seed: int, steps: int = STEPS,
                  batch_size: int = 8, learning_rate: float = 2e-4, progress=None) -> nn.Module:
    """A painter (`build_painter(seed=seed)`) trained for `steps` on tiles `labels` -> `images` ((T, 1, S, S)
    each): L1 alone, or with `adversarial` pix2pix's conditional GAN loss beside it (the module's doc). The
    batches and their turns come from a generator seeded with `seed`, so both ways see the same batches.
    `progress(step, losses)` is called after every step. Returns the generator in eval mode."""
    painter = build_painter(seed=seed)
    discriminator = PatchDiscriminator(2, width=0.25) if adversarial else None
    betas = (0.5, 0.999)
    painter_optimizer = torch.optim.Adam(painter.parameters(), lr=learning_rate, betas=betas)
    if discriminator is not None:
        discriminator_optimizer = torch.optim.Adam(discriminator.parameters(), lr=learning_rate, betas=betas)
    order = torch.Generator().manual_seed(seed)
    painter.train()
    for step in range(steps):
        batch = torch.randint(0, len(labels), (batch_size,), generator=order)
        label_maps, real = _turned(labels[batch], images[batch], order)
        painted = torch.sigmoid(painter(label_maps))  # (B, 1, S, S) grey in [0, 1]
        losses = {"l1": F.l1_loss(painted, real)}
        total = L1_WEIGHT * losses["l1"]
        if discriminator is not None:
            # the discriminator: real pairs -> 1, painted pairs -> 0 (the painter's output detached), halved
            losses["discriminator"] = discriminator_loss(discriminator(torch.cat([label_maps, real], 1)),
                                                         discriminator(torch.cat([label_maps, painted.detach()], 1)))
            discriminator_optimizer.zero_grad()
            losses["discriminator"].backward()
            discriminator_optimizer.step()
            # the painter: make the discriminator call its pairs real
            losses["adversarial"] = painter_adversarial_loss(discriminator(torch.cat([label_maps, painted], 1)))
            total = total + losses["adversarial"]
        painter_optimizer.zero_grad()
        total.backward()
        painter_optimizer.step()
        if progress is not None:
            progress(step, {name: float(value.detach()) for name, value in losses.items()})
    return painter.eval()


@torch.inference_mode()
def paint(painter: nn.Module, labels: torch.Tensor, *, batch_size: int = 50) -> torch.Tensor:
    """Label maps (T, 1, S, S) -> painted tiles (T, 1, S, S), grey in [0, 1]."""
    return torch.cat([torch.sigmoid(painter(chunk)) for chunk in labels.split(batch_size)])


def painting_scores(painted: torch.Tensor, labels: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """How painted tiles compare with the real ones for the same label maps (all (T, 1, S, S)):

    - "l1": the mean absolute error in grey levels (0-1), pixel by pixel against the real tile;
    - "texture": the standard deviation of the grey inside cells (label 1), the painted tiles' over the real
      tiles', 0 for a flat painting, 1 for the real spread;
    - "detail": the mean absolute difference between neighbouring pixels (horizontal and vertical) inside
      cells, painted over real: how much fine structure there is, wherever it is placed."""
    cells = labels == 1

    def detail(tiles: torch.Tensor) -> torch.Tensor:
        across = (tiles[..., :, 1:] - tiles[..., :, :-1]).abs()[cells[..., :, 1:] & cells[..., :, :-1]]
        down = (tiles[..., 1:, :] - tiles[..., :-1, :]).abs()[cells[..., 1:, :] & cells[..., :-1, :]]
        return torch.cat([across, down]).mean()

    return {"l1": float(F.l1_loss(painted, images)),
            "texture": float(painted[cells].std() / images[cells].std()),
            "detail": float(detail(painted) / detail(images))}


def painted_data_runs(training: dict[str, torch.Tensor], labels: torch.Tensor, held_images: torch.Tensor,
                      held_labels: torch.Tensor, *, seeds=(0, 1, 2), epochs: int = 8) -> dict[str, list]:
    """Are painted tiles data a segmenter can learn from? For each arm of `training` ({name: images (T, 1, S, S)},
    all for the same label maps `labels` (T, 1, S, S): the real tiles, or tiles painted from those label maps), a
    `membrane_heads.MembraneHead` on the frozen ImageNet encoder's features is trained on them with each seed
    (the same initial weights and batches in every arm) and scored on the real held-out tiles: {name: [Scores per
    seed]}, per-tile confusions for `claims.verdict.paired` (blocks: the held-out slices)."""
    from .membrane_heads import encoded_tiles, predict_membranes, train_membrane_head
    from .scoring import score_frames

    held_out = encoded_tiles(held_images, held_labels[:, 0].long(), name="held-out tiles")
    runs = {}
    for name, images in training.items():
        tiles = encoded_tiles(images, labels[:, 0].long(), name=f"{name} tiles")
        runs[name] = [score_frames(predict_membranes(train_membrane_head(tiles, "unweighted", seed=seed,
                                                                         epochs=epochs), held_out),
                                   held_out.masks, num_classes=2) for seed in seeds]
    return runs


def shipped_scores(weights: dict[str, torch.Tensor], labels: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    """`painting_scores` of the painter as it ships: its float16 `weights` loaded into a float32 painter, painting
    the label maps `labels` against the real `images`."""
    painter = build_painter(seed=0)
    painter.load_state_dict({key: value.float() if value.is_floating_point() else value
                             for key, value in weights.items()})
    return painting_scores(paint(painter.eval(), labels), labels, images)


def main(argv: list[str] | None = None) -> None:
    """Train the two painters on ISBI 2012's training slices and write them, scored on the held-out slices."""
    from ..checkpoint import save_checkpoint

    parser = argparse.ArgumentParser(prog="python -m segedu.lab.pix2pix", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the folder the two checkpoints are written to")
    parser.add_argument("--data", default="isbi2012", help="isbi2012, or its stand-in membranes")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    arguments.out.mkdir(parents=True, exist_ok=True)
    labels, images = label_and_image_tiles(arguments.data, "train")
    held_labels, held_images = label_and_image_tiles(arguments.data, "val")
    for name, adversarial in (("l1_painter_isbi2012", False), ("pix2pix_isbi2012", True)):
        started = time.perf_counter()

        def progress(step, losses, name=name):
            if (step + 1) % 500 == 0:
                shown = ", ".join(f"{key} {value:.4f}" for key, value in losses.items())
                print(f"{name}: step {step + 1}, {time.perf_counter() - started:.0f} s: {shown}", flush=True)

        painter = train_painter(labels, images, adversarial=adversarial, seed=arguments.seed,
                                steps=arguments.steps, progress=progress)
        minutes = (time.perf_counter() - started) / 60
        weights = {key: value.half() if value.is_floating_point() else value
                   for key, value in painter.state_dict().items()}
        metrics = {**shipped_scores(weights, held_labels, held_images), "split": f"{arguments.data} val tiles",
                   "steps": arguments.steps, "seed": arguments.seed, "minutes": round(minutes, 2)}
        state = {"model": weights, "model_spec": painter.build_spec, "metrics": metrics,
                 "data": {"name": arguments.data, "image_size": [128, 128], "scale": 256}}
        path = save_checkpoint(arguments.out / f"{name}.pt", state)
        print(f"{path}: {metrics}", flush=True)


if __name__ == "__main__":
    main()
