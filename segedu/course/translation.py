"""One course, two languages: the Korean notebooks are built from the English ones and gettext catalogs.

Every Markdown cell of `notebooks/NN_name.ipynb` is one entry of `notebooks/locale/ko/NN_name.po`, keyed by the
notebook and the cell's id (the entry's context, ``msgctxt``), with the English text as its ``msgid`` and the Korean
as its ``msgstr``. Any gettext tool (Poedit, Weblate, Lokalize) opens the catalogs; `polib` reads and writes them.

    python -m segedu.course.translation update   # the catalogs follow the English notebooks
    python -m segedu.course.translation build    # notebooks/ko/*.ipynb, never edited by hand
    python -m segedu.course.translation check    # every entry translated and not fuzzy, notebooks/ko up to date

`update` never loses a translation: an entry whose English changed keeps its Korean, marked *fuzzy* with the old
English beside it (``#| msgid``), so a translator sees exactly what changed; a cell that disappeared becomes an
obsolete entry. `update` also collects what the notebook's code prints and draws, one entry per template (the text
with its numbers as placeholders) with the context ``NN_name:output`` (`segedu.course.output_translation`).

`build` copies each English notebook's code cells untouched and replaces each Markdown cell by its translation; it
refuses a missing or fuzzy entry (the Korean would be out of step with the English). Its outputs are those of the
Korean notebook's own run in Korean, as long as that run executed the English code as it is now (`site notebooks
--refresh` runs both editions and stamps the Korean one with the code's hash); otherwise they are the English
outputs with their printed lines translated, and figures stay English until the next refresh.
The one Markdown cell without an entry is the Colab and Kaggle badges (id ``hosted-badges``,
`segedu.course.hosted_cells`): each edition writes its own, whose links open that edition's notebook.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import polib

from ..language import catalog_metadata, in_step
from .hosted_cells import BADGES_ID
from .output_translation import (OUTPUT_CONTEXT, conflicts, normalized, output_table, output_templates,
                                 translate_outputs)

__all__ = ["LANGUAGES", "markdown_cells", "update_catalog", "translate_notebook", "untranslated", "build", "main"]

LANGUAGES = ("ko",)
ROOT = Path(__file__).resolve().parents[2] / "notebooks"


def markdown_cells(notebook: dict) -> list[tuple[str, str]]:
    """(cell id, Markdown source) of every Markdown cell, in order; a cell without an id is refused."""
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown" or cell.get("id") == BADGES_ID:  # written per edition (_per_edition)
            continue
        if not cell.get("id"):
            raise ValueError(f"Markdown cell {index} has no id (nbformat 4.5 ids key the translations)")
        cells.append((cell["id"], "".join(cell["source"])))
    return cells


def _context(stem: str, cell_id: str) -> str:
    return f"{stem}:{cell_id}"


def _is_output(entry: polib.POEntry) -> bool:
    return (entry.msgctxt or "").endswith(":" + OUTPUT_CONTEXT)


def code_hash(notebook: dict) -> str:
    """SHA-256 of a notebook's code cells, in order: a Korean execution stands for exactly this code."""
    digest = hashlib.sha256()
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            digest.update(("".join(cell["source"]) + "\0").encode("utf-8"))
    return digest.hexdigest()


def update_catalog(notebook_path: Path, catalog_path: Path, *, language: str = "ko") -> polib.POFile:
    """Bring the catalog of `notebook_path` in step with it (module docstring) and save it. -> the catalog."""
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    stem = Path(notebook_path).stem
    catalog = polib.pofile(str(catalog_path), wrapwidth=0) if Path(catalog_path).exists() else polib.POFile(wrapwidth=0)
    catalog.metadata = catalog_metadata(language)
    previous = {entry.msgctxt: entry for entry in catalog if not entry.obsolete and not _is_output(entry)}
    old_outputs: dict[str, polib.POEntry] = {}
    for entry in sorted((entry for entry in catalog if _is_output(entry)), key=lambda entry: bool(entry.msgstr)):
        old_outputs[normalized(entry.msgid)] = entry  # a translated entry wins over one with the same key
    kept_obsolete = [entry for entry in catalog if entry.obsolete and not _is_output(entry)]
    entries = []
    for cell_id, source in markdown_cells(notebook):
        context = _context(stem, cell_id)
        entries.append(in_step(previous.pop(context, None), context, source))  # a changed English: fuzzy
    for text in output_templates(notebook):  # what its code prints and draws (segedu.course.output_translation)
        entry = old_outputs.pop(text, None) or polib.POEntry(msgctxt=_context(stem, OUTPUT_CONTEXT), msgid=text,
                                                             msgstr="")
        entry.obsolete, entry.msgid = False, text
        entries.append(entry)
    for entry in [*previous.values(), *(e for e in old_outputs.values() if e.msgstr)]:  # gone: kept as obsolete
        entry.obsolete = True
        entries.append(entry)
    catalog[:] = entries + kept_obsolete
    Path(catalog_path).parent.mkdir(parents=True, exist_ok=True)
    catalog.save(str(catalog_path))
    return catalog


def untranslated(catalog: polib.POFile) -> list[str]:
    """The contexts of the entries that are missing a translation or are fuzzy (obsolete ones aside); an output's
    context names its English too."""
    return [entry.msgctxt + (f" {entry.msgid[:60]!r}" if _is_output(entry) else "") for entry in catalog
            if not entry.obsolete and (not entry.msgstr or "fuzzy" in entry.flags)]


