"""Training, evaluation and prediction: `TrainConfig`, `fit`, `evaluate`, `predict`.

`fit` is one loop that behaves the same in a notebook, a terminal and under ``torchrun``:

- the config's device, precision, memory format, workers, fused updates and compilation are resolved once into a
  `segedu.runtime.Runtime` (bf16 autocast and channels_last on CUDA and on CPUs with native bf16), shared with
  `evaluate` and `predict`;
- the loss is `loss(logits, masks)` (default: cross-entropy with the config's class weights and ignore index);
  a model's auxiliary head adds ``aux_weight`` times the same loss on its logits;
- seeding makes runs repeatable, and a checkpoint written at the end of each epoch holds every
  random generator's state, so resuming gives the same weights as a run that was never stopped;
- labels are checked before the first step, so a bad mask is an error naming its file rather than a
  device-side assert in the middle of an epoch; a NaN or infinite loss stops with a message;
- Ctrl-C (or the notebook's interrupt) saves ``interrupted.pt`` and returns the history so far;
- under ``torchrun`` each process takes a shard of every batch (DistributedDataParallel, gloo on CPU,
  NCCL on CUDA) and `TrainConfig.batch_size` stays the global batch size.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset

from .checkpoint import (check_compatible, load_checkpoint, prepare_checkpoint_folder, rng_state, save_checkpoint,
                         set_rng_state)
from .data.base import invalid_labels
from .errors import CheckpointError, DataError
from .metrics import ConfusionMatrix
from .models.base import SegmentationModel
from .runtime import Runtime, resolve_device

__all__ = ["TrainConfig", "History", "fit", "evaluate", "predict", "capped", "cross_entropy", "training_loss", "resolve_device",
           "seed_everything", "Runtime"]

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
        raise ValueError(f"SEGEDU_MAX_STEPS must be a positive whole number, got {value!r}")
    return int(value)


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
    channels_last: bool | None = None   # None: the runtime's choice for the device
    num_workers: int | None = None      # DataLoader workers; None: 0 on CPU, up to 8 on CUDA
    fused: bool | None = None           # fused optimizer updates; None: where PyTorch has them (CUDA, CPU)
    compile: bool = False               # torch.compile the model for training and validation
    seed: int = 0
    checkpoint_dir: str | None = None   # None: no checkpoints
    progress: bool = True
    check_labels: bool = True
    freeze_encoder: bool = False        # transfer learning: model.freeze_encoder() before training

    def runtime(self) -> Runtime:
        """The device, precision, memory format, workers, fused updates and compilation this config asks for."""
        return Runtime.resolve(self.device, bf16=self.bf16, channels_last=self.channels_last, workers=self.num_workers,
                               fused=self.fused, compile=self.compile)

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"epochs, batch_size and lr must be positive (got {self.epochs}, {self.batch_size}, {self.lr})")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.scheduler not in ("poly", "constant"):
            raise ValueError(f"scheduler must be 'poly' or 'constant', got {self.scheduler!r}")


@dataclasses.dataclass
class History:
    """One record per finished epoch (train_loss, val_miou, val_pixel_accuracy, lr, seconds, images_per_second,
    data_wait_fraction: the share of the epoch the loop spent waiting for the loader)."""

    records: list[dict[str, float]] = dataclasses.field(default_factory=list)
    interrupted: bool = False
    checkpoint: Path | None = None
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


class _StopRequest:
    """SIGINT (Ctrl-C, a notebook's interrupt) and SIGTERM during `fit` only raise a flag; the loop stops at the next
    point where its state is whole (between two steps, or after an epoch), saves it, and returns. A second Ctrl-C
    while the first is pending interrupts at once, as Python would (nothing of the unfinished epoch is saved then;
    checkpoints are still written atomically). Installed in the main thread only.

    Under torchrun every process has one, and `bool(stop)` is a collective over `distributed`: true on every process
    when any of them was signalled (torchrun forwards a Ctrl-C or SIGTERM to all its workers, but not at the same
    instant), so all stop after the same step, and none waits forever in the next step's gradient all-reduce."""

    def __init__(self, distributed: _Distributed | None = None):
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._distributed = distributed

    def __bool__(self) -> bool:
        if self._distributed is None or self._distributed.world_size == 1:
            return self.signal_name is not None
        if self._distributed.any(self.signal_name is not None) and self.signal_name is None:
            self.signal_name = "a signal to another process"
        return self.signal_name is not None

    def _handle(self, number, frame):
        if self.signal_name is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signal_name = signal.Signals(number).name

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class _SkippingSampler(torch.utils.data.Sampler):
    """The training sampler, but the first `skip` indices of the next epoch are passed over without loading them:
    a run stopped after k steps continues with batch k of the same shuffled order."""

    def __init__(self, sampler):
        self.sampler, self.skip = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler) - self.skip


