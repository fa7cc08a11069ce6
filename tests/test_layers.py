"""segedu.layers and segedu.measure against PyTorch and torchvision."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

from segedu import measure
from segedu.layers import ASPP, DepthwiseSeparableConv2d, PyramidPooling, bilinear_kernel, resize_bilinear


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


@pytest.mark.parametrize("source, size", [((23, 30), (180, 240)), ((6, 8), (180, 240)), ((45, 60), (360, 480)),
                                          ((7, 5), (13, 11)), ((1, 1), (4, 3)), ((40, 30), (17, 9)), ((5, 6), (5, 9))])
def test_resize_bilinear_is_interpolate_in_values_and_gradients(source, size):
    """Upsampling by whole and by uneven factors, from a single pixel, and downsampling: F.interpolate's numbers,
    computed in float64 (PyTorch's float32 kernel itself is off by up to 2e-6 for unit inputs: its weights are
    computed in float32)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, 3, *source, generator=generator).requires_grad_()
    weights = torch.randn(2, 3, *size, dtype=torch.float64, generator=generator)  # each output pixel its own weight
    ours = resize_bilinear(images, size)
    exact = images.detach().double().requires_grad_()
    theirs = F.interpolate(exact, size=size, mode="bilinear", align_corners=False)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours.double(), theirs, rtol=5e-7, atol=1e-6)  # a few float32 steps at most
    ours_gradient, = torch.autograd.grad((ours.double() * weights).sum(), images)
    theirs_gradient, = torch.autograd.grad((theirs * weights).sum(), exact)
    torch.testing.assert_close(ours_gradient.double(), theirs_gradient, rtol=1e-5, atol=1e-5)


def test_resize_bilinear_keeps_the_type_and_takes_channels_last_and_autocast():
    images = torch.randn(1, 4, 6, 8, generator=torch.Generator().manual_seed(1))
    images = images.contiguous(memory_format=torch.channels_last)
    expected = F.interpolate(images, size=(12, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize_bilinear(images, (12, 16)), expected, rtol=1e-5, atol=1e-6)
    halves = resize_bilinear(images.bfloat16(), (12, 16))
    assert halves.dtype == torch.bfloat16
    torch.testing.assert_close(halves.float(), expected, rtol=0.02, atol=0.02)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert resize_bilinear(images, (12, 16)).dtype == torch.float32
    assert resize_bilinear(images, (6, 8)) is images
    import segedu.layers

    segedu.layers._bilinear_matrix.cache_clear()
    with torch.inference_mode():  # the first call for a size under inference mode: a later one may still train
        resize_bilinear(torch.randn(1, 1, 7, 3), (9, 5))
    trained = torch.randn(1, 1, 7, 3, requires_grad=True)
    resize_bilinear(trained, (9, 5)).sum().backward()
    torch.testing.assert_close(trained.grad.sum(), torch.tensor(45.0))  # each output pixel's weights sum to 1
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(4, 6, 8\)"):
        resize_bilinear(images[0], (12, 16))
    for size in ((12,), (12, 16, 2), (0, 16)):
        with pytest.raises(ValueError, match=r"two positive lengths \(H, W\), got \(" + str(size[0])):
            resize_bilinear(images, size)


def _randomize_batch_norms(module: nn.Module) -> nn.Module:
    """Running statistics and affine parameters away from 0 and 1, so that a missing or misplaced batch norm shows."""
    generator = torch.Generator().manual_seed(0)
    for norm in (m for m in module.modules() if isinstance(m, nn.BatchNorm2d)):
        channels = norm.num_features
        norm.running_mean.copy_(torch.randn(channels, generator=generator) * 0.3)
        norm.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
        norm.weight.data.copy_(torch.rand(channels, generator=generator) + 0.5)
        norm.bias.data.copy_(torch.randn(channels, generator=generator) * 0.3)
    return module.eval()


def _parts(module: nn.Module) -> list[nn.Module]:
    """The module's convolutions and batch norms in the order they are defined (where the test copies weights from)."""
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]


def _batch_norm(x: torch.Tensor, norm: nn.BatchNorm2d) -> torch.Tensor:
    """Batch norm at inference, written out: (x - running mean) / sqrt(running var + eps) * weight + bias."""
    shape = (1, -1, 1, 1)
    return ((x - norm.running_mean.view(shape)) / torch.sqrt(norm.running_var.view(shape) + norm.eps)
            * norm.weight.view(shape) + norm.bias.view(shape))


