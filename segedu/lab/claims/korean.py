"""The claims report in Korean (`segedu/lab/results/claims.ko.md`), built from the committed report and a catalog.

The lecture's first learners read Korean, and the notebooks' Korean edition cites the claims report (주장 검증 보고서).
This page gives them each claim in Korean: what the lecture says, what decides it, its verdict and the note that
reads its numbers. The Korean lives in a gettext catalog, ``segedu/locale/ko/claims.po``, one entry per claim and
field with the English as its message id and the claim's name and field as its context (``fcn_skips_miou:note``),
plus the page's own texts (context ``page:...``): a change to a claim's English makes its entry fuzzy (the old
English kept as the previous message id, for the translator), and `problems` lists every missing or fuzzy entry and
every number of the English that its Korean has lost. The numbers, commands, machines and minutes stay in the
English report (`claims.md`), which this page links to; verdict words stay English with the Korean in brackets,
as in the notebooks.

    python -m segedu.lab.claims.korean update   # add new entries, mark changed ones fuzzy
    python -m segedu.lab.claims.korean check    # exit 1 on a missing or fuzzy entry or a lost number
    python -m segedu.lab.claims.korean build    # write claims.ko.md from the committed claims.json

`write_report` builds the page too whenever it writes the committed report.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import polib

from ...language import LOCALE, catalog_metadata, in_step
from ...leftovers import write_text_atomically
from .registry import CLAIMS, NOTES

__all__ = ["CATALOG", "PAGE", "FIELDS", "entries", "update_catalog", "problems", "korean_report", "write_korean"]

CATALOG = LOCALE / "ko" / "claims.po"
FIELDS = ("statement", "assertion", "note")  # a claim's fields the page says in Korean
PAGE = {  # the page's own texts, in English (their Korean is in the catalog)
    "title": "The lecture's claims, measured",
    "intro": "Each claim of the lecture that can be measured, put to an experiment. A trained claim's verdict is "
             "holds, contradicted or inconclusive, under a rule committed before its run: holds when the whole 95% "
             "interval of the difference is above 0; contradicted when it lies below the smallest gain that would "
             "matter; inconclusive otherwise. The interval comes from a two-level bootstrap: over training runs "
             "(seeds), then over blocks of test frames. An exact identity or count holds or is contradicted, with "
             "no interval.",
    "numbers": "Every number, with the commands, machines and minutes that produced it, is in the English report "
               "(claims.md); this page gives each claim, its verdict and, where there is one, the note that reads "
               "its numbers.",
    "claim": "claim", "lecture": "the lecture says", "decides": "what decides it", "verdict": "verdict",
    "notebook": "notebook", "notes": "Notes",
    "identity": "exact identities and counts", "faithful": "faithful experiments",
    "proxy": "proxies (they test something weaker than the lecture says)",
    "not testable offline": "not testable offline (the published evidence is quoted)",
    "holds": "holds", "contradicted": "contradicted", "inconclusive": "inconclusive",
    "not testable offline verdict": "not testable offline",
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def entries() -> list[tuple[str, str]]:
    """(context, English) of every text the page says, in the page's order: its own texts, then each claim's."""
    found = [(f"page:{key}", text) for key, text in PAGE.items()]
    for claim in CLAIMS:
        texts = {"statement": claim.statement, "assertion": claim.assertion, "note": NOTES.get(claim.name)}
        found += [(f"{claim.name}:{field}", texts[field]) for field in FIELDS if texts[field]]
    return found


def _load(path: Path) -> polib.POFile:
    return polib.pofile(str(path), wrapwidth=0) if path.exists() else polib.POFile(wrapwidth=0)


def update_catalog(path: Path = CATALOG) -> polib.POFile:
    """Bring the catalog in step with the claims: a new text gets an empty entry, a changed one keeps its Korean
    marked fuzzy (the old English as the previous message id), a text no longer said becomes obsolete."""
    catalog = _load(path)
    catalog.metadata = catalog_metadata("ko", "segedu claims")
    present = {entry.msgctxt: entry for entry in catalog}
    wanted = entries()
    for context, english in wanted:
        entry = in_step(present.get(context), context, english)
        if context not in present:
            catalog.append(entry)
    contexts = {context for context, _ in wanted}
    for entry in catalog:
        if entry.msgctxt not in contexts:
            entry.obsolete = True
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.save(str(path))
    return catalog


def problems(path: Path = CATALOG) -> list[str]:
    """What keeps the catalog from covering the page: a missing, untranslated or fuzzy entry, an entry whose English
    is not the claim's any more, and a number of the English missing from its Korean."""
    if not path.exists():
        return [f"{path} is missing: run `python -m segedu.lab.claims.korean update`"]
    present = {entry.msgctxt: entry for entry in _load(path) if not entry.obsolete}
    found = []
    for context, english in entries():
        entry = present.get(context)
        if entry is None or not entry.msgstr:
            found.append(f"{context}: not translated")
        elif "fuzzy" in entry.flags or entry.msgid != english:
            found.append(f"{context}: fuzzy (the English changed)")
        else:
            lost = sorted(set(_NUMBER.findall(english)) - set(_NUMBER.findall(entry.msgstr)), key=float)
            if lost:
                found.append(f"{context}: the Korean lacks the number(s) {', '.join(lost)} of the English")
    return found


