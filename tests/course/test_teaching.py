"""docs/teaching.md (and its Korean edition) stays true to the course: its plan of sessions takes every notebook
once, never before a notebook it needs, and its warm-up time is the course's measured CPU time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from segedu.course.toc import COURSE

DOCS = Path(__file__).resolve().parents[2] / "docs"


def sessions(path: Path) -> list[list[str]]:
    """The notebook numbers of each row of the plan: | session | notebooks | ... |."""
    rows = re.findall(r"^\| (\d+) \| ([\d, ]+) \|", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return [[number.strip() for number in notebooks.split(",")] for _, notebooks in rows]


@pytest.mark.parametrize("name", ["teaching.md", "teaching.ko.md"])
def test_the_plan_takes_every_notebook_once_and_after_what_it_needs(name):
    plan = sessions(DOCS / name)
    taken = [number for session in plan for number in session]
    assert sorted(taken) == sorted(lesson.number for lesson in COURSE), taken
    position = {number: index for index, number in enumerate(taken)}  # the order of the plan, within a session too
    for lesson in COURSE:
        needed = [item for item in lesson.prerequisites if item.isdigit()]
        late = [item for item in needed if position[item] > position[lesson.number]]
        assert not late, f"{name}: notebook {lesson.number} is planned before {late}, which it needs"


def test_the_plans_of_the_two_editions_are_the_same():
    assert sessions(DOCS / "teaching.md") == sessions(DOCS / "teaching.ko.md")


def test_the_warm_up_time_is_the_courses_cpu_time():
    minutes = sum(lesson.cpu_seconds for lesson in COURSE) / 60
    assert "about ten minutes" in (DOCS / "teaching.md").read_text(encoding="utf-8")
    assert "약 10분" in (DOCS / "teaching.ko.md").read_text(encoding="utf-8")
    assert 7.5 <= minutes <= 12.5, f"the notebooks' cells take {minutes:.1f} min: update docs/teaching.md's warm-up"
