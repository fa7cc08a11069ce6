"""Training and evaluation: `TrainConfig`, `fit`, `evaluate`.

`fit` is one loop that behaves the same in a notebook, a terminal and under ``torchrun``:

- device "auto" picks CUDA, then Apple's MPS, then the CPU; on CUDA it trains in bfloat16 autocast
  with channels-last tensors (both switchable in the config);
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
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from .checkpoint import check_compatible, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data.base import invalid_labels
from .errors import DataError
from .metrics import ConfusionMatrix

__all__ = ["TrainConfig", "History", "fit", "evaluate", "resolve_device", "seed_everything"]


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
    device: str = "auto"                # "auto", "cpu", "cuda", "cuda:1", "mps"
    bf16: bool | None = None            # bfloat16 autocast; None: on CUDA only
    channels_last: bool | None = None   # None: on CUDA only
    num_workers: int | None = None      # DataLoader workers; None: 0 on CPU, up to 8 on CUDA
    seed: int = 0
    checkpoint_dir: str | None = None   # None: no checkpoints
    progress: bool = True
    check_labels: bool = True
    freeze_backbone: bool = False       # transfer learning: the model's `backbone` keeps its weights and batch statistics

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

    def __getitem__(self, key: str) -> list[float]:
        return [record.get(key, math.nan) for record in self.records]

    def __len__(self) -> int:
        return len(self.records)


def resolve_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda, then mps, then cpu; anything else is passed to torch.device (and checked)."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available; use device='auto' or 'cpu'")
    return chosen


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:  # DataLoader workers: numpy and random follow torch's per-worker seed
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


class _Distributed:
    """Rank, world size and device of this process; starts the process group when run under torchrun."""

    def __init__(self, device: torch.device):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        self.started_here = False
        if self.world_size > 1:
            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
                self.started_here = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, dataset: Dataset) -> Dataset:
        """Every world_size-th sample starting at rank: exact evaluation with no padded duplicates."""
        return Subset(dataset, range(self.rank, len(dataset), self.world_size)) if self.world_size > 1 else dataset

    def close(self) -> None:
        if self.started_here:
            torch.distributed.destroy_process_group()


def _loader(dataset: Dataset, batch_size: int, *, workers: int, device: torch.device, shuffle: bool,
            generator: torch.Generator | None = None, sampler=None, drop_last: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False, sampler=sampler,
                      num_workers=workers, pin_memory=device.type == "cuda", drop_last=drop_last, generator=generator,
                      worker_init_fn=_seed_worker, persistent_workers=workers > 0)


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


def _loss(output: torch.Tensor | dict[str, torch.Tensor], masks: torch.Tensor, config: TrainConfig,
          weight: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy on logits (N, K, H, W) vs masks (N, H, W); models with an auxiliary head return {'out', 'aux'}."""
    outputs = output if isinstance(output, dict) else {"out": output}
    loss = F.cross_entropy(outputs["out"].float(), masks, weight=weight, ignore_index=config.ignore_index)
    if "aux" in outputs:
        loss = loss + config.aux_weight * F.cross_entropy(outputs["aux"].float(), masks, weight=weight,
                                                           ignore_index=config.ignore_index)
    return loss


