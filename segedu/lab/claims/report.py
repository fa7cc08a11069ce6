"""Running the claims and reporting them.

`run_claims` runs each claim and keeps its verdict, numbers, CPU seconds and provenance (the commit, whether the
tree was clean, the package versions, the commit that fixed its verdict rule, the hashes of networks it loaded);
`write_report` writes claims.json (every number) and claims.md (a table: kind of evidence, verdict, effect with its
two-level interval and per-seed values, the published figure beside ours), and for the committed report its Korean
page, claims.ko.md (`korean`). The headline counts each kind apart:
exact identities and counts, faithful experiments, proxies, and claims not testable offline. The committed report
(`segedu/lab/results/claims.md`, `claims.json`) records the machine, the commands and each claim's seconds; the
notebooks print its numbers (`show`, `committed_report`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Sequence

import torch

from ..provenance import provenance
from ...leftovers import write_text_atomically
from ...runtime import cpu_has_native_bf16, cpu_name
from . import preregistration, registry
from .framework import Claim, Outcome
from .lab import Lab
from .published import KIND, PUBLISHED
from .registry import CLAIMS

__all__ = ["REPORT", "KINDS", "run_claims", "machine", "write_report", "committed_report", "show", "verdict_of"]

KINDS = {  # the kinds of evidence, in the headline's order, and how the headline names them
    "identity": "exact identities and counts", "faithful": "faithful experiments",
    "proxy": "proxies (they test something weaker than the lecture says)", "not testable offline": "not testable "
    "offline (the published evidence is quoted)"}
SHORT_KINDS = {"identity": "exact", "faithful": "faithful experiment", "proxy": "proxy experiment",
               "not testable offline": "not testable offline"}

REPORT = Path(__file__).resolve().parents[1] / "results"  # segedu/lab/results: the committed report


def _say(line: str) -> None:
    print(line, flush=True)  # a run of an hour, its output in a log file: each line as it happens


def committed_time(name: str) -> str | None:
    """How long claim `name` took in the committed report and on what machine ("51 min on AMD EPYC ..."), for the
    line that starts its run; None when the report has no run of it."""
    path = REPORT / "claims.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    record = next((r for r in report.get("claims", []) if r["name"] == name), None)
    if record is None or not record.get("seconds"):
        return None
    runs = [run for run in report.get("runs", []) if name in run.get("claims", [])]
    where = (runs[-1] if runs else report).get("machine")
    minutes = record["seconds"] / 60
    took = f"{minutes:.0f} min" if minutes >= 1 else f"{record['seconds']:.0f} s"
    return took + (f" on {where}" if where else "")


def run_claims(claims: Sequence[Claim] = CLAIMS, *, lab: Lab | None = None, log=_say) -> list[dict]:
    """Run each claim; a claim whose experiment raises is reported as not holding, with the error. `log` gets a line
    as each claim starts (with how long the committed report's run of it took) and one with its verdict."""
    lab = lab or Lab()
    origin = provenance(preregistration.__file__)
    results = []
    for claim in claims:
        took = committed_time(claim.name)
        log(f"{claim.name}: running" + (f" (the committed report's run took {took})" if took else ""))
        started, cpu = time.perf_counter(), time.process_time()
        loaded_before = dict(lab.loaded)
        try:
            outcome = claim.experiment(lab)
        except Exception as error:  # noqa: BLE001: one broken experiment must not hide the others' results
            outcome = Outcome("inconclusive", f"the experiment failed: {type(error).__name__}: {error}")
        rule = preregistration.RULES.get(claim.name)
        record = {"name": claim.name, "verdict": outcome.verdict, "holds": outcome.holds,
                  "kind": KIND.get(claim.name, "faithful"), "statement": claim.statement,
                  "notebook": claim.notebook, "section": claim.section, "quantity": claim.quantity,
                  "assertion": claim.assertion, "rule": rule.words() if rule else "exact",
                  "published": PUBLISHED.get(claim.name, ""), "summary": outcome.summary, "effect": outcome.effect,
                  "interval": list(outcome.interval) if outcome.interval else None, "unit": outcome.unit,
                  "seeds": list(outcome.seeds), "numbers": outcome.numbers,
                  "seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
                  "provenance": dict(origin, loaded={path: digest for path, digest in lab.loaded.items()
                                                      if path not in loaded_before})}
        results.append(record)
        log(f"{outcome.verdict.upper() if outcome.verdict != 'holds' else 'holds'}  {claim.name}: {outcome.summary} "
            f"({record['seconds']} s)")
    return results


def kind_of(record: dict) -> str:
    """A report line's kind of evidence: as recorded when it was measured, else as `published.KIND` sorts it."""
    return record.get("kind") or KIND.get(record["name"], "faithful")


def verdict_of(record: dict) -> str:
    """A report line's verdict; a line measured before the three-outcome rule was introduced has none: "old rule".
    A claim that cannot be tested offline as the lecture means it has no verdict, whatever its cost half showed."""
    if kind_of(record) == "not testable offline":
        return "not testable offline"
    if "verdict" in record:
        return record["verdict"]
    if not record.get("seeds"):  # an exact identity or count: no rule to change
        return "holds" if record.get("holds") else "contradicted"
    return "holds (old rule)" if record.get("holds") else "did not hold (old rule)"


def _headline(results: list[dict]) -> str:
    """'Exact identities and counts: 14 of 14 hold. Faithful experiments: 3 hold, 1 contradicted, ...'."""
    parts = []
    for kind in KINDS:
        lines = [r for r in results if kind_of(r) == kind]
        if not lines:
            continue
        tally = {}
        for r in lines:
            tally[verdict_of(r)] = tally.get(verdict_of(r), 0) + 1
        order = ["holds", "contradicted", "inconclusive", "holds (old rule)", "did not hold (old rule)",
                 "not testable offline"]
        counted = ", ".join(f"{tally[v]} {v}" for v in order if v in tally)
        parts.append(f"{KINDS[kind]}: {len(lines)} ({counted})")
    return "; ".join(parts).capitalize() + "."


def machine() -> str:
    """'AMD EPYC (AVX512, native bf16), 2 cores, no GPU, torch 2.14.1': what the report's seconds were measured
    on. The vector unit PyTorch uses and whether bf16 is native change a CPU's training time by 1.6x here."""
    features = torch.backends.cpu.get_cpu_capability() + (", native bf16" if cpu_has_native_bf16() else "")
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu_name()} ({features}), {os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def write_report(results: list[dict], folder: Path, *, command: str, seconds: float,
                 merge: bool = False) -> tuple[Path, Path]:
    """claims.json (every number) and claims.md (a table) in `folder`, each written whole or not at all.

    With `merge`, the claims of the report already in `folder` that did not run now are kept (in the registry's
    order), and the report lists every command that measured part of it; with no `results` too, the report is
    rendered again from its claims.json."""
    folder.mkdir(parents=True, exist_ok=True)
    measured_on = machine()
    runs = [{"command": command, "machine": measured_on, "seconds": round(seconds, 1),
             "claims": [r["name"] for r in results]}]
    existing = folder / "claims.json"
    if merge and existing.exists():
        try:
            before = json.loads(existing.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot merge into {existing}: {error}; move it away or run without --merge") from error
        ran = {r["name"] for r in results}
        kept = {r["name"]: r for r in before.get("claims", []) if r["name"] not in ran}
        fresh = {r["name"]: r for r in results}
        known = [c.name for c in registry.CLAIMS]
        order = known + sorted((set(kept) | set(fresh)) - set(known))
        results = [fresh.get(name) or kept[name] for name in order if name in fresh or name in kept]
        earlier = before.get("runs") or [{"command": before.get("command"), "machine": before.get("machine"),
                                          "seconds": before.get("seconds"), "claims": sorted(kept)}]
        runs = [dict(run, claims=[name for name in run["claims"] if name not in ran])
                for run in earlier if set(run["claims"]) - ran] + runs
        runs = [run for run in runs if run["claims"]]  # no results: the report is rendered again, as it stands
        if not ran:  # nothing measured here: the machine stays the one the report names
            measured_on = before.get("machine") or measured_on
        seconds = sum(run["seconds"] or 0 for run in runs)
    held = sum(verdict_of(r) == "holds" for r in results)
    pending = [{"name": name, "statement": statement, "notebook": notebook, "why": why}
               for name, (statement, notebook, why) in registry.PENDING.items()]
    machines = {run.get("machine") for run in runs}
    commands = "; ".join(f"`{run['command']}` ({run['seconds'] / 60:.1f} min"
                         + (f", {run.get('machine')})" if len(machines) > 1 else ")") for run in runs)
    report = {"command": command if len(runs) == 1 else "; ".join(run["command"] for run in runs),
              "machine": measured_on, "seconds": round(seconds, 1), "held": held, "ran": len(results),
              "headline": _headline(results), "claims": results, "pending": pending, "runs": runs}
    lines = ["# The lecture's claims, measured", "", report["headline"], "",
             "A trained claim's verdict is holds, contradicted or inconclusive under the rule committed before its "
             "run (`segedu/lab/claims/preregistration.py`); its interval is a two-level bootstrap over training runs "
             "(seeds) and blocks of test frames." + (" Lines marked *old rule* were measured with three seeds and a "
                                                      "frames-only interval and await a re-run." if any(
                 "old rule" in verdict_of(r) for r in results) else ""), "",
             f"Command{'s' if len(runs) > 1 else ''}: {commands}"
             + (f"; machine: {report['machine']}; " if len(machines) == 1 else "; ") +
             f"{seconds / 60:.1f} min in all. Work shared by several claims (feature caches, trained heads) is "
             f"counted in the seconds of the first claim that needs it.", "",
             "| claim | kind | the lecture says | published | measured | rule | verdict | rule committed | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        origin = r.get("provenance") or {}
        committed = (origin.get("rules_commit") or "")[:10]
        verdict = verdict_of(r)
        rule = r.get("rule") or ("exact" if not r.get("seeds") else "none" if verdict == "not testable offline"
                                 else "old rule")
        lines.append(f"| `{r['name']}` | {kind_of(r)} | {r['statement']} | "
                     f"{r.get('published') or PUBLISHED.get(r['name'], '')} | {r['summary']} | {rule} | "
                     f"{verdict if verdict == 'holds' else f'**{verdict}**'} | {committed} | {r['seconds']:g} |")
    lines += _notes(results, folder)
    lines += ["", "## Not measured yet", "", "| claim | notebook | the lecture says | why |", "|---|---|---|---|"]
    lines += [f"| `{p['name']}` | {p['notebook']} | {p['statement']} | {p['why']} |" for p in pending]
    paths = folder / "claims.json", folder / "claims.md"
    for path, text in zip(paths, (json.dumps(report, indent=1) + "\n", "\n".join(lines) + "\n")):
        write_text_atomically(path, text)
    if folder.resolve() == REPORT.resolve():  # the committed report: its Korean page too
        from .korean import write_korean

        write_korean(folder, report)
    return paths


def _notes(results: list[dict], folder: Path) -> list[str]:
    """The notes on the claims (`registry.NOTES`), which are written for the committed report's runs; a report
    elsewhere (a replication with other seeds) gets, instead, each claim's verdict beside the committed one."""
    committed = REPORT / "claims.json"
    if folder.resolve() == REPORT.resolve() or not committed.exists():
        noted = [r["name"] for r in results if r["name"] in registry.NOTES]
        return ["", "## Notes", ""] + [f"- `{name}`: {registry.NOTES[name]}" for name in noted] if noted else []
    first = {r["name"]: r for r in json.loads(committed.read_text())["claims"]}
    lines = ["", "## Against the committed report", "",
             f"The notes on each claim are written for the committed report's runs ([its notes]"
             f"({os.path.relpath(REPORT / 'claims.md', folder)}#notes)); here each verdict stands beside the "
             f"committed one. Two verdicts agree, or one of them is inconclusive (the effect is too small for one of "
             f"the two seed sets to decide).", "",
             "| claim | committed seeds | committed verdict | seeds here | verdict here | |", "|---|---|---|---|---|---|"]
    for r in results:
        before = first.get(r["name"])
        if before is None or not r.get("seeds"):
            continue
        verdicts = verdict_of(before), verdict_of(r)
        agreement = ("same verdict" if verdicts[0] == verdicts[1] else
                     "one inconclusive" if "inconclusive" in verdicts else "**the verdicts differ**")
        seeds = [", ".join(str(seed) for seed in record.get("seeds", [])) for record in (before, r)]
        lines.append(f"| `{r['name']}` | {seeds[0]} | {verdicts[0]} | {seeds[1]} | {verdicts[1]} | {agreement} |")
    return lines


def committed_report() -> dict:
    """The committed report (`segedu/lab/results/claims.json`): {name: record}, for the notebooks to print."""
    path = REPORT / "claims.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `python -m segedu claims --out {REPORT}` to measure it")
    return {record["name"]: record for record in json.loads(path.read_text())["claims"]}


def show(name: str) -> None:
    """Print one claim of the committed report for a notebook: the verdict and kind of evidence, the lecture's words,
    what was measured, the published figure and the note. Commands, machines and commits stay in the report."""
    path = REPORT / "claims.json"
    report = json.loads(path.read_text()) if path.exists() else {"claims": []}
    record = next((r for r in report["claims"] if r["name"] == name), None)
    if record is None and name in registry.PENDING:
        statement, _, why = registry.PENDING[name]
        print(f"[not measured yet] {statement}\n    why: {why}")
        return
    if record is None:
        known = {c.name for c in registry.CLAIMS}
        why = "is not a claim" if name not in known else "has not been measured yet (not in the committed report)"
        print(f"{name} {why}: `python -m segedu claims --only {name}` measures it")
        return
    kind = kind_of(record)
    verdict = verdict_of(record)
    print(f"[{verdict}{'' if verdict == SHORT_KINDS[kind] else f'; {SHORT_KINDS[kind]}'}] "
          f"{record['statement']}\n    {'measured (cost only)' if verdict == 'not testable offline' else 'measured'}: "
          f"{record['summary']}")
    published = record.get("published") or PUBLISHED.get(name)
    if published:
        print(f"    published: {published}")
    if name in registry.NOTES:
        print(f"    note: {registry.NOTES[name]}")
