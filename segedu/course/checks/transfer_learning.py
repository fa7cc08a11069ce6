"""Checks of notebook 11, transfer learning: which parameters train, and the optimizer's parameter groups."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...engine.training import encoder_parameter_groups
from ..messages import tr
from .harness import ExerciseFailed, _describe, compare


# ---- 11 Transfer learning -----------------------------------------------------------------------

def _small_model():
    from ...models import build_model

    torch.manual_seed(0)
    return build_model("deeplabv3plus", num_classes=3, backbone="resnet18", width=0.125)


def _parameter_list(model, chosen) -> set[int]:
    """The ids of the parameters in `chosen`, refused in words when it is not a list of this model's parameters."""
    if not isinstance(chosen, (list, tuple)) or not all(isinstance(p, torch.Tensor) for p in chosen):
        raise ExerciseFailed(tr("expected a list of parameters, got {got}", got=_describe(chosen)))
    own = {id(p) for p in model.parameters()}
    if any(id(p) not in own for p in chosen):
        raise ExerciseFailed(tr("the list holds tensors that are not parameters of this model"))
    ids = {id(p) for p in chosen}
    if len(ids) < len(chosen):
        raise ExerciseFailed(tr("the list holds a parameter more than once"))
    return ids


def check_trainable_parameters(function: Callable) -> None:
    """function(model, regime) -> the list of parameters an optimizer should update, and the encoder frozen
    (requires_grad False) where the regime keeps it: "frozen" trains all but the encoder; "fine-tune" and
    "scratch" train everything. Each mistake is named: encoder parameters in the list, decoder parameters missing,
    an encoder left trainable, parameters frozen that should train."""
    cases = [(tr('regime "{regime}"', regime=regime), (_small_model(), regime), {})
             for regime in ("frozen", "fine-tune", "scratch")]

    def judged(model, regime):
        chosen = _parameter_list(model, function(model, regime))
        encoder = {id(p) for p in model.encoder.parameters()}
        others = [p for p in model.parameters() if id(p) not in encoder]
        if regime == "frozen":
            listed = len(encoder & chosen)
            missing = sum(id(p) not in chosen for p in others)
            trainable = sum(p.requires_grad for p in model.encoder.parameters())
            frozen = sum(not p.requires_grad for p in others)
            if listed:
                raise ExerciseFailed(tr("the list holds {count} of the encoder's parameters; a frozen encoder's "
                                        "parameters stay out of the optimizer", count=listed))
            if missing:
                raise ExerciseFailed(tr("{count} parameters after the encoder (decoder, head) are missing from the "
                                        "list; they must train", count=missing))
            if trainable:
                raise ExerciseFailed(tr("{count} of the encoder's parameters still have requires_grad=True: freeze "
                                        "the encoder so that no gradient is computed for it", count=trainable))
            if frozen:
                raise ExerciseFailed(tr("{count} parameters after the encoder were frozen; only the encoder is",
                                        count=frozen))
        else:
            missing = sum(id(p) not in chosen for p in model.parameters())
            frozen = sum(not p.requires_grad for p in model.parameters())
            if missing or frozen:
                raise ExerciseFailed(tr("{regime} trains every parameter, but {missing} are missing from the list and "
                                        "{frozen} have requires_grad=False", regime=regime, missing=missing,
                                        frozen=frozen))
        return 0  # every reading above passed

    compare("trainable_parameters", judged, lambda model, regime: 0, cases, check_dtype=False, pure=False,
            hint=("a frozen encoder keeps its ImageNet weights: its parameters get no gradient and are not given to "
                  "the optimizer; everything after it (decoder, head) trains",
                  "model.encoder.parameters() are the encoder's; requires_grad_(False) freezes a module; compare "
                  "parameters by identity (id) to leave them out of the list",
                  "fine-tuning and from scratch train every parameter: list(model.parameters())"))


def check_discriminative_groups(function: Callable) -> None:
    """function(model, lr, encoder_factor) -> optimizer parameter groups: the encoder's parameters at lr *
    encoder_factor, all the others at lr (fine-tuning with a gentler encoder). Each mistake is named: a group
    without its rate, a parameter in two groups or in none, a rate that is not the one asked for."""
    cases = [(tr("lr {lr}, encoder factor {factor}", lr=lr, factor=factor), (_small_model(), lr, factor), {})
             for lr, factor in [(1e-2, 0.1), (3e-3, 0.5)]]

    def judged(model, lr, factor):
        groups = function(model, lr, factor)
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) and "params" in g for g in groups):
            raise ExerciseFailed(tr("expected a list of dicts, each with its 'params' and 'lr', got {got}",
                                    got=_describe(groups)))
        rate, seen = {}, []
        for index, group in enumerate(groups):
            if "lr" not in group:
                raise ExerciseFailed(tr("group {index} has no 'lr': give each group its own rate", index=index))
            if isinstance(group["params"], (set, frozenset)):  # an optimizer refuses a set: its order is random
                raise ExerciseFailed(tr("group {index}'s 'params' is a set; an optimizer needs a list (a set has no "
                                        "order)", index=index))
            given = group["params"]
            parameters = [given] if isinstance(given, torch.Tensor) else list(given)  # one tensor, as torch allows
            _parameter_list(model, parameters)  # this model's parameters, each once in the group
            for p in parameters:
                seen.append(id(p))
                rate[id(p)] = group["lr"]
        twice = len(seen) - len(set(seen))
        if twice:
            raise ExerciseFailed(tr("{count} parameters are in two groups; each parameter belongs to one",
                                    count=twice))
        missing = sum(id(p) not in rate for p in model.parameters())
        if missing:
            raise ExerciseFailed(tr("{count} of the model's parameters are in no group", count=missing))
        encoder = {id(p) for p in model.encoder.parameters()}
        reference = {id(p): group["lr"] for group in encoder_parameter_groups(model, lr, factor)
                     for p in group["params"]}  # the library's groups, what fit(encoder_lr_factor=...) uses
        for inside in (True, False):
            wanted = next(reference[id(p)] for p in model.parameters() if (id(p) in encoder) == inside)
            wrong = [rate[id(p)] for p in model.parameters() if (id(p) in encoder) == inside
                     and abs(rate[id(p)] - reference[id(p)]) > 1e-12 * max(1.0, abs(reference[id(p)]))]
            if wrong:
                said = dict(count=len(wrong), got=f"{wrong[0]:g}", wanted=f"{wanted:g}")
                raise ExerciseFailed(
                    tr("{count} of the encoder's parameters get the rate {got}, not lr * encoder_factor = {wanted}",
                       **said) if inside else
                    tr("{count} parameters after the encoder get the rate {got}, not lr = {wanted}", **said))
        return 0  # every reading above passed

    compare("discriminative_groups", judged, lambda model, lr, factor: 0, cases, check_dtype=False,
            hint=("an optimizer takes a list of groups, each a dict with its own 'params' and 'lr'",
                  "two groups: the encoder's parameters with the smaller rate, and every other parameter (decoder, "
                  "head) with lr; no parameter may be in both",
                  "split model.parameters() by whether the parameter is among model.encoder.parameters() (compare "
                  "with id)"))
