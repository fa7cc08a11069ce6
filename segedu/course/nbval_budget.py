"""A pytest plugin (``-p segedu.course.nbval_budget``, set in pyproject.toml): after a run that executed notebooks
under nbval, one line per notebook with the seconds its kernel took (start-up and every cell: the setup, call and
teardown of each of its cells), so that a CI log shows each notebook against the course's budget of 90 s.

The budget is measured on 2 threads, one notebook at a time (docs/performance.md); CI runs two notebooks at once, on
one thread each, so a notebook over 90 s there is flagged, not failed. Under pytest-xdist the controller receives
every worker's reports, so the lines cover the whole run.
"""

from __future__ import annotations

from collections import defaultdict

BUDGET_SECONDS = 90.0

_seconds: defaultdict[str, float] = defaultdict(float)


def _notebook(nodeid: str) -> str | None:
    """'notebooks/ko/07_fcn.ipynb::Cell 3' -> 'notebooks/ko/07_fcn.ipynb'; None for other tests."""
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def pytest_runtest_logreport(report):
    notebook = _notebook(report.nodeid)
    if notebook is not None:
        _seconds[notebook] += report.duration


def summary(seconds: dict[str, float], budget: float = BUDGET_SECONDS) -> list[str]:
    """The lines `pytest_terminal_summary` writes: each notebook's seconds, in order, and those over `budget`."""
    if not seconds:
        return []
    lines = [f"notebooks under nbval, kernel start-up and every cell (the budget: {budget:.0f} s each on 2 threads, "
             f"one at a time):"]
    for notebook in sorted(seconds):
        lines.append(f"  {notebook}: {seconds[notebook]:.0f} s" + ("  (over the budget)" * (seconds[notebook] > budget)))
    over = [notebook for notebook in sorted(seconds) if seconds[notebook] > budget]
    lines.append(f"{len(over)} of {len(seconds)} over {budget:.0f} s" + (f": {', '.join(over)}" if over else "")
                 + f"; {sum(seconds.values()):.0f} s in all")
    return lines


def pytest_terminal_summary(terminalreporter):
    for line in summary(dict(_seconds)):
        terminalreporter.write_line(line)