@dataclasses.dataclass
class _Partial:
    """An epoch stopped between two steps: how far it got and its running sums, to continue it exactly."""

    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    seen: int = 0
    waited: float = 0.0
    seconds: float = 0.0


class _Stopped(Exception):
    """Raised by the epoch loop when a stop was requested (or Ctrl-C arrived while a batch was loading): `partial`
    is the epoch's progress, `rng` the random generators' state before the next batch; None when the state is not
    whole (interrupted in the middle of a step)."""

    def __init__(self, partial: _Partial | None, rng: dict[str, Any] | None, reason: str):
        super().__init__(reason)
        self.partial, self.rng, self.reason = partial, rng, reason


class _Distributed:
    """Rank, world size and device of this process; starts the process group when run under torchrun."""

    def __init__(self, device: torch.device):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        self.started_here = False
        self._host_group = None
        if self.world_size > 1:
            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
                self.started_here = True
            # small agreements (stop or not, the random generators' states) go over gloo on the host, so checking
            # for a stop after every step never waits for the GPU
            self._host_group = torch.distributed.new_group(backend="gloo")

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on any (a collective: every process must call it)."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([int(flag)])
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX, group=self._host_group)
        return bool(value.item())

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's `value`, in rank order, on the main process (None elsewhere); a collective."""
        if self.world_size == 1:
            return [value]
        gathered = [None] * self.world_size if self.main else None
        torch.distributed.gather_object(value, gathered, dst=0, group=self._host_group)
        return gathered

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, dataset: Dataset) -> Dataset:
        """Every world_size-th sample starting at rank: exact evaluation with no padded duplicates."""
        return Subset(dataset, range(self.rank, len(dataset), self.world_size)) if self.world_size > 1 else dataset

    def close(self) -> None:
        if self.started_here:
            torch.distributed.destroy_process_group()


def _check_batch_labels(masks: torch.Tensor, num_classes: int, ignore_index: int, where: str) -> None:
    bad = invalid_labels(masks, num_classes, ignore_index)
    if bad.any():
        values = sorted(set(masks[bad].unique().tolist()))[:8]
        raise DataError(f"{where}: mask labels {values} are outside 0..{num_classes - 1} and are not the ignore "
                        f"index {ignore_index}; check the data set's masks (dataset.validate() names the file)")


def _check_data(model: nn.Module, data: Dataset, config: TrainConfig, role: str) -> int:
    """Validate `data` against `model` before training; return the number of classes."""
    if len(data) == 0:
        raise DataError(f"the {role} data set is empty")
    num_classes = getattr(model, "num_classes", None) or getattr(data, "num_classes", None)
    data_classes = getattr(data, "num_classes", None)
    if data_classes and num_classes and data_classes != num_classes:
        raise DataError(f"the {role} data set has {data_classes} classes but the model predicts {num_classes}; "
                        f"build the model with num_classes={data_classes}")
    if config.check_labels and hasattr(data, "validate"):
        data.validate()
    return num_classes


def cross_entropy(weight: torch.Tensor | None = None, ignore_index: int = 255) -> Loss:
    """The default loss: pixel-wise cross-entropy (optionally class-weighted), ignoring `ignore_index`."""
    def loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), masks, weight=weight, ignore_index=ignore_index)
    return loss


def _unwrapped(model: nn.Module) -> nn.Module:
    """The model itself inside DistributedDataParallel (.module) and torch.compile (._orig_mod) wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def _forward(model: nn.Module, images: torch.Tensor, *, auxiliary: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, auxiliary logits or None) from a segedu model, or from any module returning logits or
    torchvision's {'out', 'aux'}. `model` may be wrapped (DistributedDataParallel, torch.compile)."""
    if isinstance(_unwrapped(model), SegmentationModel):
        return model(images, auxiliary=True) if auxiliary else (model(images), None)
    output = model(images)
    if isinstance(output, dict):
        return output["out"], output.get("aux") if auxiliary else None
    return output, None


