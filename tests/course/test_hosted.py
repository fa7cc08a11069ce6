"""`segedu.course.hosted` on a simulated Colab (its environment variables): the first cell installs the matching
version, fetches the notebook's data through the checksummed download from a local HTTP server, and picks the full
profile only when a GPU is reported; off a hosted runtime it does nothing.

Not simulated here, and listed in docs/hosted.md: the real hosts (their variables, their pip, their network), a
real GPU, and the repository address, a placeholder until the repository is published.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import segedu
import segedu.course
from segedu.course import hosted
from segedu.data.availability import choose
from segedu.data.download import SOURCES, Source, verify
from tests.test_download import server, write_zip  # noqa: F401 (server is a fixture)

RUNNING = segedu.__version__
REPOSITORY = "https://github.com/segedu/segedu"  # pyproject.toml's [project.urls] Repository


def never(*arguments, **options):
    raise AssertionError(f"called with {arguments} {options}, but nothing may happen here")


@pytest.fixture
def off_host(monkeypatch, tmp_path):
    """No host's variables, none of segedu's settings, the working directory in tmp_path."""
    for variables in hosted.HOST_VARIABLES.values():
        for name in variables:
            monkeypatch.delenv(name, raising=False)
    for name in ("SEGEDU_DATA", "SEGEDU_PROFILE", "SEGEDU_WHEEL", "SEGEDU_NO_DOWNLOAD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


@pytest.fixture
def colab(off_host):
    """A simulated Colab: its variable set (tests of Kaggle set theirs), no GPU unless a test says so."""
    off_host.setenv("COLAB_RELEASE_TAG", "release-colab-simulated")
    off_host.setattr(torch.cuda, "is_available", lambda: False)
    return off_host


def test_off_a_hosted_runtime_nothing_happens(off_host, tmp_path):
    assert hosted.detect() is None
    assert hosted.prepare(["camvid"], version="9.9.9", installer=never, fetch=never, say=never) == {"hosted": None}
    assert all(name not in os.environ for name in ("SEGEDU_DATA", "SEGEDU_PROFILE"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variables, host", [
    ({"COLAB_RELEASE_TAG": "x"}, "colab"), ({"COLAB_GPU": ""}, "colab"),
    ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, "kaggle"), ({"KAGGLE_URL_BASE": "https://www.kaggle.com"}, "kaggle"),
    ({"KAGGLE_KERNEL_RUN_TYPE": "Interactive", "COLAB_RELEASE_TAG": "x"}, "kaggle"),  # Kaggle's image is Colab's
    ({"HOME": "/root"}, None)])
def test_the_host_is_read_from_its_variables(variables, host):
    assert hosted.detect(variables) == host


def test_on_colab_another_version_is_installed_at_its_tag_and_a_restart_asked(colab):
    calls, said = [], []
    result = hosted.prepare(["camvid"], version="9.9.9", installer=calls.append, fetch=never, say=said.append)
    assert calls == [["install", "-q", f"segedu[pretrained] @ git+{REPOSITORY}@v9.9.9"]]
    assert result == {"hosted": "colab", "installed": calls[0][-1], "restart": True}
    assert "Restart the session" in said[-1]


def test_the_running_version_installs_nothing_and_a_local_wheel_replaces_the_repository(colab, tmp_path):
    said = []
    result = hosted.prepare([], version=RUNNING, installer=never, say=said.append)
    assert result["installed"] is None and not result["restart"] and result["data"] == {}
    wheel = tmp_path / "segedu-9.9.9-py3-none-any.whl"
    colab.setenv("SEGEDU_WHEEL", str(wheel))
    assert hosted.install_spec("9.9.9") == f"segedu[pretrained] @ {wheel.resolve().as_uri()}"


def membranes(tmp_path, base: str, altered: str | None = None) -> Source:
    """A tiny ISBI 2012 (25 labelled 4x4 slices, enough for `segedu.data.ISBI2012(split="train")`), zipped as in
    zhixuhao/unet's archive in `tmp_path/www`, with its SHA-256 manifest; `altered` names a file served altered."""
    files = {}
    for index in range(25):
        for kind in ("image", "label"):
            buffer = io.BytesIO()
            Image.new("L", (4, 4), 255 if kind == "label" else index).save(buffer, format="PNG")
            files[f"train/{kind}/{index}.png"] = buffer.getvalue()
    manifest = tmp_path / "isbi2012.sha256"
    manifest.write_text("".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items()))
    write_zip(tmp_path / "www" / "unet.zip", {f"unet-master/data/membrane/{name}": b"altered" if name == altered
                                              else data for name, data in files.items()})
    return Source("isbi2012", f"{base}/unet.zip", "unet-master/data/membrane", manifest, "test terms", "2 kB")


