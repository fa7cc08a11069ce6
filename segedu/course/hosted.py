"""Colab and Kaggle: a notebook's first code cell installs the course there, fetches its data and picks the GPU.

Only on a hosted runtime; everywhere else (a laptop, `make lab`, the tests, CI) `prepare` does nothing. The cell
(`first_cell_source`) reads, for notebook 07:

    try:
        from segedu.course import hosted
    except ImportError:  # only a hosted runtime installs segedu here; elsewhere this error stands
        ...  # pip install "segedu[pretrained] @ git+<repository>@v0.1.0"
    hosted_setup = hosted.prepare(["camvid"], version="0.1.0")

`detect` reads the hosts' environment variables. They are not documented by Google or Kaggle as an interface; they
are what other projects rely on (Colab: COLAB_RELEASE_TAG, COLAB_GPU; Kaggle: KAGGLE_KERNEL_RUN_TYPE,
KAGGLE_URL_BASE). Kaggle's image is built on Colab's and sets COLAB_RELEASE_TAG too, so Kaggle is tested first.
What was not tried on the real hosts is listed in docs/hosted.md. `python -m segedu.course.hosted_cells` writes the
badges and this cell into every notebook.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import __version__ as RUNNING
from ..data.availability import STANDINS, fetch_missing

__all__ = ["HOST_VARIABLES", "detect", "repository_url", "install_spec", "prepare", "first_cell_source", "badges"]

HOST_VARIABLES = {"kaggle": ("KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_URL_BASE"), "colab": ("COLAB_RELEASE_TAG", "COLAB_GPU")}
_PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # present in a clone, absent in a wheel install
_GPU_SETTING = {"colab": "a GPU under Runtime > Change runtime type", "kaggle": "a GPU as the notebook's Accelerator"}


def detect(environ: Mapping[str, str] | None = None) -> str | None:
    """"kaggle", "colab" or None (not a hosted runtime), from the hosts' environment variables; "colab" also when
    the module google.colab can be imported."""
    environ = os.environ if environ is None else environ
    for host, variables in HOST_VARIABLES.items():  # Kaggle first: its image sets COLAB_RELEASE_TAG as well
        if any(name in environ for name in variables):
            return host
    try:
        return "colab" if importlib.util.find_spec("google.colab") is not None else None
    except (ImportError, ValueError):  # no "google" package at all
        return None


def repository_url() -> str:
    """The repository (`project.urls`, "Repository"): from pyproject.toml in a clone, else the installed metadata."""
    urls: dict[str, str] = {}
    try:
        import tomllib  # Python 3.11+

        project = tomllib.loads(_PYPROJECT.read_text()).get("project", {})
        urls = project.get("urls", {}) if project.get("name") == "segedu" else {}
    except (ImportError, OSError, ValueError):  # Python 3.10, no pyproject.toml (a wheel), or an unreadable one
        pass
    if not urls:
        try:
            for entry in importlib.metadata.metadata("segedu").get_all("Project-URL") or []:
                label, _, url = entry.partition(",")
                urls[label.strip()] = url.strip()
        except importlib.metadata.PackageNotFoundError:
            pass
    if "Repository" not in urls:
        raise LookupError("segedu's metadata names no repository: set [project.urls] Repository in pyproject.toml")
    return urls["Repository"].rstrip("/")


def install_spec(version: str) -> str:
    """What pip installs: the course at tag v`version` of the repository, with the pretrained encoders' packages
    (the shipped heads load them); ``SEGEDU_WHEEL=/path/to/wheel`` installs that wheel instead (the tests)."""
    wheel = os.environ.get("SEGEDU_WHEEL")
    source = Path(wheel).resolve().as_uri() if wheel else _tagged(version)
    return f"segedu[pretrained] @ {source}"


def _tagged(version: str) -> str:
    """pip's address of the repository at tag v`version`: every release must be tagged so (docs/hosted.md)."""
    return f"git+{repository_url()}@v{version}"


def _pip(arguments: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "pip", *arguments], check=True)


