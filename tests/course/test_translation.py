"""`segedu.course.translation`: the Korean notebooks built from the English ones and gettext catalogs (polib)."""

from __future__ import annotations

import json

import polib
import pytest

from segedu.course.translation import build, translate_notebook, untranslated, update_catalog


def notebook(*cells):
    """A minimal notebook: ("markdown" | "code", id, source) per cell."""
    return {"cells": [{"cell_type": kind, "id": cell_id, "metadata": {}, "source": [source],
                       **({"outputs": [{"output_type": "stream", "name": "stdout", "text": ["4\n"]}],
                           "execution_count": 1} if kind == "code" else {})}
                      for kind, cell_id, source in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write(path, content):
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "notebooks"
    root.mkdir()
    write(root / "00_basics.ipynb", notebook(("markdown", "a", "# Segmentation\n\nEvery pixel gets a class."),
                                             ("code", "b", "print(2 + 2)"), ("markdown", "c", "A **mask**.")))
    return root


def translate(catalog_path, translations):
    catalog = polib.pofile(str(catalog_path), wrapwidth=0)
    for entry in catalog:
        entry.msgstr = translations.get(entry.msgctxt, entry.msgstr)
    catalog.save()


def test_each_markdown_cell_is_one_entry_keyed_by_notebook_and_cell(course):
    catalog = update_catalog(course / "00_basics.ipynb", course / "locale" / "ko" / "00_basics.po")
    assert [(entry.msgctxt, entry.msgid) for entry in catalog] == [
        ("00_basics:a", "# Segmentation\n\nEvery pixel gets a class."), ("00_basics:c", "A **mask**.")]
    assert untranslated(catalog) == ["00_basics:a", "00_basics:c"]


def test_the_korean_notebook_keeps_code_and_outputs_and_takes_the_translations(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate(po, {"00_basics:a": "# 의미적 분할\n\n모든 픽셀이 클래스를 받습니다.", "00_basics:c": "**마스크**입니다."})
    (target, text), = build(course).items()
    korean, english = json.loads(text), json.loads((course / "00_basics.ipynb").read_text())
    assert target == course / "ko" / "00_basics.ipynb" and target.read_text(encoding="utf-8") == text
    assert korean["cells"][1] == english["cells"][1]  # code and its output, untouched
    assert korean["cells"][0]["source"] == ["# 의미적 분할\n", "\n", "모든 픽셀이 클래스를 받습니다."]
    assert korean["metadata"]["language"] == "ko"


def test_a_changed_english_cell_keeps_its_korean_as_fuzzy_and_the_build_refuses_it(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate(po, {"00_basics:a": "# 의미적 분할", "00_basics:c": "**마스크**입니다."})
    changed = notebook(("markdown", "a", "# Semantic segmentation"), ("code", "b", "print(2 + 2)"),
                       ("markdown", "c", "A **mask**."))
    write(course / "00_basics.ipynb", changed)
    catalog = update_catalog(course / "00_basics.ipynb", po)
    entry = catalog.find("# Semantic segmentation", msgctxt="00_basics:a")
    assert entry.msgstr == "# 의미적 분할" and "fuzzy" in entry.flags
    assert entry.previous_msgid == "# Segmentation\n\nEvery pixel gets a class."
    assert untranslated(catalog) == ["00_basics:a"]
    with pytest.raises(ValueError, match="cell a is fuzzy"):
        translate_notebook(changed, catalog, "00_basics")


def test_a_missing_translation_or_a_catalog_behind_the_english_is_refused(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate(po, {"00_basics:a": "# 의미적 분할"})
    english = json.loads((course / "00_basics.ipynb").read_text())
    with pytest.raises(ValueError, match="cell c is missing"):
        translate_notebook(english, polib.pofile(str(po)), "00_basics")
    translate(po, {"00_basics:c": "**마스크**입니다."})
    english["cells"][2]["source"] = ["A **mask**, edited without `update`."]
    with pytest.raises(ValueError, match="cell c is written for other English"):
        translate_notebook(english, polib.pofile(str(po)), "00_basics")


def test_a_removed_cell_becomes_obsolete_and_its_translation_is_kept(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate(po, {"00_basics:a": "# 의미적 분할", "00_basics:c": "**마스크**입니다."})
    write(course / "00_basics.ipynb", notebook(("markdown", "a", "# Segmentation\n\nEvery pixel gets a class.")))
    catalog = update_catalog(course / "00_basics.ipynb", po)
    gone = [entry for entry in catalog if entry.obsolete]
    assert [(entry.msgctxt, entry.msgstr) for entry in gone] == [("00_basics:c", "**마스크**입니다.")]
    assert untranslated(catalog) == []


def test_a_cell_without_an_id_is_refused(course):
    broken = notebook(("markdown", "a", "text"))
    del broken["cells"][0]["id"]
    write(course / "01_broken.ipynb", broken)
    with pytest.raises(ValueError, match="Markdown cell 0 has no id"):
        update_catalog(course / "01_broken.ipynb", course / "locale" / "ko" / "01_broken.po")


def test_the_glossary_has_the_lectures_words_and_every_row_is_complete():
    from segedu.course.glossary import glossary, glossary_table

    terms = {term.english: term for term in glossary()}
    assert len(terms) == len(glossary())  # no term twice
    for english, korean in (("semantic segmentation", "의미적 분할"), ("transfer learning", "전이 학습"),
                            ("fine-tuning", "미세 조정"), ("receptive field", "리셉티브 필드")):
        assert terms[english].korean == korean  # the lecture's own words (issue #31)
    assert all(term.korean and term.definition_ko and term.definition_en for term in terms.values())
    table = glossary_table(["receptive field"], definitions="ko")
    assert table.splitlines()[2].startswith("| receptive field | 리셉티브 필드 | ")
    with pytest.raises(KeyError, match="not in the glossary"):
        glossary_table(["flux capacitor"])


def test_a_glossary_row_split_by_an_unquoted_comma_is_refused_with_its_line(tmp_path, monkeypatch):
    from segedu.course import glossary as module

    broken = tmp_path / "glossary_ko.csv"
    broken.write_text("english,korean,definition_ko,definition_en\n"
                      "IoU,IoU,교집합, 나누기 합집합입니다.,intersection over union\n", encoding="utf-8")
    monkeypatch.setattr(module, "FILE", broken)
    with pytest.raises(ValueError, match=r"glossary_ko.csv, line 2: 4 fields expected"):
        module.glossary()


def test_the_committed_korean_notebooks_are_the_english_code_with_translated_prose(capsys):
    """notebooks/ko is what `build` makes of notebooks/ and the catalogs: every code cell is the English one (its
    outputs are a run in Korean of that very code, or the English outputs with the printed lines translated). So CI
    executes each notebook's code once with the data (the English edition) and once without (the Korean one, in
    Korean, `.ci/run`), and both editions are covered."""
    from pathlib import Path

    from segedu.course.translation import main

    assert main(["check"]) == 0, capsys.readouterr().out
    root = Path(__file__).resolve().parents[2] / "notebooks"
    for english in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        code = [[(cell["id"], cell["source"]) for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
                 if cell["cell_type"] == "code"] for path in (english, root / "ko" / english.name)]
        assert code[0] == code[1], f"{english.name}: the Korean edition's code differs from the English"
