"""How a trained claim reaches its verdict, one way for every claim: holds, contradicted or inconclusive.

Each arm of a comparison is a list of per-frame counts, one per seed, on the same test frames (`segedu.lab.scoring.
Scores`, or plain (F, ...) count tensors). Segmentation scores are ratios of counts summed over the frames, so a
score is never a mean of per-frame scores: the seeds' counts are pooled by adding them (`pooled`: the seeds'
average model, scored once) and the pooled counts summed over the frames are scored. The effect of A over B is
score(A) - score(B) on the pooled counts. Its 95% interval is a two-level paired bootstrap
(`segedu.lab.statistics.two_level_bootstrap`): the seeds first, since the training run is the largest source of
noise, then blocks of correlated test frames (ten seconds of one CamVid drive, the tiles of one ISBI slice); beside
it, each seed's own difference.

A `Rule` turns the interval into the verdict. It is declared for each claim before any run
(`segedu.lab.claims.preregistration`), with the margin the lecture's words imply:

    "better" (A beats B), margin m:    holds if the interval lies above 0; contradicted if it lies below m
                                       (an effect of the size the lecture means is ruled out); else inconclusive
    "equivalent" ("slightly", "equally good"), margin m:
                                       holds if the interval lies inside (-m, m); contradicted if it lies wholly
                                       outside it; else inconclusive
    "not worse" (A is no worse than B by more than m):
                                       holds if the interval lies above -m; contradicted if it lies below -m

A claim of several comparisons holds when each holds and is contradicted when any is (`combined`). Fewer than two
seeds judge nothing: the run-to-run spread is unknown. `tests/lab/test_verdict.py` measures the rules' false
alarms and power on simulated runs with known effects.

A measure is a pair (pick, score): `pick` takes the counts out of an arm's Scores (`confusions`, `band`, or
`counts` for plain tensors), `score` maps summed counts (R, ...) to R scores (`miou_of`, `accuracy_of`);
`measured("miou" | "band", classes)` names the two measures of the frozen-head claims.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from ..statistics import Interval, miou_of, accuracy_of, two_level_bootstrap
from .framework import VERDICTS, Outcome

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["Rule", "VERDICTS", "confusions", "band", "counts", "counts_digest", "measured", "pooled", "pooled_score",
           "interval", "paired", "compare", "judged", "combined", "shown", "ranking"]


Pick = Callable[[object], torch.Tensor]
Score = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a claim's words commit to, declared before its run: `test` is "better", "equivalent" or "not worse";
    `margin` is in the score's unit (a fraction: 0.01 is one percentage point)."""

    test: str
    margin: float

    def __post_init__(self):
        if self.test not in ("better", "equivalent", "not worse"):
            raise ValueError(f"a rule's test is 'better', 'equivalent' or 'not worse', got {self.test!r}")
        if self.margin < 0:
            raise ValueError(f"a rule's margin is at least 0, got {self.margin}")

    def judge(self, low: float, high: float, seeds: int = 2) -> str:
        """The verdict of an interval [low, high] of A - B measured over `seeds` training runs."""
        if seeds < 2:
            return "inconclusive"
        m = self.margin
        if self.test == "better":
            return "holds" if low > 0 else "contradicted" if high < m else "inconclusive"
        if self.test == "equivalent":
            return "holds" if -m < low and high < m else "contradicted" if low > m or high < -m else "inconclusive"
        return "holds" if low > -m else "contradicted" if high < -m else "inconclusive"

    def words(self) -> str:
        """'better (contradicted below +1.0 points)': the rule as the report prints it, in percentage points."""
        m = 100 * self.margin
        return {"better": f"A - B above 0 (contradicted if below +{m:.1f})",
                "equivalent": f"A - B within +-{m:.1f}",
                "not worse": f"A - B above -{m:.1f}"}[self.test]


def confusions(scores) -> torch.Tensor:
    """(F, K, K) per-frame confusion matrices of a Scores."""
    return scores.confusions


def band(scores) -> torch.Tensor:
    """(F, 2) per-frame [correct, total] in the boundary band of a Scores."""
    return scores.band


def counts(values: torch.Tensor) -> torch.Tensor:
    """Counts that are already a tensor (F, ...): picked as they are."""
    return values


def measured(measure: str = "miou", classes: Sequence[int] | None = None) -> tuple[Pick, Score]:
    """(pick, score) of "miou" (mean IoU of the confusions, over `classes` when given) or "band" (pixel accuracy
    within the boundary band; `classes` does not apply)."""
    if measure == "band":
        return band, accuracy_of
    return confusions, (lambda matrices: miou_of(matrices, list(classes))) if classes else miou_of


def pooled(runs: Sequence):
    """Several seeds' per-frame counts added, in the seeds' order: the seeds' average model."""
    return sum(runs[1:], runs[0])


