"""The learner's own comparisons (segedu.lab.seeds, `Lab.for_learner`): the claims' experiment at a notebook's
scale on features cached once per machine, each seed's score, and the verdict said in one line."""

from __future__ import annotations

import dataclasses

import matplotlib
import pytest

matplotlib.use("Agg")

from segedu.lab.seeds import per_seed, plot_seeds, said  # noqa: E402
from segedu.lab.claims import Lab  # noqa: E402
from segedu.lab.frozen import feature_cache_folder  # noqa: E402
from segedu.metrics import ConfusionMatrix  # noqa: E402


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path, monkeypatch):
    """Each test counts the feature caches it kept in a folder of its own: other tests of the session (the claims'
    stand-in runs) keep caches of the same stand-in at the same size."""
    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))


def test_the_learner_s_lab_is_three_seeds_on_a_subset_in_the_fast_profile_and_every_frame_in_the_full_one():
    fast, full = Lab.for_learner("streets", "fast"), Lab.for_learner("streets", "full")
    assert fast.config.seeds == full.config.seeds == (0, 1, 2)
    assert fast.config.epochs == 4 and fast.subset["train"] == 120 and fast.subset["test"] == 100
    assert full.config.epochs == 12 and not full.subset  # HeadConfig's own epochs, every frame


def test_a_learner_s_run_caches_its_features_on_disk_and_scores_each_seed():
    lab = Lab(data="streets", seeds=(0, 1), epochs=1, subset={"train": 8, "test": 6})
    lab.config = dataclasses.replace(lab.config, image_size=(64, 96), hidden=8)
    scores = per_seed(lab, "fcn32s")
    assert len(scores) == 2 and all(0 <= score <= 100 for score in scores)
    first = ConfusionMatrix.from_matrix(lab.runs("fcn32s")[0].confusions.sum(0)).miou()  # seed 0, all test frames
    assert scores[0] == pytest.approx(100 * first)
    assert len(lab.caches("fcn32s")["test"]) == 6 and len(lab.test_blocks()) == 6  # the same six test frames
    assert len(list(feature_cache_folder().glob("streets-*-64x96-os32-*.pt"))) == 2  # train and test, kept
    band = per_seed(lab, "fcn32s", "band")
    assert len(band) == 2 and band != scores


def test_a_learner_s_lab_keeps_its_frames_and_its_disk_cache_at_every_input_size():
    """The input-size claim at a learner's scale trains at other sizes on the same few frames, each size's features
    computed once per machine (notebook 11), not on every frame of the split."""
    lab = Lab(data="streets", seeds=(0,), epochs=1, subset={"train": 8, "test": 6})
    lab.config = dataclasses.replace(lab.config, image_size=(64, 96), hidden=8)
    smaller = lab.at_size((32, 48))
    assert len(smaller["train"]) == 8 and len(smaller["test"]) == 6
    assert smaller["test"].masks.shape[-2:] == (32, 48)
    assert len(list(feature_cache_folder().glob("streets-*-32x48-os32-*.pt"))) == 2  # train and test, kept
    assert lab.at_size((64, 96)) is lab.stride32  # the configured size is the lab's own cache


@pytest.mark.parametrize("verdict, interval, words", [
    ("holds", (0.021, 0.08), "+5.0 points [+2.1, +8.0]: holds (the whole interval is above 0)"),
    ("contradicted", (-0.04, 0.004), "-1.5 points [-4.0, +0.4]: contradicted (the whole interval is below +1"),
    ("inconclusive", (-0.01, 0.03), "+1.0 points [-1.0, +3.0]: inconclusive (the interval covers all of 0 to +1)"),
])
def test_a_difference_is_said_with_its_interval_and_the_rule_s_reason(verdict, interval, words):
    effect = {"holds": 0.05, "contradicted": -0.015, "inconclusive": 0.01}[verdict]
    step = {"effect": effect, "interval": interval, "verdict": verdict, "rule": {"test": "better", "margin": 0.01}}
    assert said("A - B", step).startswith(f"A - B: {words}")


def test_a_one_run_verdict_is_said_to_be_one_run_not_to_cover_0_and_the_margin():
    step = {"effect": 0.005, "interval": (-0.01, 0.02), "verdict": "inconclusive", "seeds": 1,  # judge(): one run
            "rule": {"test": "better", "margin": 0.01}}  # is inconclusive, whatever its interval covers
    assert said("A - B", step).endswith(": inconclusive (one run cannot be judged)")


def test_each_arm_is_drawn_with_a_dot_per_run_and_its_mean():
    from matplotlib.figure import Figure

    axis = Figure().subplots()
    plot_seeds(axis, {"a": [1.0, 2.0, 6.0], "b": [10.0, 11.0]}, "score")
    assert [text.get_text() for text in axis.texts] == ["3.0", "10.5"]
    dots = [line for line in axis.lines if line.get_marker() == "."]
    assert [len(line.get_ydata()) for line in dots] == [3, 2]
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["a", "b"]


def test_a_reported_comparison_is_the_committed_report_s_in_one_line():
    from segedu.lab.seeds import reported
    from segedu.lab.claims import committed_report

    entry = committed_report()["deconvnet_two_stage"]
    line = reported("deconvnet_two_stage", "two stages - one stage")
    assert line.startswith("two stages - one stage, in the claims report's longer run (10 seeds, every test frame): ")
    assert f"{100 * entry['effect']:+.1f} points" in line and line.endswith(entry["verdict"])
    assert "(5 seeds, every held-out slice)" in reported("unet_momentum_one_tile", "0.99 - 0.9")  # ISBI's slices
