"""The scratch operations as modules, twins of torch.nn's.

Each class subclasses its torch.nn namesake and replaces only `forward`, so the constructor
arguments, the parameter shapes, the initialization and the state-dict keys are PyTorch's own:
`scratch.nn.Conv2d(3, 8, 3).load_state_dict(torch.nn.Conv2d(3, 8, 3).state_dict())` works both
ways, and a notebook can swap one layer of a trained model for its scratch twin and compare.
"""

from __future__ import annotations

import torch
from torch import nn

from . import functional as F
from ..language import tr

__all__ = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "MaxUnpool2d", "UpsamplingBilinear2d"]


def _supported(module: nn.Module, **settings) -> None:
    for name, (value, supported) in settings.items():
        if value != supported:
            raise ValueError(tr("scratch.nn.{module_type} supports only {name}={supported!r}, got "
                                "{value!r}",
                                module_type=type(module).__name__, name=name, supported=supported,
                                value=value))


class Conv2d(nn.Conv2d):
    """torch.nn.Conv2d computed by scratch.functional.conv2d. (N, C_in, H, W) -> (N, C_out, H', W')."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _supported(self, padding_mode=(self.padding_mode, "zeros"),
                   padding_is_a_number=(isinstance(self.padding, tuple), True))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(nn.ConvTranspose2d):
    """torch.nn.ConvTranspose2d computed by scratch.functional.conv_transpose2d. (N, C_in, H, W) -> (N, C_out, H', W').

    `forward(input, output_size=...)` picks output_padding as torch.nn does.
    """

    def forward(self, input: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size,
                                              2, self.dilation)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, tuple(output_padding),
                                  self.groups, self.dilation)


class MaxPool2d(nn.MaxPool2d):
    """torch.nn.MaxPool2d by scratch.functional.max_pool2d_with_indices; returns (values, indices) if return_indices."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _supported(self, dilation=(self.dilation, 1), ceil_mode=(self.ceil_mode, False))

    def forward(self, input: torch.Tensor):
        values, indices = F.max_pool2d_with_indices(input, self.kernel_size, self.stride, self.padding)
        return (values, indices) if self.return_indices else values


class MaxUnpool2d(nn.MaxUnpool2d):
    """torch.nn.MaxUnpool2d by scratch.functional.max_unpool2d. (N, C, H, W) + indices -> (N, C, H_out, W_out)."""

    def forward(self, input: torch.Tensor, indices: torch.Tensor, output_size: list[int] | None = None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class UpsamplingBilinear2d(nn.Module):
    """Bilinear resizing to `size` or by `scale_factor`, as nn.Upsample(mode="bilinear", align_corners=...)."""

    def __init__(self, size: int | tuple[int, int] | None = None, scale_factor: int | None = None,
                 align_corners: bool = False):
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ValueError(tr("give exactly one of size and scale_factor"))
        self.size, self.scale_factor, self.align_corners = size, scale_factor, align_corners

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        size = self.size or (input.shape[-2] * self.scale_factor, input.shape[-1] * self.scale_factor)
        return F.interpolate_bilinear(input, size, self.align_corners)