def training_loss(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, loss: Loss, aux_weight: float) -> torch.Tensor:
    """The loss of one training step: `loss` on the logits, plus `aux_weight` times it on an auxiliary head's."""
    logits, auxiliary = _forward(model, images, auxiliary=True)
    value = loss(logits, masks)
    return value if auxiliary is None else value + aux_weight * loss(auxiliary, masks)


def _optimizer(model: nn.Module, config: TrainConfig, runtime: Runtime) -> torch.optim.Optimizer:
    """AdamW or SGD (with momentum) over the trainable parameters."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("the model has no trainable parameters (is everything frozen?)")
    extra = {"momentum": config.momentum} if config.optimizer == "sgd" else {}
    return runtime.optimizer(config.optimizer, parameters, lr=config.lr, weight_decay=config.weight_decay, **extra)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - min(step, total_steps) / total_steps) ** 0.9)


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, config: TrainConfig | None = None, *,
        loss: Loss | None = None, resume: Path | str | None = None,
        callbacks: Sequence[Callable[[dict[str, float]], None]] = (), data_info: dict[str, Any] | None = None) -> History:
    """Train `model` on `train_data`, validating on `val_data` after every epoch; return the History.

    Args:
        model: a segedu model, or any module mapping (N, C, H, W) images to (N, K, H, W) logits (or torchvision's
            {'out', 'aux'}).
        train_data, val_data: segedu data sets (or any yielding (image float (C, H, W), mask int64 (H, W))).
        config: TrainConfig; defaults throughout when None.
        loss: `loss(logits, masks) -> scalar`; default `cross_entropy(config.class_weights, config.ignore_index)`.
            An auxiliary head's logits get `config.aux_weight` times the same loss.
        resume: a checkpoint written by `fit`; training continues after its last finished epoch.
        callbacks: called on the main process with each epoch's record (e.g. `segedu.viz.LivePlot()`).
        data_info: stored in checkpoints (the command line records the data set name and image size).
    """
    config = config or TrainConfig()
    runtime = config.runtime()
    distributed = _Distributed(runtime.device)
    runtime = dataclasses.replace(runtime, device=distributed.device)
    try:
        return _fit(model, train_data, val_data, config, loss, runtime, distributed, resume, callbacks, data_info or {})
    finally:
        distributed.close()


def _prepare_model(model: nn.Module, config: TrainConfig) -> None:
    if config.freeze_encoder:
        if not isinstance(model, SegmentationModel):
            raise ValueError(f"freeze_encoder needs a segedu model (with an encoder); got {type(model).__name__}")
        model.freeze_encoder()


def _train_sampler(train_data: Dataset, config: TrainConfig, distributed: _Distributed):
    """One shuffle for any number of processes: rank r takes every world_size-th index of the same permutation,
    so at each step the processes together hold exactly the batch one process would."""
    if config.batch_size % distributed.world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {distributed.world_size} processes")
    return torch.utils.data.distributed.DistributedSampler(
        train_data, num_replicas=distributed.world_size, rank=distributed.rank, shuffle=True, seed=config.seed,
        drop_last=distributed.world_size > 1)


def _fit(model, train_data, val_data, config, loss, runtime, distributed, resume, callbacks, data_info) -> History:
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    if checkpoint_dir is not None and distributed.main:
        prepare_checkpoint_folder(checkpoint_dir)  # writable, and no stale temporary files of a killed run
    num_classes = _check_data(model, train_data, config, "training")
    if val_data is not None:
        _check_data(model, val_data, config, "validation")
    _prepare_model(model, config)
    runtime.setup()
    local_batch = config.batch_size // max(distributed.world_size, 1)
    # each process its own augmentations: with one seed, every process would draw the same flips and crops for
    # its share of the batch (the weights need no seed here: DistributedDataParallel copies rank 0's)
    seed_everything(config.seed + distributed.rank)
    generator = torch.Generator().manual_seed(config.seed)
    sampler = _SkippingSampler(_train_sampler(train_data, config, distributed))
    drop_last = len(train_data) // distributed.world_size >= local_batch  # no lone sample that batch norm cannot use
    train_loader = runtime.loader(train_data, local_batch, sampler=sampler, generator=generator, drop_last=drop_last,
                                  worker_init_fn=_seed_worker)
    runtime.place(model)
    optimizer = _optimizer(model, config, runtime)
    scheduler = _scheduler(optimizer, config, config.epochs * len(train_loader))
    history, start_epoch, partial = History(runtime=runtime), 0, None
    if resume is not None:
        start_epoch, partial = _resume(resume, model, optimizer, scheduler, generator, history, config, distributed)
    trained = _parallel(model, runtime, distributed)
    evaluated = trained if distributed.world_size == 1 else model  # each process scores its own shard
    if loss is None:
        weight = torch.tensor(config.class_weights, device=runtime.device) if config.class_weights else None
        loss = cross_entropy(weight, config.ignore_index)
    exact = runtime.workers == 0  # with workers, their random streams cannot be continued mid-epoch

    def save(name: str, epoch: int, rng: dict[str, Any] | None = None, partial: _Partial | None = None,
             **extra) -> Path | None:
        """Write the run's state on the main process; a collective under torchrun, which gathers every process's
        generators (each draws its own augmentations) and its share of a stopped epoch's running sums."""
        if checkpoint_dir is None:
            return None
        own = {"rng": rng or rng_state(), "partial": dataclasses.asdict(partial) if partial else None}
        everyone = distributed.gather(own)
        if not distributed.main:
            return None
        generators = [process["rng"] for process in everyone]
        state = {"model_spec": getattr(model, "build_spec", None), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                 "history": history.records, "config": dataclasses.asdict(config), "rng": generators[0],
                 "loader_generator": generator.get_state(), "data": data_info, "interrupted": False,
                 "world_size": distributed.world_size}
        if partial is not None:
            state["partial"] = everyone[0]["partial"]
        if distributed.world_size > 1:
            state["rng_per_process"] = generators
            state["partial_per_process"] = [process["partial"] for process in everyone]
        return save_checkpoint(checkpoint_dir / name, {**state, **extra})

    def say(text: str) -> None:
        if distributed.main:
            print(f"\n{text}", flush=True)

    last = lambda: checkpoint_dir / "last.pt" if checkpoint_dir and (checkpoint_dir / "last.pt").exists() else None  # noqa: E731
    epoch = start_epoch
    with _StopRequest(distributed) as stop:
        try:
            for epoch in range(start_epoch, config.epochs):
                done = sum(record.get("steps", 0) for record in history.records) + (partial.step if partial else 0)
                remaining = None if config.max_steps is None else config.max_steps - done
                if remaining is not None and remaining <= 0:
                    break  # SEGEDU_MAX_STEPS: a smoke run stops after its cap
                sampler.set_epoch(epoch)
                epoch_generator = generator.get_state()  # the loader draws this epoch's seed from it
                sampler.skip = partial.step * local_batch if partial else 0
                record = _train_one_epoch(trained, train_loader, optimizer, scheduler, loss, config, runtime,
                                          num_classes, epoch, distributed.main, remaining, stop=stop, partial=partial,
                                          exact=exact)
                partial = None
                if val_data is not None:
                    matrix = evaluate(evaluated, distributed.shard(val_data), batch_size=local_batch, runtime=runtime,
                                      num_classes=num_classes, ignore_index=config.ignore_index,
                                      max_batches=config.max_steps)
                    matrix.all_reduce()
                    record.update(val_miou=matrix.miou(), val_pixel_accuracy=matrix.pixel_accuracy())
                history.records.append(record)
                history.checkpoint = save("last.pt", epoch + 1) or history.checkpoint
                if distributed.main:
                    if not any(getattr(callback, "replaces_report", False) for callback in callbacks):
                        _report(record, config)  # a live plot shows the epochs instead of a printed line
                    for callback in callbacks:
                        callback(record)
                if stop:  # the signal came during validation or the report: the epoch is complete and saved
                    history.interrupted = True
                    where = f"; resume with --resume {history.checkpoint}" if history.checkpoint else ""
                    say(f"stopped by {stop.signal_name} after epoch {epoch + 1}{where}")
                    break
        except _Stopped as stopped:
            history.interrupted = True
            if stopped.partial is not None and checkpoint_dir is not None:
                history.checkpoint = save("interrupted.pt", epoch, interrupted=True, step=stopped.partial.step,
                                          partial=stopped.partial, rng=stopped.rng, loader_generator=epoch_generator)
                say(f"stopped by {stopped.reason} in epoch {epoch + 1} after step {stopped.partial.step}; saved "
                    f"{history.checkpoint}: --resume continues exactly from there")
            else:
                history.checkpoint = last()
                kept = f"the last complete state is {history.checkpoint}" if history.checkpoint else "nothing was saved"
                why = "" if stopped.partial is not None else " (data workers' random streams cannot be continued)"
                say(f"stopped by {stopped.reason} in epoch {epoch + 1}; the unfinished epoch is dropped{why}; {kept}")
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the training steps
            history.interrupted = True
            history.checkpoint = last()
            kept = f"the last complete state is {history.checkpoint}" if history.checkpoint else "nothing was saved"
            say(f"interrupted in epoch {epoch + 1}; the unfinished epoch is dropped; {kept}")
    return history


