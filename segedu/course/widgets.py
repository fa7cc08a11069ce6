"""Interactive explorers for the notebooks (ipywidgets + matplotlib; ipywidgets is imported lazily).

Each explorer is a small object with a `.widget` (an ipywidgets box, displayed when the object is
the last expression of a cell), named controls a test can move, and an `ipywidgets.Image` that is
redrawn as a PNG whenever a control changes. Drawing to PNG with matplotlib's Figure (no pyplot)
keeps notebooks free of stray figures and lets a headless test compare the pixels.

- SegmentationViewer(dataset): sample slider and overlay opacity, with a legend of class names.
- TransposedConvStepper(input, kernel): each input pixel paints a scaled kernel into the output.
- ReceptiveFieldViewer(): kernel size, dilation and depth sliders; the field measured by autograd.
- FeatureMapExplorer(model, image): layer dropdown from forward hooks, channel slider, channel grid,
  overlay on the image; close() removes the hooks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .. import viz
from . import figures
from .messages import tr
from ..scratch import functional as scratch_functional

__all__ = ["SegmentationViewer", "TransposedConvStepper", "ReceptiveFieldViewer", "FeatureMapExplorer",
           "ArchitectureExplorer", "render_png"]


def render_png(draw: Callable, *, figsize: tuple[float, float], dpi: int = 100, image_format: str = "png") -> bytes:
    """Call draw(figure) on a fresh matplotlib Figure and return it as PNG (or JPEG) bytes at `dpi`."""
    from matplotlib.figure import Figure

    from .output_translation import translate_figure

    figure = Figure(figsize=figsize, layout="constrained")
    draw(figure)
    translate_figure(figure)  # the texts the catalogs know, in the learner's language, as inline figures are
    return figures.figure_bytes(figure, image_format, dpi=dpi)


class _Explorer:
    """Common plumbing: controls -> redraw() -> an image in an Image widget, all in one VBox. Explorers of
    photographs store JPEG (a fifth of the PNG's size), the others PNG (segedu.course.figures)."""

    figsize: tuple[float, float] = (9, 3.2)
    image_format = "png"

    def _build(self, controls: Sequence) -> None:
        import ipywidgets as widgets

        self.image = widgets.Image(format=self.image_format)
        self.caption = widgets.HTML()
        for control in controls:
            control.observe(lambda change: self.redraw(), names="value")
        self.widget = widgets.VBox([widgets.HBox(list(controls)), self.image, self.caption])
        self.redraw()

    def redraw(self) -> None:
        self.image.value = render_png(self.draw, figsize=self.figsize, image_format=self.image_format)

    def draw(self, figure) -> None:  # pragma: no cover - each explorer draws its own
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a picture of its first view for readers without a kernel (static HTML, GitHub)."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle[f"image/{self.image_format}"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle

    def close(self) -> None:
        self.widget.close()


class SegmentationViewer(_Explorer):
    """Browse a segmentation data set: image, mask in class colours, and their overlay (with legend)."""

    figsize = (10, 3.2)
    image_format = "jpeg"  # photographs

    def __init__(self, dataset, *, index: int = 0):
        import ipywidgets as widgets

        self.dataset = dataset
        self.index = widgets.IntSlider(value=index, min=0, max=len(dataset) - 1, description=tr("sample"))
        self.alpha = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description=tr("opacity"))
        self._build([self.index, self.alpha])

    def draw(self, figure) -> None:
        image, mask = self.dataset[self.index.value]
        names, palette = self.dataset.class_names, self.dataset.palette
        ignore = getattr(self.dataset, "ignore_index", 255)  # unlabelled pixels: black in the mask, the photo beneath
        axes = figure.subplots(1, 3)
        axes[0].imshow(viz.image_to_numpy(image))
        axes[1].imshow(viz.colorize(mask, palette, ignore))
        axes[2].imshow(viz.overlay(image, mask, palette, alpha=self.alpha.value, ignore_index=ignore))
        titles = (tr("image"), tr("mask (class colours)"), tr("overlay, opacity {alpha:.2f}", alpha=self.alpha.value))
        for axis, title in zip(axes, titles):
            axis.set_title(title)
            axis.set_axis_off()
        viz.class_legend(axes[2], names, palette, void=bool((mask == ignore).any()))
        figure.suptitle(tr("sample {index} of {count}", index=self.index.value, count=len(self.dataset)))


