"""Measure a model the way the lectures compare them: parameters, FLOPs, activation memory, latency.

Used by the notebooks (input-size trade-off, depthwise separable convolution, the model zoo) and
by the benchmark. FLOPs come from torch.utils.flop_counter (a multiply-add counts as 2 FLOPs);
activation memory is the bytes of the tensors autograd saves for the backward pass, which is what
grows with the input size when training, and is measurable on a CPU as on a GPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["num_parameters", "count_flops", "saved_activation_bytes", "latency", "Cost", "measure", "measured_receptive_field"]


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
    """Parameters, GFLOPs, saved activation MB (training mode) and median inference latency in ms."""
    inputs = torch.randn(batch_size, in_channels, *input_size, device=device)
    was_training = model.training
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}  # batch-norm statistics
    try:
        model.train()
        activation = saved_activation_bytes(model, inputs)
        model.eval()
        flops = count_flops(model, inputs)
        seconds = latency(model, inputs, repeats=repeats)
    finally:
        model.train(was_training)
        with torch.no_grad():  # the training-mode pass must not change a trained model's running statistics
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    return Cost(tuple(input_size), num_parameters(model), flops / 1e9, activation / 2**20, seconds * 1e3)


def measured_receptive_field(kernel_sizes: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> int:
    """The receptive field of one output pixel of a stack of convolutions, measured by autograd.

    Builds the stack (along one axis) with all-ones weights, back-propagates from the central output
    pixel and returns the width of the input span with a non-zero gradient. Holes inside a gridded
    field count as inside: the field is the span, as in the formula.
    """
    layers = [nn.Conv2d(1, 1, (1, k), stride=(1, s), dilation=(1, d), bias=False)
              for k, s, d in zip(kernel_sizes, strides, dilations)]
    for layer in layers:
        nn.init.ones_(layer.weight)
    size = 2 * math.prod(strides) * sum(d * k for k, d in zip(kernel_sizes, dilations)) + 1  # generous
    inputs = torch.zeros(1, 1, 1, size, requires_grad=True)
    output = nn.Sequential(*layers)(inputs)  # (1, 1, 1, W')
    output[0, 0, 0, output.shape[-1] // 2].backward()
    touched = inputs.grad[0, 0, 0].nonzero().flatten()
    return int(touched.max() - touched.min() + 1)
