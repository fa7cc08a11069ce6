"""Short takeaways, and no lab log where a learner reads (issue 29, items 3 and 5).

Each notebook's "What to take away" cell closes the lecture (only pointers follow it: the next notebook, the
glossary, the references) and is a handful of bullets, one idea each: at most about 120 words of prose (headings
and code excluded; the limit allows a few over) and at most 40 words a bullet. The Korean edition keeps the same bullets.
No markdown cell of the course carries the history of a run: "not your run" disclaimers, earlier versions of a
notebook, temporary paths or package versions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
HEADING = "## What to take away"
MOST_WORDS, MOST_BULLET_WORDS = 135, 40
LAB_LOG = re.compile(r"not your run|an earlier version|previous version|/tmp/|\btorch \d+\.\d+|\+cu\d{3}", re.I)


def markdown_cells(notebook: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
            if cell["cell_type"] == "markdown"]


def prose_words(text: str) -> list[str]:
    """The words a learner reads: headings and `code` left out."""
    text = re.sub(r"`[^`]*`", " ", text)
    return " ".join(line for line in text.splitlines() if not line.lstrip().startswith("#")).split()


def bullets(text: str) -> list[str]:
    return re.split(r"^- ", text, flags=re.M)[1:]


def takeaway(notebook: Path) -> str | None:
    return next((cell for cell in markdown_cells(notebook) if cell.startswith(HEADING)), None)


AFTER_TAKEAWAY = ("**Next:**", "## The course's words in Korean", "## References")  # pointers, not lesson


def test_every_notebook_ends_its_lesson_with_a_takeaway():
    assert [path.name[:2] for path in NOTEBOOKS if takeaway(path)] == [f"{number:02d}" for number in range(13)]
    for path in NOTEBOOKS:
        cells = markdown_cells(path)
        after = cells[cells.index(takeaway(path)) + 1:]
        assert all(cell.startswith(AFTER_TAKEAWAY) for cell in after), path.name


@pytest.mark.parametrize("notebook", [path for path in NOTEBOOKS if takeaway(path)], ids=lambda path: path.stem)
def test_the_korean_takeaway_keeps_the_same_bullets(notebook):
    korean = ROOT / "notebooks" / "ko" / notebook.name
    text = next(cell for cell in markdown_cells(korean) if cell.startswith("## 핵심 정리"))
    assert len(bullets(text)) == len(bullets(takeaway(notebook)))


@pytest.mark.parametrize("notebook", [path for path in NOTEBOOKS if takeaway(path)], ids=lambda path: path.stem)
def test_a_takeaway_is_short_and_each_bullet_one_idea(notebook):
    text = takeaway(notebook)
    assert len(prose_words(text)) <= MOST_WORDS, f"{notebook.name}: {len(prose_words(text))} words"
    long = [bullet[:60] for bullet in bullets(text) if len(prose_words(bullet)) > MOST_BULLET_WORDS]
    assert not long, f"{notebook.name}: bullets over {MOST_BULLET_WORDS} words: {long}"


def test_the_counts_leave_out_headings_and_code_and_catch_a_wall():
    assert prose_words("## What to take away\n\n- **Skips** help: `python -m segedu train`.") == ["-", "**Skips**",
                                                                                                 "help:", "."]
    wall = HEADING + "\n\n" + "- " + "word " * 60 + "\n- short\n"
    assert len(prose_words(wall)) > MOST_WORDS - 75 and [len(prose_words(b)) for b in bullets(wall)] == [60, 1]


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("**/[0-9][0-9]_*.ipynb")),
                         ids=lambda path: str(path.relative_to(ROOT / "notebooks")))
def test_no_lab_log_reaches_a_learner(notebook):
    found = [match.group(0) for cell in markdown_cells(notebook) for match in LAB_LOG.finditer(cell)]
    assert not found, f"{notebook.name}: {found}"


@pytest.mark.parametrize("line", ["This is not your run.", "an earlier version of this notebook printed 3",
                                  "written to /tmp/run", "torch 2.14.1+cu130, 0 s"])
def test_the_lab_log_rule_catches_what_issue_29_quoted(line):
    assert LAB_LOG.search(line)
