"""Learner copies of the lecture notebooks: every exercise's solution replaced by a stub.

    python -m segedu.course.student notebooks notebooks/student      (what `make student` runs)

Uses nbgrader's ClearSolutions preprocessor: the code between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()``; everything
else but the Colab and Kaggle badges, outputs included, is kept, so a learner sees what a correct run prints and
``pytest --nbval-lax notebooks/student/NN_name.ipynb`` fails until the exercises are solved.
The outputs of exercise cells and of the checks right after them are cleared.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

__all__ = ["SOLUTION_MARK", "exercise_cells", "exercise_table", "make_student_notebook", "make_student_notebooks"]

SOLUTION_MARK = "### BEGIN SOLUTION"


def exercise_cells(notebook) -> list[int]:
    """Indices of the code cells that hold a solution region."""
    return [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code" and SOLUTION_MARK in cell.source]


def exercise_table(source: Path) -> str:
    """notebooks/README.md's exercise table, read from the notebooks: per notebook the functions the learner
    writes and the concept check (a markdown table; `tests/course/test_exercises.py` keeps that file equal to it)."""
    import re

    rows = ["| notebook | exercises: the function you write | concept check |", "|---|---|---|"]
    total = 0
    for path in sorted(source.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        functions, concepts = [], []
        for index in exercise_cells(notebook):
            check = notebook.cells[index + 1].source
            concept = re.search(r'check_concept\("(\w+)"', check)
            if concept:
                concepts.append(f"`{concept.group(1)}`")
            else:
                defined = re.search(r"^def (\w+)", notebook.cells[index].source, re.M).group(1)
                functions.append(f"`{defined}`")
        total += len(functions) + len(concepts)
        rows.append(f"| {path.stem} | {', '.join(functions) or '-'} | {', '.join(concepts) or '-'} |")
    return "\n".join(rows) + f"\n\n{total} checked items in all.\n"


def make_student_notebook(notebook):
    """Return a learner copy of `notebook` (an nbformat NotebookNode); the original is not modified. The copy has no
    Colab and Kaggle badges: they open the lecture notebook, solutions included (a learner uploads the copy there)."""
    from nbgrader.preprocessors import ClearSolutions

    from .hosted_cells import BADGES_ID

    copy = nbformat.reads(nbformat.writes(notebook), as_version=4)
    exercises = exercise_cells(copy)
    copy, _ = ClearSolutions(enforce_metadata=False).preprocess(copy, {})
    for index in exercises:
        for cleared in (index, index + 1):  # the exercise and the check after it
            if cleared < len(copy.cells) and copy.cells[cleared].cell_type == "code":
                copy.cells[cleared].outputs = []
                copy.cells[cleared].execution_count = None
    copy.cells = [cell for cell in copy.cells if cell.get("id") != BADGES_ID]
    return copy


def make_student_notebooks(source: Path, destination: Path) -> list[Path]:
    """Write a learner copy of every NN_*.ipynb in `source` that has exercises into `destination`."""
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no lecture notebooks (NN_name.ipynb) in {source}")
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        if not exercise_cells(notebook):
            continue
        target = destination / path.name
        nbformat.write(make_student_notebook(notebook), target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.student", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, nargs="?", default=Path("notebooks"))
    parser.add_argument("destination", type=Path, nargs="?", default=Path("notebooks/student"))
    arguments = parser.parse_args(argv)
    try:
        written = make_student_notebooks(arguments.source, arguments.destination)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
