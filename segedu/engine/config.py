"""The settings of a training run (`TrainConfig`), its record (`History`), seeding, and the smoke-run cap."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from ..runtime import Runtime
from ..language import tr

__all__ = ["TrainConfig", "History", "Loss", "capped", "seed_everything", "epochs_within"]

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits (N, K, H, W), masks (N, H, W)) -> scalar


def capped(batches: Iterable) -> Iterator:
    """The batches of a hand-written training loop, at most ``SEGEDU_MAX_STEPS`` of them in a smoke run (`make
    smoke-full`), all of them otherwise: ``for batch in segedu.capped(order.split(16)): ...``."""
    return itertools.islice(batches, _environment_cap())


def _environment_cap() -> int | None:
    """``SEGEDU_MAX_STEPS=N``: every training stops after N optimizer steps and every evaluation after N batches,
    so the full profile's notebooks run end to end on a CPU as a smoke test (`make smoke-full`)."""
    value = os.environ.get("SEGEDU_MAX_STEPS", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(tr("SEGEDU_MAX_STEPS must be a positive whole number, got {value!r}", value=value))
    return int(value)


def epochs_within(minutes: float, seconds_per_epoch: float, epochs: int) -> int:
    """How many of `epochs` epochs fit in `minutes` of training at `seconds_per_epoch` each: at least 1, at most
    `epochs` (a budget trims a run, it never lengthens one)."""
    return max(1, min(epochs, math.floor(minutes * 60 / max(seconds_per_epoch, 1e-9))))


@dataclasses.dataclass
class TrainConfig:
    """Every setting of a training run. `batch_size` is the global batch, split across processes under torchrun."""

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"            # "adamw" or "sgd" (with `momentum`)
    momentum: float = 0.9
    scheduler: str = "poly"             # "poly": lr * (1 - step/total)^0.9 as in DeepLab; or "constant"
    ignore_index: int = 255
    class_weights: tuple[float, ...] | None = None
    aux_weight: float = 0.4             # weight of an auxiliary head's loss (PSPNet), when the model has one
    max_grad_norm: float | None = None
    max_steps: int | None = dataclasses.field(default_factory=lambda: _environment_cap())  # smoke runs: see below
    device: str = "auto"                # "auto", "cpu", "cuda", "cuda:1", "mps"
    bf16: bool | None = None            # bfloat16 autocast; None: on CUDA and on CPUs with native bf16 (Runtime)
    channels_last: bool | None = None   # None: on CUDA on; on the CPU fit measures both layouts (engine.autotune)
    num_workers: int | None = None      # DataLoader workers; None: 0 on CPU, up to 8 on CUDA
    fused: bool | None = None           # fused optimizer updates; None: where PyTorch has them (CUDA, CPU)
    compile: bool = False               # torch.compile the model for training and validation
    seed: int = 0
    checkpoint_dir: str | None = None   # None: no checkpoints
    progress: bool = True
    check_labels: bool = True
    freeze_encoder: bool | str = False  # transfer learning: model.freeze_encoder() before training; a level
                                        # ("level3") freezes the encoder only up to it (model.freeze_encoder(level))
    encoder_lr_factor: float = 1.0      # fine-tuning "finely": the encoder (model.encoder) learns at lr * this factor,
                                        # the decoder and head at lr (ULMFiT's discriminative rates); 1: one rate
    minutes: float | None = None        # a budget of training minutes: after the first epoch, fit trains only as many
                                        # of `epochs` as fit in it on this processor (`epochs_within`); None: all

    def runtime(self) -> Runtime:
        """The device, precision, memory format, workers, fused updates and compilation this config asks for. On the
        CPU with `channels_last` None the layout is left to `fit`, which measures both (`Runtime.measure_layout`)."""
        runtime = Runtime.resolve(self.device, bf16=self.bf16, channels_last=self.channels_last,
                                  workers=self.num_workers, fused=self.fused, compile=self.compile)
        if self.channels_last is None and runtime.device.type == "cpu":
            runtime = dataclasses.replace(runtime, measure_layout=True)
        return runtime

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(tr("epochs, batch_size and lr must be positive (got {epochs}, {batch_size}, {lr})",
                                epochs=self.epochs, batch_size=self.batch_size, lr=self.lr))
        if not self.encoder_lr_factor > 0:
            raise ValueError(tr("encoder_lr_factor must be positive (got {factor}); to keep the encoder fixed, use "
                                "freeze_encoder=True", factor=self.encoder_lr_factor))
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(tr("minutes must be positive or None (got {minutes})", minutes=self.minutes))
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(tr("optimizer must be 'adamw' or 'sgd', got {optimizer!r}", optimizer=self.optimizer))
        if self.scheduler not in ("poly", "constant"):
            raise ValueError(tr("scheduler must be 'poly' or 'constant', got {scheduler!r}", scheduler=self.scheduler))


@dataclasses.dataclass
class History:
    """One record per finished epoch (train_loss, val_miou, val_pixel_accuracy, lr, seconds, images_per_second,
    data_wait_fraction: the share of the epoch the loop spent waiting for the loader)."""

    records: list[dict[str, float]] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    checkpoint: Path | None = None      # the last checkpoint written (on every process under torchrun), if any
    stopped_by: str | None = None       # what stopped an interrupted run: "SIGTERM", "SIGINT", "KeyboardInterrupt", ...
    runtime: Runtime | None = None      # where and how the run trained (Runtime.describe() says it in words)

    def __getitem__(self, key: str) -> list[float]:
        return [record.get(key, math.nan) for record in self.records]

    def __len__(self) -> int:
        return len(self.records)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:  # DataLoader workers: numpy and random follow torch's per-worker seed
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)
