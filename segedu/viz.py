"""Figures: masks in class colours, overlays with a legend of class names, predictions beside the truth.

Every figure has a title, labelled axes where axes mean something, and a legend naming the classes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .language import tr

__all__ = ["colorize", "image_to_numpy", "overlay", "class_legend", "show_predictions", "LivePlot", "figure_png"]

IGNORE_COLOUR = (0, 0, 0)


def figure_png(figure, *, dpi: int = 100) -> bytes:
    """A matplotlib Figure as PNG bytes, whatever the backend (CI runs with Agg; notebooks inline)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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


def class_legend(target, class_names: Sequence[str], palette: Sequence[Sequence[int]], *, void: bool = False,
                 **options) -> None:
    """Add a legend of coloured patches, one per class: beside a matplotlib axis (on its right), or below all the
    panels of a figure in rows of six (the figure made with layout="constrained"), which leaves a grid of pictures
    its full width. Each patch has a thin grey edge, so that a white class shows on the white page. `void` adds the
    colour `colorize` gives unlabelled pixels, for pictures of labels that have some."""
    from matplotlib.figure import FigureBase
    from matplotlib.patches import Patch

    entries = list(zip(class_names, palette)) + ([(tr("void (not scored)"), IGNORE_COLOUR)] if void else [])
    handles = [Patch(facecolor=np.asarray(colour) / 255, edgecolor="0.6", linewidth=0.5, label=name)
               for name, colour in entries]
    placed = ({"loc": "outside lower center", "ncols": 6} if isinstance(target, FigureBase)
              else {"loc": "center left", "bbox_to_anchor": (1.01, 0.5)})
    target.legend(handles=handles, **{**placed, "fontsize": 9, "frameon": False, **options})


def show_predictions(images: torch.Tensor, masks: torch.Tensor, predictions: torch.Tensor, *,
                     class_names: Sequence[str], palette: Sequence[Sequence[int]], title: str = "Predictions",
                     path: Path | str | None = None):
    """A grid: one row per sample, columns image | ground truth | prediction, with a class legend.

    images (N, C, H, W) in [0, 1]; masks and predictions (N, H, W); or lists of N such (C, H, W) and (H, W) tensors,
    whose sizes may differ. Saves to `path` when given; returns the figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = len(images)
    figure, axes = plt.subplots(rows, 3, figsize=(10, 2.4 * rows + 0.6), squeeze=False, layout="constrained")
    for row in range(rows):
        panels = (image_to_numpy(images[row]), overlay(images[row], masks[row], palette),
                  overlay(images[row], predictions[row], palette))
        for column, (panel, name) in enumerate(zip(panels, ("image", "ground truth", "prediction"))):
            axes[row, column].imshow(panel)
            axes[row, column].set_axis_off()
            if row == 0:
                axes[row, column].set_title(name)
    class_legend(figure, class_names, palette)  # below the grid
    figure.suptitle(title)
    if path is not None:
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return figure


class LivePlot:
    """Live training curves in a notebook: loss and a validation metric per epoch, one line per run, redrawn in place.

    Use it as a `fit` callback (`fit(..., callbacks=[plot])`), or name a run per model so several models share one
    figure (`callbacks=[plot.run("fcn8s")]`), or feed it records by hand from your own loop
    (`plot({"epoch": 1, "train_loss": 0.9, "val_miou": 0.31}, run="FCN-8s")`). Records without the metric (a run
    trained without validation data) draw the loss only. Outside IPython nothing is displayed; `figure()` still draws.

    Args:
        title: the figure's title.
        metric: the record key drawn on the right (a fraction in [0, 1], drawn in percent).
        metric_label: its axis label.
    """

    replaces_report = True  # `fit` prints no per-epoch line when a LivePlot shows the epochs

    def __init__(self, title: str = "Training", *, metric: str = "val_miou", metric_label: str = "validation mIoU (%)"):
        self.title, self.metric, self.metric_label = title, metric, metric_label
        self.runs: dict[str, list[dict[str, float]]] = {}
        self.handle = None

    def __call__(self, record: dict[str, float], *, run: str | None = None, show: bool = True) -> None:
        """Add `record` (epoch, train_loss and optionally the metric) to `run`; redraw unless `show` is False."""
        self.runs.setdefault(run or self.title, []).append(dict(record))
        if show:
            self.show()

    def run(self, name: str):
        """A `fit` callback that adds its records to the run `name` (one line in each panel)."""

        def callback(record: dict[str, float]) -> None:
            self(record, run=name)

        callback.replaces_report = True
        return callback

    @property
    def records(self) -> list[dict[str, float]]:
        """Every record of every run, in the order they came."""
        return [record for records in self.runs.values() for record in records]

    def figure(self):
        """Loss (left) and the metric (right) against epoch, one line per run; returns a matplotlib Figure."""
        import matplotlib
        from matplotlib.figure import Figure

        figure = Figure(figsize=(10, 3.2))  # laid out by hand: constrained layout triples the drawing time
        loss_axis, metric_axis = figure.subplots(1, 2)
        several = len(self.runs) > 1
        colours = [f"C{index}" for index in range(10)] if len(self.runs) <= 10 else [
            matplotlib.colormaps["tab20"](index % 20) for index in range(len(self.runs))]
        for index, (name, records) in enumerate(self.runs.items()):
            epochs = [record["epoch"] for record in records]
            loss_axis.plot(epochs, [record["train_loss"] for record in records], "o-", color=colours[index],
                           label=name if several else "training loss")
            if any(self.metric in record for record in records):
                metric_axis.plot(epochs, [100 * record.get(self.metric, float("nan")) for record in records], "o-",
                                 color=colours[index], label=name if several else self.metric_label.replace(" (%)", ""))
        loss_axis.set(xlabel="epoch", ylabel="training loss", title="Loss")
        metric_title = self.metric_label.replace(" (%)", "")
        metric_axis.set(xlabel="epoch", ylabel=self.metric_label, title=metric_title[:1].upper() + metric_title[1:])
        for axis in (loss_axis, metric_axis):
            axis.grid(alpha=0.3)
            axis.xaxis.get_major_locator().set_params(integer=True)
        if not metric_axis.lines:
            metric_axis.text(0.5, 0.5, "no validation data", ha="center", va="center", transform=metric_axis.transAxes,
                             color="0.5")
        if several:  # one legend of runs, right of both panels (a run's colour is the same in each)
            right = 0.8 if len(self.runs) <= 8 else 0.66
            figure.legend(handles=loss_axis.lines, loc="center left", bbox_to_anchor=(right + 0.01, 0.5), fontsize=9,
                          ncol=1 if len(self.runs) <= 8 else 2, frameon=False, title="run")
            figure.subplots_adjust(left=0.07, right=right, bottom=0.16, top=0.82, wspace=0.3)
        else:
            for axis in (loss_axis, metric_axis):
                if axis.lines:
                    axis.legend(fontsize=9)
            figure.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.82, wspace=0.25)
        figure.suptitle(self.title)
        return figure

    def show(self) -> None:
        """Draw the figure in the notebook, replacing the previous drawing (no-op outside IPython)."""
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:  # pragma: no cover - IPython is installed with Jupyter
            return
        shell = get_ipython()
        if shell is None:
            return
        image = self.figure()
        try:  # a formatter for figures (segedu.course's draws them in the learner's language, texts listed)
            shell.display_formatter.formatters["image/png"].lookup(image)
        except KeyError:  # none registered: the PNG as it is
            image = Image(data=figure_png(image), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
