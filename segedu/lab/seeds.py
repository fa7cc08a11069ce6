"""The learner's own comparisons, seed by seed: each run's score, drawn as a dot beside the mean of the runs and
their range, and the verdict of the claims' pre-registered rule in one line.

    lab = Lab.for_learner(data, settings.name)           # three seeds on the cached features (segedu.lab.claims)
    plot_seeds(axis, {"FCN-32s": per_seed(lab, "fcn32s"), "FCN-8s": per_seed(lab, "fcn8s")}, "test mIoU (%)")
    print(said("FCN-8s - FCN-32s", judged(compare(lab, "fcn8s", "fcn32s"), RULES["fcn_skips_miou"])))
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["per_seed", "plot_seeds", "said", "reported"]


def per_seed(lab, kind: str, measure: str = "miou", classes: Sequence[int] | None = None) -> list[float]:
    """Head `kind`'s test score for each of `lab`'s seeds, in %: "miou" or "band" (accuracy near edges)."""
    from .claims.verdict import measured, pooled_score

    pick, score = measured(measure, classes)
    return [100 * pooled_score([run], pick, score) for run in lab.runs(kind)]


def plot_seeds(axis, values: dict[str, Sequence[float]], ylabel: str, *, title: str | None = None) -> None:
    """One column per arm: a dot per run, and the runs' mean with a bar from the lowest to the highest run."""
    for x, (label, runs) in enumerate(values.items()):
        runs = [float(value) for value in runs]
        mean = sum(runs) / len(runs)
        axis.errorbar(x, mean, yerr=[[mean - min(runs)], [max(runs) - mean]], fmt="o", color="tab:blue",
                      markersize=6, capsize=6)
        axis.plot([x + 0.12] * len(runs), runs, ".", color="black", markersize=5)
        axis.annotate(f"{mean:.1f}", (x, mean), xytext=(-10, 0), textcoords="offset points", ha="right",
                      va="center", fontsize=10)
    axis.set_xticks(range(len(values)), list(values))
    axis.set_xlim(-0.6, len(values) - 0.4)
    axis.set_ylabel(ylabel)
    axis.grid(axis="y", alpha=0.3)
    if title:
        axis.set_title(title, fontsize=11)


def said(name: str, step: dict) -> str:
    """A judged difference (`verdict.judged`) in one line: its size, its 95% interval over seeds and test frames,
    and the verdict with the rule's reason."""
    from .claims.verdict import Rule

    low, high = (100 * bound for bound in step["interval"])
    rule = Rule(**step["rule"])
    if rule.test == "better":
        least = f"+{100 * rule.margin:.0f}"
        because = {"holds": "the whole interval is above 0",
                   "contradicted": f"the whole interval is below {least}, the least gain that counts",
                   "inconclusive": "one run cannot be judged" if step.get("seeds", 2) < 2
                   else f"the interval covers all of 0 to {least}"}[step["verdict"]]
    else:
        because = f"the rule: {rule.words()}"
    return f"{name}: {100 * step['effect']:+.1f} points [{low:+.1f}, {high:+.1f}]: {step['verdict']} ({because})"


def reported(name: str, words: str) -> str:
    """One line from the committed claims report, for a comparison too long for a notebook: its size, interval and
    verdict over the report's seeds, scored on every test frame (CamVid's 233) or, for notebook 09's claims on ISBI
    2012, every held-out slice (the 5 the course keeps apart)."""
    from .claims import committed_report

    entry = committed_report()[name]
    low, high = (100 * bound for bound in entry["interval"])
    scored = "every held-out slice" if entry["notebook"].startswith("09") else "every test frame"
    return (f"{words}, in the claims report's longer run ({len(entry['seeds'])} seeds, {scored}): "
            f"{100 * entry['effect']:+.1f} points [{low:+.1f}, {high:+.1f}]: {entry['verdict']}")