def test_on_colab_the_data_is_fetched_and_verified_through_the_checksummed_download(colab, server, tmp_path):
    source = membranes(tmp_path, server[1])
    colab.setitem(SOURCES, "isbi2012", source)
    said = []
    result = hosted.prepare(["isbi2012"], version=RUNNING, installer=never, say=said.append)
    root = tmp_path / "datasets"  # SEGEDU_DATA was unset: ./datasets (Colab's /content/datasets)
    assert result["data_root"] == str(root) and result["data"] == {"isbi2012": "downloaded"}
    verify(root / "isbi2012", source.manifest)
    assert choose("isbi2012", root=root, say=never) == "isbi2012", "the notebook now reads the real data set"
    assert any(f"from {source.url}" in line for line in said)


@pytest.mark.fault
def test_on_colab_a_wrong_checksum_fails_clearly_and_keeps_nothing(colab, server, tmp_path):
    colab.setitem(SOURCES, "isbi2012", membranes(tmp_path, server[1], altered="train/label/7.png"))
    said = []
    result = hosted.prepare(["isbi2012"], version=RUNNING, installer=never, say=said.append)
    assert result["data"] == {"isbi2012": "failed"}
    assert any("train/label/7.png does not match its SHA-256" in line and "stand-in 'membranes'" in line
               for line in said), said
    assert list((tmp_path / "datasets").iterdir()) == [], "no partial data set is left"
    assert choose("isbi2012", root=tmp_path / "datasets", say=lambda line: None) == "membranes"


@pytest.mark.parametrize("gpu", [True, False])
def test_the_profile_is_full_only_when_a_gpu_is_reported(colab, gpu):
    colab.setattr(torch.cuda, "is_available", lambda: gpu)
    colab.setattr(torch.cuda, "get_device_name", lambda index=0: "Simulated T4")
    said = []
    result = hosted.prepare([], version=RUNNING, installer=never, say=said.append)
    expected = "full" if gpu else "fast"
    assert result["profile"] == expected and segedu.profile().name == expected
    assert result["gpu"] == ("Simulated T4" if gpu else None)
    assert any("has no GPU" in line for line in said) != gpu


def test_a_profile_the_learner_chose_is_kept(colab):
    colab.setattr(torch.cuda, "is_available", lambda: True)
    colab.setattr(torch.cuda, "get_device_name", lambda index=0: "Simulated T4")
    colab.setenv("SEGEDU_PROFILE", "fast")
    assert hosted.prepare([], installer=never, say=lambda line: None)["profile"] == "fast"


def test_unknown_data_sets_are_refused(colab):
    with pytest.raises(ValueError, match="not \\['cityscapes'\\]"):
        hosted.prepare(["cityscapes"], installer=never, fetch=never, say=never)


@pytest.fixture
def segedu_missing(monkeypatch):
    """`from segedu.course import hosted` fails as on a runtime without segedu; `install()` makes it work again."""
    monkeypatch.delattr(segedu.course, "hosted")
    monkeypatch.setitem(sys.modules, "segedu.course.hosted", None)
    calls = []

    def install(command, check):
        calls.append(command)
        sys.modules["segedu.course.hosted"] = hosted
        segedu.course.hosted = hosted

    monkeypatch.setattr(subprocess, "run", install)
    return calls


