"""Figures: masks in class colours, overlays with a legend of class names, predictions beside the truth.

Every figure has a title, labelled axes where axes mean something, and a legend naming the classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["colorize", "image_to_numpy", "overlay", "class_legend", "show_predictions", "LivePlot"]

IGNORE_COLOUR = (0, 0, 0)


def colorize(mask: torch.Tensor | np.ndarray, palette: Sequence[Sequence[int]], ignore_index: int = 255) -> np.ndarray:
    """Class indices (H, W) -> uint8 RGB (H, W, 3); the ignore index is drawn black."""
    mask = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask).astype(np.int64)
    lookup = np.zeros((256, 3), dtype=np.uint8)
    lookup[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    lookup[ignore_index] = IGNORE_COLOUR
    return lookup[np.clip(mask, 0, 255)]


def image_to_numpy(image: torch.Tensor) -> np.ndarray:
    """float (C, H, W) in [0, 1] -> float (H, W, 3) for imshow (greyscale repeated to RGB)."""
    array = image.detach().float().cpu().clamp(0, 1).numpy().transpose(1, 2, 0)
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array


def overlay(image: torch.Tensor, mask: torch.Tensor, palette: Sequence[Sequence[int]], *, alpha: float = 0.5,
            ignore_index: int = 255) -> np.ndarray:
    """Blend class colours over an image: (C, H, W) image, (H, W) mask -> float (H, W, 3); ignored pixels stay as they are."""
    base = image_to_numpy(image)
    colours = colorize(mask, palette, ignore_index).astype(np.float32) / 255
    keep = (np.asarray(mask.cpu()) == ignore_index)[..., None]
    return np.where(keep, base, (1 - alpha) * base + alpha * colours)


def class_legend(axis, class_names: Sequence[str], palette: Sequence[Sequence[int]], **options) -> None:
    """Add a legend of coloured patches, one per class, to a matplotlib axis."""
    from matplotlib.patches import Patch

    handles = [Patch(color=np.asarray(colour) / 255, label=name) for name, colour in zip(class_names, palette)]
    axis.legend(handles=handles, **{"loc": "center left", "bbox_to_anchor": (1.01, 0.5), "fontsize": 8,
                                    "frameon": False, **options})


def show_predictions(images: torch.Tensor, masks: torch.Tensor, predictions: torch.Tensor, *,
                     class_names: Sequence[str], palette: Sequence[Sequence[int]], title: str = "Predictions",
                     path: Path | str | None = None):
    """A grid: one row per sample, columns image | ground truth | prediction, with a class legend.

    images (N, C, H, W) in [0, 1]; masks and predictions (N, H, W). Saves to `path` when given; returns the figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = images.shape[0]
    figure, axes = plt.subplots(rows, 3, figsize=(11, 2.6 * rows + 0.6), squeeze=False, layout="constrained")
    for row in range(rows):
        panels = (image_to_numpy(images[row]), overlay(images[row], masks[row], palette),
                  overlay(images[row], predictions[row], palette))
        for column, (panel, name) in enumerate(zip(panels, ("image", "ground truth", "prediction"))):
            axes[row, column].imshow(panel)
            axes[row, column].set_axis_off()
            if row == 0:
                axes[row, column].set_title(name)
    class_legend(axes[rows // 2, 2], class_names, palette)
    figure.suptitle(title)
    if path is not None:
        figure.savefig(path, dpi=90)
        plt.close(figure)
    return figure


class LivePlot:
    """A `fit` callback that redraws loss and validation mIoU after every epoch, in place, in a notebook."""

    def __init__(self, title: str = "Training"):
        self.title, self.records, self.handle = title, [], None

    def __call__(self, record: dict[str, float]) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        self.records.append(record)
        epochs = [r["epoch"] for r in self.records]
        figure, (loss_axis, miou_axis) = plt.subplots(1, 2, figsize=(9, 3), layout="constrained")
        loss_axis.plot(epochs, [r["train_loss"] for r in self.records], "o-", label="training loss")
        loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
        miou_axis.plot(epochs, [100 * r.get("val_miou", float("nan")) for r in self.records], "o-", color="C1",
                       label="validation mIoU")
        miou_axis.set(xlabel="epoch", ylabel="mIoU (%)", title="Validation mIoU")
        for axis in (loss_axis, miou_axis):
            axis.legend()
            axis.grid(alpha=0.3)
        figure.suptitle(self.title)
        if self.handle is None:
            self.handle = display(figure, display_id=True)
        else:
            self.handle.update(figure)
        plt.close(figure)
