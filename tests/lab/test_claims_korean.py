"""The claims report's Korean page (`segedu.lab.claims.korean`): its catalog covers every claim, a changed English
goes fuzzy, a lost number is caught, the committed page is in step with the committed report, and `write_report`
builds the page for the committed report only."""

from __future__ import annotations

import json
import re
import shutil

import polib

from segedu.lab.claims import korean
from segedu.lab.claims import report as reporting
from segedu.lab.claims.registry import CLAIMS, NOTES

HANGUL = re.compile("[가-힣]")


def _committed() -> dict:
    return json.loads((reporting.REPORT / "claims.json").read_text())


def test_the_catalog_says_every_claim_and_the_page_in_korean():
    assert korean.problems() == []
    table = {(entry.msgctxt, entry.msgid): entry.msgstr for entry in polib.pofile(str(korean.CATALOG))}
    for context, english in korean.entries():  # in Korean, not the English copied over
        assert HANGUL.search(table[context, english]), context


def test_the_committed_korean_page_is_in_step_with_the_committed_report():
    page = (reporting.REPORT / "claims.ko.md").read_text(encoding="utf-8")
    assert page == korean.korean_report(_committed()), "run `python -m segedu.lab.claims.korean build`"


def test_the_page_gives_each_claim_its_korean_verdict_and_note():
    report = _committed()
    page = korean.korean_report(report)
    assert page.startswith("# ") and HANGUL.search(page.splitlines()[0])
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [record["name"] for record in report["claims"]]
    for row, record in zip(rows, report["claims"]):
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 5, row  # no "|" inside a translation breaks the table
        claim = next(claim for claim in CLAIMS if claim.name == record["name"])
        assert HANGUL.search(cells[1]) and cells[1] != claim.statement
        assert cells[3] == {"holds": "holds(성립)", "contradicted": "contradicted(반박)",
                            "inconclusive": "inconclusive(판단 불가)", "not testable offline":
                            "not testable offline(오프라인에서 시험 불가)"}[reporting.verdict_of(record)]
        assert f"notebooks/ko/{record['notebook']}.ipynb" in cells[4]
    notes = [line for line in page.splitlines() if line.startswith("- `")]
    assert len(notes) == sum(record["name"] in NOTES for record in report["claims"]) > 0
    assert all(HANGUL.search(line) for line in notes)
    assert "[claims.md](claims.md)" in page


def test_a_text_without_korean_is_said_in_english_never_blank(tmp_path):
    empty = tmp_path / "claims.po"
    korean.update_catalog(empty)
    page = korean.korean_report(_committed(), empty)
    assert CLAIMS[0].statement in page and "# The lecture's claims, measured" in page
    assert len(korean.problems(empty)) == len(korean.entries())


def test_a_changed_english_goes_fuzzy_and_a_lost_number_is_caught(tmp_path):
    catalog = tmp_path / "claims.po"
    shutil.copy(korean.CATALOG, catalog)
    entries = polib.pofile(str(catalog), wrapwidth=0)
    statement = next(entry for entry in entries if entry.msgctxt == f"{CLAIMS[0].name}:statement")
    statement.msgid = "an older English"
    numbered = next(entry for entry in entries if entry.msgctxt.endswith(":note") and re.search(r"\d\.\d", entry.msgid))
    lost = re.search(r"\d+\.\d+", numbered.msgid).group()
    numbered.msgstr = numbered.msgstr.replace(lost, "?")
    entries.append(polib.POEntry(msgctxt="gone:note", msgid="a claim no longer registered", msgstr="없음"))
    entries.save(str(catalog))
    assert korean.problems(catalog) == [f"{CLAIMS[0].name}:statement: fuzzy (the English changed)",
                                        f"{numbered.msgctxt}: the Korean lacks the number(s) {lost} of the English"]

    korean.update_catalog(catalog)
    updated = {entry.msgctxt: entry for entry in polib.pofile(str(catalog), wrapwidth=0)}
    moved = updated[f"{CLAIMS[0].name}:statement"]
    assert moved.msgid == CLAIMS[0].statement and moved.previous_msgid == "an older English"
    assert "fuzzy" in moved.flags and moved.msgstr == statement.msgstr  # the old Korean kept for the translator
    assert updated["gone:note"].obsolete
    page = korean.korean_report(_committed(), catalog)
    assert CLAIMS[0].statement in page  # a fuzzy entry is not used


def test_write_report_builds_the_korean_page_of_the_committed_report_only(tmp_path, monkeypatch):
    records = _committed()["claims"][:2]
    committed, elsewhere = tmp_path / "committed", tmp_path / "elsewhere"
    monkeypatch.setattr(reporting, "REPORT", committed)
    reporting.write_report(records, committed, command="test", seconds=1.0)
    reporting.write_report(records, elsewhere, command="test", seconds=1.0)
    page = (committed / "claims.ko.md").read_text(encoding="utf-8")
    assert [line.split("`")[1] for line in page.splitlines() if line.startswith("| `")] == [r["name"] for r in records]
    assert not (elsewhere / "claims.ko.md").exists()
