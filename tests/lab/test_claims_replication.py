"""The committed report against its replication: claims re-run with a second, disjoint set of seeds
(`segedu/lab/results/replication/`, `python -m segedu claims --only ... --seed 10 ... --seed 19`) reach the same
verdict unless either run is inconclusive. A two-level interval that ignored the training run would fail here."""

from __future__ import annotations

import json

from segedu.lab.claims.report import REPORT

REPLICATION = REPORT / "replication" / "claims.json"


def test_a_second_seed_set_reaches_the_same_verdict_unless_one_is_inconclusive():
    committed = {claim["name"]: claim for claim in json.loads((REPORT / "claims.json").read_text())["claims"]}
    replicated = json.loads(REPLICATION.read_text())["claims"]
    assert len(replicated) >= 5
    for again in replicated:
        first = committed[again["name"]]
        assert set(again["seeds"]).isdisjoint(first["seeds"]), f"{again['name']}: the seed sets overlap"
        assert len(again["seeds"]) == len(first["seeds"]), f"{again['name']}: not as many seeds as the committed run"
        verdicts = (first["verdict"], again["verdict"])
        if "inconclusive" not in verdicts:
            assert verdicts[0] == verdicts[1], f"{again['name']}: {verdicts[0]} with seeds {first['seeds']}, " \
                                               f"{verdicts[1]} with seeds {again['seeds']}"


def test_every_empirical_verdict_that_could_reverse_is_replicated():
    """A verdict stands only once a second seed set has reached it again: every claim measured by experiment (kind
    faithful or proxy) whose committed verdict is holds or contradicted has a line in the replication. Identities
    are exact, claims not testable offline have no verdict, and an inconclusive one cannot be reversed."""
    from segedu.lab.claims.report import kind_of, verdict_of

    committed = json.loads((REPORT / "claims.json").read_text())["claims"]
    replicated = {claim["name"] for claim in json.loads(REPLICATION.read_text())["claims"]}
    due = [claim["name"] for claim in committed if kind_of(claim) in ("faithful", "proxy")
           and verdict_of(claim) in ("holds", "contradicted")]
    assert len(due) >= 20
    assert [name for name in due if name not in replicated] == []


def test_the_replication_sets_each_verdict_beside_the_committed_one_and_borrows_no_notes():
    """The notes are written for the committed runs' numbers: under other seeds they could contradict the verdict."""
    text = (REPORT / "replication" / "claims.md").read_text()
    assert "## Notes" not in text and "## Against the committed report" in text
    rows = [line for line in text.split("## Against the committed report")[1].splitlines() if line.startswith("| `")]
    replicated = json.loads(REPLICATION.read_text())["claims"]
    assert [row.split("`")[1] for row in rows] == [claim["name"] for claim in replicated]
    assert not any("the verdicts differ" in row for row in rows)


def test_the_machine_a_report_names_says_which_vector_unit_and_whether_bf16_is_native(monkeypatch):
    """The same "AMD EPYC" trained 1.6x slower without AVX-512 BF16: a report's seconds need the features beside
    the name."""
    from segedu.lab.claims import report

    monkeypatch.setattr(report, "cpu_name", lambda: "Some CPU")
    monkeypatch.setattr(report, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(report.torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert report.machine().startswith("Some CPU (AVX512, native bf16), ")
    monkeypatch.setattr(report, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(report.torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert report.machine().startswith("Some CPU (AVX2), ")
