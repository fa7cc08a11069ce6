"""JupyterLab in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

The `lab` fixture starts JupyterLab on a free localhost port with a random token, in a temporary folder holding
copies of the course notebooks (the repository's notebooks are never saved over), with a fresh workspace and
settings (cells are all kept in the page, so the tests can look at every output). Each test gets a fresh page;
when a test fails, a screenshot of its page is written to test-artifacts/browser/.

Skipped, with the reason, where Chromium or Playwright is missing (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        page = item.funcargs.get("page")
        if page is not None:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            path = ARTIFACTS / f"{item.name}.png"
            try:
                page.screenshot(path=str(path))
                report.sections.append(("browser", f"screenshot of the failing page: {path}"))
            except Exception as error:  # the page may be gone; the failure itself matters more
                report.sections.append(("browser", f"no screenshot: {error}"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Lab:
    """A running JupyterLab: `url`, `token`, `root` (its folder), `open(page, notebook)`, `shut_down_kernels()` and
    `reset()`."""

    def __init__(self, url: str, token: str, root: Path, workspaces: Path | None = None):
        self.url, self.token, self.root, self.workspaces = url, token, root, workspaces

    def reset(self) -> None:
        """As a learner's fresh start: no kernel running, the course's notebooks as committed (JupyterLab autosaves
        the outputs a test produced, whose widgets die with their kernel) and no workspace reopening old tabs."""
        self.shut_down_kernels()
        for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            shutil.copy(notebook, self.root / notebook.name)
        if self.workspaces is not None and self.workspaces.exists():
            shutil.rmtree(self.workspaces)

    def shut_down_kernels(self) -> int:
        """Shut down every session's kernel (the REST API), as closing JupyterLab does: a kernel left running after
        its test (a notebook still training) would take the CPU from every test after it. -> how many."""
        def request(path: str, method: str = "GET"):
            call = urllib.request.Request(f"{self.url}{path}?token={self.token}", method=method)
            with urllib.request.urlopen(call, timeout=20) as response:
                return json.loads(response.read() or b"null")

        sessions = request("/api/sessions")
        for session in sessions:
            request(f"/api/sessions/{session['id']}", "DELETE")
        return len(sessions)

    def open(self, page, notebook: str, *, timeout: float = 90_000):
        """Open `notebook`, wait for its kernel to be idle; returns the page."""
        page.goto(f"{self.url}/lab/tree/{notebook}?token={self.token}")
        page.wait_for_function(
            """name => { const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                 const kernel = widget && widget.context && widget.context.path === name && widget.sessionContext
                   && widget.sessionContext.session && widget.sessionContext.session.kernel;
                 return kernel && kernel.status === 'idle'; }""", arg=notebook, timeout=timeout)
        return page


@pytest.fixture(scope="session")
def lab(chromium, tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("lab")
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy(notebook, root / notebook.name)
    settings = tmp_path_factory.mktemp("lab-settings")
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell in the page, not only the visible ones
    port, token = _free_port(), secrets.token_hex(16)
    environment = {**os.environ, "SEGEDU_PROFILE": "fast", "SEGEDU_DATA": str(data_root)}
    environment.pop("MPLBACKEND", None)  # the kernel's own inline backend, as a learner has it
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={settings / 'workspaces'}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = (tmp_path_factory.getbasetemp() / "jupyterlab.log").open("w")
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"JupyterLab did not start on port {port}; see {log.name}")
            time.sleep(0.3)
    yield Lab(url, token, root, settings / "workspaces")
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(autouse=True)
def _fresh_lab_after_each_test(request):
    """Each browser test leaves no kernel running and the notebooks and workspace as it found them."""
    yield
    if "lab" in request.fixturenames:
        request.getfixturevalue("lab").reset()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
