"""Images/s the CamVid training loader delivers, to set beside the models' training throughput:
``python -m segedu bench --data``."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from ...runtime import Runtime

__all__ = ["data_pipeline"]


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

