"""The two cells every notebook opens with for Colab and Kaggle, written into the notebooks by one command.

    python -m segedu.course.hosted_cells           # insert or update them in every notebooks/NN_*.ipynb
    python -m segedu.course.hosted_cells --check   # exit 1 naming each notebook whose cells are missing or stale

Every English notebook gets, and the Korean ones are built with (`segedu.course.translation`):

- ``hosted-badges``, the first cell: Markdown with the "Open in Colab" and "Open in Kaggle" badges of that very
  notebook (`hosted.badges`, from ``[project.urls] Repository``). It is not translated: the Korean edition's badges
  are written afresh for ``notebooks/ko/...`` by `translation.translate_notebook`, so the catalogs hold no entry
  for it;
- ``hosted-setup``, the notebook's first code cell, placed just before the lesson's own first code cell (the one
  that calls ``segedu.profile()``, which must see the profile the host picked): `hosted.first_cell_source` for
  the data sets the notebook reads with ``choose("camvid")`` or ``choose("isbi2012")``. Off Colab and Kaggle it
  prints nothing and changes nothing.

Both carry the tag "hosted" (nothing else: nbval runs the setup cell like any other; it has no output to compare).
Running the command twice changes nothing; a new segedu version, a data set added to a notebook or a new repository
address makes `--check` fail until the command is run again. The notebooks are read and written as JSON in
nbformat's own layout, so a run changes only these two cells.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

__all__ = ["BADGES_ID", "SETUP_ID", "TAG", "is_hosted_cell", "data_needed", "badges_source", "with_hosted_cells",
           "stale", "main"]

BADGES_ID, SETUP_ID, TAG = "hosted-badges", "hosted-setup", "hosted"
ROOT = Path(__file__).resolve().parents[2] / "notebooks"
_DATA_CALL = re.compile(r"""\b(?:choose|build_dataset)\(\s*["']([a-z0-9_]+)["']""")


def is_hosted_cell(cell: dict) -> bool:
    """True for the two cells this module writes (tests that look for a notebook's own first cells skip them)."""
    return cell.get("id") in (BADGES_ID, SETUP_ID)


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def data_needed(notebook: dict) -> list[str]:
    """The data sets ("camvid", "isbi2012") that the notebook's own code cells read: ``choose("camvid")`` (or
    ``build_dataset("camvid", ...)``), sorted; only names `hosted.prepare` can fetch."""
    from ..data.availability import STANDINS

    found = {name for cell in notebook["cells"] if cell["cell_type"] == "code" and not is_hosted_cell(cell)
             for name in _DATA_CALL.findall(_text(cell))}
    return sorted(found & set(STANDINS))


def badges_source(notebook_path: str | Path) -> str:
    """The badge cell's Markdown for the notebook at `notebook_path`, relative to the repository
    ("notebooks/07_fcn.ipynb", "notebooks/ko/07_fcn.ipynb")."""
    from .hosted import badges

    return badges(Path(notebook_path).as_posix())


def _cell(kind: str, cell_id: str, text: str, old: dict | None) -> dict:
    cell = copy.deepcopy(old) if old is not None and old.get("cell_type") == kind else {"metadata": {}}
    cell.update(cell_type=kind, id=cell_id, source=_lines(text))
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if TAG not in tags:
        tags.append(TAG)
    if kind == "code":
        if old is None or _text(old) != text:  # an output of other code would be stale
            cell.update(outputs=[], execution_count=None)
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


def with_hosted_cells(notebook: dict, notebook_path: str | Path, *, version: str | None = None) -> dict:
    """A copy of `notebook` (nbformat 4.5 JSON) that opens with the badges of `notebook_path` (relative to the
    repository) and whose first code cell is the hosted set-up, just before the lesson's first code cell. Cells
    already there (by id) are updated in place of being duplicated; every other cell is kept as it is."""
    from .hosted import RUNNING, first_cell_source

    path = Path(notebook_path)
    old = {cell["id"]: cell for cell in notebook["cells"] if is_hosted_cell(cell)}
    rest = [cell for cell in notebook["cells"] if not is_hosted_cell(cell)]
    setup_text = first_cell_source(path.name[:2], data_needed(notebook), version=version or RUNNING)
    badges = _cell("markdown", BADGES_ID, badges_source(path), old.get(BADGES_ID))
    setup = _cell("code", SETUP_ID, setup_text, old.get(SETUP_ID))
    first_code = next((index for index, cell in enumerate(rest) if cell["cell_type"] == "code"), len(rest))
    result = copy.deepcopy(notebook)
    result["cells"] = [badges, *rest[:first_code], setup, *rest[first_code:]]
    result["nbformat"], result["nbformat_minor"] = 4, max(5, notebook.get("nbformat_minor", 5))  # cell ids: 4.5
    return result


def _signature(notebook: dict) -> list[tuple]:
    """What `stale` compares: each cell's id, type, source and tags (not outputs or execution counts)."""
    return [(cell.get("id"), cell["cell_type"], _text(cell), tuple(cell.get("metadata", {}).get("tags", [])))
            for cell in notebook["cells"]]


def stale(notebook: dict, notebook_path: str | Path, *, version: str | None = None) -> str | None:
    """None when `notebook` already has its hosted cells as `with_hosted_cells` writes them, else what is wrong."""
    present = {cell.get("id") for cell in notebook["cells"] if is_hosted_cell(cell)}
    if not present:
        return "no hosted cells"
    if _signature(notebook) == _signature(with_hosted_cells(notebook, notebook_path, version=version)):
        return None
    missing = {BADGES_ID, SETUP_ID} - present
    return f"no {' or '.join(sorted(missing))} cell" if missing else "hosted cells out of date or out of place"


def _dump(notebook: dict) -> str:
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"  # nbformat.writes' layout


def _repository_path(path: Path, root: Path) -> Path:
    """notebooks/NN_name.ipynb or notebooks/ko/NN_name.ipynb: where the badges open the notebook on GitHub."""
    return Path("notebooks") / path.relative_to(root)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.hosted_cells", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if any notebook needs a run")
    parser.add_argument("--only", nargs="*", help="notebook numbers or stems, e.g. 07 09")
    parser.add_argument("--root", type=Path, default=ROOT, help="the notebooks folder (default: notebooks/)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    english = [path for path in sorted(root.glob("[0-9][0-9]_*.ipynb"))
               if not args.only or any(path.stem.startswith(name) for name in args.only)]
    if not english:
        parser.error(f"no notebooks named NN_name.ipynb in {root}")
    problems = []
    for path in english:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        relative = _repository_path(path, root)
        problem = stale(notebook, relative)
        if args.check:
            if problem:
                problems.append(f"{relative}: {problem}: run `python -m segedu.course.hosted_cells`")
            from .translation import LANGUAGES

            twins = [root / language / path.name for language in LANGUAGES]  # built from it: notebooks/ko/...
            for twin in [twin for twin in twins if twin.exists()]:
                twin_problem = stale(json.loads(twin.read_text(encoding="utf-8")), _repository_path(twin, root))
                if twin_problem:
                    problems.append(f"{_repository_path(twin, root)}: {twin_problem}: rebuild it with "
                                    f"`python -m segedu.course.translation build`")
        elif problem:
            path.write_text(_dump(with_hosted_cells(notebook, relative)), encoding="utf-8")
            print(f"{relative}: hosted cells written ({problem})")
    if args.check:
        print("\n".join(problems) or f"{len(english)} notebooks open with their hosted cells")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
