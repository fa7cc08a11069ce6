"""Shared fixtures: the offline data root, small image/mask folders written into tmp_path, and one headless Chromium
for every browser test of the session (Playwright's sync API allows one instance per thread at a time)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# CI's second pass (without the data) reruns only the tests that look for it: tests/data_dependence.py
pytest_plugins = ["tests.data_dependence"]


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """The tests' own cache folder: fit's measured memory layouts (`engine.autotune`) never reach the user's. Under
    pytest-xdist the workers share one (beside their own temporary folders), so the notebooks' feature caches are
    computed once per run, not once per worker; every file in it is written atomically."""
    saved = os.environ.get("XDG_CACHE_HOME")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp("cache")
    else:
        folder = tmp_path_factory.getbasetemp().parent / "cache"
        folder.mkdir(exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


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
