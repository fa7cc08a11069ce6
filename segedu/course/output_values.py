"""Words in a printed line that are values, as its numbers are (`segedu.course.output_translation`).

A printed line names the classes and verdicts of its own run: the learner's run, or one on the stand-ins, may name
others than the stored run whose line the notebook's catalog holds ("instance 3: 12 pixels, class Car" where the
stored run printed "class Pedestrian"). The Korean edition keeps class names and verdicts as they are, so the stored
line's entry serves any run's line once each such word is a placeholder, as each number is: `valued` makes the
template, `valued_table` the entries. Their spacing is loose too: a number printed in a padded field moves the spaces
before it ("weight  5.01" in one run, "weight 20.16" in another), so a valued template keeps one space where the line
has several.
"""

from __future__ import annotations

import re

from ..data.classes import CAMVID_CLASSES

__all__ = ["VERDICTS", "valued", "valued_table"]

VERDICTS = ("holds", "contradicted", "inconclusive")  # the claims' verdicts, kept in English in every edition

# The values: the names of CamVid's classes (its stand-in's too), a list of them as Python prints it, the verdicts.
_ASCII_WORD = "A-Za-z0-9_"  # a value ends where the word does: a Korean particle may follow it ("holds이며")
_VALUE_WORDS = "|".join(sorted(map(re.escape, (*CAMVID_CLASSES, *VERDICTS)), key=len, reverse=True))
_VALUE = re.compile(r"\['(?:{words})'(?:, '(?:{words})')*\]|(?<![{ascii}'])(?:{words})(?![{ascii}'])".format(
    words=_VALUE_WORDS, ascii=_ASCII_WORD))
_SPACES = re.compile(r" {2,}")


def valued(key: str) -> tuple[str, list[str]]:
    """(`key` with each value word or list of them as {v0}, {v1}, ..., and each run of spaces as one, the values in
    order): "instance {0}:  {1} pixels, class Car" -> ("instance {0}: {1} pixels, class {v0}", ["Car"])."""
    values: list[str] = []

    def slot(match: re.Match) -> str:
        values.append(match.group())
        return "{v%d}" % (len(values) - 1)

    return _SPACES.sub(" ", _VALUE.sub(slot, key)), values


def _valued_translation(translation: str, values: list[str]) -> str | None:
    """`translation` with the values its template named `values` as the same placeholders: the k-th time a value
    appears in the translation is the k-th time it appears in the template. None if the two do not name the same
    values as often (the translation translated one of them: it cannot be filled with another)."""
    names: dict[tuple[str, int], str] = {}
    for index, value in enumerate(values):
        names[(value, sum(1 for key in names if key[0] == value))] = "{v%d}" % index
    seen: dict[str, int] = {}
    pieces, start = [], 0
    for match in _VALUE.finditer(translation):
        occurrence = seen.get(match.group(), 0)
        seen[match.group()] = occurrence + 1
        name = names.get((match.group(), occurrence))
        if name is None:
            return None
        pieces += [translation[start:match.start()], name]
        start = match.end()
    if sum(seen.values()) != len(values):
        return None
    return "".join(pieces) + translation[start:]


_VALUED_TABLES: dict[int, tuple[dict[str, str], dict[str, str]]] = {}


def valued_table(table: dict[str, str]) -> dict[str, str]:
    """{`valued` template: translation with the same placeholders} of `table`'s entries (the first entry's where two
    give the same valued template), built once per table."""
    cached = _VALUED_TABLES.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    found: dict[str, str] = {}
    for key, translation in table.items():
        valued_key, values = valued(key)
        if valued_key not in found:
            filled = _valued_translation(translation, values)
            if filled is not None:
                found[valued_key] = filled
    if len(_VALUED_TABLES) > 8:
        _VALUED_TABLES.clear()
    _VALUED_TABLES[id(table)] = (table, found)
    return found
