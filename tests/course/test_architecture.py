"""Architecture diagrams traced from the models: the shapes are the papers' figures, and no weights are allocated."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from segedu.course.architecture import describe, draw, trace
from segedu.models import build_model


def shapes(steps):
    return {step.name: step.shape for step in steps}


def test_the_valid_unet_traces_the_papers_figure_1():
    """Ronneberger et al. 2015, figure 1: 572 -> 568 (64 channels), ..., 28 (1024), back up to 388 (2 classes)."""
    with torch.device("meta"):
        model = build_model("unet", num_classes=2, in_channels=1, padding=False)
    traced = shapes(trace(model, (1, 572, 572)))
    assert traced["encoder.stem"] == (64, 568, 568)
    assert [traced[f"encoder.down.{i}"] for i in range(4)] == [(128, 280, 280), (256, 136, 136), (512, 64, 64),
                                                                 (1024, 28, 28)]
    assert [traced[f"decoder.up.{i}"] for i in range(4)] == [(512, 52, 52), (256, 100, 100), (128, 196, 196),
                                                               (64, 388, 388)]
    assert traced["head"] == (2, 388, 388)


def test_fcn8s_fuses_scores_at_strides_32_16_and_8_without_allocating_its_weights():
    started = time.perf_counter()
    with torch.device("meta"):
        model = build_model("fcn8s", num_classes=21)  # 134M parameters
    steps = trace(model, (3, 224, 224), depth=2)
    traced = shapes(steps)
    assert traced["decoder.score"] == (21, 7, 7) and traced["decoder.skips.level4"] == (21, 14, 14)
    assert traced["decoder.skips.level3"] == (21, 28, 28) and traced["head"] == (21, 224, 224)
    assert time.perf_counter() - started < 30
    assert [step.name for step in steps].index("decoder.score") < [step.name for step in steps].index("head")
    assert not any(step.kind in ("ReLU", "Dropout") for step in steps)  # shape-keeping layers are not drawn


def test_a_plain_module_with_the_three_parts_is_traced_on_its_device_and_drawn():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
            self.decoder = nn.Upsample(scale_factor=2)
            self.head = nn.Conv2d(8, 4, 1)

        def forward(self, images):
            return self.head(self.decoder(self.encoder(images)))

    steps = trace(Tiny(), (3, 16, 16))
    assert [(s.name, s.shape) for s in steps] == [("encoder.0", (8, 8, 8)), ("decoder", (8, 16, 16)),
                                                  ("head", (4, 16, 16))]
    figure = draw(steps, title="tiny")
    assert len(figure.axes[0].patches) == len(steps)
    assert "head" in describe(steps) and "4x16x16" in describe(steps)


@pytest.mark.parametrize("name", ["segnet", "deconvnet", "pspnet", "deeplabv1", "deeplabv3plus"])
def test_every_model_traces_from_input_to_logits(name):
    with torch.device("meta"):
        model = build_model(name, num_classes=11)
    steps = trace(model, (3, 224, 224))
    assert steps[0].part == "encoder" and steps[-1].name == "head" and steps[-1].shape[0] == 11


def test_deconvnet_s_paper_bottleneck_shrinks_pool5_to_1x1_and_back_with_the_same_weights():
    """Noh et al. 2015, figure 2 and table 1: fc6 7x7 -> 1x1x4096, fc7 1x1x4096, deconv-fc6 back to 7x7x512."""
    with torch.device("meta"):
        paper = build_model("deconvnet", num_classes=21, bottleneck="paper")
        padded = build_model("deconvnet", num_classes=21)
    traced = shapes(trace(paper, (3, 224, 224), depth=2))
    assert traced["decoder.bottleneck.0"] == (4096, 1, 1) and traced["decoder.bottleneck.3"] == (4096, 1, 1)
    assert traced["decoder.bottleneck.6"] == (512, 7, 7) and traced["head"] == (21, 224, 224)
    assert shapes(trace(padded, (3, 224, 224), depth=2))["decoder.bottleneck.0"] == (4096, 7, 7)
    assert paper.num_parameters() == padded.num_parameters()
    small = build_model("deconvnet", num_classes=3, width=0.0625, bottleneck="paper").eval()
    assert small(torch.rand(1, 3, 224, 224)).shape == (1, 3, 224, 224)
    with pytest.raises(ValueError, match=r'takes 224x224 inputs.*gives 8x8.*bottleneck="padded"'):
        small(torch.rand(1, 3, 256, 256))
    with pytest.raises(ValueError, match='"padded" or "paper"'):
        build_model("deconvnet", num_classes=3, bottleneck="narrow")