SCHEDULE_KEYS = ("epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler", "seed",
                 "aux_weight", "max_grad_norm", "class_weights")


def _resume(path, model, optimizer, scheduler, generator, history: History, config: TrainConfig,
            distributed: _Distributed):
    """Load a checkpoint written by `fit` into the run; return (finished epochs, the partial epoch or None)."""
    state = load_checkpoint(path)
    if "optimizer" not in state or "rng" not in state:
        raise CheckpointError(f"{path} holds weights only (an exported or shipped checkpoint): it cannot be resumed. "
                              f"Resume from a run's last.pt or interrupted.pt, or start a new run from these weights")
    processes = state.get("world_size", 1)
    if processes != distributed.world_size:
        raise CheckpointError(f"{path} was written by a run of {processes} process(es) and this run has "
                              f"{distributed.world_size}: each process's share of every batch and its random "
                              f"generators belong to that number. Resume with torchrun --nproc_per_node={processes}"
                              if processes > 1 else f"{path} was written by one process: resume it without torchrun")
    saved = state.get("config") or {}
    changed = [f"{key} {getattr(config, key)!r} (the checkpoint: {saved[key]!r})" for key in SCHEDULE_KEYS
               if key in saved and saved[key] != getattr(config, key) and not
               (isinstance(saved[key], list) and tuple(saved[key]) == getattr(config, key))]
    if changed:
        raise CheckpointError(f"cannot resume {path} with other training settings: {', '.join(changed)}. A resumed run "
                              f"continues exactly the run that was stopped; give the same settings, or start a new run")
    check_compatible(state, model, path)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history.records = list(state.get("history", []))
    set_rng_state(state["rng_per_process"][distributed.rank] if processes > 1 else state["rng"])
    generator.set_state(state["loader_generator"])
    partial = state["partial_per_process"][distributed.rank] if processes > 1 else state.get("partial")
    partial = _Partial(**partial) if partial else None
    return state["epoch"], partial


