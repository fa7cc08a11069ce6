"""`fit`: a whole run, the same in a notebook, a terminal and under ``torchrun``.

Each epoch is one pass of `segedu.engine.step.train_steps`, the training loop every training shares. Around it,
`fit` checks the data before the first step, builds the optimizer and the poly schedule, validates after every
epoch, writes checkpoints that hold every random generator's state, stops cleanly on Ctrl-C or SIGTERM
(`processes`), and resumes exactly.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..checkpoint import prepare_checkpoint_folder, rng_state, save_checkpoint
from ..data.base import invalid_labels
from ..errors import DataError
from ..models.base import SegmentationModel
from ..runtime import Runtime
from .autotune import LayoutChoice, choose_layout, recorded_layout
from .config import History, Loss, TrainConfig, epochs_within, seed_everything, _seed_worker
from .inference import evaluate
from .processes import _Distributed, _Partial, _SkippingSampler, _Stopped, _StopRequest
from .resume import SCHEDULE_KEYS, _initial_weights, _resumable, _resume, budgeted_epochs
from .step import cross_entropy, segmentation_objective, train_steps
from ..language import tr

__all__ = ["fit", "encoder_parameter_groups", "SCHEDULE_KEYS"]


def _check_batch_labels(masks: torch.Tensor, num_classes: int, ignore_index: int, where: str) -> None:
    bad = invalid_labels(masks, num_classes, ignore_index)
    if bad.any():
        values = sorted(set(masks[bad].unique().tolist()))[:8]
        raise DataError(tr("{where}: mask labels {values} are outside 0..{num_classes_1} and are not the ignore "
                           "index {ignore_index}; check the data set's masks (dataset.validate() names the file)",
                           where=where, values=values, num_classes_1=num_classes - 1, ignore_index=ignore_index))


def _check_data(model: nn.Module, data: Dataset, config: TrainConfig, role: str) -> int:
    """Validate `data` against `model` before training; return the number of classes."""
    if len(data) == 0:
        raise DataError(tr("the {role} data set is empty", role=role))
    num_classes = getattr(model, "num_classes", None) or getattr(data, "num_classes", None)
    data_classes = getattr(data, "num_classes", None)
    if data_classes and num_classes and data_classes != num_classes:
        raise DataError(tr("the {role} data set has {data_classes} classes but the model predicts {num_classes}; "
                           "build the model with num_classes={data_classes}",
                           role=role, data_classes=data_classes, num_classes=num_classes))
    if config.check_labels and hasattr(data, "validate"):
        data.validate()
    return num_classes


def encoder_parameter_groups(model: nn.Module, lr: float, factor: float, parameters=None) -> list[dict[str, Any]]:
    """Optimizer parameter groups for fine-tuning with a gentler encoder (ULMFiT's discriminative rates):
    `model.encoder`'s parameters at lr * factor, every other at lr. `parameters` (default: all of the model's) limits
    both groups; an empty group is left out."""
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, nn.Module):
        raise ValueError(tr("encoder_lr_factor needs a model with an `encoder` (a segedu model); {model} has none",
                            model=type(model).__name__))
    parameters = list(model.parameters()) if parameters is None else parameters
    inside = {id(p) for p in encoder.parameters()}
    groups = [{"params": [p for p in parameters if id(p) in inside], "lr": lr * factor},
              {"params": [p for p in parameters if id(p) not in inside], "lr": lr}]
    return [group for group in groups if group["params"]]


def _optimizer(model: nn.Module, config: TrainConfig, runtime: Runtime) -> torch.optim.Optimizer:
    """AdamW or SGD (with momentum) over the trainable parameters; the encoder's at `config.encoder_lr_factor` of
    the rate when that is not 1."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError(tr("the model has no trainable parameters (is everything frozen?)"))
    if config.encoder_lr_factor != 1:
        parameters = encoder_parameter_groups(model, config.lr, config.encoder_lr_factor, parameters)
    extra = {"momentum": config.momentum} if config.optimizer == "sgd" else {}
    return runtime.optimizer(config.optimizer, parameters, lr=config.lr, weight_decay=config.weight_decay, **extra)


