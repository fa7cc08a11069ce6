"""The claims framework (`segedu.lab.claims`): the registry and its order, the verdict helpers, the shared lab,
and the fast claims, which run in seconds without data."""

from __future__ import annotations

import dataclasses
import hashlib
import sys

import pytest
import torch

from segedu.lab import claims
from segedu.lab.claims import registry, verdict
from segedu.lab.claims.framework import Outcome, Registry


@pytest.mark.parametrize("claim", [c for c in claims.CLAIMS if c.fast], ids=lambda c: c.name)
def test_every_fast_claim_holds(claim):
    outcome = claim.experiment(None)
    assert outcome.holds, outcome.summary


def test_the_registry_keeps_the_report_order_and_each_note_beside_its_claim():
    names = [c.name for c in claims.CLAIMS]
    assert names == list(registry.REPORT_ORDER) and len(set(names)) == len(names)
    assert set(claims.NOTES) <= set(names) and not set(claims.PENDING) & set(names)
    for claim in claims.CLAIMS:  # registered in the module of its experiment, with its note
        here = sys.modules[claim.experiment.__module__].claims
        assert claim in here.measured and claims.NOTES.get(claim.name) == here.notes.get(claim.name)


def test_a_registry_returns_the_experiment_and_keeps_a_pending_claim_apart():
    here = Registry()

    @here.claim("measured", "the lecture says", "00", "-", "-", "-", note="read after the result")
    def measured(lab):
        return Outcome(True, "1 < 2")

    @here.claim("pending", "the lecture says", "00", "-", "-", "-", pending="no data yet")
    def pending(lab):
        return Outcome(False, "not run")

    assert measured(None).holds  # the decorated experiment is the function itself
    assert [c.name for c in here.measured] == ["measured"] and [c.name for c in here.unmeasured] == ["pending"]
    assert here.notes == {"measured": "read after the result"} and here.pending == {"pending": "no data yet"}


def _seed_scores(wrong_every: int, seed: int):
    from segedu.lab.scoring import score_frames

    masks = torch.randint(0, 11, (6, 12, 16), generator=torch.Generator().manual_seed(seed))
    predictions = masks.clone().flatten()
    predictions[seed::wrong_every] = (predictions[seed::wrong_every] + 1) % 11
    return score_frames(predictions.view_as(masks), masks)


@pytest.mark.parametrize("measure", ["miou", "band"])
def test_paired_pools_the_seeds_counts_and_keeps_each_seeds_difference(measure):
    better = [_seed_scores(7, seed) for seed in (0, 1, 2)]
    worse = [_seed_scores(3, seed) for seed in (0, 1, 2)]
    pick, score = verdict.measured(measure)
    blocks = torch.tensor([0, 0, 1, 1, 2, 2])  # the 6 frames in 3 blocks of 2
    difference = verdict.paired(better, worse, pick, score, blocks=blocks)
    assert difference["effect"] == pytest.approx(verdict.pooled_score(better, pick, score)
                                                 - verdict.pooled_score(worse, pick, score))
    assert difference["per_seed"] == pytest.approx([verdict.pooled_score([b], pick, score)
                                                    - verdict.pooled_score([w], pick, score)
                                                    for b, w in zip(better, worse)])
    assert (difference["seeds"], difference["frames"], difference["blocks"]) == (3, 6, 3)
    assert difference["interval"] == pytest.approx(
        [verdict.interval(better, worse, pick, score, blocks=blocks).low,
         verdict.interval(better, worse, pick, score, blocks=blocks).high])
    summed = verdict.pooled(better)  # the seeds' counts added, not their scores averaged
    assert torch.equal(pick(summed), sum(pick(b) for b in better))
    rule = verdict.Rule("better", 0.01)
    judged = verdict.judged(difference, rule)
    low, high = difference["interval"]
    assert low > 0 and judged["verdict"] == rule.judge(low, high, 3) == "holds"
    assert verdict.judged(verdict.paired(worse, better, pick, score, blocks=blocks), rule)["verdict"] == "contradicted"
    assert verdict.shown("a - b", judged).startswith(f"a - b {100 * difference['effect']:+.1f} [")


def test_a_lab_shares_what_it_computed_once():
    lab, calls = claims.Lab(seeds=(0,)), []
    first = lab.shared("runs", lambda: calls.append(1) or {"models": []})
    assert lab.shared("runs", lambda: calls.append(2)) is first and calls == [1]


