"""Notebook 04 (skip connections): hypercolumns against each level alone, and U-Net's concatenated skips against
FCN's summed scores, as heads on the frozen encoder."""

from __future__ import annotations

from .framework import Outcome, Registry
from .lab import Lab
from .verdict import compare, measured, pooled_score, positive, ranking, step

claims = Registry()


@claims.claim("hypercolumn_levels", "hypercolumns: a pixel's features from every level together classify it better "
              "than any one level; fusing levels trades neither boundaries nor semantics away", "04_skip_connections",
              "Hypercolumns; the skip architecture's trade-off", "test mIoU and boundary-band accuracy, linear "
              "classifier on the concatenated levels 3-5 against each level alone, 3 seeds pooled",
              "all six differences (2 measures x 3 levels): 95% interval above 0 and positive for every seed")
def hypercolumn_levels(lab: Lab) -> Outcome:
    """Hypercolumns (Hariharan et al. 2015): every level's features at a pixel, concatenated, under one linear
    classifier, beat each level alone, in mIoU (semantics) and in the boundary band (detail)."""
    singles = ("linear3", "linear4", "linear5")
    values = {kind: {measure: pooled_score(lab.runs(kind), *measured(measure)) for measure in ("miou", "band")}
              for kind in ("hypercolumn",) + singles}
    steps = {f"{measure}: hypercolumn - {single}": step(*compare(lab, "hypercolumn", single, measure))
             for measure in ("miou", "band") for single in singles}
    holds = all(positive(s) for s in steps.values())
    best = {measure: max(singles, key=lambda kind: values[kind][measure]) for measure in ("miou", "band")}
    closest = min(steps, key=lambda name: steps[name]["effect"])
    shown = "; ".join(f"{kind} mIoU {100 * v['miou']:.1f}, band {100 * v['band']:.1f}" for kind, v in values.items())
    return Outcome(holds, f"{shown} (%, {len(lab.config.seeds)} seeds pooled); best single level: {best['miou']} in "
                          f"mIoU, {best['band']} in the band; smallest lead, {closest}: "
                          f"{100 * steps[closest]['effect']:+.1f} [{100 * steps[closest]['interval'][0]:+.1f}, "
                          f"{100 * steps[closest]['interval'][1]:+.1f}] points, per seed "
                          + "/".join(f"{100 * d:+.1f}" for d in steps[closest]["per_seed"]),
                   steps[closest]["effect"], tuple(steps[closest]["interval"]), "points",
                   {"values": values, "steps": steps, "best_single": best}, lab.config.seeds)


@claims.claim("skip_concat_vs_sum", "U-Net concatenates its skips rather than summing scores as FCN does, keeping "
              "more of the encoder's detail", "04_skip_connections", "Sum or concatenate",
              "test mIoU, same levels, 3 seeds", "concat - sum: 95% interval above 0 and positive for every seed")
def skip_concat_vs_sum(lab: Lab) -> Outcome:
    return ranking(lab, ("concat8s", "fcn8s"), "miou", "test mIoU, the same three levels concatenated (U-Net) or "
                                                       "their scores summed (FCN)")