class TransposedConvStepper(_Explorer):
    """Transposed convolution as scatter-add, one input pixel at a time.

    input (H, W) and kernel (k, k) single-channel. Step t shows the output after the first t input
    pixels (row-major) have each painted input[y, x] * kernel at (y * stride, x * stride); the last
    step equals torch's conv_transpose2d (printed in the caption). The kernel-size slider swaps in a kernel of
    ones of another size, and the picture's title says whether that size and the stride overlap evenly (Odena et al.
    2016), so a stored view says it too. `step`: the pixels painted in the first view.
    """

    figsize = (10, 3.6)

    def __init__(self, input: torch.Tensor, kernel: torch.Tensor, *, stride: int = 2, step: int = 1):
        import ipywidgets as widgets

        if not 0 <= step <= input.numel():
            raise ValueError(f"TransposedConvStepper: step={step} must lie between 0 and the {input.numel()} input "
                             "pixels")
        self.input, self.given_kernel = input.float(), kernel.float()
        self.step = widgets.IntSlider(value=step, min=0, max=input.numel(), description=tr("pixels painted"))
        self.stride = widgets.IntSlider(value=stride, min=1, max=3, description=tr("stride"))
        self.kernel_size = widgets.IntSlider(value=kernel.shape[-1], min=1, max=6, description=tr("kernel size"))
        self._build([self.step, self.stride, self.kernel_size])

    @property
    def kernel(self) -> torch.Tensor:
        """(k, k): the given kernel at its own size, a kernel of ones at any other size the slider picks."""
        size = self.kernel_size.value
        return self.given_kernel if size == self.given_kernel.shape[-1] else torch.ones(size, size)

    def partial_output(self, step: int, stride: int) -> torch.Tensor:
        """(H', W') output after the first `step` input pixels have painted their kernel."""
        painted = torch.zeros(self.input.numel())
        painted[:step] = 1
        masked = self.input * painted.view_as(self.input)
        return scratch_functional.conv_transpose2d(masked[None, None], self.kernel[None, None], stride=stride)[0, 0]

    @staticmethod
    def overlap_counts(kernel_size: int, stride: int) -> list[int]:
        """How many paintings cover each output pixel away from the borders (a large input and kernel of ones):
        one number when the overlap is even (kernel size divisible by the stride), several when it is not."""
        ones = torch.ones(1, 1, 4 * kernel_size + 8, 4 * kernel_size + 8)
        counts = torch.nn.functional.conv_transpose2d(ones, torch.ones(1, 1, kernel_size, kernel_size), stride=stride)
        inner = counts[0, 0, kernel_size:-kernel_size, kernel_size:-kernel_size]
        return sorted({int(value) for value in inner.flatten().tolist()})

    def draw(self, figure) -> None:
        step, stride = self.step.value, self.stride.value
        output = self.partial_output(step, stride)
        full = torch.nn.functional.conv_transpose2d(self.input[None, None], self.kernel[None, None], stride=stride)[0, 0]
        k = self.kernel.shape[-1]
        axes = figure.subplots(1, 3, width_ratios=[self.input.shape[1], k, output.shape[1]])
        limit = float(full.abs().max()) or 1.0
        for axis, values, title in ((axes[0], self.input, tr("input")), (axes[1], self.kernel, tr("kernel")),
                                    (axes[2], output, tr("output after {step} of {total} pixels", step=step,
                                                         total=self.input.numel()))):
            axis.imshow(values.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
            axis.set_title(title)
            axis.set_xticks(range(values.shape[1]))
            axis.set_yticks(range(values.shape[0]))
            if values.numel() <= 100:
                for (row, column), value in np.ndenumerate(values.numpy()):
                    axis.text(column, row, f"{value:.3g}", ha="center", va="center", fontsize=9)
        if step:
            y, x = divmod(step - 1, self.input.shape[1])
            from matplotlib.patches import Rectangle

            axes[0].add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="gold", linewidth=3))
            axes[2].add_patch(Rectangle((x * stride - 0.5, y * stride - 0.5), k, k, fill=False, edgecolor="gold",
                                        linewidth=3))
        for axis in axes:
            axis.set(xlabel="x", ylabel="y")
        same = torch.allclose(self.partial_output(self.input.numel(), stride), full, atol=1e-5)
        counts = self.overlap_counts(k, stride)
        if len(counts) > 1:
            overlap = tr("uneven overlap: inner pixels are painted {counts} times (a checkerboard)",
                         counts=", ".join(map(str, counts)))
        elif counts[0] == 1:
            overlap = tr("even overlap: every inner pixel is painted 1 time")
        else:
            overlap = tr("even overlap: every inner pixel is painted {count} times", count=counts[0])
        figure.suptitle(tr("kernel {k}x{k}, stride {stride}: ", k=k, stride=stride) + overlap)
        self.caption.value = tr("kernel {k}x{k}, stride {stride}: output {shape}; all pixels painted equals "
                                "torch.nn.functional.conv_transpose2d: <b>{same}</b>; {overlap}", k=k, stride=stride,
                                shape=tuple(full.shape), same=same, overlap=overlap)


