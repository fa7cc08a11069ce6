"""Checks of notebook 10's dense CRF: one mean-field update with the Potts model."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..messages import tr
from .harness import _generator, _randn, compare


# ---- 10 PSPNet and DeepLab ----------------------------------------------------------------------

def check_mean_field_step(function: Callable) -> None:
    """function(unary (P, K) log-probabilities, probabilities (P, K), kernel (P, P) with a zero diagonal, weight)
    -> (P, K): one mean-field update of the dense CRF with the Potts model, Q_i = softmax_k(unary_ik +
    weight * sum_j kernel_ij Q_jk): pixels that look alike vote for each other's labels."""
    generator, cases = _generator(101), []
    for pixels, classes, weight in [(6, 2, 1.0), (12, 3, 3.0), (20, 4, 0.5)]:
        unary = torch.log_softmax(_randn(generator, pixels, classes), dim=1)
        kernel = torch.rand(pixels, pixels, generator=generator)
        kernel = (kernel + kernel.T) / 2
        kernel.fill_diagonal_(0)
        # Q after some updates, not softmax(unary): a step that recomputes Q from the unary alone cannot iterate
        probabilities = torch.softmax(_randn(generator, pixels, classes), dim=1)
        cases.append((tr("{pixels} pixels, {classes} classes, weight {weight}", pixels=pixels, classes=classes,
                         weight=weight), (unary, probabilities, kernel, weight), {}))
    compare("mean_field_step", function,
            lambda unary, probabilities, kernel, weight: torch.softmax(unary + weight * kernel @ probabilities, dim=1),
            cases, hint=("each pixel collects, for every label, the probabilities of that label at the other pixels, "
                         "weighted by how alike the pixels are, and adds them to its own log-probabilities",
                         "kernel @ probabilities computes those messages for all pixels at once; with the Potts "
                         "model a message for a label raises that label's score",
                         "normalize over the labels of each pixel (dimension 1), not over the pixels"))
