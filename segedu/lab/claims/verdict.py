"""How a trained claim reaches its verdict, one way for every claim.

Each arm of a comparison is a list of per-frame counts, one per seed, on the same test frames (`segedu.lab.frozen.
Scores`, or plain (F, ...) count tensors). Segmentation scores are ratios of counts summed over the frames, so a
score is never a mean of per-frame scores: the seeds' counts are pooled by adding them (`pooled`: the seeds'
average model, scored once) and the pooled counts summed over the frames are scored. The effect of A over B is
score(A) - score(B) on the pooled counts; its 95% interval is a paired bootstrap over frames
(`segedu.lab.statistics.paired_bootstrap`, resampling seed 0); and beside it each seed's own difference. A claim
that A beats B holds when the interval lies above 0 *and* every seed shows the same sign (`positive`).

A measure is a pair (pick, score): `pick` takes the counts out of an arm's Scores (`confusions`, `band`, or
`counts` for plain tensors), `score` maps summed counts (R, ...) to R scores (`miou_of`, `accuracy_of`);
`measured("miou" | "band", classes)` names the two measures of the frozen-head claims.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import torch

from ..statistics import Interval, accuracy_of, miou_of, paired_bootstrap
from .framework import Outcome

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["confusions", "band", "counts", "measured", "pooled", "pooled_score", "interval", "paired", "compare",
           "step", "positive", "shown", "ranking"]

Pick = Callable[[object], torch.Tensor]
Score = Callable[[torch.Tensor], torch.Tensor]


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


def interval(better: Sequence, worse: Sequence, pick: Pick = confusions, score: Score = miou_of) -> Interval:
    """score(better) - score(worse) on the pooled counts, with its 95% paired bootstrap interval over frames."""
    return paired_bootstrap(pick(pooled(better)), pick(pooled(worse)), score, seed=0)


def paired(better: Sequence, worse: Sequence, pick: Pick = confusions,
           score: Score = miou_of) -> tuple[Interval, list[float]]:
    """(pooled interval, per-seed differences) of two arms' per-seed counts on the same frames, better - worse."""
    per_seed = [float(score(pick(b).sum(0).double()[None]) - score(pick(w).sum(0).double()[None]))
                for b, w in zip(better, worse)]
    return interval(better, worse, pick, score), per_seed


def compare(lab: Lab, better: str, worse: str, measure: str = "miou", *,
            classes: Sequence[int] | None = None) -> tuple[Interval, list[float]]:
    """`paired` for two frozen heads of `lab`, `better` minus `worse`, in `measure` ("miou" or "band")."""
    return paired(lab.runs(better), lab.runs(worse), *measured(measure, classes))


def step(difference: Interval, per_seed: list[float]) -> dict:
    """A difference as the report keeps it: {"effect", "interval": [low, high], "per_seed"}."""
    return {"effect": difference.effect, "interval": [difference.low, difference.high], "per_seed": per_seed}


def positive(difference: dict) -> bool:
    """The verdict of a `step`: its interval above 0 and positive for every seed."""
    return difference["interval"][0] > 0 and min(difference["per_seed"]) > 0


def shown(name: str, difference: dict) -> str:
    """'name +1.2 [+0.3, +2.0] (per seed +1.1/+0.9/+1.6)': a `step` in percentage points."""
    return (f"{name} {100 * difference['effect']:+.1f} [{100 * difference['interval'][0]:+.1f}, "
            f"{100 * difference['interval'][1]:+.1f}] (per seed "
            + "/".join(f"{100 * d:+.1f}" for d in difference["per_seed"]) + ")")


def ranking(lab: Lab, kinds: tuple[str, ...], measure: str, what: str, *,
            classes: Sequence[int] | None = None) -> Outcome:
    """kinds[0] > kinds[1] > ...: each neighbouring difference's interval above 0 and positive for every seed."""
    pick, score = measured(measure, classes)
    values = {kind: pooled_score(lab.runs(kind), pick, score) for kind in kinds}
    steps = {f"{better} - {worse}": step(*compare(lab, better, worse, measure, classes=classes))
             for better, worse in zip(kinds, kinds[1:])}
    holds = all(positive(s) for s in steps.values())
    first = steps[f"{kinds[0]} - {kinds[1]}"]
    values_shown = ", ".join(f"{kind} {100 * value:.1f}" for kind, value in values.items())
    differences = "; ".join(f"{name}: {100 * s['effect']:+.1f} [{100 * s['interval'][0]:+.1f}, "
                            f"{100 * s['interval'][1]:+.1f}], per seed "
                            + "/".join(f"{100 * d:+.1f}" for d in s["per_seed"]) for name, s in steps.items())
    return Outcome(holds, f"{what}: {values_shown} (%, {len(lab.config.seeds)} seeds pooled); {differences} points, "
                          f"95% paired bootstrap over {len(lab.caches(kinds[0])['test'])} test frames",
                   first["effect"], tuple(first["interval"]), "points", {"values": values, "steps": steps},
                   lab.config.seeds)
