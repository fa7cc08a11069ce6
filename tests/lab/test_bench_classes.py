"""The class-map benchmark times both ways on the same scores and refuses to time a way that gives other classes."""

from __future__ import annotations

import pytest
import torch

from segedu.lab.bench import classes


def test_each_way_gets_a_time():
    reference, ours = classes.compare((2, 3, 8, 8), repeats=3)
    assert reference > 0 and ours > 0


def test_a_way_that_gives_other_classes_is_not_timed(monkeypatch):
    monkeypatch.setattr(classes, "predicted_classes", lambda scores: scores.argmin(1))
    with pytest.raises(AssertionError, match=r"disagree on \(2, 3, 8, 8\)"):
        classes.compare((2, 3, 8, 8), repeats=3)


def test_the_benchmark_prints_the_cpu_and_a_ratio_per_shape(monkeypatch, capsys):
    monkeypatch.setattr(classes, "SHAPES", {"tiny": (1, 2, 4, 4)})
    classes.main()
    lines = capsys.readouterr().out.splitlines()
    assert f"{torch.get_num_threads()} threads" in lines[0]
    assert lines[1].startswith("tiny") and lines[1].endswith("x")
