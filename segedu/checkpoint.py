"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``, checked against the model.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (nothing that needs
pickle's code execution): the model's build spec (name, classes, input channels, options), its
state dict, the optimizer and scheduler states, the completed epochs, the history, the training
config, the random generators' states, and a description of the data it was trained on.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import random
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError
from .language import tr
from .leftovers import process_alive

__all__ = ["FORMAT", "save_checkpoint", "prepare_checkpoint_folder", "export_checkpoint", "load_checkpoint", "load_model", "encoder_digest", "pretrained_prefix", "check_compatible", "upgrade_state_dict", "LEGACY_NAMES", "rng_state",
           "set_rng_state"]

FORMAT = "segedu-checkpoint-v1"


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> Path:
    """Write `state` to `path` atomically: a temporary file in the same folder, flushed, then renamed over `path`.

    A crash or Ctrl-C during the write leaves the previous checkpoint intact; a write that fails (a full disk: torch
    says "enforce fail at inline_container.cc ... unexpected pos") is a CheckpointError naming the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save({"format": FORMAT, **state}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        raise CheckpointError(_write_failure(path, error)) from error
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _write_failure(path: Path, error: BaseException) -> str:
    """One line for a checkpoint write that failed: which file, in which folder, and why (most often a full disk)."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    full = (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)) or (
        isinstance(error, RuntimeError) and ("unexpected pos" in detail or "inline_container" in detail
                                             or "PytorchStreamWriter" in detail))
    try:
        free = f"; {shutil.disk_usage(path.parent).free / 2 ** 20:.0f} MB free there now"
    except OSError:
        free = ""
    if isinstance(error, OSError) and not full:
        why = error.strerror or detail
    else:
        why = "the disk may be full" if full else detail
    kept = f"the previous {path.name} is kept" if path.exists() else "nothing was written"
    return (f"cannot write checkpoint {path.name} to the folder {path.parent}: {why}{free} ({detail}); {kept}. Free "
            f"some space there (or give another folder) and run again")