def test_a_lab_with_a_models_folder_keeps_trained_networks_and_retrains_only_under_other_settings(tmp_path):
    """`Lab.trained`: the first call trains and keeps the weights; a second lab with the same settings loads them
    without training; a lab whose training settings differ trains again and replaces the file."""
    from segedu.lab import endtoend

    fits = []

    def fit(model):
        fits.append(1)
        with torch.no_grad():
            model.weight.add_(1.0)  # what "training" changed, to be found again on loading
        return model

    build = lambda: torch.nn.Linear(3, 2)  # noqa: E731
    config = dataclasses.replace(endtoend.TrainingConfig(), scratch_steps=7)
    first = claims.Lab(seeds=(0,), training=config, models=tmp_path).trained("net", 0, lambda: (torch.manual_seed(0), build())[1], fit)
    loading = claims.Lab(seeds=(0,), training=config, models=tmp_path)
    again = loading.trained("net", 0, lambda: (torch.manual_seed(5), build())[1], fit)
    assert len(fits) == 1 and torch.equal(again.weight, first.weight) and not again.training
    kept = tmp_path / "net-seed0.pt"  # the report's provenance names the network it loaded by its hash
    assert loading.loaded == {str(kept): hashlib.sha256(kept.read_bytes()).hexdigest()}
    claims.Lab(seeds=(0, 1, 2), training=config, models=tmp_path).trained("net", 0, build, fit)  # seed 0 is seed 0
    assert len(fits) == 1
    assert (tmp_path / "net-seed0.pt").is_file() and not list(tmp_path.glob(".*.tmp"))
    other = dataclasses.replace(config, scratch_steps=8)
    claims.Lab(seeds=(0,), training=other, models=tmp_path).trained("net", 0, build, fit)
    assert len(fits) == 2
    claims.Lab(seeds=(0,), training=config).trained("net", 0, build, fit)  # no folder: nothing kept or read
    assert len(fits) == 3


def test_a_lab_with_a_models_folder_keeps_its_heads_too(tmp_path, monkeypatch):
    """Heads on cached features are kept like networks (`Lab.trained_head`): a second lab with the same folder and
    settings scores the same without training; other head settings, features at another size or of other frames
    train again."""
    from segedu.lab import frozen

    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    trainings = []
    real = frozen.train_head
    monkeypatch.setattr(frozen, "train_head", lambda *args, **kwargs: trainings.append(args[0]) or real(*args, **kwargs))

    def lab(train=6, **settings):
        made = claims.Lab(data="streets", seeds=(0,), epochs=1, subset={"train": train, "test": 4},
                          models=tmp_path / "kept")
        made.config = dataclasses.replace(made.config, image_size=(32, 48), hidden=8, **settings)
        return made

    first = lab().scores("fcn32s", 0)
    loading = lab()
    assert torch.equal(loading.scores("fcn32s", 0).confusions, first.confusions) and trainings == ["fcn32s"]
    assert len(loading.loaded) == 1 and "head-fcn32s-streets-32x48-os32-seed0.pt" in next(iter(loading.loaded))
    lab(train=5).scores("fcn32s", 0)  # other frames at the same size: their features' digest differs
    assert trainings == ["fcn32s"] * 2
    lab(learning_rate=loading.config.learning_rate / 2).scores("fcn32s", 0)  # other settings: trained again
    lab().scores_at_size("fcn32s", 0, (64, 96))  # the same head on features at another size: a network of its own
    assert trainings == ["fcn32s"] * 4
    lab().scores_at_size("fcn32s", 0, (64, 96))
    assert trainings == ["fcn32s"] * 4


def test_a_weighted_lab_trains_its_heads_with_median_frequency_weights_kept_apart(tmp_path, monkeypatch):
    """`class_weighting` gives every head the median-frequency weights of the training labels (class c: the median
    of the frequencies over the frequency of c, counted on the frames holding c), and a head kept by a weighted
    lab is not taken for an unweighted one."""
    from segedu.lab import frozen

    monkeypatch.setenv("SEGEDU_CACHE", str(tmp_path / "cache"))
    given = []
    real = frozen.train_head
    monkeypatch.setattr(frozen, "train_head",
                        lambda *args, **kwargs: given.append(kwargs.get("class_weights")) or real(*args, **kwargs))

    def lab(weighting):
        made = claims.Lab(data="streets", seeds=(0,), epochs=1, subset={"train": 6, "test": 4},
                          models=tmp_path / "kept", class_weighting=weighting)
        made.config = dataclasses.replace(made.config, image_size=(32, 48), hidden=8)
        return made

    weighted = lab(1.0)
    weighted.scores("fcn32s", 0)
    masks = weighted.stride32["train"].masks.long()
    frequency = []
    for c in range(11):
        holding = [mask for mask in masks if (mask == c).any()]
        labelled = sum(int((mask != 255).sum()) for mask in holding)
        frequency.append(sum(int((mask == c).sum()) for mask in holding) / labelled if holding else None)
    present = torch.tensor([f for f in frequency if f is not None], dtype=torch.float64)
    median = present.median()  # torch's median: the lower of the two middle values, as the library's
    expected = torch.tensor([float(median / f) if f is not None else 1.0 for f in frequency])
    assert given[0] is not None and torch.allclose(given[0], expected, rtol=1e-3, atol=1e-4)  # weights kept to 4 places
    lab(None).scores("fcn32s", 0)  # unweighted: trained again, not loaded from the weighted head's file
    assert len(given) == 2 and given[1] is None
    lab(1.0).scores("fcn32s", 0)  # weighted again: loaded
    assert len(given) == 2
