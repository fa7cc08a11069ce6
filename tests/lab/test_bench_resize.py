"""The upsampling benchmark times both ways on the same maps and refuses to time a way that gives other numbers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segedu.lab.bench import resize


def test_each_way_gets_a_time():
    reference, ours = resize.compare((2, 3, 5, 6), (20, 24), repeats=3)
    assert reference > 0 and ours > 0


def test_a_way_that_gives_other_numbers_is_not_timed(monkeypatch):
    monkeypatch.setattr(resize, "resize_bilinear", lambda maps, size: F.interpolate(maps, size=size, mode="nearest"))
    with pytest.raises(AssertionError, match=r"disagree on \(2, 3, 5, 6\) -> \(20, 24\)"):
        resize.compare((2, 3, 5, 6), (20, 24), repeats=3)


def test_the_benchmark_prints_the_cpu_and_a_ratio_per_shape(monkeypatch, capsys):
    monkeypatch.setattr(resize, "SHAPES", {"tiny": ((1, 2, 3, 4), (6, 8))})
    resize.main()
    lines = capsys.readouterr().out.splitlines()
    assert f"{torch.get_num_threads()} threads" in lines[0]
    assert lines[1].startswith("tiny") and lines[1].endswith("x")
