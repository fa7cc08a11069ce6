"""Segmentation models, one paper per file, built by name with `build_model`."""

from __future__ import annotations

from collections.abc import Callable

from .base import SegmentationModel, pad_to_multiple
from .unet import UNet, unet

__all__ = ["MODELS", "build_model", "SegmentationModel", "UNet", "pad_to_multiple"]

MODELS: dict[str, Callable[..., SegmentationModel]] = {
    "unet": unet,
}


def build_model(name: str, *, num_classes: int, in_channels: int = 3, **options) -> SegmentationModel:
    """Build model `name` (see MODELS) for `num_classes` classes and `in_channels` input channels.

    `options` are the builder's keyword arguments, e.g. ``width=0.25`` for a narrower network.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    try:
        model = MODELS[name](num_classes=num_classes, in_channels=in_channels, **options)
    except TypeError as error:
        raise ValueError(f"model {name!r} does not take the options {sorted(options)}: {error}") from error
    # what a checkpoint stores to rebuild the same model (segedu.checkpoint.load_model)
    model.build_spec = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "options": dict(options)}
    return model