def _optimizer(model: nn.Module, config: TrainConfig, *, fused: bool = False) -> torch.optim.Optimizer:
    """AdamW or SGD over the trainable parameters; `fused` (CUDA) updates all parameters in one kernel."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               fused=fused or None)
    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay, fused=fused or None)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: (1 - min(step, total_steps) / total_steps) ** 0.9)


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, config: TrainConfig | None = None, *,
        resume: Path | str | None = None, callbacks: Sequence[Callable[[dict[str, float]], None]] = (),
        data_info: dict[str, Any] | None = None) -> History:
    """Train `model` on `train_data`, validating on `val_data` after every epoch; return the History.

    Args:
        model: any module mapping (N, C, H, W) images to (N, K, H, W) logits (or {'out', 'aux'} logits).
        train_data, val_data: segedu data sets (or any yielding (image float (C, H, W), mask int64 (H, W))).
        config: TrainConfig; defaults throughout when None.
        resume: a checkpoint written by `fit`; training continues after its last finished epoch.
        callbacks: called on the main process with each epoch's record (e.g. `segedu.viz.LivePlot()`).
        data_info: stored in checkpoints (the command line records the data set name and image size).
    """
    config = config or TrainConfig()
    distributed = _Distributed(resolve_device(config.device))
    device = distributed.device
    try:
        return _fit(model, train_data, val_data, config, distributed, device, resume, callbacks, data_info or {})
    finally:
        distributed.close()


def _fit(model, train_data, val_data, config, distributed, device, resume, callbacks, data_info) -> History:
    num_classes = _check_data(model, train_data, config, "training")
    if config.freeze_backbone:
        if not isinstance(getattr(model, "backbone", None), nn.Module):
            raise ValueError(f"freeze_backbone needs a model with a `backbone`; {type(model).__name__} has none")
        model.backbone.requires_grad_(False)
    if val_data is not None:
        _check_data(model, val_data, config, "validation")
    on_cuda = device.type == "cuda"
    bf16 = on_cuda if config.bf16 is None else config.bf16
    channels_last = on_cuda if config.channels_last is None else config.channels_last
    workers = config.num_workers if config.num_workers is not None else (min(8, os.cpu_count() or 1) if on_cuda else 0)
    if config.batch_size % distributed.world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {distributed.world_size} processes")
    local_batch = config.batch_size // distributed.world_size
    if on_cuda:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")

    seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    # One shuffle for any number of processes: rank r takes every world_size-th index of the same permutation,
    # so at each step the processes together hold exactly the batch one process would.
    sampler = torch.utils.data.distributed.DistributedSampler(
        train_data, num_replicas=distributed.world_size, rank=distributed.rank, shuffle=True, seed=config.seed,
        drop_last=distributed.world_size > 1)
    drop_last = len(train_data) // distributed.world_size >= local_batch  # no lone sample that batch norm cannot use
    train_loader = _loader(train_data, local_batch, workers=workers, device=device, shuffle=True, generator=generator,
                           sampler=sampler, drop_last=drop_last)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    optimizer = _optimizer(model, config, fused=on_cuda)
    total_steps = config.epochs * len(train_loader)
    scheduler = _scheduler(optimizer, config, total_steps)
    history, start_epoch = History(), 0
    if resume is not None:
        state = load_checkpoint(resume)
        check_compatible(state, model, resume)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_epoch, history.records = state["epoch"], list(state.get("history", []))
        set_rng_state(state["rng"])
        generator.set_state(state["loader_generator"])
    trained = model
    if distributed.world_size > 1:
        if on_cuda:  # batch statistics over the global batch, as on one GPU (gloo on the CPU has no SyncBatchNorm)
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        trained = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if on_cuda else None)
    weight = torch.tensor(config.class_weights, device=device) if config.class_weights else None
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None

    def save(name: str, epoch: int, interrupted: bool = False) -> Path | None:
        if checkpoint_dir is None or not distributed.main:
            return None
        return save_checkpoint(checkpoint_dir / name, {
            "model_spec": getattr(model, "build_spec", None), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
            "history": history.records, "config": dataclasses.asdict(config), "rng": rng_state(),
            "loader_generator": generator.get_state(), "data": data_info, "interrupted": interrupted})

    epoch = start_epoch
    try:
        for epoch in range(start_epoch, config.epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            record = _train_one_epoch(trained, train_loader, optimizer, scheduler, config, weight, device, bf16,
                                      channels_last, num_classes, epoch, distributed.main)
            if val_data is not None:
                matrix = evaluate(model, distributed.shard(val_data), batch_size=local_batch, device=str(device),
                                  bf16=bf16, channels_last=channels_last, num_workers=workers,
                                  num_classes=num_classes, ignore_index=config.ignore_index)
                matrix.all_reduce()
                record.update(val_miou=matrix.miou(), val_pixel_accuracy=matrix.pixel_accuracy())
            history.records.append(record)
            history.checkpoint = save("last.pt", epoch + 1) or history.checkpoint
            if distributed.main:
                if not any(getattr(callback, "replaces_report", False) for callback in callbacks):
                    _report(record, config)  # a live plot shows the epochs instead of a printed line
                for callback in callbacks:
                    callback(record)
    except KeyboardInterrupt:
        history.interrupted = True
        history.checkpoint = save("interrupted.pt", len(history.records), interrupted=True)
        if distributed.main:
            where = f"; saved {history.checkpoint} (resume restarts epoch {epoch + 1})" if history.checkpoint else ""
            print(f"\ninterrupted during epoch {epoch + 1}{where}", flush=True)
    return history


def _train_one_epoch(model, loader, optimizer, scheduler, config, weight, device, bf16, channels_last, num_classes,
                     epoch, main) -> dict[str, float]:
    from tqdm.auto import tqdm

    model.train()
    if config.freeze_backbone:
        getattr(model, "module", model).backbone.eval()  # frozen batch-norm statistics too (DDP wraps in .module)
    started, seen, waited = time.perf_counter(), 0, 0.0
    loss_sum, loss_count = torch.zeros((), device=device), 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not (config.progress and main),
               dynamic_ncols=True)
    batches = iter(bar)
    for step in itertools.count():
        asked = time.perf_counter()
        try:
            images, masks = next(batches)
        except StopIteration:
            break
        waited += time.perf_counter() - asked  # the training loop stood still, waiting for the loader
        if config.check_labels:
            _check_batch_labels(masks, num_classes, config.ignore_index, f"epoch {epoch + 1}, batch {step}")
        images = images.to(device, non_blocking=True,
                           memory_format=torch.channels_last if channels_last else torch.preserve_format)
        masks = masks.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output = model(images)
        loss = _loss(output, masks, config, weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach()
        loss_count += 1
        seen += images.shape[0]
        if device.type != "cuda" or step % 25 == 0 or step == len(loader) - 1:  # a host sync; rare on the GPU
            mean = loss_sum.item() / loss_count
            if not math.isfinite(loss.item()) or not math.isfinite(mean):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, batch {step} (lr {scheduler.get_last_lr()[0]:.2e}); "
                    f"training stopped. Lower the learning rate (TrainConfig.lr / --lr), set max_grad_norm, "
                    f"or look for broken images in the data")
            bar.set_postfix(loss=f"{mean:.4f}")
    seconds = time.perf_counter() - started
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # the loss over the global batches
        totals = torch.stack([loss_sum, torch.tensor(float(loss_count), device=device)])
        torch.distributed.all_reduce(totals)
        loss_sum, loss_count = totals[0], int(totals[1].item())
    return {"epoch": epoch + 1, "train_loss": loss_sum.item() / max(loss_count, 1), "lr": scheduler.get_last_lr()[0],
            "seconds": seconds, "images_per_second": seen / max(seconds, 1e-9),
            "data_wait_fraction": waited / max(seconds, 1e-9)}


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
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 8, device: str = "auto",
             input_size: tuple[int, int] | None = None, bf16: bool | None = None, channels_last: bool | None = None,
             num_workers: int | None = None, num_classes: int | None = None, ignore_index: int = 255,
             progress: bool = False) -> ConfusionMatrix:
    """Run `model` over `data` and return the ConfusionMatrix against its masks.

    `input_size` (height, width) resizes the images before the model (e.g. to the size it was trained at);
    logits of another size than the masks are resized bilinearly to the masks' size, so scores are always
    measured at the labels' own resolution.
    """
    from tqdm.auto import tqdm

    chosen = resolve_device(device)
    on_cuda = chosen.type == "cuda"
    bf16 = on_cuda if bf16 is None else bf16
    channels_last = on_cuda if channels_last is None else channels_last
    num_classes = num_classes or getattr(model, "num_classes", None) or getattr(data, "num_classes", None)
    if not num_classes:
        raise ValueError("evaluate needs num_classes: the model and the data set do not say how many classes there are")
    workers = num_workers if num_workers is not None else (min(8, os.cpu_count() or 1) if on_cuda else 0)
    was_training = model.training
    model.eval().to(chosen)
    matrix = ConfusionMatrix(num_classes, ignore_index=ignore_index, device=chosen)
    loader = _loader(data, batch_size, workers=workers, device=chosen, shuffle=False)
    for images, masks in tqdm(loader, desc="evaluate", leave=False, disable=not progress):
        images = images.to(chosen, non_blocking=True)
        masks = masks.to(chosen, non_blocking=True)
        if input_size is not None and tuple(images.shape[-2:]) != tuple(input_size):
            images = F.interpolate(images, size=input_size, mode="bilinear", align_corners=False, antialias=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(chosen.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        logits = logits["out"] if isinstance(logits, dict) else logits
        if logits.shape[-2:] != masks.shape[-2:]:
            logits = F.interpolate(logits.float(), size=masks.shape[-2:], mode="bilinear", align_corners=False)
        matrix.update(logits.argmax(1), masks)
    model.train(was_training)
    return matrix
