"""Every exercise of every lecture notebook: its check passes on the notebook's solution and fails, with a
message, on the learner's stub that `make student` writes; the student copies keep everything else."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from segedu.course import checks
from segedu.course.hosted_cells import BADGES_ID, is_hosted_cell
from segedu.course.student import SOLUTION_MARK, exercise_cells, make_student_notebook, make_student_notebooks

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = [(path, index) for path in NOTEBOOKS for index in exercise_cells(nbformat.read(path, as_version=4))]


def _setup_cell(notebook) -> str:
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code" and not is_hosted_cell(cell))


def _check_cell(notebook, index: int) -> str:
    following = notebook.cells[index + 1]
    assert following.cell_type == "code" and "checks.check_" in following.source, (
        f"the cell after exercise cell {index} must call a segedu.course.checks function")
    return following.source


def _kinds(path) -> tuple[int, int]:
    """(exercises, concept checks) of one notebook."""
    notebook = nbformat.read(path, as_version=4)
    calls = [notebook.cells[index + 1].source for p, index in EXERCISES if p == path]
    concepts = sum("check_concept" in call for call in calls)
    return len(calls) - concepts, concepts


def test_every_notebook_has_exercises_and_a_concept_check():
    """Two to four exercises in each building-block notebook (00-06), at least two in each model notebook (07-12),
    one concept check in every notebook; 36 checked items at least."""
    counts = {path.name: _kinds(path) for path in NOTEBOOKS}
    assert len(counts) == 13, counts
    assert all(2 <= exercises <= 4 for name, (exercises, _) in counts.items() if int(name[:2]) <= 6), counts
    assert all(exercises >= 2 for name, (exercises, _) in counts.items() if int(name[:2]) >= 7), counts
    assert all(concepts == 1 for _, concepts in counts.values()), counts
    assert sum(sum(pair) for pair in counts.values()) >= 36


@pytest.mark.parametrize("path,index", EXERCISES, ids=[f"{p.stem}-cell{i}" for p, i in EXERCISES])
def test_check_passes_on_the_solution_and_fails_on_the_stub(path, index, capsys):
    notebook = nbformat.read(path, as_version=4)
    student = make_student_notebook(notebook)
    setup, check = _setup_cell(notebook), _check_cell(notebook, index)

    solved: dict = {}
    exec(compile(setup + "\n" + notebook.cells[index].source + "\n" + check, f"{path.name}[{index}]", "exec"), solved)
    assert "✓" in capsys.readouterr().out

    stub_source = next(cell.source for cell in student.cells if cell.get("id") == notebook.cells[index].get("id"))
    assert "raise NotImplementedError" in stub_source and SOLUTION_MARK not in stub_source
    stubbed: dict = {}
    exec(compile(setup + "\n" + stub_source, f"student {path.name}[{index}]", "exec"), stubbed)
    with pytest.raises(checks.ExerciseFailed, match="not implemented yet"):
        exec(compile(check, f"student {path.name}[{index + 1}]", "exec"), stubbed)


def test_student_copies_keep_everything_but_the_solutions(tmp_path):
    written = make_student_notebooks(NOTEBOOKS[0].parent, tmp_path)
    with_exercises = sorted({path for path, _ in EXERCISES})  # notebooks without exercises need no copy
    assert [p.name for p in written] == [p.name for p in with_exercises]
    for source_path, student_path in zip(with_exercises, written):
        source, student = nbformat.read(source_path, as_version=4), nbformat.read(student_path, as_version=4)
        # the badges open the lecture notebook, solutions included: the copy drops them and keeps every other cell
        assert source.cells[0].get("id") == BADGES_ID and all(cell.get("id") != BADGES_ID for cell in student.cells)
        source.cells = source.cells[1:]
        assert len(source.cells) == len(student.cells)
        exercises = set(exercise_cells(source))
        for index, (original, copy) in enumerate(zip(source.cells, student.cells)):
            if index in exercises:
                solution = original.source.split(SOLUTION_MARK)[1].split("### END SOLUTION")[0].strip()
                assert solution.splitlines()[0].strip() not in copy.source
                assert copy.source.split("\n")[0] == original.source.split("\n")[0]  # the signature stays
            elif index - 1 not in exercises:
                assert copy.source == original.source and copy.get("outputs") == original.get("outputs")


def test_student_cli_reports_a_missing_folder(tmp_path, capsys):
    from segedu.course.student import main

    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "no lecture notebooks" in capsys.readouterr().err


@pytest.mark.slow
def test_nbval_fails_on_the_untouched_student_notebook(tmp_path):
    """What a learner runs: pytest --nbval-lax on the stubbed copy fails at the checks (and nowhere it should not)."""
    path = next(p for p in NOTEBOOKS if p.name.startswith("02_"))
    make_student_notebooks(path.parent, tmp_path)
    result = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p",
                             "no:cacheprovider", "-q", str(tmp_path / path.name)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "ExerciseFailed" in result.stdout and "not implemented yet" in result.stdout, result.stdout[-3000:]


def test_the_notebooks_readme_exercise_table_is_the_notebooks():
    from segedu.course.student import exercise_table

    readme = (NOTEBOOKS[0].parent / "README.md").read_text()
    start = readme.index("<!-- exercise table")
    table = readme[readme.index("\n", start) + 1: readme.index("<!-- end of the exercise table -->")]
    assert table == exercise_table(NOTEBOOKS[0].parent)


def test_every_notebook_ends_with_its_references():
    for path in NOTEBOOKS:
        last = nbformat.read(path, as_version=4).cells[-1]
        assert last.cell_type == "markdown" and last.source.startswith("## References"), path.name
        assert re.findall(r"\]\(https://(?:arxiv\.org/abs/\d{4}\.\d{4,5}|doi\.org/|distill\.pub/)", last.source), path.name
