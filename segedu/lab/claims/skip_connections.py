"""Notebook 04 (skip connections): hypercolumns against each level alone, and U-Net's concatenated skips against
FCN's summed scores, as heads on the frozen encoder."""

from __future__ import annotations

from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import combined, compare, judged, measured, pooled_score, shown

claims = Registry()


@claims.claim("hypercolumn_levels", "hypercolumns: a pixel's features from every level together classify it better "
              "than any one level; fusing levels trades neither boundaries nor semantics away", "04_skip_connections",
              "Hypercolumns; the skip architecture's trade-off", "test mIoU and boundary-band accuracy, linear "
              "classifier on the concatenated levels 3-5 against each level alone, 10 seeds pooled",
              "all six differences (2 measures x 3 levels), two-level 95% intervals: all above 0 holds, any below +1 "
              "point contradicts")
def hypercolumn_levels(lab: Lab) -> Outcome:
    """Hypercolumn features (Hariharan et al. 2015): every level's features at a pixel, concatenated, under one
    whole-frame linear classifier (not the paper's box-wise grid of location-specific classifiers), beat each level
    alone, in mIoU (semantics) and in the boundary band (detail). Each difference is
    judged by `preregistration.RULES` on its two-level interval (seeds, then blocks of test frames); the claim by
    `combined`."""
    singles = ("linear3", "linear4", "linear5")
    values = {kind: {measure: pooled_score(lab.runs(kind), *measured(measure)) for measure in ("miou", "band")}
              for kind in ("hypercolumn",) + singles}
    rule = RULES["hypercolumn_levels"]
    steps = {f"{measure}: hypercolumn - {single}": judged(compare(lab, "hypercolumn", single, measure), rule)
             for measure in ("miou", "band") for single in singles}
    best = {measure: max(singles, key=lambda kind: values[kind][measure]) for measure in ("miou", "band")}
    closest = min(steps, key=lambda name: steps[name]["effect"])
    shown = "; ".join(f"{kind} mIoU {100 * v['miou']:.1f}, band {100 * v['band']:.1f}" for kind, v in values.items())
    return Outcome(combined([s["verdict"] for s in steps.values()]),
                   f"{shown} (%, {len(lab.config.seeds)} seeds pooled); best single level: {best['miou']} in "
                   f"mIoU, {best['band']} in the band; smallest lead, {closest}: "
                   f"{100 * steps[closest]['effect']:+.1f} [{100 * steps[closest]['interval'][0]:+.1f}, "
                   f"{100 * steps[closest]['interval'][1]:+.1f}] points, per seed "
                   + "/".join(f"{100 * d:+.1f}" for d in steps[closest]["per_seed"])
                   + f"; 95% two-level bootstrap (seeds, then {steps[closest]['blocks']} blocks of "
                     f"{steps[closest]['frames']} test frames)",
                   steps[closest]["effect"], tuple(steps[closest]["interval"]), "points",
                   {"values": values, "steps": steps, "best_single": best}, lab.config.seeds)


@claims.claim("skip_concat_vs_sum", "U-Net concatenates its skips rather than summing scores as FCN does, keeping "
              "more of the encoder's detail", "04_skip_connections", "Sum or concatenate",
              "test mIoU, levels 3-5 fused before a nonlinear decoder: concatenated (U-Net) or summed, with equal "
              "parameters; FCN-8s's summed scores as the third arm; 10 seeds",
              "concat - sum and concat - FCN-8s, two-level 95% intervals: both above 0 holds, either below +1 point "
              "contradicts",
              note="With equal parameters, concatenating the levels and summing them are level (+0.0, the runs split "
                   "4 to 6), and FCN-8s's summed scores lead concatenation by 1.7 points, in every run. FCN-8s is not "
                   "parameter-matched: its 3x3 layers read each level's full channels (274k parameters against "
                   "71k). On a frozen encoder's features how the skips are fused does not decide accuracy; U-Net's "
                   "argument is about an encoder and decoder trained together, which this test does not cover.")
def skip_concat_vs_sum(lab: Lab) -> Outcome:
    """U-Net (Ronneberger et al. 2015) concatenates the encoder's features with the decoder's and convolves them;
    FCN (Long et al. 2015) sums per-level class scores. A 1x1 score after a concatenation is itself a sum of
    per-level scores, so the comparison needs a nonlinear decoder after the fusion: `concat_fusion` and
    `sum_fusion` (`segedu.lab.frozen`) reduce levels 3-5 by a 1x1 ConvBNReLU, fuse them by concatenation or by a
    sum, then apply the same 3x3 ConvBNReLU and 1x1 score, with equal parameters; FCN-8s is the third arm. Holds
    when concatenation beats both the summed features (the fusion itself) and FCN's summed scores."""
    rule = RULES["skip_concat_vs_sum"]
    arms = ("concat_fusion", "sum_fusion", "fcn8s")
    values = {kind: {measure: pooled_score(lab.runs(kind), *measured(measure)) for measure in ("miou", "band")}
              for kind in arms}
    steps = {f"concat_fusion - {other}": judged(compare(lab, "concat_fusion", other), rule)
             for other in ("sum_fusion", "fcn8s")}
    decomposition = compare(lab, "sum_fusion", "fcn8s")  # features fused before a decoder vs summed scores
    first = steps["concat_fusion - sum_fusion"]
    return Outcome(combined([s["verdict"] for s in steps.values()]),
                   "test mIoU / boundary-band accuracy (%, " + f"{len(lab.config.seeds)} seeds pooled): "
                   + ", ".join(f"{kind} {100 * v['miou']:.1f} / {100 * v['band']:.1f}" for kind, v in values.items())
                   + "; " + "; ".join(shown(name, s) for name, s in steps.items())
                   + f" points; 95% two-level bootstrap (seeds, then {first['blocks']} blocks of {first['frames']} "
                     f"test frames)", first["effect"], tuple(first["interval"]), "points",
                   {"values": values, "steps": steps, "sum_fusion - fcn8s": decomposition}, lab.config.seeds)
