"""What the notebooks' code prints and draws, in Korean (segedu.course.output_translation), collected into the
notebooks' catalogs and carried into the Korean notebooks (segedu.course.translation)."""

from __future__ import annotations

import io
import json

import polib
import pytest
from matplotlib.figure import Figure

from segedu.course import output_translation as outputs
from segedu.course.output_values import VERDICTS
from segedu.language import set_language
from segedu.course.translation import EXECUTED, build, code_hash, untranslated, update_catalog

KOREAN = {"FCN-8s: {0} mIoU after {1} epochs": "FCN-8s: {1} 에포크 뒤 {0} mIoU",
          "loss": "손실", "training step": "학습 스텝", "Accuracy: {0}%": "정확도: {0}%",
          "the 3x3 kernel {{w}}": "3x3 커널 {{w}}"}


@pytest.fixture
def korean(monkeypatch):
    monkeypatch.setenv("SEGEDU_LANG", "en")  # restored afterwards; set_language adds the Hangul font
    set_language("ko")
    monkeypatch.setattr(outputs, "_table", lambda code: KOREAN if code == "ko" else {})


@pytest.mark.parametrize("text, key, numbers", [
    ("FCN-8s: 54.9 mIoU after 3 epochs", "FCN-8s: {0} mIoU after {1} epochs", ["54.9", "3"]),
    ("the 3x3 kernel {w}", "the 3x3 kernel {{w}}", []),  # a digit inside a word stays; braces are escaped
    ("-0.3 [+1.2, −2.0] at 360x480 on Lite0", "{0} [{1}, {2}] at 360x480 on Lite0", ["-0.3", "+1.2", "−2.0"]),
    ("conv1 of level 2", "conv1 of level {0}", ["2"]),
    ("ResNet-50: 23.5M parameters, 1.42x faster, 54.9%.", "ResNet-50: {0} parameters, {1} faster, {2}%.",
     ["23.5M", "1.42x", "54.9"]),
    ("FCN-32s 12.0 and conv 3x3", "FCN-32s {0} and conv 3x3", ["12.0"]),
])
def test_a_template_replaces_each_number_and_nothing_else(text, key, numbers):
    assert outputs.template(text) == (key, numbers)
    assert key.format(*numbers) == text  # the template gives the text back


def test_a_text_is_translated_with_its_own_numbers_and_an_unknown_one_stays_english(korean):
    assert outputs.translate("FCN-8s: 47.5 mIoU after 12 epochs") == "FCN-8s: 12 에포크 뒤 47.5 mIoU"
    assert outputs.translate("the 3x3 kernel {w}") == "3x3 커널 {w}"
    assert outputs.translate("loss\ntraining step") == "손실\n학습 스텝"  # line by line when the whole has no entry
    assert outputs.translate("something new") == "something new"
    assert outputs.translate("loss", "en") == "loss"


def test_printed_lines_are_translated_whole_even_when_written_in_pieces(korean):
    sink = io.StringIO()
    stream = outputs.TranslatingStream(sink)
    stream.write("  Accuracy: ")
    stream.write("91.2%\nlo")
    assert sink.getvalue() == "  정확도: 91.2%\n"  # the indentation kept; the partial line waits
    stream.write("ss")
    stream.flush()
    assert sink.getvalue() == "  정확도: 91.2%\n손실"


def test_in_english_printing_passes_through_untouched(monkeypatch):
    monkeypatch.setenv("SEGEDU_LANG", "en")
    monkeypatch.setattr(outputs, "_table", lambda code: pytest.fail("English needs no catalog"))
    sink = io.StringIO()
    outputs.TranslatingStream(sink).write("Accuracy: 91.2%\npartial")
    assert sink.getvalue() == "Accuracy: 91.2%\npartial"


def figure():
    drawn = Figure(figsize=(4, 3))
    axis = drawn.subplots()
    axis.plot([0, 1], [1, 0], label="loss")
    axis.set_xlabel("training step")
    axis.set_title("FCN-8s: 54.9 mIoU after 3 epochs")
    axis.legend()
    return drawn


