"""Architecture diagrams drawn from the model itself, so they cannot drift from the code.

    steps = trace(build_model("unet", num_classes=2, in_channels=1, padding=False), (1, 572, 572))
    draw(steps, title="U-Net")     # one column per part, each map at the depth of its resolution: U-Net is a U

`trace` rebuilds the model on PyTorch's meta device from its `build_spec` (no weights are allocated, so even
FCN's 134M parameters trace in milliseconds), runs one image of `input_shape` through `model.core` (encoder ->
decoder -> head, without the padding and resizing `forward` adds; give a size the encoder takes, e.g. a multiple of
32) with forward hooks on the parts of `encoder`, `decoder` and `head`, and records each part's output shapes. The
steps follow the order in which the forward pass reaches them, which is the data's path through the network.

It also follows the data between the parts: every tensor a step outputs is tagged with the step, every PyTorch
operation passes its inputs' tags on to its outputs (a `TorchFunctionMode`), and each step records the tags its
own output carries. So a step's `sources` are the earlier parts whose outputs its computation used (not merely
received: a decoder handed every encoder level but using one reads one), whatever the code in between does (a
concatenation, an addition, `F.max_unpool2d`): U-Net's copied encoder maps, SegNet's and DeconvNet's pooling
switches (integer indices, drawn as their own kind of link), FCN's score skips, FRRN's residual stream and DeepLab
v3+'s low-level path are all read from the trace, not drawn by hand.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

__all__ = ["Step", "trace", "draw", "describe"]

PARTS = ("encoder", "decoder", "head", "auxiliary_head")
PASSING = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.Identity)  # shape-keeping: not drawn
LABEL_HEIGHT = 0.36  # inches taken by a box's two-line shape label (9 pt) above it
COLOURS = {"encoder": "#4C72B0", "decoder": "#DD8452", "head": "#55A868", "auxiliary_head": "#8172B3"}
LINKS = {"features": dict(color="0.35", linestyle="-"), "skip": dict(color="#4C72B0", linestyle="-"),
         "switches": dict(color="#C44E52", linestyle="--"), "exchange": dict(color="#8172B3", linestyle=":")}


@dataclasses.dataclass(frozen=True)
class Step:
    """One part of the network: its module path, type, output shape(s) without the batch dimension, and the
    `sources` it reads: (index of an earlier step, index of that step's output, "features" or "switches")."""

    name: str
    kind: str
    shapes: tuple[tuple[int, ...], ...]
    sources: tuple[tuple[int, int, str], ...] = ()

    @property
    def part(self) -> str:
        return self.name.split(".")[0]

    @property
    def shape(self) -> tuple[int, ...]:
        """The main output: the last (finest or only) 3-D map this step produced."""
        return self.shapes[-1]


def _maps(output) -> list[torch.Tensor]:
    """The 4-D tensors (N, C, H, W) in a module's output, in order (dicts, lists and tuples looked through)."""
    return [item for item in tree_flatten(output)[0] if isinstance(item, torch.Tensor) and item.ndim == 4]


class _DataFlow(TorchFunctionMode):
    """Passes the tags of every operation's tensor inputs on to its tensor outputs."""

    def __init__(self):
        super().__init__()
        self.tags: dict[int, frozenset] = {}
        self.alive: list[torch.Tensor] = []  # a tagged tensor is kept, so its id() is never reused

    def tag(self, tensor: torch.Tensor, tags: frozenset):
        self.tags[id(tensor)] = tags
        self.alive.append(tensor)

    def read(self, *values) -> frozenset:
        found = frozenset()
        for item in tree_flatten(values)[0]:
            if isinstance(item, torch.Tensor):
                found |= self.tags.get(id(item), frozenset())
        return found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        tags = self.read(args, kwargs)
        if tags:
            for item in tree_flatten(output)[0]:
                if isinstance(item, torch.Tensor):  # integer outputs (pooling indices) carry switches
                    self.tag(item, tags if item.is_floating_point() else
                             frozenset((step, position, "switches") for step, position, _ in tags))
        return output


def _parts(model: nn.Module, depth: int | dict[str, int]) -> list[tuple[str, nn.Module]]:
    """The modules `depth` levels below encoder / decoder / head (fewer where a part is a leaf; a dict gives each
    part its own depth, 1 where it names none). Containers that are never called themselves (ModuleList,
    ModuleDict) are looked through: their items count at their level."""
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
        for _ in range(depth.get(part, 1) if isinstance(depth, dict) else depth):
            expanded = []
            for name, parent in frontier:
                expanded += children(name, parent) or [(name, parent)]
            frontier = expanded
        chosen += frontier
    return chosen


def trace(model: nn.Module, input_shape: Sequence[int], *, depth: int | dict[str, int] = 1) -> list[Step]:
    """The path of one (C, H, W) input through `model`'s parts `depth` levels below encoder, decoder and head
    (activations, dropout and batch norm, which keep the shape, are left out), with what each part reads.
    `depth={"decoder": 2}` looks one level deeper into the decoder alone.

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
    flow = _DataFlow()

    def record(name):
        def hook(module, args, output):
            if isinstance(module, PASSING) or id(module) in seen:
                return
            maps = _maps(output)
            sources = flow.read(maps)  # what the operations inside the module carried into its output
            if maps:  # a module called twice (a shared pooling) is drawn once
                seen.add(id(module))
                index = len(steps)
                ordered = sorted(sources, key=lambda source: source[:2])
                steps.append(Step(name, type(module).__name__, tuple(tuple(m.shape[1:]) for m in maps),
                                  tuple(ordered)))
                for position, tensor in enumerate(maps):
                    kind = "features" if tensor.is_floating_point() else "switches"
                    flow.tag(tensor, frozenset({(index, position, kind)}))
        return hook

    handles = []
    for name, module in _parts(model, depth):
        handles.append(module.register_forward_hook(record(name)))
    run = getattr(model, "core", model)  # a segedu model's sentence without the padding and resizing around it
    try:
        with torch.no_grad(), flow:
            model.eval()
            run(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return steps


def _arcs(steps: Sequence[Step], index: int) -> list[tuple[int, int, str]]:
    """The sources of step `index` other than the step just before it, and its pooling switches: the links a diagram
    draws as arcs over the steps between (skips, switches, or the trunk past a branch drawn between)."""
    return [source for source in steps[index].sources if source[0] != index - 1 or source[2] == "switches"]


def _skip_links(steps: Sequence[Step]) -> set[tuple[int, int, int]]:
    """(reader, source, output) of each feature link that is a skip: off the trunk, the path into the encoder's
    coarsest map and on from it. A link is on the trunk when its reader feeds that map (the encoder's way down) or
    its source is fed by it (the way up): U-Net's copied encoder maps, FCN's pool4 and pool3 scores and DeepLab v3+'s
    low-level path are skips; DeepLab v3+'s ASPP on level 5 is not, although its diagram draws it as an arc over the
    low-level path's reduction, nor are a pyramid's pooled bins. Of maps of one size the encoder's last is taken (a
    dilated level 5 the size of level 4). A step with several outputs counts them as one where it reads something
    (FRRN's units, whose streams exchange); an encoder handing over several levels keeps them apart."""
    switches = {(source, position) for step in steps for source, position, kind in step.sources if kind == "switches"}
    nodes = [(index, position) for index, step in enumerate(steps) for position in range(len(step.shapes))
             if (index, position) not in switches]  # maps of features, not max-pooling indices
    encoder = [node for node in nodes if steps[node[0]].part == "encoder"] or nodes
    deepest = min(encoder, key=lambda node: (steps[node[0]].shapes[node[1]][-2], -node[0], -node[1]))  # the last
    coupled = lambda index: set(range(len(steps[index].shapes))) if steps[index].sources else set()  # noqa: E731
    below = {deepest} | {(deepest[0], position) for position in coupled(deepest[0])}  # fed by the coarsest map
    for index, step in enumerate(steps[deepest[0] + 1:], deepest[0] + 1):
        if any((source, position) in below for source, position, kind in step.sources if kind == "features"):
            below |= {(index, position) for position in range(len(step.shapes))}
    above = {deepest[0]}  # the steps that feed the coarsest map, itself included
    for index in range(deepest[0], -1, -1):
        if index in above:
            above |= {source for source, _, kind in steps[index].sources if kind == "features"}
    return {(index, source, position) for index, step in enumerate(steps) for source, position, kind in step.sources
            if kind == "features" and (source, position) not in below and index not in above}


def describe(steps: Sequence[Step]) -> str:
    """A table of the steps: part, module, output shape (C x H x W), and the earlier steps it reads besides the one
    just before it (a skip, the trunk past a branch, or the pooling switches it unpools with)."""
    lines = [f"{'step':28s} {'module':20s} {'output (C x H x W)':22s} also reads"]
    for index, step in enumerate(steps):
        shapes = ", ".join("x".join(map(str, shape)) for shape in step.shapes[-3:])
        more = f" (+{len(step.shapes) - 3} more)" if len(step.shapes) > 3 else ""
        reads = ", ".join(f"{steps[source].name}{' (switches)' if kind == 'switches' else ''}"
                          for source, _, kind in _arcs(steps, index))
        lines.append(f"{step.name:28s} {step.kind:20s} {shapes + more:22s} {reads}")
    return "\n".join(lines)


def _label(step: Step) -> str:
    """The step's name without its part ("down.0", "aspp"); the part's own name where the part is one module; the
    module's kind ("PyramidPooling") where the name is only a position in the part."""
    names = step.name.split(".")[1:]
    if not names:
        return step.part.replace("_", " ")
    if names[-1].isdigit():  # a position in a sequence: its parent's name, or the module's kind where it has none
        return ".".join(names[-2:]) if len(names) > 1 else step.kind
    return names[-1]


def draw(steps: Sequence[Step], *, title: str = "", axis=None, input_side: int | None = None,
         names: Mapping[str, str] | None = None):
    """One column per step, left to right in the order the data flows; each output map a box placed at the depth
    of its resolution (log2 of how much smaller than the input it is), its height growing with the map's side and
    its width with the channels (log scale), coloured by part. Links: grey arrows for the features along the trunk,
    blue ones for skips (`_skip_links`; a skip marked "crop" where the map is cut to the reader's size), red dashes
    for pooling switches; a link over other steps is an arc that rises from its source's shape label, clears every
    box and label it passes and lands on its reader's (`clearing`), so it cannot seem to enter a box on the way;
    purple dots between the two outputs of a unit that reads and writes two streams (FRRN's FRRU). Text is 9 pt
    and the figure is drawn at 100 dpi. `input_side` defaults to the largest side traced. `names` gives a step (by
    its module path, as `describe` lists it) the name its paper uses ("encoder.classifier.0": "fc6"); the others
    keep their module names. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
    from matplotlib.path import Path

    top = input_side or max(max(shape[-2:]) for step in steps for shape in step.shapes)
    depth = lambda shape: math.log2(top / shape[-2])  # noqa: E731 - 0 at full size, 1 at half, ...
    deepest = max(depth(shape) for step in steps for shape in step.shapes)
    column, gap = min(0.9, 9.4 / len(steps)), 1.0  # inches per column (at most 10 inches in all), per level
    labels = [_label(step) for step in steps]
    labels = [f"{step.name.rsplit('.', 1)[-1]}: {label}" if labels.count(label) > 1 and label == step.kind else label
              for step, label in zip(steps, labels)]  # two "Conv2d"s told apart by their positions
    unknown = sorted(set(names or {}) - {step.name for step in steps})
    if unknown:
        raise ValueError(f"names: no step is called {', '.join(map(repr, unknown))}; the steps are "
                         f"{', '.join(step.name for step in steps)}")
    labels = [(names or {}).get(step.name, label) for step, label in zip(steps, labels)]
    below = max(1.05, 0.1 + 0.08 * max(map(len, labels)))  # inches under the deepest map for the labels (9 pt)
    if axis is None:
        figure, axis = plt.subplots(figsize=(max(6.0, column * len(steps) + 0.6),
                                             2.2 + gap * (deepest + 1) + below - 1.05), layout="constrained", dpi=100)
        grown = True
    else:
        figure, grown = axis.figure, False
    exchanging = [index for index, step in enumerate(steps) if len(step.shapes) > 1 and step.sources]  # FRRN's FRRUs
    skip_links = _skip_links(steps)

    def render(unit: float) -> float:
        """Draw everything, with `unit` inches per vertical data unit (the text's size is fixed in inches, the boxes'
        in data units); -> the height of the highest link."""
        axis.cla()
        label_height, clearance = LABEL_HEIGHT / unit, 0.12 / unit
        boxes: dict[tuple[int, int], tuple[float, float, float, float]] = {}  # (step, output) -> x, y, width, height
        for index, step in enumerate(steps):
            for position, shape in enumerate(step.shapes):
                height = 0.2 + 0.45 * math.sqrt(shape[-2] / top)
                width = min(0.12 + 0.06 * math.log2(1 + shape[0]), 0.85 * column)
                x, y = index * column + (column - width) / 2, -gap * depth(shape)
                boxes[index, position] = (x, y - height / 2, width, height)
                axis.add_patch(Rectangle((x, y - height / 2), width, height, facecolor=COLOURS[step.part],
                                         edgecolor="black", linewidth=0.6, alpha=0.9, zorder=3))
                under = index in exchanging and position == 0  # the lower stream's label: below, off the exchange
                axis.text(x + width / 2, y - height / 2 - 0.03 / unit if under else y + height / 2 + 0.03 / unit,
                          f"{shape[0]}\n{shape[-2]}x{shape[-1]}", ha="center", va="top" if under else "bottom",
                          fontsize=9, zorder=4, linespacing=1.0,
                          bbox=dict(facecolor="white", edgecolor="none", pad=0.3))  # legible over a link
            axis.text(index * column + column / 2, -gap * deepest - 0.75 / unit, labels[index], ha="center",
                      va="top", fontsize=9, rotation=90)

        def side(key, right):
            x, y, width, height = boxes[key]
            return (x + width, y + height / 2) if right else (x, y + height / 2)

        def over(key, leaving):  # above a box and the shape label on it (FRRN's lower stream carries it below),
            x, y, width, height = boxes[key]  # a quarter of the box right of its centre to leave, left to land
            lifted = 0.0 if key[0] in exchanging and key[1] == 0 else label_height
            return x + width / 2 + (width / 4 if leaving else -width / 4), y + height + lifted

        def clearing(start, end, passed):
            """The height of the two inner control points of a bridge from `start` to `end` (below): at least its
            base, and high enough that the curve stays `clearance` above every passed box that reaches below the
            base, and the label on it, across the label's width; a box wholly above the base is passed under."""
            base = max(start[1], end[1]) + 0.3 / unit + 0.04 * (end[0] - start[0])
            level, half = base, min(0.3, column / 2)  # half a label's width, within its own column
            for key in passed:
                if boxes[key][1] > base:
                    continue
                centre, need = boxes[key][0] + boxes[key][2] / 2, over(key, True)[1] + clearance
                for x in (centre - half, centre + half):
                    share = (x - start[0]) / (end[0] - start[0])  # x = start + share * span, inside the span
                    low, high = 0.0, 1.0  # the curve's x is start + (3t^2 - 2t^3) * span: its t by bisection
                    for _ in range(40):
                        t = (low + high) / 2
                        low, high = (t, high) if 3 * t * t - 2 * t ** 3 < share else (low, t)
                    lift = 3 * (1 - t) * t  # the weight of the two inner control points at t
                    level = max(level, (need - (1 - t) ** 3 * start[1] - t ** 3 * end[1]) / lift)
            return level

        for index, step in enumerate(steps):
            arcs = set(_arcs(steps, index))
            for source, position, kind in step.sources:
                target = max(range(len(step.shapes)),  # the reader's map nearest the source's size
                             key=lambda j: -abs(step.shapes[j][-2] - steps[source].shapes[position][-2]))
                if (source, position, kind) not in arcs:
                    path = Path([side((source, position), True), side((index, target), False)],
                                [Path.MOVETO, Path.LINETO])
                    middle = None
                else:  # a link over other steps bridges them: up from its source's label, across above every box
                    # and label it passes, down onto its reader's label, so it never reads as entering a box
                    start, end = over((source, position), True), over((index, target), False)
                    level = clearing(start, end, [key for key in boxes if source < key[0] < index])
                    path = Path([start, (start[0], level), (end[0], level), end],
                                [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
                    middle = ((start[0] + end[0]) / 2, (start[1] + 6 * level + end[1]) / 8)
                style = "skip" if kind == "features" and (index, source, position) in skip_links else kind
                axis.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=9, linewidth=1.1,
                                               zorder=2, **LINKS[style]))
                cropped = style == "skip" and middle is not None and step.part != "head" \
                    and steps[source].shapes[position][-2] > step.shapes[target][-2] + 8  # more than a padded border
                if cropped:
                    axis.text(*middle, "crop", ha="center", va="bottom", fontsize=9, color=LINKS[style]["color"],
                              zorder=4, backgroundcolor="white")
        for index in exchanging:  # a unit with two streams (FRRN's FRRU): each of its outputs reads both inputs
            (x, y0, width, _), (_, y1, _, height) = boxes[index, 1], boxes[index, 0]
            axis.add_patch(FancyArrowPatch((x + width / 2, y1 + height), (x + width / 2, y0), arrowstyle="<|-|>",
                                           mutation_scale=9, linewidth=1.1, zorder=5, **LINKS["exchange"]))
        highest = max(1.0, *(patch.get_path().get_extents().y1 for patch in axis.patches
                             if isinstance(patch, FancyArrowPatch)))
        axis.set(xlim=(-0.15, column * len(steps) + 0.1), ylim=(-gap * deepest - (0.75 + below) / unit,
                                                                 highest + 0.1 / unit))
        axis.set_title(title, fontsize=11)
        axis.set_axis_off()
        parts = [part for part in PARTS if any(step.part == part for step in steps)]
        handles = [Patch(facecolor=COLOURS[part], label=part.replace("_", " ")) for part in parts]
        kinds = {"skip"} if skip_links else set()
        kinds |= {kind for step in steps for _, _, kind in step.sources if kind == "switches"}
        handles += [Line2D([], [], linewidth=1.1, label="skip" if kind == "skip" else "pooling switches",
                           **LINKS[kind]) for kind in ("skip", "switches") if kind in kinds]
        if exchanging:
            handles.append(Line2D([], [], linewidth=1.1, label="the two streams exchange", **LINKS["exchange"]))
        axis.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=9, frameon=False,
                    ncols=len(handles))
        return highest

    highest = render(1.0)
    if grown and highest > 1.0:  # tall links: a taller figure, so that a data unit stays about an inch
        figure.set_size_inches(figure.get_figwidth(), figure.get_figheight() + highest - 1.0)
    used = 1.0
    for _ in range(3):  # the text keeps its size in inches: measure the inches per data unit, and draw again
        figure.draw_without_rendering()
        bottom, ceiling = axis.get_ylim()
        unit = axis.get_position().height * figure.get_figheight() / (ceiling - bottom)
        if abs(unit / used - 1.0) < 0.05:
            break
        render(unit)
        used = unit
    return figure
