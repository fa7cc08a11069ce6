"""Training, evaluation and prediction: `TrainConfig`, `fit`, `evaluate`, `predict`.

`fit` is one loop that behaves the same in a notebook, a terminal and under ``torchrun``:

- the config's device, precision, memory format, workers, fused updates and compilation are resolved once into a
  `segedu.runtime.Runtime` (bf16 autocast on CUDA and on CPUs with native bf16; channels_last on CUDA, and on the
  CPU whichever layout `autotune` measured faster), shared with `evaluate` and `predict`;
- the loss is `loss(logits, masks)` (default: cross-entropy with the config's class weights and ignore index);
  a model's auxiliary head adds ``aux_weight`` times the same loss on its logits;
- seeding makes runs repeatable, and a checkpoint written at the end of each epoch holds every
  random generator's state, so resuming gives the same weights as a run that was never stopped;
- labels are checked before the first step, so a bad mask is an error naming its file rather than a
  device-side assert in the middle of an epoch; a NaN or infinite loss stops with a message;
- Ctrl-C (or the notebook's interrupt) saves ``interrupted.pt`` and returns the history so far;
- under ``torchrun`` each process takes a shard of every batch (DistributedDataParallel, gloo on CPU,
  NCCL on CUDA) and `TrainConfig.batch_size` stays the global batch size.

Where things are: `config` (TrainConfig, History, seeding), `step` (the one training step, `train_step`, and the
plain loop `train_steps` that the lab and Mask R-CNN use), `training` (`fit`), `inference` (`predict`, `evaluate`),
`processes` (stopping, resuming and torchrun), `resume` (what a resumed run must match), `autotune` (the memory
layout measured on the CPU).
"""

from __future__ import annotations

from ..runtime import Runtime, resolve_device
from .config import History, Loss, TrainConfig, capped, seed_everything
from .inference import evaluate, predict, stack_by_size
from .step import (Objective, cross_entropy, model_outputs, segmentation_objective, train_step, train_steps,
                   training_loss)
from .training import SCHEDULE_KEYS, fit

__all__ = ["TrainConfig", "History", "fit", "evaluate", "predict", "capped", "cross_entropy", "training_loss",
           "train_step", "train_steps", "segmentation_objective", "model_outputs", "Objective", "Loss",
           "resolve_device", "seed_everything", "Runtime", "stack_by_size", "SCHEDULE_KEYS"]