def _table(path: Path) -> dict[tuple[str, str], str]:
    return {(entry.msgctxt, entry.msgid): entry.msgstr for entry in _load(path)
            if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags}


def korean_report(report: dict, catalog: Path = CATALOG) -> str:
    """The Korean page for `report` (a claims.json's content). A text without a translation is said in English."""
    from .report import kind_of, verdict_of

    table = _table(catalog)

    def say(context: str, english: str) -> str:
        return table.get((context, english), english).replace("|", "\\|").replace("\n", " ")

    def page(key: str) -> str:
        return say(f"page:{key}", PAGE[key])

    def verdict(record: dict) -> str:
        word = verdict_of(record)
        key = "not testable offline verdict" if word == "not testable offline" else word
        return page(key) if key in PAGE else word

    claims = {claim.name: claim for claim in CLAIMS}
    records = report["claims"]
    tally = []
    for kind in ("identity", "faithful", "proxy", "not testable offline"):
        lines = [r for r in records if kind_of(r) == kind]
        if lines:
            words = [verdict_of(r) for r in lines]  # the words the intro defines, as the notebooks print them
            counted = ", ".join(f"{word} {words.count(word)}" for word in dict.fromkeys(words))
            tally.append(f"{page(kind)}: {len(lines)} ({counted})")
    lines = [f"# {page('title')}", "", "; ".join(tally) + ".", "", page("intro"), "",
             page("numbers").replace("claims.md", "[claims.md](claims.md)"), "",
             f"| {page('claim')} | {page('lecture')} | {page('decides')} | {page('verdict')} | {page('notebook')} |",
             "|---|---|---|---|---|"]
    for record in records:
        name, claim = record["name"], claims.get(record["name"])
        statement = say(f"{name}:statement", claim.statement if claim else record["statement"])
        decides = say(f"{name}:assertion", claim.assertion if claim else record.get("assertion", ""))
        notebook = f"[{record['notebook'][:2]}](../../../notebooks/ko/{record['notebook']}.ipynb)"
        lines.append(f"| `{name}` | {statement} | {decides} | {verdict(record)} | {notebook} |")
    noted = [record["name"] for record in records if record["name"] in NOTES]
    if noted:
        lines += ["", f"## {page('notes')}", ""]
        lines += [f"- `{name}`: {say(f'{name}:note', NOTES[name])}" for name in noted]
    return "\n".join(lines) + "\n"


def write_korean(folder: Path, report: dict | None = None, catalog: Path = CATALOG) -> Path:
    """Write `folder`/claims.ko.md (whole or not at all) for `report`, by default `folder`/claims.json's."""
    if report is None:
        source = folder / "claims.json"
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: run `python -m segedu claims --out {folder}` first")
        report = json.loads(source.read_text())
    path = folder / "claims.ko.md"
    write_text_atomically(path, korean_report(report, catalog))
    return path


def main(argv: list[str] | None = None) -> int:
    from .report import REPORT

    parser = argparse.ArgumentParser(prog="python -m segedu.lab.claims.korean", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("update", "check", "build"))
    action = parser.parse_args(argv).action
    if action == "update":
        catalog = update_catalog()
        print(f"{CATALOG}: {len(catalog.untranslated_entries())} untranslated, {len(catalog.fuzzy_entries())} fuzzy")
        return 0
    if action == "check":
        found = problems()
        print("\n".join(found) if found else f"{CATALOG}: every claim is in Korean")
        return 1 if found else 0
    print(write_korean(REPORT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