def prepare(notebook_data: list[str] | tuple[str, ...] = (), *, version: str | None = None,
            installer: Callable[[list[str]], None] = _pip, fetch: Callable[..., dict] = fetch_missing,
            say: Callable[[str], None] = print) -> dict:
    """On Colab or Kaggle: install the course at `version`, fetch `notebook_data`, pick the GPU and the profile.

    Off a hosted runtime it does nothing and returns ``{"hosted": None}``. On one it returns
    ``{"hosted": "colab" | "kaggle", "installed": pip spec | None, "restart": bool, "data_root": str,
    "data": {name: "present" | "downloaded" | "skipped" | "failed"}, "profile": "full" | "fast", "gpu": str | None}``.

    - install: when the running segedu is not `version`, ``installer(["install", "-q", spec])`` (`install_spec`);
      the old one stays imported, so it asks for a restart and returns at once with "restart": True (data and
      profile are left to the next run of the cell). A missing segedu is installed by the cell itself.
    - data: `$SEGEDU_DATA`, when unset, becomes ./datasets (Colab: /content/datasets, Kaggle: /kaggle/working/
      datasets); ``fetch(names, root, say=say)`` is `segedu.data.fetch_missing`: the checksummed, atomic download
      with its progress bar. A failure (offline, a wrong checksum) is said in one line, with its reason, and the
      notebook runs on the data set's synthetic stand-in; it never raises.
    - profile: ``SEGEDU_PROFILE`` becomes "full" when CUDA sees a GPU, else "fast" after a line saying where the host
      offers a GPU; a SEGEDU_PROFILE the learner set is kept.
    """
    host = detect()
    if host is None:
        return {"hosted": None}
    unknown = [name for name in notebook_data if name not in STANDINS]
    if unknown:
        raise ValueError(f"prepare() fetches {sorted(STANDINS)}, not {unknown}")
    result = {"hosted": host, "installed": None, "restart": False}
    if version is not None and RUNNING != version:
        spec = install_spec(version)
        say(f"{host}: segedu {RUNNING} is installed, this notebook is written for {version}: installing {spec}")
        installer(["install", "-q", spec])
        say(f"installed. Restart the session (the kernel) and run this cell again: segedu {RUNNING} is still the one "
            f"imported.")
        return {**result, "installed": spec, "restart": True}
    root = Path(os.environ.setdefault("SEGEDU_DATA", str(Path.cwd() / "datasets")))
    result["data_root"] = str(root)
    result["data"] = fetch(tuple(notebook_data), root, say=say) if notebook_data else {}

    import torch

    gpu = None
    if torch.cuda.is_available():
        try:
            gpu = torch.cuda.get_device_name(0)
        except (RuntimeError, AssertionError):
            gpu = "a CUDA GPU"
    chosen = os.environ.setdefault("SEGEDU_PROFILE", "full" if gpu else "fast")
    if gpu is None:
        say(f"{host}: this runtime has no GPU, so the fast profile (CPU-sized) is kept; for the full profile choose "
            f"{_GPU_SETTING[host]} and run the notebook again.")
    say(f"{host}: profile {chosen}, device {'cuda (' + gpu + ')' if gpu else 'cpu'}, data in {root}")
    return {**result, "profile": chosen, "gpu": gpu}


def first_cell_source(notebook_number: str | int, data: list[str] | tuple[str, ...] = (), *,
                      version: str = RUNNING) -> str:
    """The lines that open notebook `notebook_number`'s first code cell: on Colab or Kaggle they install segedu
    `version` when it is missing, then `prepare(data, version=version)`; elsewhere a missing segedu stays an
    ImportError and `prepare` does nothing."""
    names = sorted({name for variables in HOST_VARIABLES.values() for name in variables})
    source = _tagged(version)
    return (f"# {int(notebook_number):02d}: on Colab or Kaggle this installs segedu {version}, fetches "
            f"{', '.join(data) or 'no data set'} and picks the GPU; elsewhere it does nothing.\n"
            f"try:\n"
            f"    from segedu.course import hosted\n"
            f"except ImportError:  # only a hosted runtime installs segedu here; elsewhere this error stands\n"
            f"    import importlib, os, pathlib, subprocess, sys\n"
            f"    if not any(name in os.environ for name in {names!r}):\n"
            f"        raise\n"
            f"    wheel = os.environ.get(\"SEGEDU_WHEEL\")  # the tests: a local wheel instead of the repository\n"
            f"    source = pathlib.Path(wheel).resolve().as_uri() if wheel else {source!r}\n"
            f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", f\"segedu[pretrained] @ "
            f"{{source}}\"], check=True)\n"
            f"    importlib.invalidate_caches()\n"
            f"    from segedu.course import hosted\n"
            f"hosted_setup = hosted.prepare({list(data)!r}, version={version!r})\n")


def badges(notebook_path: str | Path, *, ref: str = "main") -> str:
    """Markdown of the "Open in Colab" and "Open in Kaggle" badges of the notebook at `notebook_path` (relative to
    the repository, e.g. "notebooks/07_fcn.ipynb") on branch or tag `ref` of the GitHub repository."""
    repository = repository_url()
    if not repository.startswith("https://github.com/"):
        raise ValueError(f"badges need a GitHub repository (Colab opens notebooks from GitHub), not {repository}")
    path = Path(notebook_path)
    if path.is_absolute():
        path = path.resolve().relative_to(_PYPROJECT.parent)
    blob = f"{repository.removeprefix('https://github.com/')}/blob/{ref}/{path.as_posix()}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{blob}) "
            f"[![Open In Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]"
            f"(https://kaggle.com/kernels/welcome?src=https://github.com/{blob})")
