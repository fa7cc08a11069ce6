"""Where and how a model runs, decided once: device, precision, memory format, data workers, fused optimizer
updates and compilation. `fit`, `evaluate`, `predict`, `bench` and the command line all take a `Runtime`.

    runtime = Runtime.resolve("auto")       # the fastest settings this machine supports
    print(runtime.describe())               # "cpu: bf16 autocast (AVX-512 BF16), channels_last, fused AdamW, ..."
    Runtime.resolve("cpu", bf16=False)      # any choice can be forced, e.g. to compare accuracy with fp32

Defaults, chosen per device:

- CUDA: bf16 autocast, channels_last, fused optimizer updates, cuDNN autotuning and TF32 matmuls, pinned memory
  and up to 8 persistent DataLoader workers.
- CPU: bf16 autocast only where the processor computes bf16 natively (AVX-512 BF16 or AMX; elsewhere bf16 is
  emulated and slower than fp32), fused optimizer updates, no workers (decoding on the same cores the model trains
  on gains nothing on a laptop). channels_last is off here, and `fit` decides it per run: with bf16 it doubles
  U-Net's and SegNet's training speed but halves PSPNet's (oneDNN's bf16 weight gradients in that layout), so when
  `TrainConfig.channels_last` is None `fit` times both layouts on the processor at hand (`segedu.engine.autotune`).
- torch.compile: off unless asked for (it pays on a GPU over long runs; `bench` measures it).

One guard against a bug below us: oneDNN 3.12 (PyTorch 2.14's CPU backend) corrupts the heap in its AMX bf16
weight-gradient kernel (brgconv_bwd_w) for a convolution with more than 2048 input and fewer than 16 output channels,
which is FCN's score layer on VGG16's 4096-channel fc7. The process dies later, at some free() ("free(): invalid next
size", "corrupted double-linked list"). `place` keeps such convolutions in fp32 under CPU bf16 autocast
(`bf16_unsafe_convolutions`); everything else stays bf16. docs/known-issues.md has the ten-line reproduction.

Every CUDA setting that PyTorch also supports on the CPU runs through this same code on the CPU when forced,
which is how the tests exercise the GPU path on machines without one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from .language import tr

__all__ = ["Runtime", "resolve_device", "cpu_has_native_bf16", "cpu_name", "bf16_unsafe_convolutions",
           "keep_in_float32"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> cuda, then mps, then cpu; anything else is passed to torch.device (and checked)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as error:
        raise ValueError(tr("device {device!r} is not a device name: use auto, cpu, cuda, cuda:N or mps",
                            device=device)) from error
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(tr("device {device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'",
                            device=device))
    if chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(tr("device {device!r} was asked for but Apple's MPS is not available; use 'auto' or 'cpu'",
                            device=device))
    if chosen.type not in ("cpu", "cuda", "mps"):
        raise ValueError(tr("device {device!r} is not supported: use auto, cpu, cuda, cuda:N or mps", device=device))
    return chosen


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX), so bf16 autocast is faster than fp32."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def cpu_name() -> str:
    """The processor's model name as the operating system gives it, e.g. "AMD EPYC 7B13" or "Intel(R) Xeon(R)
    Platinum 8481C CPU @ 2.70GHz" (Linux's /proc/cpuinfo, else `platform.processor()`); "unknown CPU" without one."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split()) or "unknown CPU"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def bf16_unsafe_convolutions(model: nn.Module) -> list[str]:
    """Names of the convolutions in `model` whose bf16 weight gradient oneDNN 3.12 computes with heap corruption on
    the CPU: more than 2048 input and fewer than 16 output channels (found by a sweep over channel counts and kernel
    sizes; transposed convolutions and every other shape ran clean and matched fp32 gradients to 0.3%)."""
    return [name for name, module in model.named_modules()
            if type(module) is nn.Conv2d and module.in_channels > 2048 and module.out_channels < 16]