def _parallel(model: nn.Module, runtime: Runtime, distributed: _Distributed) -> nn.Module:
    """What the loop calls: the model, wrapped in DistributedDataParallel under torchrun, compiled when asked."""
    trained = model
    if distributed.world_size > 1:
        on_cuda = runtime.device.type == "cuda"
        if on_cuda:  # batch statistics over the global batch, as on one GPU (gloo on the CPU has no SyncBatchNorm)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[runtime.device.index] if on_cuda else None)
    return runtime.compiled(trained)


def _train_one_epoch(model, loader, optimizer, scheduler, loss, config, runtime, num_classes, epoch,
                     main, limit: int | None = None, *, stop=False, partial: _Partial | None = None,
                     exact: bool = True) -> dict[str, float]:
    """One epoch (or the rest of one, after `partial.step` steps); raises _Stopped when `stop` is raised between
    two steps, or when Ctrl-C arrives while a batch is loading."""
    from tqdm.auto import tqdm

    model.train()
    partial = partial or _Partial()
    started, seen, waited = time.perf_counter() - partial.seconds, partial.seen, partial.waited
    loss_sum, loss_count = torch.tensor(partial.loss_sum, device=runtime.device), partial.loss_count
    total = partial.step + len(loader)  # the loader holds the batches after the skipped ones
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not (config.progress and main),
               dynamic_ncols=True, total=total, initial=partial.step)
    batches = iter(bar)

    def progress(step):
        return _Partial(step, loss_sum.item(), loss_count, seen, waited, time.perf_counter() - started)

    for step in itertools.count(partial.step):
        if limit is not None and step - partial.step >= limit:
            break
        before = rng_state() if exact else None  # the generators before this batch: a stop here continues exactly
        if stop:
            raise _Stopped(progress(step) if exact else None, before, stop.signal_name)
        asked = time.perf_counter()
        try:
            images, masks = next(batches)
        except StopIteration:
            break
        except KeyboardInterrupt:  # raised while loading: the model is still as it was after the previous step
            raise _Stopped(progress(step) if exact else None, before, "KeyboardInterrupt") from None
        waited += time.perf_counter() - asked  # the training loop stood still, waiting for the loader
        if config.check_labels:
            _check_batch_labels(masks, num_classes, config.ignore_index, f"epoch {epoch + 1}, batch {step}")
        images, masks = runtime.images(images), runtime.masks(masks)
        with runtime.autocast():
            value = training_loss(model, images, masks, loss, config.aux_weight)
        _step(model, optimizer, scheduler, value, config)
        loss_sum += value.detach()
        loss_count += 1
        seen += images.shape[0]
        if runtime.device.type != "cuda" or step % 25 == 0 or step == total - 1:  # a host sync; rare on the GPU
            _check_finite(value, loss_sum / loss_count, epoch, step, scheduler)
            bar.set_postfix(loss=f"{loss_sum.item() / loss_count:.4f}")
    seconds, steps = time.perf_counter() - started, loss_count
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # the loss over the global batches
        totals = torch.stack([loss_sum, torch.tensor(float(loss_count), device=runtime.device)])
        torch.distributed.all_reduce(totals)
        loss_sum, loss_count = totals[0], int(totals[1].item())
    return {"epoch": epoch + 1, "steps": steps, "train_loss": loss_sum.item() / max(loss_count, 1),
            "lr": scheduler.get_last_lr()[0],
            "seconds": seconds, "images_per_second": seen / max(seconds, 1e-9),
            "data_wait_fraction": waited / max(seconds, 1e-9)}


