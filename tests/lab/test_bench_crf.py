"""The dense CRF benchmark (segedu.lab.bench.crf): segedu's figure alone without pydensecrf; with it, the peer gets
the paper's kernels, and the ratio and the label agreement are computed as stated."""

import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

from segedu.lab.bench import crf as crf_bench


def test_without_pydensecrf_segedu_is_timed_alone(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)  # `import pydensecrf...` raises ImportError
    lines = []
    report = crf_bench.crf_benchmark(image_size=(24, 32), frames=1, iterations=2, repeats=1, log=lines.append)
    assert set(report) == {"image_size", "frames", "iterations", "segedu_seconds"}
    assert report["image_size"] == [24, 32] and report["frames"] == 1 and report["iterations"] == 2
    assert report["segedu_seconds"] > 0
    assert "24x32" in lines[0] and "2 iterations" in lines[0] and "segedu (lattice)" in lines[0]
    assert "pydensecrf is not installed" in lines[1] and len(lines) == 2


def test_the_peer_gets_the_papers_kernels_and_the_figures_follow(monkeypatch):
    """Both CRFs replaced by fakes on a fake clock. Ours labels every pixel class 0 and takes 0.3, 0.1, 0.2 s; the
    peer labels the top 12 of the 24 rows class 0, the rest class 1, and takes 0.05, 0.5, 0.1 s. Medians 0.2 and
    0.1 s, so the ratio is 2.0, and the labels agree on half the pixels of each frame. The peer must be set up with
    Krähenbühl and Koltun's kernels: spatial sigma 3, weight 3; bilateral sigma_xy 80, sigma_rgb 13, weight 10."""
    height, width, classes = 24, 32, 11
    now, calls = [0.0], {}
    ours_seconds, theirs_seconds = [0.3, 0.1, 0.2], [0.05, 0.5, 0.1]

    def advance(seconds):
        now[0] += seconds.pop(0) if seconds else 0.0

    class FakeDenseCRF:  # stands in for segedu.crf.DenseCRF
        def __init__(self, image, config):
            calls["ours_iterations"] = config.iterations

        def __call__(self, logits):
            advance(ours_seconds)
            q = torch.zeros(classes, height, width)
            q[0] = 1
            return q

    class FakeDenseCRF2D:  # stands in for pydensecrf.densecrf.DenseCRF2D
        def __init__(self, *shape):
            calls["shape"] = shape

        def setUnaryEnergy(self, unary):
            calls["unary"] = unary

        def addPairwiseGaussian(self, **kernel):
            calls["gaussian"] = kernel

        def addPairwiseBilateral(self, *, rgbim, **kernel):
            calls["bilateral"], calls["rgbim"] = kernel, rgbim

        def inference(self, iterations):
            calls["theirs_iterations"] = iterations
            advance(theirs_seconds)
            q = np.zeros((classes, height * width), np.float32)
            q[0, :height * width // 2] = 1
            q[1, height * width // 2:] = 1
            return q

    peer = ModuleType("pydensecrf")
    peer.densecrf = ModuleType("pydensecrf.densecrf")
    peer.densecrf.DenseCRF2D = FakeDenseCRF2D
    monkeypatch.setitem(sys.modules, "pydensecrf", peer)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", peer.densecrf)
    monkeypatch.setattr("segedu.crf.DenseCRF", FakeDenseCRF)
    monkeypatch.setattr(crf_bench, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    lines = []
    report = crf_bench.crf_benchmark(image_size=(height, width), frames=2, iterations=2, repeats=3, log=lines.append)
    assert report["segedu_seconds"] == pytest.approx(0.2) and report["pydensecrf_seconds"] == pytest.approx(0.1)
    assert report["ratio"] == pytest.approx(2.0)
    assert report["frames"] == 2 and report["label_agreement"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert calls["shape"] == (width, height, classes)
    assert calls["gaussian"] == {"sxy": 3, "compat": 3}
    assert calls["bilateral"] == {"sxy": 80, "srgb": 13, "compat": 10}
    assert calls["ours_iterations"] == calls["theirs_iterations"] == 2
    assert calls["rgbim"].shape == (height, width, 3) and calls["rgbim"].dtype == np.uint8
    unary = calls["unary"]  # -log p: its exponentials sum to 1 over the classes at every pixel
    assert unary.shape == (classes, height * width) and unary.dtype == np.float32
    assert np.exp(-unary).sum(0) == pytest.approx(np.ones(height * width), rel=1e-4)
    assert "2.0x" in lines[1] and "50.00%, 50.00%" in lines[1]


def test_segedu_agrees_with_the_real_pydensecrf():
    pytest.importorskip("pydensecrf.densecrf")
    report = crf_bench.crf_benchmark(image_size=(24, 32), frames=1, iterations=2, repeats=1, log=lambda line: None)
    assert report["ratio"] > 0 and min(report["label_agreement"]) > 0.99