def _pointwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A 1x1 convolution as a matrix product over channels (plus the bias, if any)."""
    out = torch.einsum("oc,nchw->nohw", conv.weight[:, :, 0, 0], x)
    return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1)


def _conv_bn_relu(x: torch.Tensor, module: nn.Module, **convolution) -> torch.Tensor:
    conv, norm = _parts(module)
    assert conv.bias is None  # the batch norm carries the bias
    return F.relu(_batch_norm(F.conv2d(x, conv.weight, **convolution), norm))


def _separable(x: torch.Tensor, module: nn.Module, dilation: int) -> torch.Tensor:
    """Each channel convolved alone with its own k x k filter ("same" zero padding), batch norm, ReLU; then a 1x1
    convolution mixing the channels, batch norm, ReLU (Chen et al. 2018, section 3.2)."""
    depthwise, first, pointwise, second = _parts(module)
    assert depthwise.bias is None and pointwise.bias is None
    padding = dilation * (depthwise.weight.shape[-1] - 1) // 2
    per_channel = torch.cat([F.conv2d(x[:, c:c + 1], depthwise.weight[c:c + 1], padding=padding, dilation=dilation)
                             for c in range(x.shape[1])], 1)
    return F.relu(_batch_norm(_pointwise(F.relu(_batch_norm(per_channel, first)), pointwise), second))


def test_aspp_matches_torchvision_but_for_the_image_pooling_batch_norm():
    ours, theirs = ASPP(64, 32, rates=(2, 4, 6)), TorchvisionASPP(64, (2, 4, 6), 32)
    # torchvision's pooling branch: conv without bias + batch norm (2 x 32); ours: conv with bias (32)
    assert measure.num_parameters(ours) == measure.num_parameters(theirs) - 32
    assert ours.eval()(torch.randn(1, 64, 9, 11)).shape == (1, 32, 9, 11)
    assert ours.train()(torch.randn(1, 64, 9, 11)).shape == (1, 32, 9, 11)  # batch of one trains


@pytest.mark.parametrize("separable", [False, True])
def test_aspp_is_parallel_dilated_convolutions_and_image_pooling_concatenated_and_projected(separable):
    # DeepLabv3 (Chen et al. 2017, section 3.3): a 1x1 convolution, a 3x3 convolution at each rate, the image's
    # average through a 1x1 convolution and ReLU broadcast back, concatenated in that order, then a 1x1 projection
    torch.manual_seed(0)
    rates = (2, 3, 5)
    aspp = _randomize_batch_norms(ASPP(8, 4, rates=rates, separable=separable))
    x = torch.randn(2, 8, 11, 13)
    branches = list(aspp.branches)
    assert len(branches) == 1 + len(rates) + 1
    parts = [_conv_bn_relu(x, branches[0])]
    for branch, rate in zip(branches[1:], rates):
        parts.append(_separable(x, branch, rate) if separable
                     else _conv_bn_relu(x, branch, padding=rate, dilation=rate))
    (pooling,) = _parts(branches[-1])
    pooled = F.relu(_pointwise(x.mean((2, 3), keepdim=True), pooling))  # (N, 4, 1, 1), with a bias, no batch norm
    parts.append(pooled.expand(-1, -1, 11, 13))
    expected = _conv_bn_relu(torch.cat(parts, 1), aspp.project)  # dropout: off at inference
    assert expected.shape == (2, 4, 11, 13)
    with torch.no_grad():
        torch.testing.assert_close(aspp(x), expected, atol=1e-5, rtol=1e-4)


def _adaptive_average(x: torch.Tensor, bins: int) -> torch.Tensor:
    """A bins x bins grid of averages; cell i spans rows floor(i H / bins) .. ceil((i + 1) H / bins), likewise columns
    (the cells overlap when H is not a multiple of bins)."""
    height, width = x.shape[-2:]
    edges = lambda size: [(i * size // bins, -(-(i + 1) * size // bins)) for i in range(bins)]  # noqa: E731
    return torch.stack([torch.stack([x[..., top:bottom, left:right].mean((-2, -1)) for left, right in edges(width)], -1)
                        for top, bottom in edges(height)], -2)


def test_pyramid_pooling_shapes_and_global_branch():
    module = _randomize_batch_norms(PyramidPooling(16, bins=(1, 2, 3, 6)))
    x = torch.randn(2, 16, 13, 17)
    with torch.no_grad():
        out = module(x)
    assert out.shape == (2, 16 + 4 * 4, 13, 17) and module.out_channels == 32
    torch.testing.assert_close(out[:, :16], x)
    global_branch = out[:, 16:20]
    torch.testing.assert_close(global_branch, global_branch[..., :1, :1].expand_as(global_branch))
    assert measure.num_parameters(PyramidPooling(2048)) == 4 * (2048 * 512 + 2 * 512)  # PSPNet: 1x1 conv + BN


def test_pyramid_pooling_averages_into_bins_reduces_and_upsamples_each_branch():
    # Zhao et al. 2017, section 3.2: per bin count, average into a bins x bins grid, a 1x1 conv + BN + ReLU to
    # C / len(bins) channels, bilinear upsampling back to H x W; concatenated after the input, finest bins last
    bins = (1, 2, 3, 6)
    module = _randomize_batch_norms(PyramidPooling(16, bins=bins))
    x = torch.randn(2, 16, 13, 17)
    expected = [x]
    for branch, count in zip(module.branches, bins):
        reduced = _conv_bn_relu(_adaptive_average(x, count), branch)
        assert reduced.shape == (2, 4, count, count)
        expected.append(F.interpolate(reduced, size=(13, 17), mode="bilinear", align_corners=False))
    with torch.no_grad():
        torch.testing.assert_close(module(x), torch.cat(expected, 1))


def test_depthwise_separable_equals_grouped_then_pointwise_convolution():
    layer = _randomize_batch_norms(DepthwiseSeparableConv2d(6, 10, 3, dilation=2))
    x = torch.randn(2, 6, 9, 8)
    depthwise, _, pointwise, _ = _parts(layer)
    assert depthwise.weight.shape == (6, 1, 3, 3) and pointwise.weight.shape == (10, 6, 1, 1)
    expected = _separable(x, layer, dilation=2)
    assert expected.shape == (2, 10, 9, 8)  # "same" size: padding 2 at dilation 2
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
    # C_in k^2 + C_in C_out weights instead of C_in C_out k^2, plus two batch norms
    assert measure.num_parameters(layer) == 6 * 9 + 6 * 10 + 2 * (6 + 10)


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


def test_measure_counts_the_activations_without_the_parameters():
    """A 1x1 convolution keeps its input and its weight for the backward; measure's activation memory is the input's
    bytes alone (float32, 4 bytes an element), computed by hand, though the weight is the larger here."""
    convolution = nn.Conv2d(3, 64, 1, bias=False)
    cost = measure.measure(convolution, (4, 5), batch_size=2, repeats=1)
    assert cost.activation_megabytes * 2**20 == 2 * 3 * 4 * 5 * 4