def test_a_figure_lists_its_texts_as_templates_and_is_drawn_in_korean(korean):
    drawn = figure()
    assert sorted(outputs.figure_texts(drawn)) == ["FCN-8s: {0} mIoU after {1} epochs", "loss", "training step"]
    assert outputs.translate_figure(drawn) == 3
    axis = drawn.axes[0]
    assert (axis.get_title(), axis.get_xlabel(), axis.get_legend().get_texts()[0].get_text()) == (
        "FCN-8s: 3 에포크 뒤 54.9 mIoU", "학습 스텝", "손실")


def test_tick_labels_made_of_words_stay_translated_when_the_figure_is_drawn_again(korean):
    """A tick label is rewritten by its formatter at every draw: fixed labels and categories are translated there."""
    drawn = Figure()
    bars, fixed = drawn.subplots(1, 2)
    bars.bar(["loss", "training step"], [1, 2])  # categories
    fixed.plot([0, 1], [0, 1])
    fixed.set_xticks([0, 1], ["loss", "0.5"])  # fixed labels
    assert {"loss", "training step"} <= set(outputs.figure_texts(drawn))
    outputs.translate_figure(drawn)
    drawn.canvas.draw()
    assert [label.get_text() for label in bars.get_xticklabels()] == ["손실", "학습 스텝"]
    assert [label.get_text() for label in fixed.get_xticklabels()] == ["손실", "0.5"]


def test_the_display_formatter_draws_in_korean_and_records_the_english_templates(korean):
    from IPython.core.interactiveshell import InteractiveShell

    from segedu.course import figures

    shell = InteractiveShell.instance()
    try:
        assert figures.install()
        drawn = figure()
        data, metadata = shell.display_formatter.format(drawn)
        assert data["image/png"][:4] == b"\x89PNG"
        assert "FCN-8s: {0} mIoU after {1} epochs" in metadata["image/png"]["texts"]
        assert drawn.axes[0].get_xlabel() == "학습 스텝"  # what was drawn
    finally:
        InteractiveShell.clear_instance()


