"""Running the claims and reporting them (`segedu.lab.claims.report`, `cli`): the report's files and exit status,
merging, the committed report the notebooks print, and `show`."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from segedu.lab import claims
from segedu.lab.claims import registry
from segedu.lab.claims import report as reporting

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _arguments(tmp_path, **changes):
    values = dict(only=None, seed=None, fast=True, out=tmp_path, list=False, models=None, merge=False)
    values.update(changes)
    return argparse.Namespace(**values)


def test_the_runner_writes_the_report_and_fails_when_a_claim_does_not_hold(tmp_path, monkeypatch):
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    report = json.loads((tmp_path / "claims.json").read_text())
    assert [r["name"] for r in report["claims"]] == ["separable_cost", "dilation_field"]
    assert report["held"] == 2 and report["machine"] and report["command"]
    assert all(r["holds"] and r["cpu_seconds"] >= 0 for r in report["claims"])
    assert "| `separable_cost` |" in (tmp_path / "claims.md").read_text()
    assert {p["name"] for p in report["pending"]} == set(claims.PENDING)  # what is not measured is listed as such
    assert not set(claims.PENDING) & {c.name for c in claims.CLAIMS}

    def broken(lab):
        raise RuntimeError("no data")

    failing = claims.Claim("broken", "a claim", "00", "-", "-", "-", broken, fast=True)
    wrong = claims.Claim("wrong", "a claim", "00", "-", "-", "-", lambda lab: claims.Outcome(False, "2 < 3"), fast=True)
    monkeypatch.setattr(registry, "CLAIMS", registry.CLAIMS + (failing, wrong))  # where `main` reads it
    assert claims.main(_arguments(tmp_path, only=["broken", "wrong", "separable_cost"])) == 1
    records = {r["name"]: r for r in json.loads((tmp_path / "claims.json").read_text())["claims"]}
    assert not records["broken"]["holds"] and "RuntimeError: no data" in records["broken"]["summary"]
    assert not records["wrong"]["holds"] and records["separable_cost"]["holds"]
    assert claims.main(_arguments(tmp_path, only=["no_such_claim"])) == 2


def test_merging_replaces_only_the_claims_that_ran_and_keeps_every_command(tmp_path):
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    first = json.loads((tmp_path / "claims.json").read_text())
    kept = next(r for r in first["claims"] if r["name"] == "dilation_field")
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "segnet_parameters"], merge=True)) == 0
    merged = json.loads((tmp_path / "claims.json").read_text())
    names = [r["name"] for r in merged["claims"]]
    assert sorted(names) == ["dilation_field", "segnet_parameters", "separable_cost"]
    assert names == [c.name for c in claims.CLAIMS if c.name in names]  # the registry's order
    assert next(r for r in merged["claims"] if r["name"] == "dilation_field") == kept  # untouched
    assert len(merged["runs"]) == 2 and merged["held"] == 3
    assert merged["seconds"] == pytest.approx(sum(run["seconds"] for run in merged["runs"]))
    assert "Commands:" in (tmp_path / "claims.md").read_text()
    # a run that replaces every claim of an earlier run drops that run from the provenance
    assert claims.main(_arguments(tmp_path, only=["dilation_field", "separable_cost", "segnet_parameters"],
                                  merge=True)) == 0
    assert len(json.loads((tmp_path / "claims.json").read_text())["runs"]) == 1
    # without --merge the report is the run alone
    assert claims.main(_arguments(tmp_path, only=["separable_cost"])) == 0
    assert [r["name"] for r in json.loads((tmp_path / "claims.json").read_text())["claims"]] == ["separable_cost"]
    (tmp_path / "claims.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot merge into .*claims.json"):
        claims.main(_arguments(tmp_path, only=["separable_cost"], merge=True))


def test_the_committed_report_covers_the_registry_and_what_the_notebooks_print():
    report = claims.committed_report()
    assert set(report) == {c.name for c in claims.CLAIMS}  # every registered claim measured, nothing stale
    assert len(report) >= 22
    for record in report.values():
        assert record["summary"] and not record["summary"].startswith("the experiment failed"), record["name"]
    cited = {name for path in NOTEBOOKS.glob("*.ipynb")  # claims.show(...) prints a claim, seeds.reported(...) cites it
             for name in re.findall(r'(?:claims\.show|reported)\(\\"(\w+)\\"', path.read_text())}
    assert cited, "no notebook cites a claim of the report"
    unknown = cited - set(report) - set(claims.PENDING)  # a pending claim prints why it is not measured yet
    assert not unknown, f"notebooks cite claims the report lacks: {sorted(unknown)}"
    assert set(claims.PENDING) == {c.name for c in claims.UNMEASURED}  # every pending claim can be run by name


def test_show_prints_the_verdict_kind_and_note_and_the_report_keeps_the_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(reporting, "REPORT", tmp_path)  # where `show` reads it
    monkeypatch.setitem(claims.NOTES, "dilation_field", "a caveat written after reading the result")
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    assert claims.main(_arguments(tmp_path, only=["dilation_field"], merge=True)) == 0
    claims.show("dilation_field")
    shown = capsys.readouterr().out
    assert "[holds; exact]" in shown and "note: a caveat written after reading the result" in shown
    assert "published: Chen et al." in shown and "python -m segedu" not in shown  # no lab log in a notebook
    report = json.loads((tmp_path / "claims.json").read_text())
    first, second = report["runs"]
    record = next(r for r in report["claims"] if r["name"] == "dilation_field")
    assert record["kind"] == "identity" and record["rule"] == "exact" and record["verdict"] == "holds"
    assert set(record["provenance"]) >= {"commit", "clean", "versions", "rules_commit", "loaded"}
    assert first["claims"] == ["separable_cost"] and second["claims"] == ["dilation_field"]  # replaced: moved
    assert second["command"] == "run_claims()"  # called from Python, not from the command line
    assert "## Notes" in (tmp_path / "claims.md").read_text()
    claims.show("separable_cost")
    assert "note:" not in capsys.readouterr().out


def test_verdicts_of_old_lines_and_of_claims_not_testable_offline():
    from segedu.lab.claims.report import verdict_of

    assert verdict_of({"name": "context_pyramid", "holds": True, "seeds": [0, 1, 2]}) == "holds (old rule)"
    assert verdict_of({"name": "dilation_field", "holds": True, "seeds": []}) == "holds"  # exact: no rule
    assert verdict_of({"name": "context_pyramid", "verdict": "inconclusive", "seeds": [0]}) == "inconclusive"
    # no ImageNet ResNets offline: whatever the cost half showed, no verdict
    assert verdict_of({"name": "truncated_resnets", "verdict": "holds", "seeds": [0]}) == "not testable offline"


def test_rendering_the_report_again_keeps_the_machine_it_names(tmp_path, monkeypatch):
    records = reporting.committed_report()
    first, second = records["separable_cost"], records["dilation_field"]
    monkeypatch.setattr(reporting, "machine", lambda: "machine A")
    reporting.write_report([first], tmp_path, command="a", seconds=1.0)
    monkeypatch.setattr(reporting, "machine", lambda: "machine B")
    reporting.write_report([], tmp_path, command="again", seconds=0.0, merge=True)  # rendered again: nothing ran
    assert json.loads((tmp_path / "claims.json").read_text())["machine"] == "machine A"
    reporting.write_report([second], tmp_path, command="b", seconds=1.0, merge=True)  # a claim measured here
    report = json.loads((tmp_path / "claims.json").read_text())
    assert report["machine"] == "machine B" and [run["machine"] for run in report["runs"]] == ["machine A", "machine B"]


def test_each_claim_says_when_it_starts_and_how_long_its_committed_run_took():
    """A claims run of an hour writes to a log: each claim's first line comes as it starts, with the time the
    committed report's run of it took and that run's machine; a claim the report lacks just says it runs."""
    committed = json.loads((reporting.REPORT / "claims.json").read_text())
    record = next(r for r in committed["claims"] if r["seconds"] > 600)  # a trained claim, minutes long
    machine = [run for run in committed["runs"] if record["name"] in run["claims"]][-1]["machine"]
    quick = lambda lab: claims.Outcome("holds", "1 = 1")  # noqa: E731
    lines: list[str] = []
    reporting.run_claims([claims.Claim(record["name"], "a claim", "00", "-", "-", "-", quick),
                          claims.Claim("not_in_the_report", "a claim", "00", "-", "-", "-", quick)], lab=claims.Lab(),
                         log=lines.append)
    minutes = round(record["seconds"] / 60)
    assert lines[0] == f"{record['name']}: running (the committed report's run took {minutes} min on {machine})"
    assert lines[1].startswith("holds  " + record["name"])
    assert lines[2] == "not_in_the_report: running"