class _PolyDecay:
    """DeepLab's poly schedule, (1 - step / total_steps) ** 0.9, as an object: LambdaLR saves its `total_steps` in
    the scheduler's state, so a run whose budget shortened it (`TrainConfig.minutes`) resumes on the same decay."""

    def __init__(self, total_steps: int):
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        return (1 - min(step, self.total_steps) / self.total_steps) ** 0.9


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int):
    if config.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _PolyDecay(total_steps))


def _within_budget(config: TrainConfig, record: dict[str, float], steps_per_epoch: int, scheduler) -> TrainConfig:
    """After a new run's first epoch: `config` with only the epochs that fit in `config.minutes` (`epochs_within`,
    at this epoch's pace: its seconds over its steps, the slowest process's under torchrun), the schedule's decay
    shortened to match. Unchanged without a budget, or when every epoch fits."""
    seconds = torch.tensor(record["seconds"] / max(record["steps"], 1))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(seconds, op=torch.distributed.ReduceOp.MAX)
    epochs = epochs_within(config.minutes, seconds.item() * steps_per_epoch, config.epochs)
    if epochs == config.epochs:
        return config
    for decay in scheduler.lr_lambdas:
        if isinstance(decay, _PolyDecay):
            decay.total_steps = epochs * steps_per_epoch
    return dataclasses.replace(config, epochs=epochs)


def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, config: TrainConfig | None = None, *,
        loss: Loss | None = None, resume: Path | str | None = None, init_from: Path | str | None = None,
        callbacks: Sequence[Callable[[dict[str, float]], None]] = (), data_info: dict[str, Any] | None = None) -> History:
    """Train `model` on `train_data`, validating on `val_data` after every epoch; return the History.

    Args:
        model: a segedu model, or any module mapping (N, C, H, W) images to (N, K, H, W) logits (or torchvision's
            {'out', 'aux'}).
        train_data, val_data: segedu data sets (or any yielding (image float (C, H, W), mask int64 (H, W))).
        config: TrainConfig; defaults throughout when None. On the CPU with `config.channels_last` None, fit first
            times a few training steps in each memory layout on copies of the model and trains in the faster
            (`segedu.engine.autotune`; cached per machine, printed in the runtime line).
        loss: `loss(logits, masks) -> scalar`; default `cross_entropy(config.class_weights, config.ignore_index)`.
            An auxiliary head's logits get `config.aux_weight` times the same loss.
        resume: a checkpoint written by `fit`; training continues after its last finished epoch. Every setting the
            checkpoint records (the config's, the data's, the model's options, the number of training samples) must
            be the same; runtime choices (device, precision, workers, ...) may change. A layout fit chose itself is
            kept, not measured again.
        init_from: a checkpoint's path (any segedu checkpoint: a run's last.pt, an exported one) or a shipped model's
            name (`segedu.pretrained.CHECKPOINTS`): a new run, with a new schedule, that starts from its model
            weights only; the model must be the same (name, classes, channels, weight shapes). Not with `resume`.
        callbacks: called on the main process with each epoch's record (e.g. `segedu.viz.LivePlot()`).
        data_info: stored in checkpoints (the command line records the data set name, image size and subset).
    """
    config = config or TrainConfig()
    runtime = config.runtime()
    distributed = _Distributed(runtime.device)
    runtime = dataclasses.replace(runtime, device=distributed.device)
    try:
        return _fit(model, train_data, val_data, config, loss, runtime, distributed, resume, callbacks, data_info or {},
                    init_from)
    finally:
        distributed.close()


def _prepare_model(model: nn.Module, config: TrainConfig) -> None:
    if config.freeze_encoder:
        if not isinstance(model, SegmentationModel):
            raise ValueError(tr("freeze_encoder needs a segedu model (with an encoder); got {model_type}",
                                model_type=type(model).__name__))
        model.freeze_encoder(None if config.freeze_encoder is True else config.freeze_encoder)


