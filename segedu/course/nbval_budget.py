"""A pytest plugin (``-p segedu.course.nbval_budget``, set in pyproject.toml): after a run that executed notebooks
under nbval, one line per notebook with the seconds its kernel took (start-up and every cell: the setup and call of
each of its cells; teardowns are left out, since the last test's teardown also closes the session's fixtures), so
that a test log shows each notebook beside the course's budget of 90 s.

The budget is measured one notebook at a time on 2 threads (docs/performance.md). A run under other conditions (CI
runs two notebooks at once under pytest-xdist, one thread each) prints its conditions, and a notebook over 90 s
there is marked as such, not as over the budget. A notebook with a failed cell is marked incomplete: its kernel may
have stopped early. Under pytest-xdist the controller receives every worker's reports and prints; workers keep
nothing.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

BUDGET_SECONDS = 90
_TIMES = pytest.StashKey[dict]()


def _notebook(nodeid: str) -> str | None:
    """'notebooks/ko/07_fcn.ipynb::Cell 3' -> 'notebooks/ko/07_fcn.ipynb'; None for other tests."""
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def conditions(config) -> tuple[int, str]:
    """(how many notebooks run at once, the threads each kernel may use: OMP_NUM_THREADS, or "all")."""
    workers = getattr(config.option, "numprocesses", None) or 1
    return int(workers) if str(workers).isdigit() else 1, os.environ.get("OMP_NUM_THREADS", "all")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # an xdist worker sends its reports to the controller, which counts
        config.stash[_TIMES] = {"seconds": defaultdict(float), "failed": set()}
        config.pluginmanager.register(_Counter(config.stash[_TIMES]), "segedu-nbval-budget-counter")


class _Counter:
    def __init__(self, times: dict):
        self.times = times

    def pytest_runtest_logreport(self, report):
        notebook = _notebook(report.nodeid)
        if notebook is None:
            return
        if report.when in ("setup", "call"):
            self.times["seconds"][notebook] += report.duration
        if report.failed:
            self.times["failed"].add(notebook)


def summary(seconds: dict[str, float], *, failed=(), at_once: int = 1, threads: str = "all",
            budget: int = BUDGET_SECONDS) -> list[str]:
    """The lines after the heading: each notebook's seconds, in order, marked when over `budget` (over the budget
    only under the budget's conditions: one notebook at a time, on 2 threads or more) or incomplete."""
    if not seconds:
        return []
    budget_conditions = at_once == 1 and (threads == "all" or int(threads) >= 2)
    over_words = "over the budget" if budget_conditions else f"over {budget} s"
    running = "one notebook at a time" if at_once == 1 else f"{at_once} notebooks at once"
    each = "all threads" if threads == "all" else f"{threads} thread{'' if threads == '1' else 's'}"
    lines = [] if budget_conditions else [f"(not the budget's conditions: {running}, {each} each)"]
    over = []
    for notebook in sorted(seconds):
        shown = round(seconds[notebook])
        mark = ""
        if notebook in failed:
            mark = "  (a cell failed: incomplete)"
        elif shown > budget:
            mark = f"  ({over_words})"
            over.append(notebook)
        lines.append(f"  {notebook}: {shown} s{mark}")
    lines.append(f"{len(over)} of {len(seconds)} {over_words}" + (f": {', '.join(over)}" if over else "")
                 + f"; {round(sum(seconds.values()))} s summed over the notebooks")
    return lines


def pytest_terminal_summary(terminalreporter, config):
    times = config.stash.get(_TIMES, None)
    if not times or not times["seconds"]:
        return
    at_once, threads = conditions(config)
    terminalreporter.write_sep("=", f"seconds per notebook under nbval, kernel start-up and cells (the budget: "
                                    f"{BUDGET_SECONDS} s, one notebook at a time on 2 threads)")
    for line in summary(dict(times["seconds"]), failed=times["failed"], at_once=at_once, threads=threads):
        terminalreporter.write_line(line)
