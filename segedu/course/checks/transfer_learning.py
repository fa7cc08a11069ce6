"""Checks of notebook 11, transfer learning: which parameters train, and the optimizer's parameter groups."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...engine.training import encoder_parameter_groups
from .harness import _describe, compare


# ---- 11 Transfer learning -----------------------------------------------------------------------

def _small_model():
    from ...models import build_model

    torch.manual_seed(0)
    return build_model("deeplabv3plus", num_classes=3, backbone="resnet18", width=0.125)


def check_trainable_parameters(function: Callable) -> None:
    """function(model, regime) -> the list of parameters an optimizer should update, and the encoder frozen
    (requires_grad False) where the regime keeps it: "frozen" trains all but the encoder; "fine-tune" and
    "scratch" train everything."""
    cases = [(f'regime "{regime}"', (_small_model(), regime), {}) for regime in ("frozen", "fine-tune", "scratch")]

    def outcome(model, chosen):  # (positions of the chosen parameters, which encoder parameters froze)
        if not isinstance(chosen, (list, tuple)) or not all(isinstance(p, torch.Tensor) for p in chosen):
            raise TypeError(f"expected a list of parameters, got {_describe(chosen)}")
        position = {id(parameter): index for index, parameter in enumerate(model.parameters())}
        if any(id(p) not in position for p in chosen):
            raise ValueError("the list holds tensors that are not parameters of this model")
        trained = torch.tensor(sorted(position[id(p)] for p in chosen), dtype=torch.int64)
        frozen = torch.tensor([not p.requires_grad for p in model.encoder.parameters()])
        return trained, frozen

    def reference(model, regime):
        chosen = list(model.parameters())
        if regime == "frozen":
            model.encoder.requires_grad_(False)
            encoder = {id(p) for p in model.encoder.parameters()}
            chosen = [p for p in chosen if id(p) not in encoder]
        return outcome(model, chosen)

    compare("trainable_parameters", lambda model, regime: outcome(model, function(model, regime)), reference,
            cases, check_dtype=False, pure=False,
            hint=("a frozen encoder keeps its ImageNet weights: its parameters get no gradient and are not given to "
                  "the optimizer; everything after it (decoder, head) trains",
                  "model.encoder.parameters() are the encoder's; requires_grad_(False) freezes a module; compare "
                  "parameters by identity (id) to leave them out of the list",
                  "fine-tuning and from scratch train every parameter: list(model.parameters())"))


def check_discriminative_groups(function: Callable) -> None:
    """function(model, lr, encoder_factor) -> optimizer parameter groups: the encoder's parameters at lr *
    encoder_factor, all the others at lr (fine-tuning with a gentler encoder)."""
    cases = [(f"lr {lr}, encoder factor {factor}", (_small_model(), lr, factor), {})
             for lr, factor in [(1e-2, 0.1), (3e-3, 0.5)]]

    def rates(model, groups):
        optimizer = torch.optim.SGD(groups, lr=1.0)  # refuses a parameter given twice
        given = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
        return torch.tensor([given.get(id(p), float("nan")) for p in model.parameters()], dtype=torch.float64)

    compare("discriminative_groups", lambda model, lr, factor: rates(model, function(model, lr, factor)),
            lambda model, lr, factor: rates(model, encoder_parameter_groups(model, lr, factor)),
            cases, check_dtype=False,
            hint=("an optimizer takes a list of groups, each a dict with its own 'params' and 'lr'",
                  "two groups: the encoder's parameters with the smaller rate, and every other parameter (decoder, "
                  "head) with lr; no parameter may be in both",
                  "split model.parameters() by whether the parameter is among model.encoder.parameters() (compare "
                  "with id)"))
