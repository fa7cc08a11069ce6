"""Shared fixtures: the offline data root, small image/mask folders written into tmp_path, and one headless Chromium
for every browser test of the session (Playwright's sync API allows one instance per thread at a time)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# CI's second pass (without the data) reruns only the tests that look for it: tests/data_dependence.py
pytest_plugins = ["tests.data_dependence"]


CACHE = "segedu_test_cache"  # under pytest-xdist: the controller's folder, handed to every worker
_CACHE_KEY = pytest.StashKey[tuple]()  # (folder, XDG_CACHE_HOME before, whether this process made the folder)


def pytest_configure(config):
    """The tests' own cache folder (XDG_CACHE_HOME), set before any test or notebook runs: fit's measured memory
    layouts (`engine.autotune`) and the notebooks' feature caches never reach the user's. Under pytest-xdist the
    controller makes it and every worker uses it, so each feature cache is computed once per run, not per worker."""
    worker_input = getattr(config, "workerinput", None)
    folder = worker_input[CACHE] if worker_input is not None else tempfile.mkdtemp(prefix="segedu-test-cache-")
    config.stash[_CACHE_KEY] = (folder, os.environ.get("XDG_CACHE_HOME"), worker_input is None)
    os.environ["XDG_CACHE_HOME"] = folder


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # the xdist controller, before it starts each worker
    node.workerinput[CACHE] = node.config.stash[_CACHE_KEY][0]


def pytest_unconfigure(config):
    if _CACHE_KEY not in config.stash:
        return
    folder, saved, owner = config.stash[_CACHE_KEY]
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved
    if owner:
        shutil.rmtree(folder, ignore_errors=True)



def _offline_root() -> Path | None:
    root = os.environ.get("SEGEDU_DATA")
    return Path(root) if root and (Path(root) / "camvid").is_dir() and (Path(root) / "isbi2012").is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """$SEGEDU_DATA holding camvid/ and isbi2012/ (CI sets it to ../shared/datasets)."""
    root = _offline_root()
    if root is None:
        pytest.skip("real data not found: set SEGEDU_DATA to a folder holding camvid/ and isbi2012/")
    return root


CHROMIUM = Path(os.environ.get("SEGEDU_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a skip that says how to install it."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (Debian: apt-get install chromium; "
                    f"or set SEGEDU_CHROMIUM)")
    pytest.importorskip("playwright", reason="browser tests need Playwright for Python (in requirements.lock)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium shared by the session: a second sync_playwright() in the same thread is refused."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def folder_dataset(tmp_path: Path):
    """A folder of 6 RGB images (20x24) with index masks holding labels 0..2, plus classes.txt."""
    rng = np.random.default_rng(0)
    for i in range(6):
        write_image(tmp_path / "images" / f"frame{i}.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
        mask = rng.integers(0, 3, (20, 24), dtype=np.uint8)
        mask[0, 0] = 255
        write_image(tmp_path / "masks" / f"frame{i}.png", mask)
    (tmp_path / "classes.txt").write_text("road\ncar\nsky\n")
    return tmp_path


def pytest_terminal_summary(terminalreporter):
    """One line for the reliability suite: how many bad inputs and faults were tried, and that each was handled."""
    reports = [report for key in ("passed", "failed") for report in terminalreporter.stats.get(key, [])
               if getattr(report, "when", "call") == "call" and "fault" in getattr(report, "keywords", {})]
    if reports:
        failed = sum(report.failed for report in reports)
        verdict = "each gave a clear error or an exact recovery, nothing lost" if not failed else f"{failed} FAILED"
        terminalreporter.write_line(f"bad inputs and faults tried: {len(reports)}; {verdict}")