class ReceptiveFieldViewer(_Explorer):
    """Which input pixels reach the centre output pixel of `depth` stacked k x k convolutions of one dilation.

    The map is the gradient of that output pixel with respect to the input (all-ones weights), so
    its value counts the paths from each input pixel; zeros inside the square are the holes of a
    gridded field. The caption compares the measured width with the formula 1 + depth * d * (k - 1).
    """

    figsize = (5.5, 4.6)

    def __init__(self, *, kernel_size: int = 3, dilation: int = 1, depth: int = 2):
        import ipywidgets as widgets

        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=7, description=tr("kernel size"))
        self.dilation = widgets.IntSlider(value=dilation, min=1, max=4, description=tr("dilation"))
        self.depth = widgets.IntSlider(value=depth, min=1, max=6, description=tr("depth"))
        self._build([self.kernel_size, self.dilation, self.depth])

    def gradient_map(self) -> torch.Tensor:
        k, d, depth = self.kernel_size.value, self.dilation.value, self.depth.value
        size = 2 * depth * d * k + 1
        inputs = torch.zeros(1, 1, size, size, requires_grad=True)
        output = inputs
        for _ in range(depth):
            output = torch.nn.functional.conv2d(output, torch.ones(1, 1, k, k), dilation=d)
        output[0, 0, output.shape[2] // 2, output.shape[3] // 2].backward()
        return inputs.grad[0, 0]

    def draw(self, figure) -> None:
        k, d, depth = self.kernel_size.value, self.dilation.value, self.depth.value
        gradient = self.gradient_map()
        rows = gradient.abs().sum(1).nonzero().flatten()
        measured = int(rows.max() - rows.min() + 1)
        formula = 1 + depth * d * (k - 1)
        holes = int((gradient[rows.min(): rows.max() + 1, rows.min(): rows.max() + 1] == 0).sum())
        axis = figure.subplots()
        shown = axis.imshow(gradient.numpy(), cmap="magma")
        figure.colorbar(shown, ax=axis, label=tr("paths to the centre output pixel"))
        axis.set(title=tr("{depth} x conv {k}x{k}, dilation {d}: field {field}x{field}", depth=depth, k=k, d=d,
                          field=measured), xlabel=tr("input x"), ylabel=tr("input y"))
        self.caption.value = tr("measured {field} px, formula 1 + depth·d·(k-1) = {formula}; parameters {parameters} per "
                                "channel pair; input pixels inside the field never seen (gridding holes): {holes}",
                                field=measured, formula=formula, parameters=depth * k * k, holes=holes)


class FeatureMapExplorer(_Explorer):
    """Look inside a network: the feature maps of every layer on one image.

    Forward hooks on the named submodules record each one's output; the layers that give a
    (1, C, H, W) map fill the dropdown. Show one channel (slider) or a grid of the first channels,
    optionally overlaid on the image. `close()` (or a `with` block) removes the hooks.
    image (C, H, W) in [0, 1]; `shown` the layer it opens on (default: the first), the one the lesson points at.
    """

    figsize = (10, 4)
    image_format = "jpeg"  # a photograph and maps of it

    def __init__(self, model: nn.Module, image: torch.Tensor, *, layers: Sequence[str] | None = None,
                 grid_channels: int = 16, shown: str | None = None):
        import ipywidgets as widgets

        self.model, self.input_image, self.grid_channels = model, image, grid_channels
        self.maps: dict[str, torch.Tensor] = {}
        names = dict(model.named_modules())
        wanted = list(layers) if layers is not None else [name for name in names if name]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise ValueError(f"no module named {unknown} in {type(model).__name__}; choose from {list(names)[1:12]} ...")
        self.hooks = [names[name].register_forward_hook(self._recorder(name)) for name in wanted]
        self.run()
        if not self.maps:
            self.remove_hooks()
            raise ValueError(f"none of the layers {wanted[:5]} ... produced a (1, C, H, W) feature map")
        if shown is not None and shown not in self.maps:
            self.remove_hooks()
            raise ValueError(f"FeatureMapExplorer: shown={shown!r} gives no (1, C, H, W) map; choose from "
                             f"{list(self.maps)}")
        options = [(f"{name}  {tuple(self.maps[name].shape[1:])}", name) for name in self.maps]
        self.layer = widgets.Dropdown(options=options, value=shown or next(iter(self.maps)), description=tr("layer"),
                                      layout={"width": "360px"})
        self.channel = widgets.IntSlider(value=0, min=0, max=self.maps[self.layer.value].shape[1] - 1,
                                         description=tr("channel"))
        self.view = widgets.ToggleButtons(options=["channel", "grid"], description=tr("view"))
        self.overlay = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description=tr("overlay"))
        self.layer.observe(self._layer_changed, names="value")
        self._build([self.layer, self.channel, self.view, self.overlay])

    def _recorder(self, name: str):
        def hook(module, inputs, output):
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            if isinstance(tensor, torch.Tensor) and tensor.ndim == 4 and tensor.shape[0] == 1:
                self.maps[name] = tensor.detach().float().cpu()
        return hook

    def run(self) -> None:
        """Forward the image once in eval mode; the hooks fill self.maps."""
        self.maps.clear()
        device = next(self.model.parameters(), torch.zeros(())).device
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            self.model(self.input_image[None].to(device))
        self.model.train(was_training)

    def _layer_changed(self, change) -> None:
        channels = self.maps[self.layer.value].shape[1]
        self.channel.value = min(self.channel.value, channels - 1)
        self.channel.max = channels - 1

    def draw(self, figure) -> None:
        from matplotlib.colors import Normalize

        features = self.maps[self.layer.value][0]  # (C, h, w)
        background = viz.image_to_numpy(self.input_image)
        if self.view.value == "grid":
            count = min(self.grid_channels, features.shape[0])
            columns = int(np.ceil(np.sqrt(count)))
            axes = figure.subplots(int(np.ceil(count / columns)), columns, squeeze=False)
            for index, axis in enumerate(axes.flat):
                axis.set_axis_off()
                if index < count:
                    axis.imshow(features[index].numpy(), cmap="viridis")
                    axis.set_title(tr("channel {index}", index=index), fontsize=9)
            figure.suptitle(tr("{layer}: first {count} of {total} channels", layer=self.layer.value, count=count,
                               total=features.shape[0]))
            return
        channel = features[self.channel.value]
        image_axis, map_axis = figure.subplots(1, 2)
        image_axis.imshow(background)
        image_axis.set(title=tr("input image"))
        image_axis.set_axis_off()
        if self.overlay.value > 0:  # the map resized to the image, blended over it
            resized = torch.nn.functional.interpolate(channel[None, None], size=background.shape[:2], mode="bilinear",
                                                      align_corners=False)[0, 0]
            map_axis.imshow(background)
            shown = map_axis.imshow(resized.numpy(), cmap="viridis", alpha=self.overlay.value)
        else:
            shown = map_axis.imshow(channel.numpy(), cmap="viridis", norm=Normalize())
        figure.colorbar(shown, ax=map_axis, label=tr("activation"))
        map_axis.set(title=tr("{layer}, channel {channel} of {total} ({height}x{width})", layer=self.layer.value,
                              channel=self.channel.value, total=features.shape[0], height=channel.shape[0],
                              width=channel.shape[1]), xlabel="x", ylabel="y")

    def remove_hooks(self) -> None:
        for hook in self.hooks:
            hook.remove()
        self.hooks = []

    def close(self) -> None:
        self.remove_hooks()
        super().close()

    def __enter__(self) -> FeatureMapExplorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ArchitectureExplorer(_Explorer):
    """Every model's diagram, traced from its code (segedu.course.architecture) and chosen from a dropdown.

    models: {label: (model name, build options, trace depth)}; input_shape (C, H, W) the traced image; `shown` the
    label drawn first (and stored as the static picture), the first one by default."""

    figsize = (10, 6.2)

    def __init__(self, models: dict[str, tuple[str, dict, int | dict]], input_shape: Sequence[int], *,
                 shown: str | None = None):
        import ipywidgets as widgets

        if shown is not None and shown not in models:
            raise ValueError(f"ArchitectureExplorer: shown={shown!r} is not one of the models {list(models)}")
        self.models, self.input_shape = models, tuple(input_shape)
        self.model = widgets.Dropdown(options=list(models), value=shown or next(iter(models)), description=tr("model"),
                                      layout={"width": "320px"})
        self._build([self.model])

    def draw(self, figure) -> None:
        from ..models import build_model
        from . import architecture

        name, options, depth = self.models[self.model.value]
        with torch.device("meta"):
            steps = architecture.trace(build_model(name, **options), self.input_shape, depth=depth)
        size = "x".join(map(str, self.input_shape[1:]))
        architecture.draw(steps, axis=figure.add_subplot(),
                          title=tr("{name} on a {size} image", name=self.model.value, size=size))
