"""The messages the course says to the learner outside the notebooks' prose, and their gettext catalog
(``segedu/locale/<language>/messages.po``, read by `segedu.language.tr`).

    python -m segedu.course.messages update   # the catalog follows the code: new messages in, removed ones obsolete
    python -m segedu.course.messages check    # every message translated, not fuzzy, with the same placeholders

Which messages: every literal first argument of a `tr(...)` or `said_later(...)` call in the package (the command line's output and
help, the checks' verdicts), every hint given to a check (`hint=` of `compare`, and `HINTS`) and every explanation
of `checks.concepts.CONCEPTS`. `messages()` finds them by reading the code (ast), so a test can require each one
translated.
"""

from __future__ import annotations

import argparse
import ast
import re
import string
import sys
from pathlib import Path

import polib

from ..language import LANGUAGES, _translations, catalog_metadata, catalog_path, tr

COURSE = Path(__file__).resolve().parent
PACKAGE = COURSE.parent

__all__ = ["tr", "messages", "catalog_path", "update_catalog", "problems", "placeholders"]


def placeholders(text: str) -> set[str]:
    """The {names} a template formats (none for a text that is never formatted)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _strings(node: ast.AST) -> list[str]:
    """The string literals in an expression: a string, or a list or tuple of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [text for element in node.elts for text in _strings(element)]
    return []


def messages() -> list[str]:
    """Every message the course can say through `tr`, in a stable order (file by file, as written)."""
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if called in ("tr", "said_later") and node.args:
                    found += _strings(node.args[0])
                found += [text for keyword in node.keywords if keyword.arg == "hint" for text in _strings(keyword.value)]
    from .checks.concepts import CONCEPTS

    found += [text for concept in CONCEPTS.values() for text in concept.explanations.values()]
    return list(dict.fromkeys(text for text in found if text.strip()))


def update_catalog(code: str = "ko") -> polib.POFile:
    """Bring the catalog of language `code` in step with the code: add each new message (untranslated), keep every
    translation whose English is unchanged, and make obsolete the entries of messages the code no longer says."""
    path = catalog_path(code)
    catalog = polib.pofile(str(path), wrapwidth=0) if path.exists() else polib.POFile(wrapwidth=0)
    catalog.metadata = catalog_metadata(code)
    wanted = messages()
    present = {entry.msgid: entry for entry in catalog}
    for text in wanted:
        entry = present.get(text)
        if entry is None:
            catalog.append(polib.POEntry(msgid=text, msgstr=""))
        elif entry.obsolete:
            entry.obsolete = False
    keep = set(wanted)
    for entry in catalog:
        if entry.msgid not in keep:
            entry.obsolete = True
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.save(str(path))
    _translations.cache_clear()
    return catalog


def problems(code: str = "ko") -> list[str]:
    """What keeps the catalog of `code` from covering every message: missing, fuzzy, or a template whose
    translation formats other {placeholders} than the English."""
    path = catalog_path(code)
    if not path.exists():
        return [f"{path} is missing: run `python -m segedu.course.messages update`"]
    entries = {entry.msgid: entry for entry in polib.pofile(str(path), wrapwidth=0) if not entry.obsolete}
    found = []
    for text in messages():
        entry = entries.get(text)
        short = re.sub(r"\s+", " ", text)[:70]
        if entry is None or not entry.msgstr:
            found.append(f"not translated: {short!r}")
        elif "fuzzy" in entry.flags:
            found.append(f"fuzzy: {short!r}")
        elif placeholders(entry.msgstr) != placeholders(text):
            found.append(f"placeholders {sorted(placeholders(entry.msgstr))} instead of {sorted(placeholders(text))}: "
                         f"{short!r}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.messages", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("update", "check"))
    parser.add_argument("--language", default="ko", choices=[code for code in LANGUAGES if code != "en"])
    args = parser.parse_args(argv)
    if args.command == "update":
        catalog = update_catalog(args.language)
        todo = [entry for entry in catalog if not entry.obsolete and (not entry.msgstr or "fuzzy" in entry.flags)]
        print(f"{catalog_path(args.language)}: {len(todo)} of {len([e for e in catalog if not e.obsolete])} "
              f"messages to translate")
        return 0
    found = problems(args.language)
    print("\n".join(found) or f"every message translated ({args.language})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
