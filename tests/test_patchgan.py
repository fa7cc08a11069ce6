"""pix2pix's 70x70 PatchGAN discriminator, against the paper's description (appendix 6.1.2)."""

from __future__ import annotations

import torch
from torch import nn

from segedu.measure import network_receptive_field
from segedu.models.patchgan import PatchDiscriminator


def test_each_logit_judges_a_70_by_70_patch_as_the_paper_says():
    discriminator = PatchDiscriminator(2, width=0.25)
    assert network_receptive_field(discriminator, in_channels=2, height=256, width=256) == 70


def test_it_gives_one_logit_per_patch_on_a_grid_an_eighth_of_the_input():
    discriminator = PatchDiscriminator(2, width=0.25).eval()
    with torch.no_grad():
        # 128 -> 64 -> 32 -> 16 (three 4x4 convolutions of stride 2), -> 15 -> 14 (two of stride 1)
        assert discriminator(torch.rand(3, 2, 128, 128)).shape == (3, 1, 14, 14)
        assert discriminator(torch.rand(1, 2, 64, 96)).shape == (1, 1, 6, 10)


def test_the_paper_layers_c64_c128_c256_c512_with_no_batch_norm_on_the_first():
    layers = list(PatchDiscriminator(2).layers)
    convolutions = [layer for layer in layers if isinstance(layer, nn.Conv2d)]
    assert [conv.out_channels for conv in convolutions] == [64, 128, 256, 512, 1]
    assert [conv.kernel_size for conv in convolutions] == [(4, 4)] * 5
    assert isinstance(layers[1], nn.LeakyReLU) and layers[1].negative_slope == 0.2
    assert sum(isinstance(layer, nn.BatchNorm2d) for layer in layers) == 3
