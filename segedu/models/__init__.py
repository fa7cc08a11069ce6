"""Segmentation models, one paper per file, built by name with `build_model`.

Every model is a `SegmentationModel`: encoder -> decoder -> head, mapping (N, in_channels, H, W) images in [0, 1]
to logits (N, num_classes, H, W) for any H and W, a tensor in training and evaluation alike
(``model(images, auxiliary=True)`` also returns the auxiliary head's logits, or None).
"""

from __future__ import annotations

import typing
from collections.abc import Callable

from ..errors import InputError
from .base import SegmentationModel, check_options, pad_to_multiple
from .dcn import DeepContextualNet, dcn
from .deconvnet import DeconvNet, deconvnet
from .deeplabv1 import DeepLabV1, deeplabv1
from .deeplabv2 import DeepLabV2, deeplabv2
from .deeplabv3 import DeepLabV3, DeepLabV3Plus, deeplabv3, deeplabv3plus
from .fcn import FCN, FCNResNet, convolutionalize, fcn, fcn8s, fcn16s, fcn32s
from .frrn import FRRN, frrn
from .pspnet import PSPNet, pspnet
from .segnet import SegNet, segnet
from .unet import UNet, unet
from ..language import tr

__all__ = ["MODELS", "model_class", "build_model", "rebuild_model", "model_options", "check_model_options", "SegmentationModel", "pad_to_multiple", "convolutionalize", "FCN", "FCNResNet",
           "SegNet", "DeconvNet", "UNet", "FRRN", "DeepContextualNet", "PSPNet", "DeepLabV1", "DeepLabV2", "DeepLabV3", "DeepLabV3Plus"]

MODELS: dict[str, Callable[..., SegmentationModel]] = {  # the one registry: name -> builder
    "fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s, "fcn": fcn,
    "segnet": segnet, "deconvnet": deconvnet, "unet": unet, "frrn": frrn, "dcn": dcn, "pspnet": pspnet,
    "deeplabv1": deeplabv1, "deeplabv2": deeplabv2, "deeplabv3": deeplabv3, "deeplabv3plus": deeplabv3plus,
}


def model_class(name: str) -> type[SegmentationModel]:
    """The class that model `name`'s builder returns (FCN for fcn8s), read from the builder's return annotation."""
    if name not in MODELS:
        raise ValueError(tr("unknown model {name!r}; choose one of: {join_models}",
                            name=name, join_models=', '.join(MODELS)))
    return typing.get_type_hints(MODELS[name])["return"]


def model_options(name: str) -> dict[str, object]:
    """The keyword options model `name` accepts besides num_classes and in_channels, with their defaults."""
    import inspect

    built = model_class(name)
    fixed = {"num_classes", "in_channels"} | ({"stride"} if built is FCN else set())
    return {key: parameter.default for key, parameter in inspect.signature(built.__init__).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and key not in fixed}


def check_model_options(name: str, options: dict) -> None:
    """Refuse what `build_model(name, **options)` cannot build, naming the model and the option: an unknown model or
    option, num_classes or in_channels among the options, or a value out of range (``width=0``, ``depth=-1``,
    ``width="oops"``). What the command line forwards to a model is checked here before any data is read."""
    if name not in MODELS:
        raise InputError(tr("unknown model {name!r}; choose one of: {join_models}",
                            name=name, join_models=', '.join(MODELS)))
    reserved = sorted({"num_classes", "in_channels"} & set(options))
    if reserved:
        raise InputError(tr("model {name!r}: the data set (or build_model's own arguments) sets {options}, "
                            "not an option",
                            name=name, options=' and '.join(reserved)))
    accepted = model_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(tr("model {name!r} does not take the option(s) {unknown}; it takes: {accepted}",
                            name=name, unknown=unknown,
                            accepted=", ".join(f"{key}={value!r}" for key, value in accepted.items())))
    check_options(name, options)


def build_model(name: str, *, num_classes: int, in_channels: int = 3, **options) -> SegmentationModel:
    """Build model `name` (see MODELS) for `num_classes` classes and `in_channels` input channels.

    `options` are the model class's keyword arguments (`model_options(name)` lists them), e.g. ``width=0.25`` for
    a narrower network, ``backbone="efficientnet_lite0", pretrained=True`` for an ImageNet encoder,
    ``rates=(6, 12)`` for DeepLab v2.
    """
    check_model_options(name, options)
    model = MODELS[name](num_classes=num_classes, in_channels=in_channels, **options)
    model.build_spec["name"] = name  # the registry name (fcn8s, not the class's FCN)
    return model


def rebuild_model(spec: dict, **overrides) -> SegmentationModel:
    """The model a `build_spec` describes: {"class" or "name", "num_classes", "in_channels", "options"}."""
    options = {**spec.get("options", {}), **overrides}
    classes = {built.__name__: built for built in map(model_class, MODELS)}  # FCN, UNet, ...: the registry's classes
    if spec.get("class") in classes:
        return classes[spec["class"]](num_classes=spec["num_classes"], in_channels=spec["in_channels"], **options)
    return build_model(spec["name"], num_classes=spec["num_classes"], in_channels=spec["in_channels"], **options)