class Float32Conv2d(nn.Conv2d):
    """A Conv2d that computes in fp32 even under autocast (same parameters, same state_dict keys)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        with torch.autocast(input.device.type, enabled=False):
            return super().forward(input.float())


def keep_in_float32(model: nn.Module, names: list[str]) -> nn.Module:
    """Make the named Conv2d layers of `model` compute in fp32 under autocast (in place); return `model`."""
    for name in names:
        module = model.get_submodule(name)
        if type(module) is not nn.Conv2d:
            raise TypeError(tr("{name} is a {module_type}; only plain nn.Conv2d layers can be kept in "
                               "fp32",
                               name=name, module_type=type(module).__name__))
        module.__class__ = Float32Conv2d
    return model


def _compiler_present() -> bool:
    """torch.compile's CPU backend (inductor) needs a C++ compiler."""
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The resolved settings of one run. Build it with `Runtime.resolve`; every field can be forced there."""

    device: torch.device
    bf16: bool = False
    channels_last: bool = False
    workers: int = 0
    fused: bool = False
    compile: bool = False
    # fit's choice of memory layout on the CPU (TrainConfig.channels_last None): `measure_layout` until fit has
    # timed both layouts, then `layout_note` says how channels_last was chosen (segedu.engine.autotune)
    measure_layout: bool = dataclasses.field(default=False, compare=False)
    layout_note: str = dataclasses.field(default="", compare=False)

    @classmethod
    def resolve(cls, device: str | torch.device = "auto", *, bf16: bool | None = None, channels_last: bool | None = None,
                workers: int | None = None, fused: bool | None = None, compile: bool | None = None) -> Runtime:
        """The fastest settings `device` supports; None means "choose for me", True or False forces a setting."""
        chosen = resolve_device(device)
        on_cuda, on_cpu = chosen.type == "cuda", chosen.type == "cpu"
        if compile and not on_cuda and not _compiler_present():
            raise ValueError(tr("torch.compile on the CPU needs a C++ compiler (g++ or clang++) and none was found"))
        if workers is not None and workers < 0:
            raise ValueError(tr("the number of DataLoader workers must be 0 or more, got {workers}", workers=workers))
        return cls(device=chosen,
                   bf16=(on_cuda or (on_cpu and cpu_has_native_bf16())) if bf16 is None else bf16,
                   channels_last=on_cuda if channels_last is None else channels_last,
                   workers=(min(8, os.cpu_count() or 1) if on_cuda else 0) if workers is None else workers,
                   fused=(on_cuda or on_cpu) if fused is None else fused,
                   compile=bool(compile))

    def describe(self) -> str:
        """One line: what this run uses, e.g. "cpu: bf16 autocast, channels_last, fused optimizer, 0 workers"; how
        fit chose the layout, when it did, in brackets after it."""
        layout = "channels_last" if self.channels_last else "contiguous"
        if self.measure_layout:
            layout = "channels_last or contiguous (fit measures which trains faster)"
        elif self.layout_note:
            layout += f" ({self.layout_note})"
        parts = ["bf16 autocast" if self.bf16 else "fp32", layout,
                 "fused optimizer" if self.fused else "unfused optimizer", f"{self.workers} data workers"]
        if self.compile:
            parts.append("torch.compile")
        return f"{self.device}: " + ", ".join(parts)

    def setup(self) -> None:
        """Process-wide switches for this device (cuDNN autotuning and TF32 matmuls on CUDA)."""
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on this device when `bf16`, else a no-op context."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.preserve_format

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """A batch (N, C, H, W) on the device, in the memory format (non-blocking from pinned memory)."""
        return images.to(self.device, non_blocking=True, memory_format=self.memory_format)

    def masks(self, masks: torch.Tensor) -> torch.Tensor:
        return masks.to(self.device, non_blocking=True)

    def place(self, model: nn.Module) -> nn.Module:
        """Move `model` to the device and memory format (in place); return it. Under CPU bf16 the convolutions that
        oneDNN's bf16 weight gradient would corrupt memory on are kept in fp32 (module docstring)."""
        if self.bf16 and self.device.type == "cpu":
            keep_in_float32(model, bf16_unsafe_convolutions(model))
        return model.to(self.device, memory_format=self.memory_format)

    def compiled(self, model: nn.Module) -> nn.Module:
        """What to call: `model` compiled when `compile`, else `model` itself (its weights are shared either way)."""
        return torch.compile(model) if self.compile else model

    def optimizer(self, name: str, parameters, **settings) -> torch.optim.Optimizer:
        """AdamW or SGD over `parameters`, fused into one multi-tensor kernel when `fused`."""
        kind = {"adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}[name]
        return kind(parameters, fused=self.fused or None, **settings)

    def loader(self, dataset: Dataset, batch_size: int, *, shuffle: bool = False, sampler=None,
               generator: torch.Generator | None = None, drop_last: bool = False, worker_init_fn=None,
               collate_fn=None) -> DataLoader:
        """A DataLoader with this run's workers (persistent), pinned memory on CUDA."""
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False,
                          sampler=sampler, num_workers=self.workers, pin_memory=self.device.type == "cuda",
                          drop_last=drop_last, generator=generator, worker_init_fn=worker_init_fn,
                          persistent_workers=self.workers > 0, collate_fn=collate_fn)

    def batches(self, loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, masks in loader:
            yield self.images(images), self.masks(masks)
