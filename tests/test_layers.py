"""segedu.layers and segedu.measure against PyTorch and torchvision."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

from segedu import measure
from segedu.layers import ASPP, DepthwiseSeparableConv2d, PyramidPooling, bilinear_kernel


@pytest.mark.parametrize("factor", [2, 4, 8, 32])
def test_bilinear_kernel_upsamples_like_interpolate_inside(factor):
    upsample = nn.ConvTranspose2d(2, 2, 2 * factor, stride=factor, padding=factor // 2, bias=False)
    upsample.weight.data = bilinear_kernel(2, 2, 2 * factor)
    x = torch.randn(1, 2, 6, 5)
    with torch.no_grad():
        ours = upsample(x)
    expected = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours[..., factor:-factor, factor:-factor], expected[..., factor:-factor, factor:-factor])


def test_bilinear_kernel_odd_size_is_a_centred_tent():
    kernel = bilinear_kernel(1, 1, 3)[0, 0]
    torch.testing.assert_close(kernel, torch.tensor([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]))


def test_aspp_matches_torchvision_but_for_the_image_pooling_batch_norm():
    ours, theirs = ASPP(64, 32, rates=(2, 4, 6)), TorchvisionASPP(64, (2, 4, 6), 32)
    # torchvision's pooling branch: conv without bias + batch norm (2 x 32); ours: conv with bias (32)
    assert measure.num_parameters(ours) == measure.num_parameters(theirs) - 32
    assert ours.eval()(torch.randn(1, 64, 9, 11)).shape == (1, 32, 9, 11)
    assert ours.train()(torch.randn(1, 64, 9, 11)).shape == (1, 32, 9, 11)  # batch of one trains


def test_pyramid_pooling_shapes_and_global_branch():
    module = PyramidPooling(16, bins=(1, 2, 3, 6)).eval()
    x = torch.randn(2, 16, 13, 17)
    out = module(x)
    assert out.shape == (2, 16 + 4 * 4, 13, 17) and module.out_channels == 32
    torch.testing.assert_close(out[:, :16], x)
    global_branch = out[:, 16:20]
    torch.testing.assert_close(global_branch, global_branch[..., :1, :1].expand_as(global_branch))
    assert measure.num_parameters(PyramidPooling(2048)) == 4 * (2048 * 512 + 2 * 512)  # PSPNet: 1x1 conv + BN


def test_depthwise_separable_equals_grouped_then_pointwise_convolution():
    layer = DepthwiseSeparableConv2d(6, 10, 3, dilation=2).eval()
    x = torch.randn(2, 6, 9, 8)
    depthwise, pointwise = layer[0], layer[3]
    expected = layer[5](layer[4](pointwise(layer[2](layer[1](F.conv2d(x, depthwise.weight, padding=2, dilation=2,
                                                                      groups=6))))))
    torch.testing.assert_close(layer(x), expected)
    assert depthwise.weight.shape == (6, 1, 3, 3) and pointwise.weight.shape == (10, 6, 1, 1)


def test_count_flops_of_a_convolution():
    conv = nn.Conv2d(4, 8, 3, padding=1, bias=False)
    assert measure.count_flops(conv, torch.zeros(2, 4, 10, 12)) == 2 * (4 * 9) * 8 * 10 * 12 * 2


def test_activation_memory_grows_with_the_input_and_measure_keeps_batch_norm_statistics():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    small = measure.saved_activation_bytes(model, torch.randn(1, 3, 16, 16))
    large = measure.saved_activation_bytes(model, torch.randn(1, 3, 32, 32))
    assert small > 0 and 3.5 < large / small < 4.5
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    cost = measure.measure(model, (16, 16))
    assert cost.parameters == 3 * 8 * 9 + 8 + 16 and cost.gflops > 0 and cost.milliseconds > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()) and not model.training
