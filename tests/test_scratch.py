"""segedu.scratch against PyTorch: values and gradients over a grid of shapes, strides, paddings,
output paddings, dilations, groups, batch sizes and non-square inputs; modules share state dicts."""

import itertools

import pytest
import torch
import torch.nn.functional as TF

from segedu.scratch import functional as F
from segedu.scratch import nn as snn


def _compare(ours, theirs, inputs):
    """Run both on float64 copies of `inputs`, compare outputs and the gradients of a random projection."""
    ours_in = [t.detach().double().requires_grad_(t.is_floating_point()) for t in inputs]
    theirs_in = [t.detach().double().requires_grad_(t.is_floating_point()) for t in inputs]
    out_ours, out_theirs = ours(*ours_in), theirs(*theirs_in)
    assert out_ours.shape == out_theirs.shape
    torch.testing.assert_close(out_ours, out_theirs)
    projection = torch.randn_like(out_theirs)
    grads_ours = torch.autograd.grad((out_ours * projection).sum(), [t for t in ours_in if t.requires_grad])
    grads_theirs = torch.autograd.grad((out_theirs * projection).sum(), [t for t in theirs_in if t.requires_grad])
    for a, b in zip(grads_ours, grads_theirs):
        torch.testing.assert_close(a, b)


CONV_CASES = list(itertools.product(
    [(1, 2, 5, 5), (2, 4, 7, 10)],        # batch, channels, non-square
    [(3, 3), (1, 1), (2, 3)],             # kernel
    [1, 2, (2, 1)],                       # stride
    [0, 1, (2, 0)],                       # padding
    [1, 2],                               # dilation
    [1, 2],                               # groups
))


@pytest.mark.parametrize("shape,kernel,stride,padding,dilation,groups", CONV_CASES)
def test_conv2d_matches_torch(shape, kernel, stride, padding, dilation, groups):
    torch.manual_seed(0)
    batch, channels, height, width = shape
    if (height + 2 * max(torch.nn.modules.utils._pair(padding))) < dilation * (max(kernel) - 1) + 1:
        pytest.skip("kernel larger than the padded input")
    inputs = [torch.randn(shape), torch.randn(6, channels // groups, *kernel), torch.randn(6)]
    _compare(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
             lambda x, w, b: TF.conv2d(x, w, b, stride, padding, dilation, groups), inputs)


TRANSPOSE_CASES = [case + (output_padding,) for case in itertools.product(
    [(1, 2, 4, 4), (3, 4, 5, 7)], [(3, 3), (2, 2), (4, 1)], [1, 2, 3], [0, 1], [1, 2], [1, 2])
    for output_padding in (0, 1) if output_padding < max(case[2], case[4])]


@pytest.mark.parametrize("shape,kernel,stride,padding,dilation,groups,output_padding", TRANSPOSE_CASES)
def test_conv_transpose2d_matches_torch(shape, kernel, stride, padding, dilation, groups, output_padding):
    torch.manual_seed(1)
    inputs = [torch.randn(shape), torch.randn(shape[1], 3, *kernel), torch.randn(3 * groups)]
    _compare(lambda x, w, b: F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation),
             lambda x, w, b: TF.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation), inputs)


@pytest.mark.parametrize("size,kernel,stride,padding", [
    ((8, 8), 2, None, 0), ((7, 9), 2, 2, 0), ((7, 9), 3, 2, 1), ((6, 11), (3, 2), (1, 2), (1, 0)), ((5, 5), 3, 1, 1)])
@pytest.mark.parametrize("batch", [1, 3])
def test_max_pool_and_unpool_match_torch(size, kernel, stride, padding, batch):
    torch.manual_seed(2)
    x = torch.randn(batch, 3, *size)
    values, indices = F.max_pool2d_with_indices(x, kernel, stride, padding)
    expected_values, expected_indices = TF.max_pool2d(x, kernel, stride, padding, return_indices=True)
    torch.testing.assert_close(values, expected_values)
    assert torch.equal(indices, expected_indices)
    _compare(lambda t: F.max_pool2d_with_indices(t, kernel, stride, padding)[0],
             lambda t: TF.max_pool2d(t, kernel, stride, padding), [x])
    _compare(lambda v: F.max_unpool2d(v, indices, kernel, stride, padding, output_size=size),
             lambda v: TF.max_unpool2d(v, indices, kernel, stride, padding, output_size=size), [values])


