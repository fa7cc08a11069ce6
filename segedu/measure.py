"""Measure a model the way the lectures compare them: parameters, FLOPs, activation memory, latency.

Used by the notebooks (input-size trade-off, depthwise separable convolution, the model zoo) and
by the benchmark. FLOPs come from torch.utils.flop_counter (a multiply-add counts as 2 FLOPs);
activation memory is the bytes of the tensors autograd saves for the backward pass, the parameters it also keeps
left out: what grows with the input size when training, measurable on a CPU as on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from .language import tr

__all__ = ["num_parameters", "count_flops", "saved_activation_bytes", "latency", "Cost", "measure", "measured_receptive_field",
           "FieldGeometry", "field_geometry", "measured_field_span", "network_receptive_field"]


def num_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """The number of scalar parameters (shared ones counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass on `inputs` (N, C, H, W), counted by torch.utils.flop_counter."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(inputs)
    return int(counter.get_total_flops())


def saved_activation_bytes(model: nn.Module, inputs: torch.Tensor, *, weights: bool = True) -> int:
    """Bytes of the distinct tensors autograd keeps from one training-mode forward pass for the backward;
    `weights=False` leaves out the parameters it keeps (which do not grow with the input)."""
    seen: dict[tuple[int, int], int] = {}
    parameters = set() if weights else {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.layout == torch.strided and tensor.numel():
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in parameters:
                seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor), torch.enable_grad():
        output = model(inputs)
    del output
    return sum(seen.values())


def latency(model: nn.Module, inputs: torch.Tensor, *, repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of an inference forward pass (synchronizing CUDA before reading the clock)."""
    timings = []
    with torch.no_grad():
        for step in range(warmup + repeats):
            if inputs.is_cuda:
                torch.cuda.synchronize(inputs.device)
            start = time.perf_counter()
            model(inputs)
            if inputs.is_cuda:
                torch.cuda.synchronize(inputs.device)
            if step >= warmup:
                timings.append(time.perf_counter() - start)
    return sorted(timings)[len(timings) // 2]


@dataclass
class Cost:
    """What one forward pass at `input_size` costs."""
    input_size: tuple[int, int]
    parameters: int
    gflops: float
    activation_megabytes: float
    milliseconds: float


def measure(model: nn.Module, input_size: tuple[int, int], *, in_channels: int = 3, batch_size: int = 1,
            device: str | torch.device = "cpu", repeats: int = 3) -> Cost:
    """Parameters, GFLOPs, saved activation MB (training mode, parameters left out) and median inference latency
    in ms."""
    inputs = torch.randn(batch_size, in_channels, *input_size, device=device)
    was_training = model.training
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}  # batch-norm statistics
    try:
        model.train()
        activation = saved_activation_bytes(model, inputs, weights=False)  # the parameters do not grow with the input
        model.eval()
        flops = count_flops(model, inputs)
        seconds = latency(model, inputs, repeats=repeats)
    finally:
        model.train(was_training)
        with torch.no_grad():  # the training-mode pass must not change a trained model's running statistics
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    return Cost(tuple(input_size), num_parameters(model), flops / 1e9, activation / 2**20, seconds * 1e3)


def _ones_stack(kernel_sizes: Sequence[int], strides: Sequence[int], paddings: Sequence[int],
                dilations: Sequence[int]) -> nn.Sequential:
    """The stack along one axis, (1, 1, 1, W) -> (1, 1, 1, W'), every weight 1 and no bias: the gradient of an output
    then counts the paths from each input pixel to it."""
    layers = [nn.Conv2d(1, 1, (1, k), stride=(1, s), padding=(0, p), dilation=(1, d), bias=False)
              for k, s, p, d in zip(kernel_sizes, strides, paddings, dilations)]
    for layer in layers:
        nn.init.ones_(layer.weight)
    return nn.Sequential(*layers)


def measured_receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> int:
    """The receptive field of one output pixel of a stack of convolutions, measured by autograd.

    Builds the stack (along one axis) with all-ones weights, back-propagates from the central output
    pixel and returns the width of the input span with a non-zero gradient. Holes inside a gridded
    field count as inside: the field is the span, as in the formula.
    """
    stack = _ones_stack(kernel_sizes, strides, [0] * len(kernel_sizes), dilations)
    size = 2 * math.prod(strides) * sum(d * k for k, d in zip(kernel_sizes, dilations)) + 1  # generous
    inputs = torch.zeros(1, 1, 1, size, requires_grad=True)
    output = stack(inputs)  # (1, 1, 1, W')
    output[0, 0, 0, output.shape[-1] // 2].backward()
    touched = inputs.grad[0, 0, 0].nonzero().flatten()
    return int(touched.max() - touched.min() + 1)


@dataclass(frozen=True)
class FieldGeometry:
    """Where the outputs of a stack of convolutions and poolings look, along one axis (Araujo, Norris and Sim,
    "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019).

    Output `u` reads the input pixels `span(u)` = [u S - P, u S - P + r - 1], centred on `centre(u)`; pixels
    before 0 or past the input's end lie in the padding. `size` is r, `stride` the effective stride S (input pixels
    between neighbouring outputs), `padding` the effective padding P (how far output 0's field starts before pixel 0).
    """

    size: int
    stride: int
    padding: int

    def span(self, index: int) -> tuple[int, int]:
        start = index * self.stride - self.padding
        return start, start + self.size - 1

    def centre(self, index: int) -> float:
        return index * self.stride - self.padding + (self.size - 1) / 2


def field_geometry(kernel_sizes: Sequence[int], strides: Sequence[int], paddings: Sequence[int],
                   dilations: Sequence[int] | None = None) -> FieldGeometry:
    """The closed form, one entry per layer in the order they run (Araujo et al. 2019, equations 2, 9 and 11):

        r = 1 + sum_l d_l (k_l - 1) prod_{i<l} s_i,   S = prod_l s_l,   P = sum_l p_l prod_{i<l} s_i.

    The Distill article writes a dilated kernel as its effective size d (k - 1) + 1; the same thing."""
    dilations = [1] * len(kernel_sizes) if dilations is None else dilations
    if not len(kernel_sizes) == len(strides) == len(paddings) == len(dilations):
        raise ValueError(tr("one kernel size, stride, padding and dilation per layer: got {number_of_kernel_sizes}, "
                            "{number_of_strides}, {number_of_paddings} and {number_of_dilations}",
                            number_of_kernel_sizes=len(kernel_sizes), number_of_strides=len(strides),
                            number_of_paddings=len(paddings), number_of_dilations=len(dilations)))
    size, padding, jump = 1, 0, 1
    for kernel_size, stride, pad, dilation in zip(kernel_sizes, strides, paddings, dilations):
        size += dilation * (kernel_size - 1) * jump
        padding += pad * jump
        jump *= stride
    return FieldGeometry(size, jump, padding)


def measured_field_span(kernel_sizes: Sequence[int], strides: Sequence[int], paddings: Sequence[int],
                        dilations: Sequence[int] | None, index: int, *, length: int) -> tuple[int, int]:
    """The first and last input pixels (of an input `length` pixels long) whose gradient reaches output `index`
    of the stack, built along one axis with all-ones weights and zero padding and differentiated by autograd.
    The span is clipped to the input: pixels in the padding have no gradient to measure."""
    dilations = [1] * len(kernel_sizes) if dilations is None else dilations
    inputs = torch.ones(1, 1, 1, length, requires_grad=True)
    output = _ones_stack(kernel_sizes, strides, paddings, dilations)(inputs)  # (1, 1, 1, W')
    if not 0 <= index < output.shape[-1]:
        raise ValueError(tr("output index {index} is outside the stack's {output_shape} outputs for an input of "
                            "{length} pixels",
                            index=index, output_shape=output.shape[-1], length=length))
    output[0, 0, 0, index].backward()
    touched = inputs.grad[0, 0, 0].nonzero().flatten()
    return int(touched.min()), int(touched.max())


def network_receptive_field(network: nn.Module, *, in_channels: int = 3, height: int = 64, width: int = 1024,
                            seed: int = 0) -> int:
    """The theoretical receptive field (pixels along x) of the central output position of any network, every path
    included (residual shortcuts, parallel branches): `network` maps (1, C, height, width) to (1, C', h, w); the
    gradient of the central position's channels (summed with random signs, so none cancels another) is non-zero
    exactly on the input pixels that can change it. Weights as they are (random or trained), eval mode. Raises if the
    field reaches the input's left or right edge, where it would be cut: give a wider input."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(1, in_channels, height, width, generator=generator, requires_grad=True)
    was_training = network.training
    network.eval()
    try:
        output = network(inputs)
    finally:
        network.train(was_training)
    centre = output[0, :, output.shape[-2] // 2, output.shape[-1] // 2]  # (C',)
    signs = torch.randint(0, 2, centre.shape, generator=generator).to(centre.dtype) * 2 - 1
    (gradient,) = torch.autograd.grad((centre * signs).sum(), inputs)
    touched = gradient[0].abs().sum((0, 1)).nonzero().flatten()
    first, last = int(touched.min()), int(touched.max())
    if first == 0 or last == width - 1:
        raise ValueError(tr("the receptive field reaches the edge of the {width}-pixel-wide input: measure it on a "
                            "wider input", width=width))
    return last - first + 1
