"""The data side of training, ``python -m segedu bench --data``: images/s the CamVid training loader delivers
(`data_pipeline`), and a training run fed by it, with the share of its time spent waiting for data (`fed_training`,
what `fit` reports per epoch as ``data_wait_fraction``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...engine import TrainConfig, cross_entropy, segmentation_objective, train_step
from ...runtime import Runtime

__all__ = ["data_pipeline", "fed_training"]


def data_pipeline(*, image_size: tuple[int, int], batch_size: int, workers: Sequence[int], batches: int,
                  keep_decoded: Sequence[bool] = (False, True), log=print) -> list[dict]:
    """Images/s the CamVid training loader delivers (augmenting, decoding or not) for each worker count."""
    from ...data import build_dataset

    rows = []
    for keep in keep_decoded:
        for count in workers:
            dataset = build_dataset("camvid", "train", image_size=image_size, augment=True)
            if keep:
                dataset.keep_decoded()
            loader = Runtime(device=torch.device("cpu"), workers=count).loader(
                dataset, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0), drop_last=True)
            iterator = iter(loader)
            next(iterator)  # workers started
            limit = min(batches, len(loader) - 1)
            started = time.perf_counter()
            for _ in range(limit):
                next(iterator)
            seconds = time.perf_counter() - started
            rows.append({"workers": count, "keep_decoded": keep, "images_per_second": limit * batch_size / seconds})
            log(f"data: workers {count}, decoded kept {keep!s:5s}: {rows[-1]['images_per_second']:8.1f} img/s")
            del iterator, loader
    return rows



def fed_training(build: Callable[[int], nn.Module], runtime: Runtime, *, image_size: tuple[int, int],
                 batch_size: int, workers: Sequence[int], steps: int, num_classes: int = 11, log=print) -> list[dict]:
    """Training steps of `build(num_classes)` under `runtime`, fed by the CamVid training loader (augmenting and
    decoding every frame, as in a run's first epoch) with each worker count: images/s over the timed steps and the
    fraction of their time the loop stood waiting for the next batch. One untimed step first (it starts the workers
    and warms the model up), then up to `steps` timed ones. One model and optimizer serve every worker count."""
    from ...data import build_dataset

    torch.manual_seed(0)
    model = runtime.place(build(num_classes)).train()
    optimizer = runtime.optimizer("adamw", model.parameters(), lr=1e-4)
    step_model = runtime.compiled(model)
    objective = segmentation_objective(cross_entropy(), TrainConfig().aux_weight)
    rows = []
    for count in workers:
        dataset = build_dataset("camvid", "train", image_size=image_size, augment=True)
        loader = runtime.loader(dataset, batch_size, shuffle=True, generator=torch.Generator().manual_seed(0),
                                drop_last=True)
        iterator = iter(loader)
        limit = min(steps, len(loader) - 1)
        waited, seen = 0.0, 0
        started = None
        for index in range(limit + 1):
            asked = time.perf_counter()
            images, masks = next(iterator)
            if index == 0:  # the untimed first step
                train_step(step_model, optimizer, runtime.images(images), runtime.masks(masks), objective,
                           runtime=runtime)
                if runtime.device.type == "cuda":
                    torch.cuda.synchronize(runtime.device)
                started = time.perf_counter()
                continue
            waited += time.perf_counter() - asked
            train_step(step_model, optimizer, runtime.images(images), runtime.masks(masks), objective, runtime=runtime)
            seen += images.shape[0]
        if runtime.device.type == "cuda":
            torch.cuda.synchronize(runtime.device)
        seconds = max(time.perf_counter() - started, 1e-9)
        rows.append({"workers": count, "steps": limit, "images_per_second": seen / seconds,
                     "data_wait_fraction": waited / seconds})
        log(f"fed by the loader: workers {count}: {rows[-1]['images_per_second']:8.1f} img/s, "
            f"{100 * rows[-1]['data_wait_fraction']:3.0f}% of the time waiting for data")
        del iterator, loader
    return rows