def _train_sampler(train_data: Dataset, config: TrainConfig, distributed: _Distributed):
    """One shuffle for any number of processes: rank r takes every world_size-th index of the same permutation,
    so at each step the processes together hold exactly the batch one process would."""
    if config.batch_size % distributed.world_size:
        raise ValueError(tr("batch_size {config_batch_size} must be divisible by the {distributed_world_size} "
                            "processes",
                            config_batch_size=config.batch_size, distributed_world_size=distributed.world_size))
    return torch.utils.data.distributed.DistributedSampler(
        train_data, num_replicas=distributed.world_size, rank=distributed.rank, shuffle=True, seed=config.seed,
        drop_last=distributed.world_size > 1)


def _fit(model, train_data, val_data, config, loss, runtime, distributed, resume, callbacks, data_info,
         init_from=None) -> History:
    if resume is not None and init_from is not None:
        raise ValueError(tr("give resume= (continue the stopped run {resume}) or init_from= (a new run from the "
                            "weights of {init_from}), not both",
                            resume=resume, init_from=init_from))
    # a resume that cannot continue the run exactly is refused before anything is checked, loaded or trained
    resumed = _resumable(resume, model, len(train_data), config, data_info, distributed) if resume is not None else None
    if resumed is not None:
        config = budgeted_epochs(resumed, config)
    checkpoint_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    if checkpoint_dir is not None and distributed.main:
        prepare_checkpoint_folder(checkpoint_dir)  # writable, and no stale temporary files of a killed run
    initial = _initial_weights(model, init_from) if init_from is not None else None
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
    if loss is None:
        weight = torch.tensor(config.class_weights, device=runtime.device) if config.class_weights else None
        loss = cross_entropy(weight, config.ignore_index)
    run_steps = min(config.epochs * len(train_loader), config.max_steps or math.inf)
    runtime, layout = _layout(model, train_data, config, runtime, distributed, resumed, loss, local_batch, run_steps)
    runtime.place(model)
    optimizer = _optimizer(model, config, runtime)
    scheduler = _scheduler(optimizer, config, config.epochs * len(train_loader))
    history, start_epoch, partial = History(runtime=runtime), 0, None
    if resume is not None:
        start_epoch, partial = _resume(resumed, model, optimizer, scheduler, generator, history, distributed)
    trained = _parallel(model, runtime, distributed)
    evaluated = trained if distributed.world_size == 1 else model  # each process scores its own shard
    exact = runtime.workers == 0  # with workers, their random streams cannot be continued mid-epoch

    def save(name: str, epoch: int, rng: dict[str, Any] | None = None, partial: _Partial | None = None,
             **extra) -> Path | None:
        """Write the run's state on the main process and return its path (on every process); a collective under
        torchrun, which gathers every process's generators (each draws its own augmentations) and its share of a
        stopped epoch's running sums."""
        if checkpoint_dir is None:
            return None
        own = {"rng": rng or rng_state(), "partial": dataclasses.asdict(partial) if partial else None}
        everyone = distributed.gather(own)
        if not distributed.main:
            return checkpoint_dir / name  # written by the main process
        generators = [process["rng"] for process in everyone]
        state = {"model_spec": getattr(model, "build_spec", None), "model": model.state_dict(),
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch,
                 "history": history.records, "config": dataclasses.asdict(config), "rng": generators[0],
                 "loader_generator": generator.get_state(), "data": data_info, "interrupted": False,
                 "world_size": distributed.world_size, "train_samples": len(train_data),
                 "init_from": str(initial) if initial is not None else None,
                 "runtime": {"device": str(runtime.device), "bf16": runtime.bf16, "channels_last": runtime.channels_last,
                             "layout": layout.record() if layout is not None else None}}
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
            for epoch in itertools.count(start_epoch):
                if epoch >= config.epochs:  # (a budget may shorten the run after its first epoch)
                    break
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
                if epoch == 0 and config.minutes is not None:
                    planned, config = config.epochs, _within_budget(config, record, len(train_loader), scheduler)
                    if config.epochs < planned:
                        say(f"the first epoch took {record['seconds']:.0f} s: {config.epochs} of the {planned} "
                            f"epochs fit in {config.minutes:g} minutes of training on this processor")
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
                    if epoch + 1 == config.epochs:  # ... and it was the last: the run is complete, nothing to resume
                        saved = f" and {history.checkpoint} saved" if history.checkpoint else ""
                        say(f"{stop.signal_name} arrived after the final epoch {epoch + 1}{saved}: the run is complete")
                        break
                    history.interrupted, history.stopped_by = True, stop.signal_name
                    where = (f" and saving {history.checkpoint}; resume with --resume {history.checkpoint}"
                             if history.checkpoint else " (nothing saved: no checkpoint folder)")
                    say(f"stopped by {stop.signal_name} after epoch {epoch + 1}{where}")
                    break
        except _Stopped as stopped:
            history.interrupted, history.stopped_by = True, stopped.reason
            if stopped.partial is not None and checkpoint_dir is not None:
                history.checkpoint = save("interrupted.pt", epoch, interrupted=True, step=stopped.partial.step,
                                          partial=stopped.partial, rng=stopped.rng, loader_generator=epoch_generator)
                say(f"stopped by {stopped.reason} in epoch {epoch + 1} after step {stopped.partial.step}; saved "
                    f"{history.checkpoint}: --resume {history.checkpoint} continues exactly from there")
            else:
                history.checkpoint = last()
                kept = (f"the last complete state is {history.checkpoint}: resume with --resume {history.checkpoint}"
                        if history.checkpoint else "nothing was saved")
                why = "" if stopped.partial is not None else " (data workers' random streams cannot be continued)"
                say(f"stopped by {stopped.reason} in epoch {epoch + 1}; the unfinished epoch is dropped{why}; {kept}")
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the training steps
            history.interrupted, history.stopped_by = True, "KeyboardInterrupt"
            history.checkpoint = last()
            kept = (f"the last complete state is {history.checkpoint}: resume with --resume {history.checkpoint}"
                    if history.checkpoint else "nothing was saved")
            say(f"interrupted in epoch {epoch + 1}; the unfinished epoch is dropped; {kept}")
    return history


