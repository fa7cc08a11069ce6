"""Which tests can tell whether the data sets are there: CI's second pass reruns only those.

CI runs the suite twice, with the real data and as a fresh clone without it (`.ci/run`). A test whose outcome can
differ between the passes is one that looks for the data: it reads ``SEGEDU_DATA`` or ``SEGEDU_NO_DOWNLOAD``
(``segedu.data.data_root`` and the download switch do), or starts a process that inherits them (a kernel, the CLI).
Every other test runs the same code on the same inputs in both passes, so running it again proves nothing new.

- ``SEGEDU_RECORD_DATA_USE=FILE`` (the first pass): every read of those two variables and every new process is
  noted against the test running it, the fixture being set up, or the test file being collected (a module-level
  read). At the end FILE lists the tests that passed without any: no read in the test itself, in a fixture it uses,
  or in its file's collection.
- ``SEGEDU_SKIP_DATA_BLIND=FILE`` (the second pass): the tests FILE lists are deselected, and the summary says how
  many. A missing or unreadable FILE deselects nothing (the whole suite runs, as before) and says so. Notebooks
  are never listed: they look for the data in their kernels, which are new processes.

It errs on the side of rerunning: a fixture that read the data once marks every test that uses it, even one that
would not care. Under pytest-xdist (``-n``) each worker records or leaves out its own tests and hands its list or its
count to the controller (``workeroutput``), which writes the one FILE or prints the one summary line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

WATCHED = frozenset({"SEGEDU_DATA", "SEGEDU_NO_DOWNLOAD"})
RECORD, SKIP = "SEGEDU_RECORD_DATA_USE", "SEGEDU_SKIP_DATA_BLIND"


class Recorder:
    """Notes data lookups against whatever is running: a stack of ("item" | "fixture" | "module", name)."""

    def __init__(self):
        self.running: list[tuple[str, str]] = []
        self.touched: set[tuple[str, str]] = set()
        self.passed: dict[str, pytest.Item] = {}

    @contextlib.contextmanager
    def inside(self, kind: str, name: str):
        self.running.append((kind, name))
        try:
            yield
        finally:
            self.running.pop()

    def note(self) -> None:
        self.touched.update(self.running)

    def install(self) -> None:
        """Wrap os.environ's item access (get, `in`, copies all go through it) and subprocess.Popen."""
        environ_class, popen_init, recorder = type(os.environ), subprocess.Popen.__init__, self

        original_getitem = environ_class.__getitem__

        def getitem(environ, key):
            if key in WATCHED:
                recorder.note()
            return original_getitem(environ, key)

        def popen(process, *args, **kwargs):
            recorder.note()
            return popen_init(process, *args, **kwargs)

        environ_class.__getitem__, subprocess.Popen.__init__ = getitem, popen
        self._undo = lambda: (setattr(environ_class, "__getitem__", original_getitem),
                              setattr(subprocess.Popen, "__init__", popen_init))

    def uninstall(self) -> None:
        self._undo()

    def blind(self) -> list[str]:
        """The tests that passed without a lookup in themselves, their fixtures or their file's collection."""
        fixtures = {name for kind, name in self.touched if kind == "fixture"}
        modules = {name for kind, name in self.touched if kind == "module"}
        items = {name for kind, name in self.touched if kind == "item"}
        return sorted(nodeid for nodeid, item in self.passed.items()
                      if nodeid not in items and str(item.path) not in modules
                      and not fixtures.intersection(getattr(item, "fixturenames", ())))


def is_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker: it runs tests and reports to the controller, which collects none."""
    return hasattr(config, "workerinput")


class RecordPlugin:
    def __init__(self, path: Path, config: pytest.Config):
        self.path, self.config, self.recorder = path, config, Recorder()
        self.items: dict[str, pytest.Item] = {}  # the collected tests, notebooks left out
        self.blind: list[str] = []
        self.from_workers: list[str] = []  # under xdist: what the workers found
        self.recorder.install()

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        if not isinstance(collector, pytest.Module):
            return (yield)
        with self.recorder.inside("module", str(collector.path)):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        with self.recorder.inside("fixture", fixturedef.argname):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        with self.recorder.inside("item", item.nodeid):
            return (yield)

    def pytest_runtest_logreport(self, report):
        item = self.items.get(report.nodeid)
        if report.when == "call" and report.passed and item is not None:
            self.recorder.passed[report.nodeid] = item
        elif report.failed or report.skipped:
            self.recorder.passed.pop(report.nodeid, None)

    def pytest_collection_modifyitems(self, items):
        self.items = {item.nodeid: item for item in items if not str(item.path).endswith(".ipynb")}

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):  # the controller, as each xdist worker finishes
        self.from_workers += getattr(node, "workeroutput", {}).get(RECORD, [])

    def pytest_sessionfinish(self, session):
        self.recorder.uninstall()
        self.blind = sorted(set(self.recorder.blind()) | set(self.from_workers))
        if is_worker(self.config):
            self.config.workeroutput[RECORD] = self.blind
        else:
            self.path.write_text(json.dumps({"blind": self.blind}, indent=0) + "\n")

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_line(f"{self.path}: {len(self.blind)} passed tests never looked for the "
                                    f"data ({RECORD})")


class SkipPlugin:
    def __init__(self, path: Path, config: pytest.Config):
        self.path, self.config, self.message = path, config, ""

    def pytest_collection_modifyitems(self, config, items):
        try:
            blind = set(json.loads(self.path.read_text())["blind"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            self.message = f"{SKIP}={self.path}: not read ({error}); every test runs"
            return
        kept = [item for item in items if item.nodeid not in blind]
        deselected = [item for item in items if item.nodeid in blind]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = kept
        self.message = (f"{len(deselected)} tests left out: they passed in the pass with the data without looking "
                        f"for it ({self.path})")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error):  # the controller: every worker collected and left out the same
        output = getattr(node, "workeroutput", {})
        if SKIP in output and not self.message:
            self.message = output[SKIP]

    def pytest_sessionfinish(self, session):
        if is_worker(self.config):
            self.config.workeroutput[SKIP] = self.message

    def pytest_terminal_summary(self, terminalreporter):
        if self.message:
            terminalreporter.write_line(self.message)


def pytest_configure(config):
    if os.environ.get(RECORD):
        config.pluginmanager.register(RecordPlugin(Path(os.environ[RECORD]), config), "segedu-record-data-use")
    elif os.environ.get(SKIP):
        config.pluginmanager.register(SkipPlugin(Path(os.environ[SKIP]), config), "segedu-skip-data-blind")
