"""The course's table of contents (segedu.course) is the one in the README and in notebook 00, and it lists every
notebook in notebooks/, in order, each under its own heading, with prerequisites that come before it."""

import json
from pathlib import Path

import pytest

from segedu.course import toc
from segedu.course.hosted_cells import is_hosted_cell

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def lesson_first_cell(path: Path) -> dict:
    """The notebook's own first cell: its heading, after the Colab and Kaggle badges (segedu.course.hosted_cells)."""
    return next(cell for cell in json.loads(path.read_text())["cells"] if not is_hosted_cell(cell))


def test_every_notebook_is_listed_in_order():
    on_disk = sorted(path.name for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert [lesson.notebook for lesson in toc.COURSE] == on_disk


def test_titles_match_headings_and_prerequisites_come_first():
    numbers = [lesson.number for lesson in toc.COURSE]
    for position, lesson in enumerate(toc.COURSE):
        first_cell = lesson_first_cell(NOTEBOOKS / lesson.notebook)
        heading = "".join(first_cell["source"]).splitlines()[0]
        assert heading.startswith(f"# {lesson.number} · "), heading
        assert lesson.title.lower() in heading.lower(), (lesson.title, heading)
        for prerequisite in lesson.prerequisites:
            if prerequisite[:2].isdigit():
                assert prerequisite in numbers[:position], f"{lesson.notebook} needs {prerequisite}, which comes later"
        assert lesson.cpu_seconds <= 90, f"{lesson.notebook} takes {lesson.cpu_seconds} s on the CPU; the budget is 90 s"
    total = sum(lesson.cpu_seconds for lesson in toc.COURSE)
    assert total <= 12 * 60, f"the notebooks take {total:.0f} s on the CPU together; the budget is 12 minutes"


def test_readme_and_notebook_00_show_the_same_table():
    readme = (ROOT / "README.md").read_text()
    assert toc.markdown_table(link_prefix="notebooks/") in readme
    first_cell = lesson_first_cell(NOTEBOOKS / toc.COURSE[0].notebook)
    assert toc.markdown_table() in "".join(first_cell["source"])


def test_table_links_every_notebook():
    table = toc.markdown_table(link_prefix="notebooks/")
    for lesson in toc.COURSE:
        assert f"](notebooks/{lesson.notebook})" in table and (NOTEBOOKS / lesson.notebook).exists()


def test_each_notebook_states_the_learners_time_and_its_measured_run():
    import re

    for lesson in toc.COURSE:
        first_cell = "".join(lesson_first_cell(NOTEBOOKS / lesson.notebook)["source"])
        stated = re.search(r"\*Time:\* about (\d+) minutes to work through; the cells run in about (\d+) s on a "
                           r"laptop CPU", " ".join(first_cell.split()))
        assert stated, f"{lesson.notebook} does not say how long it takes"
        assert int(stated.group(1)) == lesson.study_minutes, (lesson.notebook, stated.group(1))
        assert int(stated.group(2)) == round(lesson.cpu_seconds), (lesson.notebook, stated.group(2))


def test_the_learners_time_follows_the_notebook_as_it_is():
    for lesson in toc.COURSE:
        estimate = toc.estimated_minutes(NOTEBOOKS / lesson.notebook)
        assert lesson.study_minutes % 5 == 0 and abs(lesson.study_minutes - estimate) <= 5, (
            f"{lesson.notebook}: the table says {lesson.study_minutes} min, the notebook now reads as {estimate:.0f}")


def test_the_estimate_counts_prose_code_exercises_checks_and_explorers(tmp_path):
    def cell(kind, text):
        return {"cell_type": kind, "source": [text], "metadata": {}, **({"outputs": []} if kind == "code" else {})}

    words = " ".join(["word"] * 240)                      # 2 minutes at 120 words a minute
    table = "| a | b |\n|---|---|\n| " + "x " * 600 + "|"  # a table of contents is not read as prose
    code = "\n".join(f"x{index} = {index}  # set" for index in range(30)) + "\n# a comment\n"  # 2 minutes
    exercise = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"                 # 2 lines, 8 min
    concept = "def concept_answer():\n    ### BEGIN SOLUTION\n    return 'a'\n    ### END SOLUTION"  # 2 lines, 2 min
    explorer = "widgets.FeatureMapExplorer(model, image)"                                         # 1 line, 3 min
    hosted = "from segedu.course import hosted\n" + "y = 1\n" * 150                             # not counted
    notebook = {"cells": [cell("markdown", "[![Open In Colab](x/colab-badge.svg)] " + words), cell("markdown", words),
                          cell("markdown", table), cell("code", code), cell("code", exercise), cell("code", concept),
                          cell("code", explorer), cell("code", hosted)],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "notebook.ipynb"
    path.write_text(json.dumps(notebook))
    assert toc.estimated_minutes(path) == pytest.approx(2 + 8 + 2 + 3 + (30 + 2 + 2 + 1) / 15)


def test_committed_notebooks_are_lean():
    """At most 1 MB each, no saved widget state or widget views (an explorer keeps one picture), no picture twice."""
    import hashlib

    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        assert path.stat().st_size <= 1_000_000, f"{path.name} is {path.stat().st_size / 1e6:.2f} MB"
        notebook = json.loads(path.read_text())
        assert "widgets" not in notebook["metadata"], f"{path.name} stores widget state"
        pictures = []
        for cell in notebook["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                assert "application/vnd.jupyter.widget-view+json" not in data, f"{path.name} stores a widget view"
                for kind in ("image/png", "image/jpeg"):
                    if kind in data:
                        pictures.append(hashlib.sha256("".join(data[kind]).encode()).hexdigest())
        assert len(pictures) == len(set(pictures)), f"{path.name} stores a picture twice"