def test_the_first_cell_does_nothing_locally(off_host, segedu_missing):
    cell = hosted.first_cell_source(9, ["isbi2012"])
    with pytest.raises(ImportError):  # segedu missing on a laptop: the error stands, nothing is installed
        exec(cell, {})
    assert segedu_missing == []
    off_host.setitem(sys.modules, "segedu.course.hosted", hosted)
    off_host.setattr(segedu.course, "hosted", hosted, raising=False)
    namespace = {}
    exec(cell, namespace)
    assert namespace["hosted_setup"] == {"hosted": None}


def test_the_first_cell_installs_segedu_on_colab_then_prepares(colab, segedu_missing):
    colab.setenv("SEGEDU_NO_DOWNLOAD", "1")
    namespace = {}
    exec(hosted.first_cell_source("09", ["isbi2012"]), namespace)
    assert segedu_missing == [[sys.executable, "-m", "pip", "install", "-q",
                               f"segedu[pretrained] @ git+{REPOSITORY}@v{RUNNING}"]]
    assert namespace["hosted_setup"]["hosted"] == "colab" and namespace["hosted_setup"]["profile"] == "fast"
    assert namespace["hosted_setup"]["data"] == {"isbi2012": "skipped"}


def test_the_first_cell_asks_for_the_version_it_was_written_for(colab, monkeypatch):
    commands = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: commands.append(command))
    namespace = {}
    exec(hosted.first_cell_source("02", [], version="9.9.9"), namespace)  # segedu RUNNING is installed: not 9.9.9
    assert commands == [[sys.executable, "-m", "pip", "install", "-q", f"segedu[pretrained] @ git+{REPOSITORY}@v9.9.9"]]
    assert namespace["hosted_setup"]["restart"]


def test_the_page_on_hosted_runtimes_shows_the_cell_as_it_is_written():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "hosted.md").read_text()
    assert hosted.first_cell_source("07", ["camvid"]) in page


def test_badges_open_the_notebook_from_the_repository():
    markdown = hosted.badges("notebooks/07_fcn.ipynb")
    blob = "segedu/segedu/blob/main/notebooks/07_fcn.ipynb"
    assert f"(https://colab.research.google.com/github/{blob})" in markdown
    assert f"(https://kaggle.com/kernels/welcome?src=https://github.com/{blob})" in markdown
    assert "colab-badge.svg" in markdown and "open-in-kaggle.svg" in markdown


@pytest.mark.slow
def test_the_first_cell_installs_the_wheel_with_pip_in_a_throwaway_environment(tmp_path):
    """The cell's own text, run by a new environment's python on a simulated Colab: pip installs the wheel built
    from this source (SEGEDU_WHEEL, offline: PIP_NO_INDEX, PIP_NO_DEPS; the dependencies are the pinned ones, see
    tests/test_wheel.py), then `prepare` picks the profile; a second run installs nothing."""
    from tests.test_wheel import build_wheel, clean_environment, make_venv

    wheel, python = build_wheel(tmp_path), make_venv(tmp_path / "venv")
    cell = tmp_path / "cell.py"
    cell.write_text(hosted.first_cell_source("02", []) + "print('RESULT', hosted_setup, hosted.__file__)\n")
    environment = {**clean_environment(tmp_path), "COLAB_RELEASE_TAG": "simulated", "SEGEDU_WHEEL": str(wheel),
                   "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1"}
    environment.pop("SEGEDU_PROFILE")
    missing = subprocess.run([str(python), "-c", "import segedu"], cwd=tmp_path, env=environment, capture_output=True)
    assert missing.returncode != 0, "the new environment must start without segedu"
    for _ in range(2):
        result = subprocess.run([str(python), str(cell)], cwd=tmp_path, env=environment, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        line = result.stdout.splitlines()[-1]
        assert "'hosted': 'colab'" in line and "'installed': None" in line and str(tmp_path / "venv") in line
    assert f"segedu-{RUNNING}.dist-info" in {path.name for path in (tmp_path / "venv").rglob("segedu-*.dist-info")}
