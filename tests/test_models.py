"""Every model: logits at the input's size (odd sizes too), backward, determinism, published parameter counts."""

from __future__ import annotations

import pytest
import torch

from segedu.models import MODELS, build_model

SMALL = {"width": 0.0625}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("size", [(97, 131), (64, 64), (33, 17)])
def test_logits_have_the_input_size(name, size):
    model = build_model(name, num_classes=7, **SMALL)
    logits = model(torch.randn(2, 3, *size))
    assert logits.shape == (2, 7, *size)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_of_one_in_eval_mode_is_deterministic(name):
    model = build_model(name, num_classes=3, in_channels=1, **SMALL).eval()
    image = torch.randn(1, 1, 45, 61)
    with torch.no_grad():
        assert torch.equal(model(image), model(image))
    assert model(image).shape == (1, 3, 45, 61)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_backward_reaches_every_parameter(name):
    model = build_model(name, num_classes=4, **SMALL)
    model(torch.randn(2, 3, 40, 52)).logsumexp(1).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_unet_parameter_count_matches_the_paper():
    """Ronneberger et al. 2015: about 31.0M parameters for 1 input channel and 2 classes."""
    count = build_model("unet", num_classes=2, in_channels=1, batch_norm=False).num_parameters()
    assert abs(count - 31.0e6) / 31.0e6 < 0.01


def test_wrong_input_channels_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expects images of shape \(N, 1, H, W\)"):
        build_model("unet", num_classes=2, in_channels=1, **SMALL)(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="does not take the options"):
        build_model("unet", num_classes=2, dilation=3)