def notebook(code_source, printed, texts):
    return {"cells": [
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["# Results"]},
        {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 1, "source": [code_source],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": printed},
                     {"output_type": "display_data", "data": {"image/png": "iVBOR"},
                      "metadata": {"image/png": {"texts": texts}}}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def save(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "notebooks"
    save(root / "00_basics.ipynb", notebook("report()", ["Accuracy: 91.2%\n", "0.5 0.25\n"], ["loss", "1e-3"]))
    return root


def translate_catalog(path, translations):
    catalog = polib.pofile(str(path), wrapwidth=0)
    for entry in catalog:
        entry.msgstr = translations.get(entry.msgid, entry.msgstr)
    catalog.save()


def test_update_collects_printed_lines_and_figure_texts_and_build_translates_the_printed_lines(course):
    po = course / "locale" / "ko" / "00_basics.po"
    catalog = update_catalog(course / "00_basics.ipynb", po)
    assert [(entry.msgctxt, entry.msgid) for entry in catalog] == [
        ("00_basics:m", "# Results"), ("00_basics:output", "Accuracy: {0}%"), ("00_basics:output", "loss")]
    assert len(untranslated(catalog)) == 3  # a line of numbers alone is not an entry
    translate_catalog(po, {"# Results": "# 결과", "Accuracy: {0}%": "정확도: {0}%", "loss": "손실"})
    korean = json.loads(next(iter(build(course).values())))
    assert korean["cells"][1]["outputs"][0]["text"] == ["정확도: 91.2%\n", "0.5 0.25\n"]
    assert korean["cells"][1]["outputs"][1]["data"] == {"image/png": "iVBOR"}  # not executed in Korean: as stored
    assert EXECUTED not in korean["metadata"]


def test_a_korean_run_of_the_same_code_is_kept_and_a_run_of_other_code_is_not(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate_catalog(po, {"# Results": "# 결과", "Accuracy: {0}%": "정확도: {0}%", "loss": "손실"})
    target, = build(course)
    run = json.loads(target.read_text(encoding="utf-8"))
    run["cells"][1]["outputs"][1]["data"] = {"image/png": "KOREAN"}
    run["metadata"][EXECUTED] = {"language": "ko", "code": code_hash(run)}
    save(target, run)
    assert json.loads(build(course)[target])["cells"][1]["outputs"][1]["data"] == {"image/png": "KOREAN"}
    english = json.loads((course / "00_basics.ipynb").read_text(encoding="utf-8"))
    english["cells"][1]["source"] = ["report(again=True)"]
    save(course / "00_basics.ipynb", english)
    rebuilt = json.loads(build(course)[target])
    assert rebuilt["cells"][1]["outputs"][1]["data"] == {"image/png": "iVBOR"}  # that run was of other code
    assert EXECUTED not in rebuilt["metadata"]


def test_an_output_gone_from_the_english_becomes_obsolete_with_its_translation(course):
    po = course / "locale" / "ko" / "00_basics.po"
    update_catalog(course / "00_basics.ipynb", po)
    translate_catalog(po, {"loss": "손실"})
    save(course / "00_basics.ipynb", notebook("report()", ["Accuracy: 91.2%\n"], []))
    catalog = update_catalog(course / "00_basics.ipynb", po)
    gone, = [entry for entry in catalog if entry.obsolete]
    assert (gone.msgid, gone.msgstr) == ("loss", "손실")
    save(course / "00_basics.ipynb", notebook("report()", ["Accuracy: 91.2%\n"], ["loss"]))
    back, = [entry for entry in update_catalog(course / "00_basics.ipynb", po) if entry.msgid == "loss"]
    assert not back.obsolete and back.msgstr == "손실"


def test_a_stored_verdict_line_brings_the_other_two_verdicts_into_the_catalog(course):
    judged = "concatenated - summed: +0.5 points [-0.4, +1.2]: inconclusive (the interval covers all of 0 to +1)"
    save(course / "00_basics.ipynb", notebook("report()", [judged + "\n", "more class-specific: holds\n"], []))
    catalog = update_catalog(course / "00_basics.ipynb", course / "locale" / "ko" / "00_basics.po")
    assert [entry.msgid for entry in catalog if entry.msgctxt.endswith(":output")] == [
        "concatenated - summed: {0} points [{1}, {2}]: inconclusive (the interval covers all of {3} to {4})",
        "concatenated - summed: {0} points [{1}, {2}]: holds (the whole interval is above {3})",
        "concatenated - summed: {0} points [{1}, {2}]: contradicted (the whole interval is below {3}, the least gain "
        "that counts)",
        "more class-specific: holds", "more class-specific: contradicted", "more class-specific: inconclusive"]


INTERVALS = {"holds": (0.012, 0.03), "contradicted": (-0.03, -0.025), "inconclusive": (-0.004, 0.012)}


@pytest.mark.parametrize("rule", [{"test": "better", "margin": 0.01}, {"test": "not worse", "margin": 0.02}])
@pytest.mark.parametrize("verdict", list(INTERVALS))
def test_each_verdict_the_lab_prints_is_one_the_catalog_knows(verdict, rule):
    from segedu.lab.seeds import said

    lines = {other: outputs.template(said("A - B", {"interval": interval, "effect": sum(interval) / 2,
                                                    "verdict": other, "rule": rule}))[0]
             for other, interval in INTERVALS.items()}  # each verdict as the lab prints it
    versions = outputs.verdict_versions(lines[verdict])
    assert versions[0] == lines[verdict] and sorted(versions) == sorted(lines.values()), versions


def test_a_learner_whose_run_reaches_another_verdict_reads_it_in_korean():
    from segedu.course.output_translation import output_table

    line = "concatenated - summed: +1.4 points [+0.6, +2.1]: holds (the whole interval is above 0)"
    assert output_table("ko")["concatenated - summed: {0} points [{1}, {2}]: holds (the whole "
                                               "interval is above {3})"]  # notebook 04 stores an inconclusive run
    assert outputs.translate_line(line, "ko").startswith("연결 - 합산: +1.4포인트")


@pytest.mark.slow
def test_nbval_runs_a_korean_notebook_in_korean_and_an_english_one_in_english(tmp_path):
    import os
    import subprocess
    import sys

    check = "import os\nassert os.environ.get('SEGEDU_LANG', 'en') == {!r}, os.environ.get('SEGEDU_LANG')"
    for folder, code in (("ko", "ko"), ("lesson", "en")):
        save(tmp_path / folder / "00_check.ipynb", {
            "cells": [{"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None, "outputs": [],
                       "source": [check.format(code)]}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5})
    environment = {**os.environ, "SEGEDU_LANG": "ko"}  # left over by some other test: an English kernel ignores it
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "--nbval-current-env", "-p",
                             "segedu.course.nbval_language", "-p", "no:cacheprovider", "ko", "lesson"],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout[-2000:]


def test_two_notebooks_translating_one_text_differently_is_a_conflict(course):
    """One kernel runs every notebook, so a shared text ("plain") needs one translation."""
    save(course / "01_more.ipynb", notebook("again()", [], ["loss"]))
    for name, korean in (("00_basics", "손실"), ("01_more", "손실 함수")):
        po = course / "locale" / "ko" / f"{name}.po"
        update_catalog(course / f"{name}.ipynb", po)
        translate_catalog(po, {"loss": korean})
    found, = outputs.conflicts("ko", course)
    assert "'loss'" in found and "00_basics ('손실')" in found and "01_more ('손실 함수')" in found
    assert outputs.output_table("ko", course)["loss"] == "손실"  # the first catalog's meanwhile
    translate_catalog(course / "locale" / "ko" / "01_more.po", {"loss": "손실"})
    assert outputs.conflicts("ko", course) == []


def test_a_table_row_keeps_its_entry_and_its_numbers_stay_in_their_columns(korean):
    """'Sky   93.5' and 'Sky  100.0' are rows of one table: one entry. A cell the translation keeps word for word (a
    number) stays in the column it was printed in, whatever row's spacing the translation was written with; a
    translated cell keeps the gap the translation puts before it."""
    assert outputs.template("Sky         93.5    loss")[0] == outputs.template("Sky        100.0   loss")[0] == \
        "Sky  {0}  loss"
    table = {"rate {0}  {1}  km": "팽창률 {0}  {1}    킬로미터"}  # spaced for a two-digit rate
    rows = ["rate 6     292  km", "rate 12    484  km"]  # the numbers end in column 14 in both rows
    assert [outputs.translate(row, table=table) for row in rows] == ["팽창률 6   292    킬로미터",
                                                                     "팽창률 12  484    킬로미터"]
    assert outputs.translate("rate 123456789  7  km", table=table) == "팽창률 123456789  7    킬로미터"  # pushed
    assert outputs.translate("Accuracy:      91.2%", table={"Accuracy:  {0}%": "정확도:  {0}%"}) == \
        "정확도:        91.2%"
    assert outputs.translate("rate 6     292  km", table={"rate {0}  {1}  km": "팽창률 {0}: {1} km"}) == \
        "팽창률 6: 292 km"  # not a row of as many cells: the translation as written


def test_each_korean_notebook_stores_what_its_kernel_prints_in_the_checked_cells():
    """nbval compares a Korean notebook's checked cells (NBVAL_CHECK_OUTPUT: the same numbers in every run) with
    what a Korean kernel prints, which is the English printout translated line by line."""
    stale = []
    for english_path in sorted(outputs.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        english = json.loads(english_path.read_text())
        korean = json.loads((outputs.NOTEBOOKS / "ko" / english_path.name).read_text())
        for index, (cell, korean_cell) in enumerate(zip(english["cells"], korean["cells"])):
            if cell["cell_type"] != "code" or "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
                continue
            printed = "".join(outputs._printed(output) or "" for output in cell.get("outputs", []))
            stored = "".join(outputs._printed(output) or "" for output in korean_cell.get("outputs", []))
            expected = "\n".join(outputs.translate_line(line, "ko") for line in printed.split("\n"))
            if stored != expected:
                stale.append(f"{english_path.name} cell {index}: {stored!r} != {expected!r}")
    assert not stale, "\n".join(stale)


def test_each_korean_notebook_stores_the_figures_its_english_one_stores():
    """A Korean execution with a non-inline matplotlib backend (MPLBACKEND=Agg in the caller's shell) runs every cell
    and stores no figure at all."""
    def figures(cell):
        return sum(any(kind.startswith("image/") for kind in output.get("data", {})) for output in cell.get("outputs", []))

    missing = []
    for english_path in sorted(outputs.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        english = json.loads(english_path.read_text())
        korean = json.loads((outputs.NOTEBOOKS / "ko" / english_path.name).read_text())
        missing += [f"{english_path.name} cell {index}: {figures(cell)} figures in English, {figures(other)} in Korean"
                    for index, (cell, other) in enumerate(zip(english["cells"], korean["cells"]))
                    if figures(cell) != figures(other)]
    assert not missing, "\n".join(missing)


def test_a_text_on_the_stand_in_is_translated_as_the_datas_with_the_stand_in_named_in_korean():
    table = {"Three losses on ISBI {0}: a dot per run": "ISBI {0}에서 손실 세 가지: 실행마다 점 하나",
             "Two decoders on CamVid": "CamVid에서 두 디코더"}
    assert outputs.translate("Three losses on the ISBI 2012 stand-in: a dot per run", "ko", table=table) == \
        "ISBI 2012 대용 데이터셋에서 손실 세 가지: 실행마다 점 하나"
    assert outputs.translate("Two decoders on the CamVid stand-in", "ko", table=table) == "CamVid 대용 데이터셋에서 두 디코더"
    # a stand-in's text with no entry for the data's stays English, as any text without an entry
    assert outputs.translate("One decoder on the CamVid stand-in", "ko", table=table) == \
        "One decoder on the CamVid stand-in"


def test_a_line_measured_on_a_stand_in_is_translated_as_the_datas_with_the_caveat_first():
    from segedu.course.experiments import published_line

    table = {outputs.template(published_line("unet", 0.884))[0]: "unet: 여러분 {0} Dice | 목표 {1} Dice",
             "published: DeepLab-LargeFOV {0} -> {1} mIoU": "발표 수치: DeepLab-LargeFOV {0} -> {1} mIoU"}
    on_standin = published_line("unet", 0.925, data="membranes")
    assert "stand-in 'membranes'" in on_standin  # the line the learner without the data sees
    assert outputs.translate(on_standin, "ko", table=table) == \
        "(합성 대용 데이터셋 'membranes'에서 잰 값이라 비교할 수 없습니다) unet: 여러분 0.925 Dice | 목표 0.90 Dice"
    assert outputs.translate("(measured on the stand-in, not comparable) published: DeepLab-LargeFOV 62.3 -> 67.6 mIoU",
                             "ko", table=table) == \
        "(이 노트북의 값은 대용 데이터셋에서 잰 것이라 발표 수치와 비교할 수 없습니다) 발표 수치: DeepLab-LargeFOV 62.3 -> 67.6 mIoU"
    # without an entry for the data's line it stays English, caveat and all
    assert outputs.translate("(measured on the stand-in, not comparable) published: FCN 1.0", "ko", table=table) == \
        "(measured on the stand-in, not comparable) published: FCN 1.0"


def test_a_line_naming_other_classes_or_verdicts_than_the_stored_run_is_translated_with_its_own():
    # the catalog holds the stored run's lines; a run on the stand-in, or the learner's, names other classes
    table = {"classes in this frame: ['Sky', 'Road', 'Car']": "이 프레임의 클래스: ['Sky', 'Road', 'Car']",
             "instance {0}: {1} pixels, class Car": "인스턴스 {0}: {1}픽셀, 클래스 Car",
             "Verdict. A: inconclusive. B: holds. C: inconclusive for A, inconclusive for B.":
                 "판정. A: inconclusive. B는 holds이며, C: A에서 inconclusive, B에서 inconclusive입니다.",
             "the cell class: holds": "세포 클래스: holds"}
    assert outputs.translate("classes in this frame: ['Pole', 'Fence']", "ko", table=table) == \
        "이 프레임의 클래스: ['Pole', 'Fence']"  # a list is one value, whatever its length
    assert outputs.translate("instance 3: 12 pixels, class SignSymbol", "ko", table=table) == \
        "인스턴스 3: 12픽셀, 클래스 SignSymbol"
    # each verdict keeps its place, the same word three times included, a Korean particle after it
    assert outputs.translate("Verdict. A: holds. B: contradicted. C: inconclusive for A, holds for B.", "ko",
                             table=table) == "판정. A: holds. B는 contradicted이며, C: A에서 inconclusive, B에서 holds입니다."
    # a word that is not a value stays a word: an entry for another text is not borrowed
    assert outputs.translate("the membrane class: holds", "ko", table=table) == "the membrane class: holds"
    assert outputs.translate("instance 3: 12 pixels, class Cars", "ko", table=table) == \
        "instance 3: 12 pixels, class Cars"


def test_a_row_whose_padded_number_moved_its_spaces_keeps_its_entry():
    # a number printed in a padded field: " 5.01" in the stored run, "20.16" in another, one space fewer before it
    table = {"Pole  {0}% of labelled pixels  median-frequency weight  {1}":
             "Pole  라벨이 있는 픽셀의 {0}%  중앙값 빈도 가중치  {1}"}
    assert outputs.translate("Pole         0.31% of labelled pixels   median-frequency weight 20.16", "ko",
                             table=table).split() == "Pole 라벨이 있는 픽셀의 0.31% 중앙값 빈도 가중치 20.16".split()
    assert outputs.translate("Fence  1.2% of labelled pixels  median-frequency weight 9.0", "ko", table=table) \
        .startswith("Fence")  # another class, and other spacing, at once


def test_a_translation_that_translates_a_value_word_is_not_filled_with_another():
    # "Road" translated as 도로: the entry cannot carry another class's name, so the line stays English
    table = {"the {0} largest classes: Road, Sky": "가장 큰 클래스 {0}개: 도로, Sky"}
    assert outputs.translate("the 2 largest classes: Tree, Sky", "ko", table=table) == \
        "the 2 largest classes: Tree, Sky"
    assert outputs.translate("the 2 largest classes: Road, Sky", "ko", table=table) == "가장 큰 클래스 2개: 도로, Sky"
    assert outputs.valued("instance {0}: {1} pixels, class Car") == ("instance {0}: {1} pixels, class {v0}", ["Car"])
    assert set(VERDICTS) == set(outputs.VERDICT_REASONS)  # every verdict a line may end in is a value


def test_a_progress_bar_the_notebook_code_describes_is_described_in_korean(korean, monkeypatch):
    from tqdm import std

    monkeypatch.setattr(std.tqdm, "__init__", std.tqdm.__init__)  # the originals back after the test
    monkeypatch.setattr(std.tqdm, "set_postfix", std.tqdm.set_postfix)
    KOREAN_BARS = {**KOREAN, "training FCN-32s/16s/8s": "FCN-32s/16s/8s 학습", "loss": "손실"}
    monkeypatch.setattr(outputs, "_table", lambda code: KOREAN_BARS if code == "ko" else {})
    assert outputs.install_progress() and not outputs.install_progress()  # once
    sink = io.StringIO()
    assert std.tqdm(range(2), desc="training FCN-32s/16s/8s", file=sink).desc == "FCN-32s/16s/8s 학습"
    assert std.tqdm(range(2), "training FCN-32s/16s/8s", file=sink).desc == "FCN-32s/16s/8s 학습"  # positional
    assert std.tqdm(range(2), desc="something new", file=sink).desc == "something new"
    bar = std.tqdm(range(2), file=sink)
    bar.set_postfix(loss="0.512")
    assert bar.postfix == "손실=0.512"
    bar.set_postfix({"loss": "0.5", "lr": "0.1"})  # a dict; a name without an entry stays as it is
    assert bar.postfix == "손실=0.5, lr=0.1"
    set_language("en")
    assert std.tqdm(range(2), desc="training FCN-32s/16s/8s", file=sink).desc == "training FCN-32s/16s/8s"
    bar.set_postfix(loss="0.512")
    assert bar.postfix == "loss=0.512"


def test_the_names_a_notebooks_progress_bar_shows_reach_its_catalog():
    cell = {"cell_type": "code", "source": ['for step in tqdm(range(9), desc="training FCN-8s"):\n',
                                           '    bar.set_postfix(loss=f"{loss.item():.3f}", lr=rate)\n']}
    assert outputs.progress_descriptions({"cells": [cell]}) == ["training FCN-8s", "loss", "lr"]


def test_the_catalogs_hold_every_progress_bar_description_the_notebooks_code_writes():
    """Every notebook's `desc="..."` and `set_postfix(name=...)` has a translated entry: the committed notebooks drop
    their progress bars, so the descriptions come from the code, not from the stored outputs."""
    from segedu.course.output_translation import NOTEBOOKS, output_table

    written = [text for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
               for text in outputs.progress_descriptions(json.loads(path.read_text()))]
    assert "training the classifier" in written and "loss" in written  # notebook 01's loop, notebook 04's bar
    table = output_table("ko")
    for text in written:
        assert table.get(outputs.template(text)[0]), text
