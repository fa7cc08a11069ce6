"""The one training step every training in segedu takes, and the one loop around it.

A step (`train_step`) is: the objective on one batch (a forward pass and a loss; with `runtime`, under its bf16
autocast), the gradients zeroed and computed, optionally clipped, one optimizer update, and one scheduler step. The
loop (`train_steps`) takes one step per batch of a generator. `fit`'s epochs (checkpoints, resume, torchrun), the
lab's short experiments and Mask R-CNN's trainer run through the loop, and the benchmark times the step itself, so
"where is training?" has one answer.

An objective maps ``(model, inputs, targets)`` to a scalar loss. For segmentation it is `segmentation_objective`:
the model's logits (a segedu model, a module returning logits, or torchvision's ``{"out", "aux"}``) against the
masks, plus ``aux_weight`` times the same loss on an auxiliary head's logits when one is asked for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models.base import SegmentationModel
from ..runtime import Runtime
from .config import Loss

__all__ = ["Objective", "cross_entropy", "model_outputs", "training_loss", "segmentation_objective", "train_step",
           "train_steps"]

Objective = Callable[[nn.Module, Any, Any], torch.Tensor]  # (model, inputs, targets) -> scalar loss


def cross_entropy(weight: torch.Tensor | None = None, ignore_index: int = 255) -> Loss:
    """The default loss: pixel-wise cross-entropy (optionally class-weighted), ignoring `ignore_index`."""
    def loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), masks, weight=weight, ignore_index=ignore_index)
    return loss


def unwrapped(model: nn.Module) -> nn.Module:
    """The model itself inside DistributedDataParallel (.module) and torch.compile (._orig_mod) wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def model_outputs(model: nn.Module, images: Any, *, auxiliary: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(logits, auxiliary logits or None) from a segedu model, or from any module returning logits or
    torchvision's {'out', 'aux'}. `model` may be wrapped (DistributedDataParallel, torch.compile). The one place
    torchvision's dictionary is unwrapped."""
    if isinstance(unwrapped(model), SegmentationModel):
        return model(images, auxiliary=True) if auxiliary else (model(images), None)
    output = model(images)
    if isinstance(output, dict):
        return output["out"], output.get("aux") if auxiliary else None
    return output, None


def training_loss(model: nn.Module, images: Any, masks: Any, loss: Loss, aux_weight: float | None) -> torch.Tensor:
    """The loss of one training step: `loss` on the logits, plus `aux_weight` times it on an auxiliary head's.
    With `aux_weight` None the auxiliary head does not run at all (no forward pass, no dropout draws)."""
    logits, auxiliary = model_outputs(model, images, auxiliary=aux_weight is not None)
    value = loss(logits, masks)
    return value if auxiliary is None else value + aux_weight * loss(auxiliary, masks)


def segmentation_objective(loss: Loss, aux_weight: float | None = None) -> Objective:
    """The objective of a segmentation network: `training_loss` with this `loss` and `aux_weight`."""
    return lambda model, images, masks: training_loss(model, images, masks, loss, aux_weight)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, inputs: Any, targets: Any, objective: Objective, *,
               scheduler: Any = None, max_grad_norm: float | None = None,
               runtime: Runtime | None = None) -> torch.Tensor:
    """One optimizer step on one batch; returns the loss (still attached to the graph: `.detach()` it to keep it).

    `objective(model, inputs, targets)` runs under `runtime.autocast()` when a runtime is given; the gradients of
    the previous step are dropped (``set_to_none``), the new ones clipped to `max_grad_norm` when set, then the
    optimizer and the `scheduler` (when given) step once."""
    with runtime.autocast() if runtime is not None else contextlib.nullcontext():
        value = objective(model, inputs, targets)
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    if max_grad_norm:
        nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return value


def train_steps(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable[tuple[Any, Any]],
                objective: Objective, *, scheduler: Any = None, max_grad_norm: float | None = None,
                runtime: Runtime | None = None,
                after_step: Callable[[torch.Tensor, Any, Any], None] | None = None) -> nn.Module:
    """The training loop: `train_step` on every ``(inputs, targets)`` of `batches`, in training mode; returns the
    model in eval mode. What to draw and in which order is the caller's `batches` (a generator), so each training
    keeps its own seeded order; `after_step(loss, inputs, targets)` sees every step's loss (running sums, progress).
    `fit` runs its epochs through it (its generator checks for a stop before each batch, so a run can resume), and
    so do the lab's short experiments and Mask R-CNN's trainer."""
    model.train()
    for inputs, targets in batches:
        value = train_step(model, optimizer, inputs, targets, objective, scheduler=scheduler,
                           max_grad_norm=max_grad_norm, runtime=runtime)
        if after_step is not None:
            after_step(value, inputs, targets)
    return model.eval()
