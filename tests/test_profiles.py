from __future__ import annotations

import pytest
import torch

import segedu


def test_profile_follows_the_device_and_the_environment(monkeypatch):
    monkeypatch.delenv("SEGEDU_PROFILE", raising=False)
    assert segedu.profile().name == ("full" if torch.cuda.is_available() else "fast")
    monkeypatch.setenv("SEGEDU_PROFILE", "full")
    assert segedu.profile().name == "full" and segedu.profile().camvid_size == (360, 480)
    monkeypatch.setenv("SEGEDU_PROFILE", "fastest")
    with pytest.raises(ValueError, match="SEGEDU_PROFILE"):
        segedu.profile()


def test_fast_profile_is_smaller_than_full():
    fast, full = segedu.profile("fast"), segedu.profile("full")
    assert fast.width < full.width and fast.camvid_size[0] < full.camvid_size[0] and fast.epochs < full.epochs