def prepare_checkpoint_folder(folder: Path | str) -> Path:
    """Before a run's first step: make `folder`, check that checkpoints can be written in it, and remove the
    temporary files (``.last.pt.<pid>.tmp``) that a killed run left behind. CheckpointError names the folder."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(tr("the checkpoint folder {folder} is a file; give a folder (it is created if missing)",
                                 folder=folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise CheckpointError(tr("cannot write checkpoints to {folder}: {reason}",
                                 folder=folder, reason=error.strerror or error)) from error
    for leftover in folder.glob(".*.tmp"):
        pid = leftover.name.rsplit(".", 2)[-2]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)
    return folder


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Read a segedu checkpoint with ``weights_only=True``; CheckpointError names the file on any problem."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(tr("checkpoint {path} is a folder; give the checkpoint file in it (e.g. {path_last_pt})",
                                 path=path, path_last_pt=path / 'last.pt'))
    if not path.is_file():
        raise CheckpointError(tr("checkpoint {path} does not exist", path=path))
    _verify_archive(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        if "Weights only load failed" in str(error):  # torch's advice to load it with weights_only=False would run it
            wanted = re.search(r"GLOBAL (\S+)", str(error))
            what = tr(" (it asks for {name})", name=wanted.group(1)) if wanted else ""
            raise CheckpointError(tr("refused checkpoint {path}: it holds something other than tensors and plain "
                                     "data{what}, which could run code when loaded; segedu reads checkpoints as data "
                                     "only. Use a checkpoint written by segedu or torch.save(model.state_dict(), ...)",
                                     path=path, what=what)) from None
        raise CheckpointError(tr("cannot read checkpoint {path}: it is corrupt, truncated, or not a PyTorch file "
                                 "({detail})",
                                 path=path, detail=str(error).splitlines()[0])) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise CheckpointError(tr("{path} is not a segedu checkpoint (no {FORMAT!r} marker); load plain state dicts "
                                 "with model.load_state_dict(torch.load(..., weights_only=True))",
                                 path=path, FORMAT=FORMAT))
    _check_finite(state["model"], path)
    return state


def _check_finite(weights: Any, path: Path) -> None:
    """Refuse weights that are NaN or infinite (a diverged run, an edited file): the checksums cannot tell."""
    if not isinstance(weights, dict):
        return
    for name, value in weights.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            finite = torch.isfinite(value)
            if not finite.all():
                bad = value[~finite]
                kinds = " and ".join(kind for kind, count in (("NaN", int(bad.isnan().sum())),
                                                             ("infinite", int(bad.isinf().sum()))) if count)
                raise CheckpointError(tr("checkpoint {path} holds non-finite weights: {name} has {bad_numel} {kinds} "
                                         "value(s) of {value_numel} (the run that wrote it diverged, or the file was "
                                         "altered); use an earlier checkpoint or retrain",
                                         path=path, name=name, bad_numel=bad.numel(), kinds=kinds,
                                         value_numel=value.numel()))


def _verify_archive(path: Path) -> None:
    """A checkpoint is a zip archive whose every member carries a CRC-32 (torch.save's format): read them all and
    compare, so that a flipped bit in a stored tensor is refused instead of loading a wrong weight in silence."""
    if path.stat().st_size == 0:
        raise CheckpointError(tr("checkpoint {path} is empty (0 bytes): the run that wrote it was probably killed",
                                 path=path))
    if not zipfile.is_zipfile(path):
        raise CheckpointError(tr("checkpoint {path} is not a PyTorch checkpoint (not a zip archive): truncated, or "
                                 "another kind of file", path=path))
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(tr("checkpoint {path} is damaged and cannot be read ({error})",
                                 path=path, error=error)) from error
    if damaged is not None:
        raise CheckpointError(tr("checkpoint {path} is corrupt: the stored data of {damaged!r} fails its CRC-32 "
                                 "check (a damaged disk or copy); use another checkpoint or retrain",
                                 path=path, damaged=damaged))


def export_checkpoint(source: Path | str, destination: Path | str, *, metrics: dict[str, Any] | None = None,
                      half: bool = True, omit_pretrained_encoder: bool = False) -> Path:
    """A small copy of a training checkpoint for sharing: the model (floating tensors in float16 when `half`),
    its build spec, the data description and `metrics`; no optimizer, history or random states.

    `omit_pretrained_encoder`: a model whose encoder stayed frozen at its pretrained weights (a head trained on a
    frozen ImageNet encoder) is stored without them, with their SHA-256 (`encoder_digest`); `load_model` takes them
    from the pretrained package again and checks the digest. Refused, with the reason, when the encoder changed."""
    state = load_checkpoint(source)
    weights = {key: value.half() if half and value.is_floating_point() else value for key, value in state["model"].items()}
    slim = {"model": weights, "model_spec": state.get("model_spec"), "data": state.get("data"),
            "epoch": state.get("epoch"), "metrics": metrics or {}}
    if omit_pretrained_encoder:
        trained, _ = load_model(source)
        fresh = _pretrained_twin(state.get("model_spec") or {}, source)
        digest = encoder_digest(trained)
        if digest != encoder_digest(fresh):
            raise CheckpointError(tr("{source}: the pretrained encoder is not the package's any more (it was "
                                     "fine-tuned, or its batch-norm statistics moved), so it cannot be left out of "
                                     "the export", source=source))
        prefix = pretrained_prefix(trained)
        slim["model"] = {key: value for key, value in weights.items() if not key.startswith(prefix)}
        slim["encoder"] = {"weights": "pretrained", "prefix": prefix, "sha256": digest}
    return save_checkpoint(destination, slim)


def pretrained_prefix(model: torch.nn.Module) -> str:
    """The state-dict prefix of the model's pretrained backbone ("encoder." or, for FCN, "encoder.backbone.")."""
    from .backbones import Backbone

    for name, module in model.named_modules():
        if isinstance(module, Backbone):
            return f"{name}."
    raise CheckpointError(tr("{model_type} holds no pretrained backbone (segedu.backbones.Backbone)",
                             model_type=type(model).__name__))


def encoder_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's pretrained backbone state (`pretrained_prefix`): every tensor's name, dtype, shape and
    bytes, in order."""
    digest, prefix = hashlib.sha256(), pretrained_prefix(model)
    for key, value in model.state_dict().items():
        if not key.startswith(prefix):
            continue
        value = value.detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()


def _pretrained_twin(spec: dict[str, Any], path: Path | str) -> torch.nn.Module:
    """The model `spec` describes, built with its pretrained encoder weights (from their package, offline)."""
    from .models import rebuild_model

    if not spec or not spec.get("options", {}).get("pretrained"):
        raise CheckpointError(tr("checkpoint {path}: its model was not built on pretrained weights (no "
                                 "options.pretrained in its model_spec), so its encoder cannot be left out",
                                 path=path))
    return rebuild_model(spec)


# Checkpoints written before the models were named encoder -> decoder -> head (the course's first releases) still
# load: each key's old prefix is replaced by today's.
LEGACY_NAMES: dict[str, dict[str, str]] = {  # model class -> {old state-dict prefix: today's}
    "DeconvNet": {"bottleneck.": "decoder.bottleneck.", "decoder.": "decoder.unpooling."},
    "DeepLabV1": {"backbone.": "encoder.", "head.0.": "decoder.0.", "head.3.": "decoder.3.", "head.6.": "head."},
    "DeepLabV2": {"backbone.": "encoder.", "aspp.": "head."},
    "DeepLabV3": {"backbone.": "encoder.", "aspp.": "decoder.0.", "classifier.": "head."},
    "DeepLabV3Plus": {"backbone.": "encoder.", "aspp.": "decoder.aspp.", "reduce.": "decoder.reduce.", "decoder.": "decoder.refine.", "classifier.": "head."},
    "FCN": {"backbone.": "encoder.backbone.", "classifier.": "encoder.classifier.", "score.": "decoder.score.", "skips.": "decoder.skips.", "upsample2.": "decoder.upsample2."},
    "FCNResNet": {"backbone.": "encoder.", "head.0.": "decoder.0.", "head.2.": "head.", "auxiliary.": "auxiliary_head."},
    "PSPNet": {"backbone.": "encoder.", "pyramid.": "decoder.0.", "head.0.": "decoder.1.", "head.2.": "head.", "auxiliary.": "auxiliary_head."},
    "UNet": {"stem.": "encoder.stem.", "down.": "encoder.down.", "up.": "decoder.up."},
}


def upgrade_state_dict(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`weights` written before `model`'s parts were named encoder -> decoder -> head, with today's names
    (`LEGACY_NAMES`); the first matching prefix of each key is replaced. Other models' weights pass unchanged."""
    renamed = LEGACY_NAMES.get(type(model).__name__, {})
    upgraded = {}
    for key, value in weights.items():
        for old, new in renamed.items():
            if key.startswith(old):
                key = new + key[len(old):]
                break
        upgraded[key] = value
    return upgraded


def check_compatible(state: dict[str, Any], model: torch.nn.Module, path: Path | str) -> None:
    """Raise CheckpointError if `state` was written for another model than `model` (name, classes, channels)."""
    saved, current = state.get("model_spec") or {}, getattr(model, "build_spec", None) or {}
    for key in ("name", "num_classes", "in_channels"):
        if key in saved and key in current and saved[key] != current[key]:
            raise CheckpointError(tr("checkpoint {path} was written for model {saved_get_name!r} with "
                                     "{saved_get_num_classes} classes and {saved_get_in_channels} input channels, "
                                     "not {current_get_name!r} with {current_get_num_classes} classes and "
                                     "{current_get_in_channels} input channels",
                                     path=path, saved_get_name=saved.get('name'),
                                     saved_get_num_classes=saved.get('num_classes'),
                                     saved_get_in_channels=saved.get('in_channels'),
                                     current_get_name=current.get('name'),
                                     current_get_num_classes=current.get('num_classes'),
                                     current_get_in_channels=current.get('in_channels')))
    weights = state["model"]
    if set(weights) != set(model.state_dict()):
        weights = upgrade_state_dict(model, weights)  # written before the parts were named encoder/decoder/head
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        detail = "; ".join(str(error).splitlines()[1:4]).strip()
        raise CheckpointError(tr("checkpoint {path} does not fit this model (other options or width?): {detail}",
                                 path=path, detail=detail)) from error


def load_model(path: Path | str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was trained with and load its weights; return (model in eval mode, checkpoint)."""
    from .models import rebuild_model

    state = load_checkpoint(path)
    spec = state.get("model_spec")
    if not spec:
        raise CheckpointError(tr("checkpoint {path} does not say which model it holds (no model_spec); build the "
                                 "model yourself and call model.load_state_dict(checkpoint['model'])",
                                 path=path))
    omitted = state.get("encoder")
    if omitted:  # a head trained on a frozen pretrained encoder, stored without it (export_checkpoint)
        model = _pretrained_twin(spec, path)
        if encoder_digest(model) != omitted.get("sha256"):
            raise CheckpointError(tr("checkpoint {path} was trained on other pretrained encoder weights than the "
                                     "ones installed here (SHA-256 differs): reinstall the pinned pretrained packages",
                                     path=path))
        prefix = pretrained_prefix(model)
        encoder = {key: value for key, value in model.state_dict().items() if key.startswith(prefix)}
        check_compatible({**state, "model": {**encoder, **state["model"]}}, model, path)
        return model.eval(), state
    # the weights come from the checkpoint: never fetch ImageNet weights to overwrite them
    spec = {**spec, "options": {key: value for key, value in spec.get("options", {}).items() if key != "pretrained"}}
    model = rebuild_model(spec)
    check_compatible(state, model, path)
    return model.eval(), state


def rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators, as weights_only-loadable values."""
    numpy_state = np.random.get_state(legacy=False)
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                       "pos": int(numpy_state["state"]["pos"]), "has_gauss": int(numpy_state["has_gauss"]),
                       "gauss": float(numpy_state["gauss"])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(tuple(item if not isinstance(item, list) else tuple(item) for item in state["python"]))
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
                         "has_gauss": numpy_state["has_gauss"], "gauss": numpy_state["gauss"]})
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
