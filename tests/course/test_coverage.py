"""notebooks/COVERAGE.md: every row of the lecture's coverage table points at sections that exist, and a Y rests
only on measured claims."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from segedu.lab import claims

ROOT = Path(__file__).resolve().parents[2]
COVERAGE = ROOT / "notebooks" / "COVERAGE.md"
ROW = re.compile(r"^\| (\d+) \| (.*?) \| (.*?) \| ([YPN]) \| (.*?) \|$")


def _rows() -> dict[int, tuple[str, str, str, str]]:
    rows = {}
    for line in COVERAGE.read_text().splitlines():
        match = ROW.match(line)
        if match:
            rows[int(match.group(1))] = match.group(2, 3, 4, 5)
    return rows


def _headings(number: str) -> set[str]:
    [path] = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    headings = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    headings.add(line.lstrip("#").strip())
    return headings


def _claim_names(evidence: str) -> list[str]:
    """The backticked names after "claim" or "claims": `claim `a``, `claims `a`, `b` and `c``."""
    names = []
    for match in re.finditer(r"claims? ((?:`[a-z0-9_]+`(?:, | and |,? and )?)+)", evidence):
        names += re.findall(r"`([a-z0-9_]+)`", match.group(1))
    return names


def test_every_row_is_there_once_and_the_tally_adds_up():
    rows = _rows()
    assert sorted(rows) == list(range(1, 74))
    grades = [grade for _, _, grade, _ in rows.values()]
    tally = f"{grades.count('Y')} Y, {grades.count('P')} P, {grades.count('N')} N"
    assert f"**Tally: {tally}.**" in COVERAGE.read_text()


def test_the_concepts_are_the_lecture_table_s():
    shared = Path(os.environ.get("SEGEDU_SHARED", ROOT.parent / "shared")) / "SEED-COVERAGE.md"
    if not shared.exists():
        pytest.skip(f"{shared} is not here (a clone without ../shared)")
    theirs = {int(m.group(1)): m.group(2) for line in shared.read_text().splitlines()
              if (m := re.match(r"^\| (\d+) \| (.*?) \| (.*?) \| (.*?) \|$", line))}
    assert {number: concept for number, (concept, *_) in _rows().items()} == theirs


def test_every_section_named_exists_in_its_notebook():
    missing = []
    for number, (_, where, grade, _) in _rows().items():
        if where == "-":
            assert grade == "N", f"row {number} is {grade} but names no section"
            continue
        for pointer in where.split("; "):
            notebook, _, heading = pointer.partition(" · ")
            assert re.fullmatch(r"\d\d", notebook), f"row {number}: {pointer!r} is not 'NN · heading'"
            if heading not in _headings(notebook):
                missing.append(f"row {number}: {pointer}")
    assert not missing, "sections not found:\n" + "\n".join(missing)


def test_claims_named_exist_and_a_y_rests_only_on_measured_ones():
    registered = {claim.name for claim in claims.CLAIMS}
    for number, (_, _, grade, evidence) in _rows().items():
        for name in _claim_names(evidence):
            assert name in registered | set(claims.PENDING), f"row {number} names an unknown claim {name!r}"
            assert grade != "Y" or name not in claims.PENDING, f"row {number} is Y on the unmeasured claim {name!r}"


def test_the_claim_parser_finds_lists_of_names():
    assert _claim_names("claims `a_1` and `b`; claim `c` holds") == ["a_1", "b", "c"]
    assert _claim_names("claims `x`, `y` and `z`") == ["x", "y", "z"]
    assert _claim_names("`bottleneck` alone") == []
