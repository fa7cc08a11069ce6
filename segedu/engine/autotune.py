"""channels_last or contiguous tensors for a training run on the CPU: measured once per machine, then remembered.

On the CPU neither memory layout wins everywhere: channels_last trains DeepLab v3+ on EfficientNet-Lite0 1.66x
faster in fp32 on an AMD EPYC, and U-Net 1.5x faster in bf16, but halves PSPNet's bf16 speed (docs/performance.md).
So when `TrainConfig.channels_last` is None, `fit` on the CPU times `TIMED_STEPS` training steps of the run's own
model and batch in each layout, after `WARMUP_STEPS` untimed ones, in turns (contiguous, channels_last, then
channels_last, contiguous, ...), and trains in channels_last when its median step is at least `MARGIN` times faster
(`choose_layout`). Each layout trains its own copy of the model and optimizer, and every random generator is put
back afterwards, so the run trains exactly as it would with the chosen layout set by hand.

The decision is kept in a JSON file (`cache_path`: ``$XDG_CACHE_HOME/segedu/autotune.json``, by default
``~/.cache/segedu/autotune.json``), keyed by the processor's name, the torch version, the number of threads, the
model (its build spec and trainable parameters), the input size, the batch size and the precision (`layout_key`):
each configuration is measured once per machine. Not measured: a run shorter than `MIN_RUN_STEPS` steps (measuring
would cost more than it could save; it trains contiguous unless the cache knows better) and a resumed run, which
keeps the layout its checkpoint records (`recorded_layout`). `TrainConfig(channels_last=True/False)`, or
``--channels-last`` / ``--no-channels-last``, skips all of this; CUDA keeps channels_last on.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from ..checkpoint import rng_state, set_rng_state
from ..leftovers import write_text_atomically
from ..runtime import Runtime, cpu_name
from .step import Objective, train_step

__all__ = ["LayoutChoice", "choose_layout", "measure_speedup", "layout_key", "cache_path", "recorded_layout",
           "WARMUP_STEPS", "TIMED_STEPS", "MIN_RUN_STEPS", "MARGIN"]

WARMUP_STEPS, TIMED_STEPS = 2, 3    # per layout: 10 training steps in all
MIN_RUN_STEPS = 100                 # ten times what measuring costs: a shorter run could not win the time back
MARGIN = 1.05                       # channels_last only when at least 5% faster (3 timed steps cannot resolve less)


@dataclasses.dataclass(frozen=True)
class LayoutChoice:
    """How a run's memory layout was chosen. `source`: "measured" (now), "cached" (on an earlier run on this
    machine), "resumed" (the checkpoint's run chose it), "short run" or "failed" (not measured: contiguous)."""

    channels_last: bool
    source: str
    speedup: float | None = None        # channels_last's training images/s over contiguous's
    cpu: str = ""
    detail: str = ""                    # why it was not measured

    def note(self) -> str:
        """What `Runtime.describe` shows after the layout, e.g. "1.66x contiguous's images/s, measured on AMD EPYC"."""
        if self.speedup is not None:
            figure = (f"{self.speedup:.2f}x contiguous's images/s" if self.channels_last else
                      f"channels_last at {self.speedup:.2f}x its images/s")
            when = {"measured": "measured", "cached": "measured earlier", "resumed": "as the run started, measured"}
            return f"{figure}, {when.get(self.source, self.source)} on {self.cpu}"
        if self.source == "resumed":
            return f"as the run started{': ' + self.detail if self.detail else ''}"
        return f"not measured: {self.detail}" if self.detail else f"not measured ({self.source})"

    def record(self) -> dict[str, Any]:
        """Plain values for a checkpoint (read back by `recorded_layout`)."""
        return dataclasses.asdict(self)


def cache_path() -> Path:
    """Where measured layouts are kept: ``$XDG_CACHE_HOME/segedu/autotune.json``, else ``~/.cache/segedu/...``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "segedu" / "autotune.json"


def layout_key(model: nn.Module, batch_size: int, image_shape: tuple[int, ...], bf16: bool, *,
               cpu: str | None = None) -> dict[str, Any]:
    """What a measured layout depends on: the processor's name, the torch version, the number of threads, the model
    (a segedu model's build spec, else its class and parameter count; its trainable parameters), the shape of one
    input image (C, H, W), the batch size and the precision."""
    spec = getattr(model, "build_spec", None)
    described = spec if spec else {"class": f"{type(model).__module__}.{type(model).__qualname__}",
                                   "parameters": sum(p.numel() for p in model.parameters())}
    return {"cpu": cpu or cpu_name(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "model": json.loads(json.dumps(described, sort_keys=True, default=repr)),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "input": list(image_shape), "batch_size": batch_size, "precision": "bf16" if bf16 else "fp32"}


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, unreadable or corrupt: measure again
        return {}
    return cache.get("layouts", {}) if isinstance(cache, dict) and isinstance(cache.get("layouts"), dict) else {}


def _write_cache(path: Path, key: dict[str, Any], choice: LayoutChoice) -> None:
    """Add `choice` under `key` (atomically: a temporary file, then a rename); an unwritable cache is no error."""
    layouts = _read_cache(path)
    layouts[_key_text(key)] = {"key": key, "channels_last": choice.channels_last, "speedup": choice.speedup,
                               "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps({"layouts": layouts}, indent=1))
    except OSError:
        pass


@contextlib.contextmanager
def _generators_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's global generators as they were before the block, whatever it drew."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def measure_speedup(model: nn.Module, runtime: Runtime, images: torch.Tensor, masks: torch.Tensor,
                    objective: Objective, make_optimizer: Callable[[nn.Module, Runtime], torch.optim.Optimizer], *,
                    warmup: int = WARMUP_STEPS, steps: int = TIMED_STEPS) -> float:
    """channels_last's training images/s over contiguous's: the median contiguous step time over the median
    channels_last one. Each layout trains its own copy of `model` (placed by `runtime` in that layout, with an
    optimizer from `make_optimizer(copy, runtime)`) on the batch `images` (N, C, H, W) and `masks` (N, H, W):
    `warmup` untimed steps each, then `steps` timed steps each in turns, without torch.compile. `model` is not
    touched, and the random generators are left as they were."""
    with _generators_kept():
        trainers = []
        for channels_last in (False, True):
            layout = dataclasses.replace(runtime, channels_last=channels_last, measure_layout=False, layout_note="")
            trained = layout.place(copy.deepcopy(model)).train()
            optimizer = make_optimizer(trained, layout)
            batch = (layout.images(images), layout.masks(masks))
            trainers.append(lambda trained=trained, optimizer=optimizer, batch=batch, layout=layout:
                            train_step(trained, optimizer, *batch, objective, runtime=layout))
        for _ in range(warmup):
            for trainer in trainers:
                trainer()
        seconds: list[list[float]] = [[], []]
        for repetition in range(steps):
            for index in ((0, 1) if repetition % 2 == 0 else (1, 0)):
                started = time.perf_counter()
                trainers[index]()
                seconds[index].append(time.perf_counter() - started)
    return statistics.median(seconds[0]) / max(statistics.median(seconds[1]), 1e-12)


def choose_layout(model: nn.Module, dataset: Dataset, runtime: Runtime, *, batch_size: int, run_steps: int,
                  objective: Objective, make_optimizer: Callable[[nn.Module, Runtime], torch.optim.Optimizer],
                  cache: Path | None = None) -> LayoutChoice:
    """channels_last or contiguous for training `model` on `dataset` in batches of `batch_size` under `runtime`
    (its precision): the cached decision for this configuration (`layout_key`) when there is one, else measured
    (`measure_speedup`, on a batch of copies of the first sample, then cached in `cache`, default `cache_path()`),
    unless the run's `run_steps` are fewer than `MIN_RUN_STEPS`."""
    cpu = cpu_name()
    try:
        with _generators_kept():  # a data set that augments draws random numbers
            image, mask = (torch.as_tensor(item) for item in dataset[0][:2])
    except Exception as error:  # noqa: BLE001 -- the run's own data checks name a broken sample
        return LayoutChoice(False, "failed", None, cpu, f"no sample to measure with ({type(error).__name__})")
    key = layout_key(model, batch_size, tuple(image.shape), runtime.bf16, cpu=cpu)
    path = cache or cache_path()
    known = _read_cache(path).get(_key_text(key))
    if isinstance(known, dict) and isinstance(known.get("channels_last"), bool):
        return LayoutChoice(known["channels_last"], "cached", known.get("speedup"), cpu)
    if run_steps < MIN_RUN_STEPS:
        return LayoutChoice(False, "short run", None, cpu,
                            f"{run_steps} training steps are too few to pay for measuring both layouts")
    images = image.unsqueeze(0).expand(batch_size, *image.shape).contiguous()
    masks = mask.unsqueeze(0).expand(batch_size, *mask.shape).contiguous()
    try:
        speedup = measure_speedup(model, runtime, images, masks, objective, make_optimizer)
    except Exception as error:  # noqa: BLE001 -- the run itself reports any real problem with the model or data
        return LayoutChoice(False, "failed", None, cpu, f"measuring failed ({str(error).splitlines()[0][:160]})")
    choice = LayoutChoice(speedup >= MARGIN, "measured", speedup, cpu)
    _write_cache(path, key, choice)
    return choice


def recorded_layout(state: dict[str, Any]) -> LayoutChoice:
    """The layout the run that wrote checkpoint `state` trained in (its "runtime" record), so that resuming it with
    `channels_last` None keeps that layout instead of measuring again. A checkpoint written before fit recorded it:
    its config's channels_last when set, else contiguous (the CPU's default then)."""
    recorded = state.get("runtime") or {}
    layout = recorded.get("layout")
    if isinstance(layout, dict) and isinstance(layout.get("channels_last"), bool):
        return LayoutChoice(layout["channels_last"], "resumed", layout.get("speedup"), layout.get("cpu", ""),
                            layout.get("detail", ""))
    if isinstance(recorded.get("channels_last"), bool):
        return LayoutChoice(recorded["channels_last"], "resumed", None, "", "set when it started")
    configured = (state.get("config") or {}).get("channels_last")
    return LayoutChoice(bool(configured), "resumed", None, "",
                        "set when it started" if configured is not None else "not recorded, contiguous")
