"""Inference: `predict` (logits for a batch, optionally multi-scale and flipped) and `evaluate` (a confusion
matrix over a data set, scored at the labels' own resolution). The one `predict` of segedu."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from ..metrics import ConfusionMatrix, predicted_classes
from ..runtime import Runtime
from .config import _environment_cap
from .step import model_outputs, unwrapped
from ..language import tr

__all__ = ["predict", "evaluate", "stack_by_size"]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, input_size: tuple[int, int] | None = None,
            output_size: tuple[int, int] | None = None, runtime: Runtime | None = None,
            scales: Sequence[float] = (1.0,), flip: bool = False, rotations: bool = False) -> torch.Tensor:
    """Logits of `model` for a batch (N, C, H, W): resized to `input_size` before the model (e.g. the size it was
    trained at) and to `output_size` after it (default: the images' own (H, W)). Returns float32 logits
    (N, K, *output_size) on the images' device; the model runs on `runtime`'s device (default: the images'),
    in eval mode, and is left in the mode it was in.

    Multi-scale and flipped inputs, as DeepLab v3 uses them at test time: `scales` resizes the input to each
    multiple of its size (`input_size` or the images' own), `flip` adds the mirror image of each; the softmax of
    every pass, brought to `output_size` (and flipped back), is averaged, and its log is returned (argmax and
    softmax work on it as on logits). DeepLab v2 fuses its scales differently: the maximum of each class's score
    over the scales, pixel by pixel (notebook 10 computes both). With one scale of 1 and no flip the model's own
    logits are returned.
    `rotations` adds the input turned by 90, 180 and 270 degrees (each turned back after the model): with `flip`,
    the eight symmetries of the square, as U-Net averaged rotated versions of ISBI 2012's slices (section 4).
    """
    scales = tuple(float(scale) for scale in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(tr("predict's scales must be positive numbers, got {scales}", scales=scales))
    runtime = runtime or Runtime(device=images.device)
    output_size = tuple(output_size or images.shape[-2:])
    base = tuple(input_size or images.shape[-2:])
    was_training = model.training
    model.eval()
    inputs = runtime.images(images)

    def one_pass(size: tuple[int, int], mirrored: bool, turns: int = 0) -> torch.Tensor:
        batch = inputs.flip(-1) if mirrored else inputs
        if turns:
            batch, size = torch.rot90(batch, turns, (-2, -1)), (size[1], size[0]) if turns % 2 else size
        if tuple(batch.shape[-2:]) != size:
            batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
        with runtime.autocast():
            logits, _ = model_outputs(model, batch, auxiliary=False)
        logits = logits.float()
        if turns:
            logits = torch.rot90(logits, -turns, (-2, -1))
        if tuple(logits.shape[-2:]) != output_size:
            logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)
        return logits.flip(-1) if mirrored else logits

    passes = [(tuple(max(1, round(side * scale)) for side in base), mirrored, turns)
              for scale in scales for mirrored in ((False, True) if flip else (False,))
              for turns in ((0, 1, 2, 3) if rotations else (0,))]
    if len(passes) == 1:
        result = one_pass(*passes[0])
    else:
        probabilities = sum(torch.softmax(one_pass(*p), dim=1) for p in passes) / len(passes)
        result = probabilities.clamp_min(1e-12).log()
    model.train(was_training)
    return result.to(images.device)


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 8, device: str = "auto",
             input_size: tuple[int, int] | None = None, runtime: Runtime | None = None, num_classes: int | None = None,
             ignore_index: int = 255, progress: bool = False, max_batches: int | None = None,
             scales: Sequence[float] = (1.0,), flip: bool = False, rotations: bool = False) -> ConfusionMatrix:
    """Run `model` over `data` and return the ConfusionMatrix against its masks.

    `input_size` (height, width) resizes the images before the model (e.g. to the size it was trained at);
    logits are brought back to the masks' size (`predict`), so scores are always measured at the labels' own
    resolution. `runtime` (default: `Runtime.resolve(device)`) says where and how the model runs; the model is
    moved there and stays there. `max_batches` (default: ``SEGEDU_MAX_STEPS``, else all) stops early. `scales`,
    `flip` and `rotations`: multi-scale, flipped and turned inputs, as in `predict`.
    """
    from tqdm.auto import tqdm

    runtime = runtime or Runtime.resolve(device)
    inner = unwrapped(model)
    num_classes = num_classes or getattr(inner, "num_classes", None) or getattr(data, "num_classes", None)
    if not num_classes:
        raise ValueError(tr("evaluate needs num_classes: the model and the data set do not say how many classes "
                            "there are"))
    runtime.place(inner)
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=runtime.device)
    loader = runtime.loader(data, batch_size, collate_fn=stack_by_size)
    max_batches = max_batches or _environment_cap()
    for index, groups in enumerate(tqdm(loader, desc="evaluate", leave=False, disable=not progress)):
        if max_batches is not None and index >= max_batches:
            break
        for images, masks in groups:  # one group per image size: a folder of photos may mix sizes
            masks = runtime.masks(masks)
            logits = predict(model, runtime.images(images), input_size=input_size, output_size=masks.shape[-2:],
                             runtime=runtime, scales=scales, flip=flip, rotations=rotations)
            matrix.update(predicted_classes(logits), masks)
    return matrix


def stack_by_size(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Collate (image, mask) samples into one stacked (images, masks) pair per image size, in order of first
    appearance. Data sets whose images share one size give one pair; a folder mixing sizes gives several, where
    `default_collate` would fail with "stack expects each tensor to be equal size"."""
    from torch.utils.data import default_collate

    groups: dict[tuple[int, ...], list] = {}
    for image, mask in samples:
        groups.setdefault((*image.shape, *mask.shape), []).append((image, mask))
    return [default_collate(group) for group in groups.values()]