def test_max_pool_ties_pick_the_first_maximum_like_torch():
    x = torch.tensor([[[[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0]]]])
    assert torch.equal(F.max_pool2d_with_indices(x, 2)[1], TF.max_pool2d(x, 2, return_indices=True)[1])


def test_max_unpool_rejects_indices_outside_the_output():
    values, indices = F.max_pool2d_with_indices(torch.randn(1, 1, 5, 5), 2)
    with pytest.raises(ValueError, match="output_size"):
        F.max_unpool2d(values, indices + 100, 2)


@pytest.mark.parametrize("in_size,out_size", [((4, 4), (8, 8)), ((5, 7), (11, 3)), ((8, 6), (3, 4)), ((1, 3), (4, 6)),
                                              ((6, 6), (1, 1))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_bilinear_matches_torch(in_size, out_size, align_corners):
    torch.manual_seed(3)
    _compare(lambda x: F.interpolate_bilinear(x, out_size, align_corners),
             lambda x: TF.interpolate(x, out_size, mode="bilinear", align_corners=align_corners),
             [torch.randn(2, 3, *in_size)])


def test_output_size_formulas_match_torch():
    for size, k, s, p, d in itertools.product([5, 8, 13], [1, 3, 4], [1, 2, 3], [0, 1], [1, 2]):
        if size + 2 * p < d * (k - 1) + 1:
            continue
        assert F.conv_output_size(size, k, s, p, d) == TF.conv2d(torch.zeros(1, 1, size, size),
                                                                 torch.zeros(1, 1, k, k), None, s, p, d).shape[-1]
        for op in range(max(s, d)):
            assert F.conv_transpose_output_size(size, k, s, p, op, d) == TF.conv_transpose2d(
                torch.zeros(1, 1, size, size), torch.zeros(1, 1, k, k), None, s, p, op, 1, d).shape[-1]


@pytest.mark.parametrize("make", [
    lambda nn: nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
    lambda nn: nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2),
])
def test_modules_load_state_dicts_both_ways(make):
    torch.manual_seed(4)
    reference, scratch = make(torch.nn), make(snn)
    scratch.load_state_dict(reference.state_dict())
    x = torch.randn(2, 4, 9, 11)
    torch.testing.assert_close(scratch(x), reference(x))
    reference.load_state_dict(make(snn).state_dict())
    assert [p.shape for p in reference.parameters()] == [p.shape for p in scratch.parameters()]


def test_conv_transpose_module_output_size_and_pool_modules():
    torch.manual_seed(5)
    reference, scratch = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), snn.ConvTranspose2d(3, 2, 3, stride=2,
                                                                                                    padding=1)
    scratch.load_state_dict(reference.state_dict())
    x = torch.randn(1, 3, 5, 6)
    torch.testing.assert_close(scratch(x, output_size=[10, 12]), reference(x, output_size=[10, 12]))
    values, indices = snn.MaxPool2d(2, return_indices=True)(x)
    expected = torch.nn.MaxUnpool2d(2)(*torch.nn.MaxPool2d(2, return_indices=True)(x), output_size=x.shape)
    torch.testing.assert_close(snn.MaxUnpool2d(2)(values, indices, output_size=x.shape), expected)
    torch.testing.assert_close(snn.UpsamplingBilinear2d(scale_factor=2)(x),
                               torch.nn.Upsample(scale_factor=2, mode="bilinear")(x))


def test_unsupported_options_are_named():
    with pytest.raises(ValueError, match="padding_mode"):
        snn.Conv2d(3, 3, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="ceil_mode"):
        snn.MaxPool2d(2, ceil_mode=True)
