"""CI's second pass leaves out exactly the tests that never looked for the data in the first
(tests/data_dependence.py): run on a small suite of its own, in a separate pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
SUITE = {
    "test_plain.py": "import pytest\n\ndef test_plain():\n    assert 1 + 1 == 2\n\n@pytest.fixture\n"
                     "def breaks_on_teardown():\n    yield\n    raise RuntimeError('teardown')\n\n"
                     "def test_whose_teardown_fails(breaks_on_teardown):\n    pass\n",
    "test_reads.py": "import os\n\ndef test_get():\n    os.environ.get('SEGEDU_DATA')\n\n"
                     "def test_contains():\n    assert 'SEGEDU_NO_DOWNLOAD' in os.environ or True\n\n"
                     "def test_other_variable():\n    os.environ.get('HOME')\n",
    "test_fixture.py": "import os\nimport pytest\n\n@pytest.fixture(scope='module')\ndef root():\n"
                       "    return os.environ.get('SEGEDU_DATA')\n\ndef test_first(root):\n    pass\n\n"
                       "def test_second(root):\n    pass\n\ndef test_without(tmp_path):\n    pass\n",
    "test_module.py": "import os\nSWITCH = os.environ.get('SEGEDU_NO_DOWNLOAD')\n\ndef test_uses_module_constant():\n"
                      "    pass\n",
    "test_process.py": "import subprocess, sys\n\ndef test_process():\n"
                       "    subprocess.run([sys.executable, '-c', 'pass'], check=True)\n",
    "test_skipped.py": "import pytest\n\ndef test_skipped():\n    pytest.skip('no reason to run')\n",
    "test_failing.py": "def test_failing():\n    assert False\n",
}
BLIND = ["test_fixture.py::test_without", "test_plain.py::test_plain", "test_reads.py::test_other_variable"]


# CI runs each pass on every core: pytest-xdist's workers (each a whole test file) report to one controller
WORKERS = [pytest.param([], id="one-process"), pytest.param(["-n", "2", "--dist", "loadfile"], id="xdist")]


def run_suite(folder: Path, workers: list[str] = (), **variables: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("SEGEDU_RECORD_DATA_USE", "SEGEDU_SKIP_DATA_BLIND", "PYTEST_ADDOPTS")}
    environment.update(PYTHONPATH=str(REPOSITORY), **variables)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.data_dependence", "-p", "no:cacheprovider",
                           "-q", *workers, str(folder)], cwd=folder, env=environment, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    folder = tmp_path / "suite"
    folder.mkdir()
    for name, text in SUITE.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("workers", WORKERS)
def test_only_passed_tests_that_never_looked_for_the_data_are_listed(suite, tmp_path, workers):
    listed = tmp_path / "blind.json"
    result = run_suite(suite, workers, SEGEDU_RECORD_DATA_USE=str(listed), SEGEDU_DATA=str(tmp_path))
    assert "1 failed" in result.stdout and "1 error" in result.stdout, result.stdout + result.stderr
    # a read in the test, in a fixture it uses (the second test reuses it), in its module, or a new process marks it
    assert json.loads(listed.read_text())["blind"] == BLIND


@pytest.mark.slow
@pytest.mark.parametrize("workers", WORKERS)
def test_the_second_pass_leaves_out_the_listed_tests_and_runs_the_rest(suite, tmp_path, workers):
    listed = tmp_path / "blind.json"
    listed.write_text(json.dumps({"blind": BLIND}))
    result = run_suite(suite, workers, SEGEDU_SKIP_DATA_BLIND=str(listed))
    assert "7 passed" in result.stdout and "3 tests left out" in result.stdout, result.stdout
    assert "3 deselected" in result.stdout or workers  # xdist's controller does not count its workers' deselections


@pytest.mark.slow
@pytest.mark.parametrize("workers", WORKERS)
def test_a_missing_list_leaves_nothing_out(suite, tmp_path, workers):
    result = run_suite(suite, workers, SEGEDU_SKIP_DATA_BLIND=str(tmp_path / "absent.json"))
    assert "10 passed" in result.stdout and "deselected" not in result.stdout, result.stdout
    assert "every test runs" in result.stdout
