"""The course's English-Korean glossary (`glossary_ko.csv`): each term as the lecture writes it, with a one-line
definition in both languages. The Korean notebooks and the catalogs use these words; notebook 00 shows the table.

    from segedu.course.glossary import glossary, glossary_table
    glossary()[0]        # Term(english='semantic segmentation', korean='의미적 분할', ...)
    print(glossary_table(["receptive field", "transfer learning"]))
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

__all__ = ["Term", "glossary", "glossary_table"]

FILE = Path(__file__).with_name("glossary_ko.csv")


class Term(NamedTuple):
    english: str
    korean: str
    definition_ko: str
    definition_en: str


def glossary() -> list[Term]:
    """Every term of the glossary, in the file's order. ValueError names a row whose fields do not match the header
    (an unquoted comma inside a definition splits it)."""
    with FILE.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        terms = []
        for row in reader:
            if None in row or None in row.values():
                raise ValueError(f"{FILE.name}, line {reader.line_num}: {len(reader.fieldnames)} fields expected "
                                 f"({', '.join(reader.fieldnames)}); quote a definition that holds a comma")
            terms.append(Term(row["english"], row["korean"], row["definition_ko"], row["definition_en"]))
        return terms


def glossary_table(terms: list[str] | None = None, *, definitions: str = "en") -> str:
    """A Markdown table of `terms` (English names; default: all): English | 한국어 | the definition in `definitions`
    ("en" or "ko"). KeyError names a term the glossary lacks."""
    known = {term.english: term for term in glossary()}
    missing = [name for name in terms or [] if name not in known]
    if missing:
        raise KeyError(f"not in the glossary ({FILE.name}): {', '.join(missing)}")
    chosen = [known[name] for name in terms] if terms else list(known.values())
    rows = ["| English | 한국어 | " + ("definition" if definitions == "en" else "정의") + " |", "|---|---|---|"]
    rows += [f"| {term.english} | {term.korean} | "
             f"{term.definition_en if definitions == 'en' else term.definition_ko} |" for term in chosen]
    return "\n".join(rows)