def pooled_score(runs: Sequence, pick: Pick = confusions, score: Score = miou_of) -> float:
    """The score of the seeds' pooled counts summed over every frame (default: mIoU)."""
    return float(score(pick(pooled(runs)).sum(0).double()[None]))


def interval(better: Sequence, worse: Sequence, pick: Pick = confusions, score: Score = miou_of, *,
             blocks: torch.Tensor | None = None) -> Interval:
    """score(better) - score(worse) on the pooled counts, with its 95% two-level bootstrap interval (seeds, then
    blocks of frames)."""
    return two_level_bootstrap(torch.stack([pick(run) for run in better]), torch.stack([pick(run) for run in worse]),
                               score, blocks=blocks, seed=0)


def paired(better: Sequence, worse: Sequence, pick: Pick = confusions, score: Score = miou_of, *,
           blocks: torch.Tensor | None = None) -> dict:
    """Two arms' per-seed counts on the same frames, better - worse, as the report keeps it: {"effect", "interval":
    [low, high], "per_seed", "seeds", "frames", "blocks", "counts_sha256"}. The counts themselves (seeds x frames x
    classes^2 per arm) are too many for the report; their digest (`counts_digest`) tells whether a rerun scored the
    very same counts."""
    if len(better) != len(worse) or not better:
        raise ValueError(f"paired needs the same seeds in both arms, got {len(better)} and {len(worse)} runs")
    per_seed = [float(score(pick(b).sum(0).double()[None]) - score(pick(w).sum(0).double()[None]))
                for b, w in zip(better, worse)]
    difference = interval(better, worse, pick, score, blocks=blocks)
    frames = pick(better[0]).shape[0]
    return {"effect": difference.effect, "interval": [difference.low, difference.high], "per_seed": per_seed,
            "seeds": len(per_seed), "frames": frames,
            "blocks": frames if blocks is None else int(torch.as_tensor(blocks).unique().numel()),
            "counts_sha256": counts_digest(better, worse, pick)}


def counts_digest(better: Sequence, worse: Sequence, pick: Pick = confusions) -> str:
    """The SHA-256 of every per-frame count a comparison scored: each seed's counts of `better`, then of `worse`,
    as float64 in C order."""
    digest = hashlib.sha256()
    for run in (*better, *worse):
        digest.update(pick(run).double().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def compare(lab: Lab, better: str, worse: str, measure: str = "miou", *,
            classes: Sequence[int] | None = None) -> dict:
    """`paired` for two frozen heads of `lab`, `better` minus `worse`, in `measure` ("miou" or "band")."""
    return paired(lab.runs(better), lab.runs(worse), *measured(measure, classes), blocks=lab.test_blocks())


def judged(difference: dict, rule: Rule) -> dict:
    """A `paired` difference with its verdict under `rule` added ("verdict", "rule")."""
    low, high = difference["interval"]
    return dict(difference, verdict=rule.judge(low, high, difference["seeds"]),
                rule=dataclasses.asdict(rule))


def combined(verdicts: Sequence[str]) -> str:
    """The verdict of a claim made of several comparisons: contradicted if any is, holds if all do."""
    return "contradicted" if "contradicted" in verdicts else "holds" if all(
        v == "holds" for v in verdicts) else "inconclusive"


def shown(name: str, difference: dict) -> str:
    """'name +1.2 [+0.3, +2.0] (per seed +1.1/+0.9/+1.6)': a `paired` difference in percentage points."""
    return (f"{name} {100 * difference['effect']:+.1f} [{100 * difference['interval'][0]:+.1f}, "
            f"{100 * difference['interval'][1]:+.1f}] (per seed "
            + "/".join(f"{100 * d:+.1f}" for d in difference["per_seed"]) + ")")


def ranking(lab: Lab, kinds: tuple[str, ...], measure: str, what: str, rule: Rule, *,
            classes: Sequence[int] | None = None) -> Outcome:
    """kinds[0] > kinds[1] > ...: each neighbouring difference judged by `rule`, the claim by `combined`."""
    pick, score = measured(measure, classes)
    values = {kind: pooled_score(lab.runs(kind), pick, score) for kind in kinds}
    steps = {f"{better} - {worse}": judged(compare(lab, better, worse, measure, classes=classes), rule)
             for better, worse in zip(kinds, kinds[1:])}
    first = steps[f"{kinds[0]} - {kinds[1]}"]
    values_shown = ", ".join(f"{kind} {100 * value:.1f}" for kind, value in values.items())
    differences = "; ".join(shown(name, s) for name, s in steps.items())
    return Outcome(combined([s["verdict"] for s in steps.values()]),
                   f"{what}: {values_shown} (%, {len(lab.config.seeds)} seeds pooled); {differences} points, 95% "
                   f"two-level bootstrap (seeds, then {first['blocks']} blocks of {first['frames']} test frames)",
                   first["effect"], tuple(first["interval"]), "points", {"values": values, "steps": steps},
                   lab.config.seeds)