def _layout(model, train_data, config, runtime, distributed, resumed, loss, batch_size,
            run_steps) -> tuple[Runtime, LayoutChoice | None]:
    """The runtime with the run's memory layout, and how it was chosen (None when the config or the device set it).
    On the CPU with `channels_last` None: a resumed run keeps its checkpoint's layout; a new one takes the faster
    layout measured on this processor (`autotune.choose_layout`; under torchrun the main process measures and tells
    the others). Printed in the run's runtime line when measured, cached or resumed."""
    if not runtime.measure_layout:
        return runtime, None
    choice = None
    if resumed is not None:
        choice = recorded_layout(resumed)
    elif distributed.main:
        choice = choose_layout(model, train_data, runtime, batch_size=batch_size, run_steps=int(run_steps),
                               objective=segmentation_objective(loss, config.aux_weight),
                               make_optimizer=lambda copy, layout: _optimizer(copy, config, layout))
    if distributed.world_size > 1 and resumed is None:
        shared = [choice]
        torch.distributed.broadcast_object_list(shared, src=0, group=distributed._host_group)
        choice = shared[0]
    runtime = dataclasses.replace(runtime, channels_last=choice.channels_last, measure_layout=False,
                                  layout_note=choice.note())
    if distributed.main and choice.source in ("measured", "cached", "resumed"):
        print(f"runtime {runtime.describe()}", flush=True)
    return runtime, choice


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

    objective = segmentation_objective(loss, config.aux_weight)
    partial = partial or _Partial()
    started, seen, waited = time.perf_counter() - partial.seconds, partial.seen, partial.waited
    loss_sum, loss_count = torch.tensor(partial.loss_sum, device=runtime.device), partial.loss_count
    total = partial.step + len(loader)  # the loader holds the batches after the skipped ones
    bar = tqdm(loader, desc=tr("epoch {epoch}/{epochs}", epoch=epoch + 1, epochs=config.epochs), leave=False,
               disable=not (config.progress and main), dynamic_ncols=True, total=total, initial=partial.step)
    loaded, current = iter(bar), [partial.step]

    def progress(step):
        return _Partial(step, loss_sum.item(), loss_count, seen, waited, time.perf_counter() - started)

    def batches():  # before each batch: the step cap, a requested stop, then the batch, checked and on the device
        nonlocal waited
        for step in itertools.count(partial.step):
            if limit is not None and step - partial.step >= limit:
                return
            before = rng_state() if exact else None  # the generators before this batch: a stop here continues exactly
            if stop:
                raise _Stopped(progress(step) if exact else None, before, stop.signal_name)
            asked = time.perf_counter()
            try:
                images, masks = next(loaded)
            except StopIteration:
                return
            except KeyboardInterrupt:  # raised while loading: the model is still as it was after the previous step
                raise _Stopped(progress(step) if exact else None, before, "KeyboardInterrupt") from None
            waited += time.perf_counter() - asked  # the training loop stood still, waiting for the loader
            if config.check_labels:
                _check_batch_labels(masks, num_classes, config.ignore_index, f"epoch {epoch + 1}, batch {step}")
            current[0] = step
            yield runtime.images(images), runtime.masks(masks)

    def after_step(value: torch.Tensor, images: torch.Tensor, masks: torch.Tensor) -> None:  # running sums
        nonlocal loss_sum, loss_count, seen
        loss_sum += value.detach()
        loss_count += 1
        seen += images.shape[0]
        step = current[0]
        if runtime.device.type != "cuda" or step % 25 == 0 or step == total - 1:  # a host sync; rare on the GPU
            _check_finite(value, loss_sum / loss_count, epoch, step, scheduler)
            bar.set_postfix({tr("loss"): f"{loss_sum.item() / loss_count:.4f}"})

    train_steps(model, optimizer, batches(), objective, scheduler=scheduler, max_grad_norm=config.max_grad_norm,
                runtime=runtime, after_step=after_step)
    seconds, steps = time.perf_counter() - started, loss_count
    if torch.distributed.is_available() and torch.distributed.is_initialized():  # the loss over the global batches
        totals = torch.stack([loss_sum, torch.tensor(float(loss_count), device=runtime.device)])
        torch.distributed.all_reduce(totals)
        loss_sum, loss_count = totals[0], int(totals[1].item())
    return {"epoch": epoch + 1, "steps": steps, "train_loss": loss_sum.item() / max(loss_count, 1),
            "lr": scheduler.get_last_lr()[0],
            "seconds": seconds, "images_per_second": seen / max(seconds, 1e-9),
            "data_wait_fraction": waited / max(seconds, 1e-9)}


