"""Resuming a run exactly, or starting a new one from a checkpoint's weights (`fit`'s `resume` and `init_from`).

A resumed run must be the run it continues: every setting the checkpoint recorded (`SCHEDULE_KEYS`, the data, the
model) is compared, and any difference is refused by name, pointing to `--init-from` for a new run from the same
weights.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from ..checkpoint import check_compatible, load_checkpoint, load_model, set_rng_state
from ..errors import CheckpointError
from .config import History, TrainConfig
from .processes import _Distributed, _Partial
from ..language import tr

__all__ = ["SCHEDULE_KEYS", "RUNTIME_KEYS", "budgeted_epochs"]


# where and how fast a run computes, where it writes and what it shows: a resumed run may change these (resume a CPU
# run on a GPU, with workers, without progress bars); every other setting of TrainConfig must be the one it recorded
RUNTIME_KEYS = ("device", "bf16", "channels_last", "num_workers", "fused", "compile", "checkpoint_dir", "progress",
                "check_labels")
SCHEDULE_KEYS = tuple(field.name for field in dataclasses.fields(TrainConfig) if field.name not in RUNTIME_KEYS)
_DATA_KEYS = ("name", "image_size", "subset", "class_names")  # what `data_info` records of the training data


def _shown(key: str, value: Any) -> str:
    if key == "image_size" and isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    if key == "subset" and not value:
        return "all"
    if key == "class_names" and isinstance(value, (list, tuple)):
        return f"{len(value)} classes ({', '.join(map(str, value[:4]))}{', ...' if len(value) > 4 else ''})"
    return repr(value)


def _same(saved: Any, current: Any) -> bool:
    """Values compared across a checkpoint, where tuples come back as lists."""
    normal = lambda value: [normal(v) for v in value] if isinstance(value, (list, tuple)) else value  # noqa: E731
    return normal(saved) == normal(current)


def _budget_shortened(saved: dict[str, Any], config: TrainConfig) -> bool:
    """Whether the stopped run had the same budget of minutes (`TrainConfig.minutes`) and trained fewer epochs than
    `config` asks for because of it: resuming it continues its own number of epochs."""
    return (config.minutes is not None and _same(saved.get("minutes"), config.minutes)
            and isinstance(saved.get("epochs"), int) and saved["epochs"] <= config.epochs)


def budgeted_epochs(state: dict[str, Any], config: TrainConfig) -> TrainConfig:
    """`config` with the epochs of the run `state` continues, when its budget chose them."""
    saved = state.get("config") or {}
    return dataclasses.replace(config, epochs=saved["epochs"]) if _budget_shortened(saved, config) else config


def _setting_differences(state: dict[str, Any], model: nn.Module, train_samples: int, config: TrainConfig,
                         data_info: dict[str, Any]) -> list[str]:
    """Every recorded setting of the stopped run that this run changes, as 'setting now (the checkpoint: then)'."""
    changed = []
    saved = state.get("config") or {}
    for key in SCHEDULE_KEYS:
        if key == "epochs" and _budget_shortened(saved, config):
            continue  # the run's budget chose its epochs after the first: `budgeted_epochs`
        if key in saved and not _same(saved[key], getattr(config, key)):
            changed.append(f"{key} {getattr(config, key)!r} (the checkpoint: {saved[key]!r})")
    recorded = state.get("data") or {}
    for key in _DATA_KEYS:
        if key in recorded and key in data_info and not _same(recorded[key], data_info[key]):
            changed.append(f"{'data' if key == 'name' else key} {_shown(key, data_info[key])} "
                           f"(the checkpoint: {_shown(key, recorded[key])})")
    if state.get("train_samples") is not None and state["train_samples"] != train_samples:
        changed.append(f"{train_samples} training samples (the checkpoint: {state['train_samples']})")
    spec_then, spec_now = state.get("model_spec") or {}, getattr(model, "build_spec", None) or {}
    then, now = spec_then.get("options") or {}, spec_now.get("options") or {}
    if spec_then and spec_now:
        for key, label in (("name", "model"), ("num_classes", "classes"), ("in_channels", "input channels")):
            if key in spec_then and key in spec_now and spec_then[key] != spec_now[key]:
                changed.append(f"{label} {spec_now[key]!r} (the checkpoint: {spec_then[key]!r})")
        for key in sorted(set(then) | set(now)):
            if not _same(then.get(key, "not given"), now.get(key, "not given")):
                changed.append(f"model option {key} {now.get(key, 'not given')!r} (the checkpoint: "
                               f"{then.get(key, 'not given')!r})")
    return changed


def _resumable(path, model, train_samples: int, config: TrainConfig, data_info: dict[str, Any],
               distributed: _Distributed) -> dict[str, Any]:
    """The checkpoint `path`, if this run can continue it exactly; CheckpointError naming what differs otherwise."""
    state = load_checkpoint(path)
    if "optimizer" not in state or "rng" not in state:
        raise CheckpointError(tr("{path} holds weights only (an exported or shipped checkpoint): it cannot be "
                                 "resumed. Resume from a run's last.pt or interrupted.pt, or start a new run from "
                                 "these weights with --init-from {path} (in Python: fit(..., init_from=...))",
                                 path=path))
    processes = state.get("world_size", 1)
    if processes != distributed.world_size:
        raise CheckpointError(f"{path} was written by a run of {processes} process(es) and this run has "
                              f"{distributed.world_size}: each process's share of every batch and its random "
                              f"generators belong to that number. Resume with torchrun --nproc_per_node={processes}"
                              if processes > 1 else f"{path} was written by one process: resume it without torchrun")
    changed = _setting_differences(state, model, train_samples, config, data_info)
    if changed:
        raise CheckpointError(tr("cannot resume {path} with other training settings: {join_changed}. A resumed run "
                                 "continues exactly the run that was stopped: give the same settings, or start a new "
                                 "run from its weights with --init-from {path} (in Python: fit(..., init_from=...))",
                                 path=path, join_changed=', '.join(changed)))
    check_compatible(state, model, path)  # every weight's shape
    return state


def _resume(state: dict[str, Any], model, optimizer, scheduler, generator, history: History,
            distributed: _Distributed):
    """Load a checkpoint that `_resumable` accepted into the run; return (finished epochs, the partial epoch or None)."""
    processes = state.get("world_size", 1)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history.records = list(state.get("history", []))
    set_rng_state(state["rng_per_process"][distributed.rank] if processes > 1 else state["rng"])
    generator.set_state(state["loader_generator"])
    partial = state["partial_per_process"][distributed.rank] if processes > 1 else state.get("partial")
    partial = _Partial(**partial) if partial else None
    return state["epoch"], partial


def _initial_weights(model: nn.Module, source: Path | str) -> Path:
    """Load the model weights of checkpoint `source` (a path, or a shipped model's name) into `model` for a new run;
    return the checkpoint's path. CheckpointError when it is missing or holds another model."""
    from ..pretrained import CHECKPOINTS, checkpoint_path

    path = Path(source)
    if not path.exists() and str(source) in CHECKPOINTS:
        path = checkpoint_path(str(source))
    elif not path.exists():
        raise CheckpointError(tr("--init-from {source}: no such checkpoint file, nor the name of a shipped model "
                                 "({join_checkpoints})",
                                 source=source, join_checkpoints=', '.join(CHECKPOINTS)))
    state = load_checkpoint(path)
    if state.get("encoder"):  # a head stored without its pretrained encoder: take the encoder from its package
        state = {**state, "model": load_model(path)[0].state_dict()}
    try:
        check_compatible(state, model, path)  # the name, classes and input channels, then every weight's shape
    except CheckpointError as error:
        then = (state.get("model_spec") or {}).get("options") or {}
        now = (getattr(model, "build_spec", None) or {}).get("options") or {}
        options = [f"{key} {then.get(key, 'not given')!r} (this run: {now.get(key, 'not given')!r})"
                   for key in sorted(set(then) | set(now)) if then.get(key, "not given") != now.get(key, "not given")]
        same_kind = (state.get("model_spec") or {}).get("name") == (getattr(model, "build_spec", None) or {}).get("name")
        hint = f"; its model options: {', '.join(options)}" if options and same_kind else ""
        raise CheckpointError(tr("--init-from {source}: {error}{hint}. A new run from a checkpoint's weights needs "
                                 "the same model (--model, --width, --backbone, --option) and classes",
                                 source=source, error=error, hint=hint)) from error
    return path