def _step(model, optimizer, scheduler, value: torch.Tensor, config: TrainConfig) -> None:
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    if config.max_grad_norm:
        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    scheduler.step()


def _check_finite(value: torch.Tensor, mean: torch.Tensor, epoch: int, step: int, scheduler) -> None:
    if not math.isfinite(value.item()) or not math.isfinite(mean.item()):
        raise FloatingPointError(
            f"the loss became {value.item()} at epoch {epoch + 1}, batch {step} (lr {scheduler.get_last_lr()[0]:.2e}); "
            f"training stopped. Lower the learning rate (TrainConfig.lr / --lr), set max_grad_norm, "
            f"or look for broken images in the data")


def _report(record: dict[str, float], config: TrainConfig) -> None:
    """One line per epoch, with or without progress bars (tqdm.write keeps a live bar intact)."""
    from tqdm.auto import tqdm

    parts = [f"epoch {record['epoch']}/{config.epochs}", f"loss {record['train_loss']:.4f}"]
    if "val_miou" in record:
        parts += [f"val mIoU {100 * record['val_miou']:.1f}%", f"acc {100 * record['val_pixel_accuracy']:.1f}%"]
    parts.append(f"{record['seconds']:.1f} s ({record['images_per_second']:.1f} img/s, "
                 f"{100 * record.get('data_wait_fraction', 0.0):.0f}% waiting for data)")
    tqdm.write("  ".join(parts))


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, input_size: tuple[int, int] | None = None,
            output_size: tuple[int, int] | None = None, runtime: Runtime | None = None,
            scales: Sequence[float] = (1.0,), flip: bool = False) -> torch.Tensor:
    """Logits of `model` for a batch (N, C, H, W): resized to `input_size` before the model (e.g. the size it was
    trained at) and to `output_size` after it (default: the images' own (H, W)). Returns float32 logits
    (N, K, *output_size) on the images' device; the model runs on `runtime`'s device (default: the images'),
    in eval mode, and is left in the mode it was in.

    Multi-scale and flipped inputs (DeepLab's MSc, v2 and v3 at test time): `scales` resizes the input to each
    multiple of its size (`input_size` or the images' own), `flip` adds the mirror image of each; the softmax of
    every pass, brought to `output_size` (and flipped back), is averaged, and its log is returned (argmax and
    softmax work on it as on logits). With one scale of 1 and no flip the model's own logits are returned.
    """
    scales = tuple(float(scale) for scale in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"predict's scales must be positive numbers, got {scales}")
    runtime = runtime or Runtime(device=images.device)
    output_size = tuple(output_size or images.shape[-2:])
    base = tuple(input_size or images.shape[-2:])
    was_training = model.training
    model.eval()
    inputs = runtime.images(images)

    def one_pass(size: tuple[int, int], mirrored: bool) -> torch.Tensor:
        batch = inputs.flip(-1) if mirrored else inputs
        if tuple(batch.shape[-2:]) != size:
            batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
        with runtime.autocast():
            logits, _ = _forward(model, batch, auxiliary=False)
        logits = logits.float()
        if tuple(logits.shape[-2:]) != output_size:
            logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)
        return logits.flip(-1) if mirrored else logits

    passes = [(tuple(max(1, round(side * scale)) for side in base), mirrored)
              for scale in scales for mirrored in ((False, True) if flip else (False,))]
    if len(passes) == 1:
        result = one_pass(*passes[0])
    else:
        probabilities = sum(torch.softmax(one_pass(*p), dim=1) for p in passes) / len(passes)
        result = probabilities.clamp_min(1e-12).log()
    model.train(was_training)
    return result.to(images.device)


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 8, device: str = "auto",
             input_size: tuple[int, int] | None = None, runtime: Runtime | None = None, num_classes: int | None = None,
             ignore_index: int = 255, progress: bool = False, max_batches: int | None = None,
             scales: Sequence[float] = (1.0,), flip: bool = False) -> ConfusionMatrix:
    """Run `model` over `data` and return the ConfusionMatrix against its masks.

    `input_size` (height, width) resizes the images before the model (e.g. to the size it was trained at);
    logits are brought back to the masks' size (`predict`), so scores are always measured at the labels' own
    resolution. `runtime` (default: `Runtime.resolve(device)`) says where and how the model runs; the model is
    moved there and stays there. `max_batches` (default: ``SEGEDU_MAX_STEPS``, else all) stops early. `scales` and
    `flip`: multi-scale and flipped inputs, as in `predict`.
    """
    from tqdm.auto import tqdm

    runtime = runtime or Runtime.resolve(device)
    inner = _unwrapped(model)
    num_classes = num_classes or getattr(inner, "num_classes", None) or getattr(data, "num_classes", None)
    if not num_classes:
        raise ValueError("evaluate needs num_classes: the model and the data set do not say how many classes there are")
    runtime.place(inner)
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=runtime.device)
    loader = runtime.loader(data, batch_size, collate_fn=stack_by_size)
    max_batches = max_batches or _environment_cap()
    for index, groups in enumerate(tqdm(loader, desc="evaluate", leave=False, disable=not progress)):
        if max_batches is not None and index >= max_batches:
            break
        for images, masks in groups:  # one group per image size: a folder of photos may mix sizes
            masks = runtime.masks(masks)
            logits = predict(model, runtime.images(images), input_size=input_size, output_size=masks.shape[-2:],
                             runtime=runtime, scales=scales, flip=flip)
            matrix.update(logits.argmax(1), masks)
    return matrix


def stack_by_size(samples: list[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Collate (image, mask) samples into one stacked (images, masks) pair per image size, in order of first
    appearance. Data sets whose images share one size give one pair; a folder mixing sizes gives several, where
    `default_collate` would fail with "stack expects each tensor to be equal size"."""
    from torch.utils.data import default_collate

    groups: dict[tuple[int, ...], list] = {}
    for image, mask in samples:
        groups.setdefault((*image.shape, *mask.shape), []).append((image, mask))
    return [default_collate(group) for group in groups.values()]