def _check_finite(value: torch.Tensor, mean: torch.Tensor, epoch: int, step: int, scheduler) -> None:
    if not math.isfinite(value.item()) or not math.isfinite(mean.item()):
        raise FloatingPointError(
            tr("the loss became {value_item} at epoch {epoch_1}, batch {step} (lr {rate:.2e}); "
               "training stopped. Lower the learning rate (TrainConfig.lr / --lr), set max_grad_norm, or look for "
               "broken images in the data",
               value_item=value.item(), epoch_1=epoch + 1, step=step,
               rate=scheduler.get_last_lr()[0]))


def _report(record: dict[str, float], config: TrainConfig) -> None:
    """One line per epoch, with or without progress bars (tqdm.write keeps a live bar intact)."""
    from tqdm.auto import tqdm

    parts = [tr("epoch {epoch}/{epochs}", epoch=record["epoch"], epochs=config.epochs),
             tr("loss {loss}", loss=f"{record['train_loss']:.4f}")]
    if "val_miou" in record:
        parts += [tr("val mIoU {miou}%", miou=f"{100 * record['val_miou']:.1f}"),
                  tr("acc {accuracy}%", accuracy=f"{100 * record['val_pixel_accuracy']:.1f}")]
    parts.append(tr("{seconds} s ({speed} img/s, {waiting}% waiting for data)", seconds=f"{record['seconds']:.1f}",
                    speed=f"{record['images_per_second']:.1f}",
                    waiting=f"{100 * record.get('data_wait_fraction', 0.0):.0f}"))
    tqdm.write("  ".join(parts))
