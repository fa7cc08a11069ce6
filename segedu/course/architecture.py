"""Architecture diagrams drawn from the model itself, so they cannot drift from the code.

    steps = trace(build_model("unet", num_classes=2, in_channels=1, padding=False), (1, 572, 572))
    draw(steps, title="U-Net")        # one box per part, its height the map's side, its width the channels

`trace` rebuilds the model on PyTorch's meta device from its `build_spec` (no weights are allocated, so even
FCN's 134M parameters trace in milliseconds), runs one image of `input_shape` through `model.core` (encoder ->
decoder -> head, without the padding and resizing `forward` adds; give a size the encoder takes, e.g. a multiple of
32) with forward hooks on the parts of `encoder`, `decoder` and `head`, and records each part's output shape. The
steps follow the order in which the forward pass reaches them, which is the data's path through the network.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Step", "trace", "draw", "describe"]

PARTS = ("encoder", "decoder", "head", "auxiliary_head")
PASSING = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.Identity)  # shape-keeping: not drawn
COLOURS = {"encoder": "#4C72B0", "decoder": "#DD8452", "head": "#55A868", "auxiliary_head": "#8172B3"}


@dataclasses.dataclass(frozen=True)
class Step:
    """One part of the network: its module path, type, and output shape(s) without the batch dimension."""

    name: str
    kind: str
    shapes: tuple[tuple[int, ...], ...]

    @property
    def part(self) -> str:
        return self.name.split(".")[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """The main output: the last (finest or only) 3-D map this step produced."""
        return self.shapes[-1]


def _shapes(output) -> tuple[tuple[int, ...], ...]:
    if isinstance(output, torch.Tensor):
        return (tuple(output.shape[1:]),) if output.ndim == 4 else ()
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return tuple(shape for item in output for shape in _shapes(item))
    return ()


def _parts(model: nn.Module, depth: int) -> list[tuple[str, nn.Module]]:
    """The modules `depth` levels below encoder / decoder / head (fewer where a part is a leaf). Containers that
    are never called themselves (ModuleList, ModuleDict) are looked through: their items count at their level."""
    def children(name, module):
        found = []
        for child_name, child in module.named_children():
            if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
                found += children(f"{name}.{child_name}", child)
            else:
                found.append((f"{name}.{child_name}", child))
        return found

    chosen = []
    for part in PARTS:
        module = getattr(model, part, None)
        if module is None:
            continue
        frontier = [(part, module)]
        for _ in range(depth):
            expanded = []
            for name, parent in frontier:
                expanded += children(name, parent) or [(name, parent)]
            frontier = expanded
        chosen += frontier
    return chosen


def trace(model: nn.Module, input_shape: Sequence[int], *, depth: int = 1) -> list[Step]:
    """The path of one (C, H, W) input through `model`'s parts `depth` levels below encoder, decoder and head
    (activations, dropout and batch norm, which keep the shape, are left out).

    A segedu model is rebuilt on the meta device from its `build_spec` (the weights are never allocated); any
    other module is traced as it is, on its own device."""
    from ..models import rebuild_model

    spec = getattr(model, "build_spec", None)
    if spec:
        with torch.device("meta"):
            model = rebuild_model(spec)
    device = next(model.parameters()).device
    steps: list[Step] = []
    seen: set[int] = set()

    def record(name):
        def hook(module, inputs, output):
            if isinstance(module, PASSING):
                return
            shapes = _shapes(output)
            if shapes and id(module) not in seen:  # a module called twice (a shared pooling) is drawn once
                seen.add(id(module))
                steps.append(Step(name, type(module).__name__, shapes))
        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in _parts(model, depth)]
    run = getattr(model, "core", model)  # a segedu model's sentence without the padding and resizing around it
    try:
        with torch.no_grad():
            model.eval()
            run(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return steps


def describe(steps: Sequence[Step]) -> str:
    """A table of the steps: part, module, output shape (C x H x W)."""
    lines = [f"{'step':38s} {'module':22s} output (C x H x W)"]
    for step in steps:
        shapes = ", ".join("x".join(map(str, shape)) for shape in step.shapes[-3:])
        more = f" (+{len(step.shapes) - 3} more)" if len(step.shapes) > 3 else ""
        lines.append(f"{step.name:38s} {step.kind:22s} {shapes}{more}")
    return "\n".join(lines)


def draw(steps: Sequence[Step], *, title: str = "", axis=None):
    """Boxes left to right, one per step: height grows with the map's side (linearly), width with the channels (on a
    log scale), colour by part (encoder, decoder, head); above each box its channels and size, below it the part's
    name (or its module type where the name is a number). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    if axis is None:
        figure, axis = plt.subplots(figsize=(max(6.0, 0.55 * len(steps) + 1.5), 3.6), layout="constrained", dpi=72)
    else:
        figure = axis.figure
    largest = max(max(step.shape[-2:]) for step in steps)
    x = 0.0
    for step in steps:
        channels, height = step.shape[0], step.shape[-2]
        box_height = 0.15 + 0.85 * height / largest  # the map's side, linearly: the pooling steps show
        box_width = 0.15 + 0.08 * math.log2(1 + channels)
        axis.add_patch(Rectangle((x, -box_height / 2), box_width, box_height, facecolor=COLOURS[step.part],
                                 edgecolor="black", linewidth=0.6, alpha=0.85))
        axis.text(x + box_width / 2, box_height / 2 + 0.04, f"{channels}\n{step.shape[-2]}x{step.shape[-1]}",
                  ha="center", va="bottom", fontsize=6.5)
        tail = step.name.split(".")[-1]
        label = step.kind if tail.isdigit() or step.name == step.part else tail  # "decoder.0" says less than its kind
        axis.text(x + box_width / 2, -box_height / 2 - 0.04, label, ha="center", va="top", fontsize=7, rotation=90)
        x += box_width + 0.12
    axis.set(xlim=(-0.1, x), ylim=(-1.05, 0.9), title=title)
    axis.set_axis_off()
    parts = [part for part in PARTS if any(step.part == part for step in steps)]
    axis.legend(handles=[Patch(facecolor=COLOURS[part], label=part.replace("_", " ")) for part in parts],
                loc="upper right", fontsize=7, frameon=False, ncols=len(parts))
    return figure
