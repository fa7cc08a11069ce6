"""The one verdict function (`segedu.lab.claims.verdict.Rule`) and the two-level bootstrap behind it, measured on
simulated runs whose true effect is known: how often they declare an effect that is not there (false alarms), how
often they find one that is (power), and whether two seed sets can give opposite verdicts.

A simulated run: an arm's per-frame [correct, total] pixel counts on F test frames in blocks of 10 correlated
frames, with a seed effect (the training run's luck: a shift of the arm's accuracy, drawn per seed and arm), a
block effect and a frame effect (shared by both arms: pairing removes them), and binomial pixel noise. The seed
effect is the largest, as in the lab's real runs.
"""

from __future__ import annotations

import pytest
import torch

from segedu.lab.claims.framework import Outcome
from segedu.lab.claims.verdict import Rule, combined, judged, paired, counts
from segedu.lab.statistics import accuracy_of, paired_bootstrap, sequence_blocks, slice_blocks, student_quantile, \
    two_level_bootstrap

FRAMES, BLOCK, PIXELS = 200, 10, 400
SEED_SPREAD, BLOCK_SPREAD, FRAME_SPREAD = 0.02, 0.05, 0.08  # accuracy shifts: run, block of frames, frame


def simulated(effect: float, seeds: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two arms' (S, F, 2) counts on the same frames; arm A's true accuracy exceeds B's by `effect`."""
    blocks = torch.arange(FRAMES) // BLOCK
    difficulty = (0.6 + BLOCK_SPREAD * torch.randn(FRAMES // BLOCK, generator=generator)[blocks]
                  + FRAME_SPREAD * torch.randn(FRAMES, generator=generator))

    def arm(shift: float) -> torch.Tensor:
        luck = SEED_SPREAD * torch.randn(seeds, 1, generator=generator)
        rate = (difficulty + shift + luck).clamp(0.01, 0.99)
        correct = torch.binomial(torch.full_like(rate, float(PIXELS)), rate, generator=generator)
        return torch.stack([correct, torch.full_like(rate, float(PIXELS))], -1)

    return arm(effect), arm(0.0)


def verdicts(effect: float, rule: Rule, *, seeds: int = 5, trials: int = 200, start: int = 0) -> dict[str, int]:
    """How many of `trials` simulated comparisons end in each verdict under `rule`."""
    tally = {"holds": 0, "contradicted": 0, "inconclusive": 0}
    blocks = torch.arange(FRAMES) // BLOCK
    for trial in range(start, start + trials):
        a, b = simulated(effect, seeds, torch.Generator().manual_seed(trial))
        interval = two_level_bootstrap(a, b, accuracy_of, blocks=blocks, resamples=400, seed=trial)
        tally[rule.judge(interval.low, interval.high, seeds)] += 1
    return tally


BETTER = Rule("better", 0.01)


def test_no_effect_rarely_holds_with_five_seeds():
    tally = verdicts(0.0, BETTER)
    assert tally["holds"] <= 10  # a one-sided 2.5% error: about 5 of 200; more than 10 means the interval is too narrow


def test_a_frames_only_interval_would_raise_false_alarms_on_the_same_runs():
    """The reason for the seed level: the old bootstrap over frames of the pooled seeds, on the same runs, declares
    an effect that is not there far more often (the seeds' luck does not average out over 5 runs)."""
    alarms = 0
    for trial in range(100):
        a, b = simulated(0.0, 5, torch.Generator().manual_seed(trial))
        alarms += paired_bootstrap(a.sum(0), b.sum(0), accuracy_of, resamples=400, seed=trial).low > 0
    assert alarms >= 15


def test_a_five_point_effect_holds_in_most_five_seed_runs():
    assert verdicts(0.05, BETTER)["holds"] >= 150  # power of about 80% when runs differ by 2-3 points


def test_an_effect_of_the_margin_is_rarely_contradicted():
    assert verdicts(0.01, BETTER)["contradicted"] <= 10  # contradicting needs the interval below the margin


def test_a_true_null_can_be_contradicted_with_ten_seeds():
    assert verdicts(0.0, BETTER, seeds=10, trials=100)["contradicted"] >= 10  # a rule that cannot say no is no test


def test_two_seed_sets_never_give_opposite_verdicts():
    for effect in (0.0, 0.005, 0.01, 0.02):
        first, second = verdicts(effect, BETTER, trials=60), verdicts(effect, BETTER, trials=60, start=1000)
        opposite = first["holds"] * second["contradicted"] + first["contradicted"] * second["holds"]
        assert opposite <= 0.01 * 60 * 60, (effect, first, second)  # of every pair of runs, at most 1% disagree


def test_equivalence_holds_for_equal_arms_and_not_beyond_its_margin():
    rule = Rule("equivalent", 0.03)
    assert verdicts(0.0, rule, seeds=10, trials=100)["holds"] >= 55
    beyond = verdicts(0.03, rule, seeds=10, trials=100)
    assert beyond["holds"] <= 5  # at the margin: about 2.5%
    assert verdicts(0.08, rule, trials=50)["contradicted"] >= 40


def test_not_worse_refuses_an_arm_worse_by_the_margin():
    rule = Rule("not worse", 0.02)
    assert verdicts(-0.02, rule, trials=100)["holds"] <= 5
    assert verdicts(0.0, rule, seeds=10, trials=100)["holds"] >= 35


def test_one_seed_judges_nothing_and_rules_check_their_arguments():
    assert BETTER.judge(0.02, 0.05, seeds=1) == "inconclusive"
    assert BETTER.judge(0.02, 0.05) == "holds" and BETTER.judge(-0.03, 0.005) == "contradicted"
    assert BETTER.judge(-0.01, 0.02) == "inconclusive"
    with pytest.raises(ValueError, match="test"):
        Rule("bigger", 0.01)
    with pytest.raises(ValueError, match="margin"):
        Rule("better", -0.01)
    assert combined(["holds", "holds"]) == "holds" and combined(["holds", "contradicted"]) == "contradicted"
    assert combined(["holds", "inconclusive"]) == "inconclusive"
    assert Outcome(True, "").verdict == "holds" and Outcome(False, "").verdict == "contradicted"
    with pytest.raises(ValueError, match="verdict"):
        Outcome("maybe", "")


def test_paired_reports_per_seed_values_blocks_and_the_pooled_effect():
    a, b = simulated(0.08, 4, torch.Generator().manual_seed(3))
    difference = judged(paired(list(a), list(b), counts, accuracy_of, blocks=torch.arange(FRAMES) // BLOCK), BETTER)
    pooled = float(accuracy_of(a.sum((0, 1)).double()) - accuracy_of(b.sum((0, 1)).double()))
    own = [float(accuracy_of(a[s].sum(0).double()) - accuracy_of(b[s].sum(0).double())) for s in range(4)]
    assert difference["effect"] == pytest.approx(pooled) and difference["per_seed"] == pytest.approx(own)
    assert (difference["seeds"], difference["frames"], difference["blocks"]) == (4, FRAMES, FRAMES // BLOCK)
    assert difference["verdict"] == "holds" and difference["rule"] == {"test": "better", "margin": 0.01}
    with pytest.raises(ValueError, match="same seeds"):
        paired(list(a), list(b)[:3], counts, accuracy_of)


def test_paired_fingerprints_the_very_counts_it_scored():
    """The report keeps a digest of the per-frame counts: a rerun that scored other counts, even one pixel of one
    frame, or the arms the other way round, is told apart; the same counts give the same digest."""
    import hashlib

    a, b = simulated(0.05, 3, torch.Generator().manual_seed(4))
    digest = paired(list(a), list(b), counts, accuracy_of)["counts_sha256"]
    whole = hashlib.sha256(torch.cat([a, b]).double().contiguous().numpy().tobytes()).hexdigest()
    assert digest == whole == paired(list(a.clone()), list(b.clone()), counts, accuracy_of)["counts_sha256"]
    changed = a.clone()
    changed[2, 7, 0] += 1
    assert paired(list(changed), list(b), counts, accuracy_of)["counts_sha256"] != digest
    assert paired(list(b), list(a), counts, accuracy_of)["counts_sha256"] != digest


def test_student_quantiles_match_the_tables():
    for degrees, table in ((1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (30, 2.042)):
        assert student_quantile(0.975, degrees) == pytest.approx(table, abs=1e-3)


def test_blocks_follow_sequences_and_slices():
    names = [f"0001TP_{i:06d}.png" for i in range(12)] + [f"Seq05VD_f{i:05d}.png" for i in range(3)]
    assert sequence_blocks(names).tolist() == [0] * 10 + [1, 1] + [2, 2, 2]
    assert slice_blocks(48, 16).tolist() == [0] * 16 + [1] * 16 + [2] * 16
    with pytest.raises(ValueError, match="slices"):
        slice_blocks(50, 16)
    with pytest.raises(ValueError, match="one block per frame"):
        two_level_bootstrap(torch.ones(2, 6, 2), torch.ones(2, 6, 2), accuracy_of, blocks=torch.arange(5))
