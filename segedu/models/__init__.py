"""Segmentation models, one paper per file, built by name with `build_model`.

Every model maps (N, in_channels, H, W) images in [0, 1] to logits (N, num_classes, H, W) for any H and W;
models with an auxiliary head (PSPNet; FCN with ``auxiliary=True``) return {'out', 'aux'} while training.
"""

from __future__ import annotations

from collections.abc import Callable

from .base import SegmentationModel, pad_to_multiple
from .deconvnet import DeconvNet, deconvnet
from .deeplabv1 import DeepLabV1, deeplabv1
from .deeplabv2 import DeepLabV2, deeplabv2
from .deeplabv3 import DeepLabV3, DeepLabV3Plus, deeplabv3, deeplabv3plus
from .fcn import FCN, FCNResNet, convolutionalize, fcn, fcn8s, fcn16s, fcn32s
from .pspnet import PSPNet, pspnet
from .segnet import SegNet, segnet
from .unet import UNet, unet

__all__ = ["MODELS", "build_model", "SegmentationModel", "pad_to_multiple", "convolutionalize", "FCN", "FCNResNet",
           "SegNet", "DeconvNet", "UNet", "PSPNet", "DeepLabV1", "DeepLabV2", "DeepLabV3", "DeepLabV3Plus"]

MODELS: dict[str, Callable[..., SegmentationModel]] = {
    "fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s, "fcn": fcn,
    "segnet": segnet, "deconvnet": deconvnet, "unet": unet, "pspnet": pspnet,
    "deeplabv1": deeplabv1, "deeplabv2": deeplabv2, "deeplabv3": deeplabv3, "deeplabv3plus": deeplabv3plus,
}


def build_model(name: str, *, num_classes: int, in_channels: int = 3, **options) -> SegmentationModel:
    """Build model `name` (see MODELS) for `num_classes` classes and `in_channels` input channels.

    `options` are the builder's keyword arguments, e.g. ``width=0.25`` for a narrower network,
    ``backbone="efficientnet_lite0", pretrained=True`` for an ImageNet encoder.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    try:
        model = MODELS[name](num_classes=num_classes, in_channels=in_channels, **options)
    except TypeError as error:
        raise ValueError(f"model {name!r} does not take the options {sorted(options)}: {error}") from error
    # what a checkpoint stores to rebuild the same model (segedu.checkpoint.load_model)
    model.build_spec = {"name": name, "num_classes": num_classes, "in_channels": in_channels, "options": dict(options)}
    return model
