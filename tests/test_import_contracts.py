"""The three wings' import contracts (pyproject.toml, [tool.importlinter]) hold, and they catch a library module
that imports a wing, a wing that imports the other, and a new module nobody placed in a layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_the_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "segedu", tmp_path / "segedu", ignore=shutil.ignore_patterns("*.pt", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, line, broken", [
    ("metrics.py", "from .lab import statistics", "Three wings"),
    ("course/toc.py", "from ..lab import statistics", "Three wings"),
    ("lab/statistics.py", "from ..course import toc", "Three wings"),
    ("models/base.py", "from .. import scratch", "Models never import"),
])
def test_a_wrong_way_import_breaks_a_contract(copy: Path, module: str, line: str, broken: str):
    path = copy / "segedu" / module
    path.write_text(path.read_text() + f"\n{line}  # injected by the test\n")
    result = lint(copy)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout


def test_an_unplaced_module_breaks_the_contract(copy: Path):
    (copy / "segedu" / "newcomer.py").write_text('"""A module nobody placed in a layer."""\n')
    result = lint(copy)
    assert result.returncode != 0 and "newcomer" in result.stdout, result.stdout
