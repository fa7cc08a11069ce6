"""segedu.measure: the receptive field measured by back-propagating from one output pixel."""

from segedu.measure import measured_receptive_field


def test_measured_receptive_field_of_known_networks():
    assert measured_receptive_field([3] * 13 + [2] * 0, [1] * 13, [1] * 13) == 27
    assert measured_receptive_field([11, 3], [4, 2], [1, 1]) == 19  # AlexNet's conv1 + pool1


def test_field_geometry_closed_form_equals_the_span_autograd_measures():
    from segedu.measure import field_geometry, measured_field_span

    stacks = [  # (kernels, strides, paddings, dilations)
        ([3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2], [1, 1, 0, 1, 1, 0], None),  # VGG16's first two blocks
        ([7, 3, 3, 3], [2, 2, 1, 1], [3, 1, 2, 4], [1, 1, 2, 4]),           # a ResNet stem, then dilated
        ([5, 4, 3], [3, 2, 1], [0, 2, 1], [1, 1, 3]),                       # odd strides, an even kernel
    ]
    for kernels, strides, paddings, dilations in stacks:
        geometry = field_geometry(kernels, strides, paddings, dilations)
        for index in (10, 11, 17):
            start, end = geometry.span(index)
            assert start >= 0  # inside the 400-pixel input, so nothing is clipped
            assert measured_field_span(kernels, strides, paddings, dilations, index, length=400) == (start, end)
            assert geometry.centre(index) == (start + end) / 2


def test_field_geometry_of_the_papers_networks():
    from segedu.measure import field_geometry

    vgg16 = ([3, 3, 2] * 2 + [3, 3, 3, 2] * 3, [1, 1, 2] * 2 + [1, 1, 1, 2] * 3, [1, 1, 0] * 2 + [1, 1, 1, 0] * 3)
    pool5 = field_geometry(*vgg16)
    assert (pool5.size, pool5.stride, pool5.padding) == (212, 32, 90)  # Araujo et al. 2019, table 1: VGG-16 212
    fc6 = field_geometry(vgg16[0] + [7], vgg16[1] + [1], vgg16[2] + [0])
    assert fc6.size == 404


def test_network_receptive_field_takes_the_widest_path():
    import pytest
    import torch
    from torch import nn

    from segedu.measure import field_geometry, network_receptive_field

    class TwoPaths(nn.Module):  # a residual block after a strided stem: the shortcut sees less than the residual path
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.residual = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 5, padding=2))

        def forward(self, x):
            x = self.stem(x)
            return x + self.residual(x)

    torch.manual_seed(0)
    widest = field_geometry([3, 3, 5], [2, 1, 1], [1, 1, 2]).size  # 3 + 2 * 2 + 4 * 2 = 15
    assert network_receptive_field(TwoPaths(), height=16, width=64) == widest == 15
    vgg_block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2))
    assert network_receptive_field(vgg_block, height=16, width=64) == field_geometry([3, 3, 2], [1, 1, 2], [1, 1, 0]).size
    with pytest.raises(ValueError, match="wider"):
        network_receptive_field(TwoPaths(), height=16, width=12)