def _per_edition(cell: dict, stem: str, language: str) -> list[str] | None:
    """The source of a Markdown cell that each edition writes for itself instead of translating it, else None: the
    Colab and Kaggle badges (`segedu.course.hosted_cells`), whose links must open this edition's own notebook."""
    if cell.get("id") != BADGES_ID:
        return None
    from .hosted_cells import badges_source

    return badges_source(f"notebooks/{language}/{stem}.ipynb").splitlines(keepends=True)


def translate_notebook(notebook: dict, catalog: polib.POFile, stem: str, *, language: str = "ko",
                       executed: dict | None = None, outputs: dict[str, str] | None = None) -> dict:
    """A copy of `notebook` whose Markdown cells are the catalog's translations and code cells the same, with the
    outputs of `executed` (a run of this very code in `language`, matched by cell id) or else the English outputs
    with their printed lines translated by `outputs` ({template: translation}, `output_translation.output_table`).
    ValueError names the first cell whose entry is missing, empty, fuzzy or written for other English."""
    entries = {entry.msgctxt: entry for entry in catalog if not entry.obsolete}
    translated = copy.deepcopy(notebook)
    for cell in translated["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        edition = _per_edition(cell, stem, language)
        if edition is not None:
            cell["source"] = edition
            continue
        context, source = _context(stem, cell["id"]), "".join(cell["source"])
        entry = entries.get(context)
        if entry is None or not entry.msgstr or "fuzzy" in entry.flags or entry.msgid != source:
            state = ("missing" if entry is None or not entry.msgstr else
                     "fuzzy" if "fuzzy" in entry.flags else "written for other English")
            raise ValueError(f"{stem}: the {language} translation of cell {cell['id']} is {state}: run "
                             f"`python -m segedu.course.translation update` and translate it")
        lines = entry.msgstr.split("\n")
        cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    translated.setdefault("metadata", {})["language"] = language
    runs = executed_outputs(executed, notebook, language) if executed is not None else None
    if runs is None:
        translate_outputs(translated, outputs or {})
    else:
        for cell in translated["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"], timing = runs[cell["id"]]
                cell["metadata"] = {key: value for key, value in cell["metadata"].items() if key != "execution"}
                if timing is not None:  # nbclient's timestamps of that run
                    cell["metadata"]["execution"] = timing
        translated["metadata"][EXECUTED] = {"language": language, "code": code_hash(notebook)}
    return translated


EXECUTED = "segedu_execution"  # a Korean notebook's metadata: it was executed in its language, for this code


def executed_outputs(executed: dict, english: dict, language: str) -> dict | None:
    """{cell id: (outputs, execution count, timestamps)} of `executed` when it is a run in `language` of
    `english`'s code as it is now, else None."""
    stamp = executed.get("metadata", {}).get(EXECUTED, {})
    if stamp.get("language") != language or stamp.get("code") != code_hash(english):
        return None
    runs = {cell.get("id"): (cell.get("outputs", []), cell.get("execution_count"),
                             cell.get("metadata", {}).get("execution"))
            for cell in executed["cells"] if cell["cell_type"] == "code"}
    wanted = [cell.get("id") for cell in english["cells"] if cell["cell_type"] == "code"]
    return runs if all(cell_id in runs for cell_id in wanted) else None


def _dump(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def build(root: Path = ROOT, *, language: str = "ko", names: Iterable[str] | None = None,
          write: bool = True) -> dict[Path, str]:
    """Translate every English notebook of `root` (or those whose stem starts with one of `names`) into
    `root/language/`. -> {path: the notebook's text}; written only when `write`."""
    built = {}
    for path in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        if names and not any(path.stem.startswith(name) for name in names):
            continue
        catalog = polib.pofile(str(root / "locale" / language / f"{path.stem}.po"), wrapwidth=0)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        target = root / language / path.name
        executed = json.loads(target.read_text(encoding="utf-8")) if target.exists() else None
        built[target] = _dump(translate_notebook(notebook, catalog, path.stem, language=language, executed=executed,
                                                 outputs=output_table(language, root)))
        if write:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(built[target], encoding="utf-8")
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.translation", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("update", "build", "check"))
    parser.add_argument("--language", default="ko", choices=LANGUAGES)
    parser.add_argument("--only", nargs="*", help="notebook numbers or stems, e.g. 00 09")
    args = parser.parse_args(argv)
    notebooks = [path for path in sorted(ROOT.glob("[0-9][0-9]_*.ipynb"))
                 if not args.only or any(path.stem.startswith(name) for name in args.only)]
    if args.command == "update":
        for path in notebooks:
            catalog = update_catalog(path, ROOT / "locale" / args.language / f"{path.stem}.po", language=args.language)
            print(f"{path.stem}: {len(untranslated(catalog))} of {len([e for e in catalog if not e.obsolete])} "
                  f"entries to translate")
        return 0
    if args.command == "build":
        for target in build(ROOT, language=args.language, names=args.only):
            print(f"wrote {target.relative_to(ROOT.parent)}")
        return 0
    problems = []
    for path in notebooks:
        catalog = polib.pofile(str(ROOT / "locale" / args.language / f"{path.stem}.po"), wrapwidth=0)
        problems += [f"{context}: missing or fuzzy" for context in untranslated(catalog)]
    problems += conflicts(args.language, ROOT)
    for target, text in build(ROOT, language=args.language, names=args.only, write=False).items() if not problems else ():
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            problems.append(f"{target.relative_to(ROOT.parent)} is not built from the catalogs: run `build`")
    print("\n".join(problems) or "every entry translated; the Korean notebooks are up to date")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
