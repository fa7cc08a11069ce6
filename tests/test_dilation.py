"""Atrous conversion: an encoder at output stride 16 or 8 computes the stride-32 encoder's features on a denser grid.

DeepLab (Chen et al. 2017, section 3.1) removes the stride of the last levels and dilates the convolutions after it;
done right, the dense features subsampled at the coarse grid *equal* the original ones, so ImageNet weights keep
their meaning. The rule (torchvision's ``_make_layer(..., dilate=True)``): the convolution that used to stride keeps
the *previous* dilation, and only the convolutions after it take the doubled one. Giving the doubled dilation to the
formerly strided convolution too looks at the wrong pixels and throws the pretrained features away.

Each test builds the same weights at output stride 32 and at 16 or 8 and compares every level; the grid offset is
searched (a "same"-padded stride-2 convolution samples odd pixels), so the test fails only if no subsampling of the
dense features equals the coarse ones. VGG is left out on purpose: DeepLab v1 replaces its 2x2 pooling by a 3x3
window of stride 1, the paper's approximation, not an identity.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from segedu.backbones import build_backbone

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def photograph(size=(224, 288)) -> torch.Tensor:
    """A real photograph (Grace Hopper, shipped with matplotlib), (1, 3, H, W) in [0, 1]."""
    with cbook.get_sample_data("grace_hopper.jpg") as file:
        image = Image.open(file).convert("RGB").resize(size[::-1], Image.BILINEAR)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255


def relative_error(dense: torch.Tensor, coarse: torch.Tensor, factor: int) -> float:
    """The smallest relative L2 error between `coarse` (N, C, h, w) and `dense` subsampled every `factor` pixels,
    over every grid offset."""
    best = float("inf")
    for top, left in itertools.product(range(factor), repeat=2):
        sampled = dense[..., top::factor, left::factor][..., :coarse.shape[-2], :coarse.shape[-1]]
        if sampled.shape == coarse.shape:
            best = min(best, float((sampled - coarse).norm() / coarse.norm()))
    return best


def level_errors(name: str, output_stride: int, *, pretrained: bool = False, images=None) -> dict[str, float]:
    torch.manual_seed(0)
    coarse = build_backbone(name, output_stride=32, pretrained=pretrained).eval()
    dense = build_backbone(name, output_stride=output_stride, pretrained=pretrained).eval()
    dense.load_state_dict(coarse.state_dict())
    images = photograph() if images is None else images
    with torch.no_grad():
        ours, reference = dense(images), coarse(images)
    return {level: relative_error(ours[level], reference[level],
                                  max(1, round(ours[level].shape[-1] / reference[level].shape[-1])))
            for level in reference}


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_pretrained_efficientnet_lite_keeps_its_features_when_dilated(name, output_stride):
    errors = level_errors(name, output_stride, pretrained=True)
    assert max(errors.values()) < 1e-4, errors


@pytest.mark.parametrize("name", ["resnet10", "resnet18", "resnet26", "resnet50", "resnet101"])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_resnets_keep_their_features_when_dilated(name, output_stride):
    errors = level_errors(name, output_stride, images=photograph((128, 160)))
    assert max(errors.values()) < 1e-4, errors


def test_mobilenet_v3_keeps_its_features_at_output_stride_16():
    errors = level_errors("mobilenet_v3_large", 16, images=photograph((128, 160)))
    assert max(errors.values()) < 1e-4, errors


def test_the_check_catches_the_doubled_dilation_on_the_formerly_strided_convolution():
    """The fault this file guards against, made on purpose: ResNet-18's layer4 fully at dilation 2."""
    torch.manual_seed(0)
    coarse = build_backbone("resnet18", output_stride=32).eval()
    dense = build_backbone("resnet18", output_stride=16).eval()
    dense.load_state_dict(coarse.state_dict())
    for module in dense.levels["level5"].modules():
        if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (3, 3):
            module.dilation = module.padding = (2, 2)
    images = photograph((128, 160))
    with torch.no_grad():
        error = relative_error(dense(images)["level5"], coarse(images)["level5"], 2)
    assert error > 0.05
