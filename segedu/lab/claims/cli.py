"""The `python -m segedu claims` command: its options (`add_arguments`, read by `segedu.__main__`) and `main`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ...language import said_later, tr
from . import registry
from .framework import VERDICTS
from .lab import Lab
from .report import run_claims, write_report

__all__ = ["HELP", "DESCRIPTION", "add_arguments", "main"]

HELP = said_later("run the lecture's claims as experiments and write a report")
DESCRIPTION = said_later("Each claim of the lecture as an experiment: its effect, 95% interval and "
                         "verdict; exits 1 when a claim that ran does not hold. Trained claims need "
                         "CamVid and take minutes; --fast runs the seconds-long ones.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m segedu claims`, read by `main`."""
    parser.add_argument("--only", nargs="+", metavar="NAME", help=tr("these claims only (see --list)"))
    parser.add_argument("--seed", type=int, action="append", metavar="S",
                        help=tr("train with seed S (repeat for several; default: seeds 0-9 for heads on cached "
                                "features, 0-4 for networks trained end to end)"))
    parser.add_argument("--fast", action="store_true", help=tr("only the claims that take seconds and need no data"))
    parser.add_argument("--list", action="store_true", help=tr("list the claims and exit"))
    parser.add_argument("--out", type=Path, default=Path("runs/claims"),
                        help=tr("folder for claims.md and claims.json (default runs/claims)"))
    parser.add_argument("--models", type=Path, metavar="DIR",
                        help=tr("keep the networks that claims train (heads on cached features, U-Nets, pix2pix's "
                                "painters) in DIR and reuse them when a later run asks for the same network, seed, "
                                "settings and data, so an interrupted run resumes (default: keep nothing)"))
    parser.add_argument("--merge", action="store_true",
                        help=tr("keep the other claims already in --out's report and replace only those that ran "
                                "(to re-measure one claim of the committed report: --only NAME --merge)"))


def main(arguments) -> int:
    """The `python -m segedu claims` command (options from `add_arguments`)."""
    claims, unmeasured = registry.CLAIMS, registry.UNMEASURED
    chosen_registry = claims + tuple(c for c in unmeasured if arguments.only and c.name in arguments.only)
    chosen = [c for c in chosen_registry
              if (not arguments.only or c.name in arguments.only) and (not arguments.fast or c.fast)]
    unknown = set(arguments.only or ()) - {c.name for c in claims + unmeasured}
    if unknown:
        print(tr("unknown claim(s) {unknown}; choose from: {known}", unknown=", ".join(sorted(unknown)),
                 known=", ".join(c.name for c in claims)), file=sys.stderr)
        return 2
    if arguments.list:
        for claim in chosen:
            print(f"{claim.name:32s} {claim.notebook:26s} {claim.statement}")
        for name, (statement, notebook, why) in registry.PENDING.items():
            print(f"{name:32s} {notebook:26s} {statement} [not measured yet: {why}]")
        return 0
    started = time.perf_counter()
    results = run_claims(chosen, lab=Lab(seeds=arguments.seed, models=arguments.models))
    command = "python -m segedu claims " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["claims"] else "run_claims()"
    json_path, markdown_path = write_report(results, arguments.out, command=command.strip(),
                                            seconds=time.perf_counter() - started,
                                            merge=arguments.merge)
    failed = [r["name"] for r in results if r["verdict"] != "holds"]
    tally = {v: sum(r["verdict"] == v for r in results) for v in VERDICTS}
    print(f"{len(results)} claims: {tally['holds']} hold, {tally['contradicted']} contradicted, "
          f"{tally['inconclusive']} inconclusive; report: {markdown_path}, {json_path}")
    if failed:
        print("not holding: " + ", ".join(f"{r['name']} ({r['verdict']})" for r in results if r["name"] in failed),
              file=sys.stderr)
    return 1 if failed else 0
