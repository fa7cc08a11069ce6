"""The checks speak the learner's language: every message they can say has a Korean translation in
segedu/locale/ko/messages.po, and with SEGEDU_LANG=ko a check's verdict, its hint and a concept check's
explanation come out in Korean (in English otherwise)."""

from __future__ import annotations

import re

import pytest
import torch

from segedu.course import checks
from segedu.course.checks.concepts import CONCEPTS
from segedu.course.checks.harness import ExerciseFailed
from segedu.course.messages import catalog_path, messages, placeholders, problems, tr

HANGUL = re.compile("[가-힣]")


def test_every_message_is_translated_with_the_same_placeholders():
    assert catalog_path("ko").exists()
    assert problems("ko") == []


def test_the_messages_found_include_hints_explanations_and_templates():
    found = messages()
    assert "✓ {name} matches the reference on {count} cases" in found       # a template of the harness
    assert CONCEPTS["majority_class"].explanations["b"] in found             # a concept check's explanation
    assert any("NotImplementedError" in text for text in found)
    assert "error: {error}" in found and "train a model and write checkpoints" in found  # the command line's
    assert len(found) == len(set(found))


def test_placeholders():
    assert placeholders("{where}: expected {expected}, got {got}") == {"where", "expected", "got"}
    assert placeholders("no values here") == set()


def _transposed_output_size(size, kernel_size, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + kernel_size + output_padding


def test_a_passing_check_speaks_korean_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    checks.check_transposed_output_size(_transposed_output_size)
    said = capsys.readouterr().out
    assert HANGUL.search(said) and "transposed_output_size" in said, said
    monkeypatch.setenv("SEGEDU_LANG", "en")
    checks.check_transposed_output_size(_transposed_output_size)
    assert capsys.readouterr().out.startswith("✓ transposed_output_size matches the reference on ")


def test_a_failing_check_and_its_hint_speak_korean(monkeypatch):
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    with pytest.raises(ExerciseFailed) as failure:
        checks.check_transposed_output_size(lambda size, kernel_size, stride, padding, output_padding: size * stride)
    verdict, *rest = str(failure.value).splitlines()
    assert HANGUL.search(verdict) and rest and HANGUL.search(rest[-1]), str(failure.value)  # the verdict and the hint
    assert "Hint:" not in str(failure.value) and "expected" not in verdict


def test_a_concept_check_explains_in_korean(monkeypatch, capsys):
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    checks.check_concept("majority_class", lambda: "a")
    said = capsys.readouterr().out
    assert said.startswith("✓ (a): ") and HANGUL.search(said), said
    assert CONCEPTS["majority_class"].explanations["a"] not in said  # the English explanation is not shown
    with pytest.raises(ExerciseFailed, match="[가-힣]"):
        checks.check_concept("majority_class", lambda: "b")


def test_a_message_missing_from_the_catalog_stays_english(monkeypatch):
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    assert tr("a message no catalog has, {n}", n=3) == "a message no catalog has, 3"


def test_a_widget_draws_and_labels_in_korean_with_every_glyph(tmp_path):
    """In a fresh Python with SEGEDU_LANG=ko (as the Korean edition's `make lab` starts its kernels), importing the
    course gives matplotlib the Hangul font, and a widget's Korean title and caption render with no glyph missing
    (matplotlib warns for each one; the warnings are errors here)."""
    import subprocess
    import sys

    code = ("import segedu.course, warnings\n"
            "from segedu.course import widgets\n"
            "viewer = widgets.ReceptiveFieldViewer(kernel_size=3, dilation=2, depth=3)\n"
            "print(viewer.caption.value)\n"
            "print(viewer.dilation.description)\n")
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                            env={**__import__("os").environ, "SEGEDU_LANG": "ko", "MPLBACKEND": "Agg"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    caption, label = result.stdout.splitlines()[-2:]
    assert HANGUL.search(caption) and HANGUL.search(label), result.stdout


def _untranslated_raises() -> list[str]:
    """Each `raise Error("literal" or f"...")` of the library (segedu/ outside the lab and the course machinery,
    and outside segedu/language.py, whose errors are about choosing the language) whose message skips `tr`."""
    import ast
    from pathlib import Path

    import segedu

    package = Path(segedu.__file__).resolve().parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] in ("lab", "course") or relative.name == "language.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                message = node.exc.args[0]
                formatted = isinstance(message, (ast.JoinedStr, ast.BinOp))  # f"..." or "..." + ...
                plain = (isinstance(message, ast.Constant) and isinstance(message.value, str)
                         and message.value != "unreachable")  # an assertion for the reader, never said
                if formatted or plain:
                    found.append(f"{relative}:{node.lineno}")
    return found


def test_every_error_the_library_raises_goes_through_the_catalog():
    assert _untranslated_raises() == []


def test_a_library_error_speaks_korean_when_asked_and_english_otherwise(monkeypatch):
    """The learner's mistake (an unknown data set, a wrong CRF setting) is explained in Korean with the value
    that was wrong in it, and in the same English words as before when Korean is off."""
    from segedu.crf import CRFConfig
    from segedu.data import build_dataset

    monkeypatch.setenv("SEGEDU_LANG", "ko")
    with pytest.raises(ValueError, match="[가-힣]") as korean:
        CRFConfig(iterations=0)
    assert "CRFConfig.iterations" in str(korean.value) and "0" in str(korean.value)
    with pytest.raises(Exception, match="[가-힣]") as unknown:
        build_dataset("no-such-set", "train", image_size=None)
    assert "'no-such-set'" in str(unknown.value)
    monkeypatch.setenv("SEGEDU_LANG", "en")
    with pytest.raises(ValueError, match=r"^CRFConfig.iterations must be a whole number of at least 1, got 0$"):
        CRFConfig(iterations=0)


def test_argparse_says_its_own_words_in_korean_inside_the_command_line_only(monkeypatch, capsys):
    """`python -m segedu --help` and a wrong choice: argparse's headings and its error in Korean, with the
    value the learner typed; after the command line, argparse speaks English again."""
    import argparse

    from segedu.__main__ import main

    monkeypatch.setenv("SEGEDU_LANG", "ko")
    with pytest.raises(SystemExit):
        main(["--help"])
    said = capsys.readouterr().out
    assert said.startswith("사용법: python -m segedu") and "위치 인수" in said and "usage:" not in said, said[:300]
    with pytest.raises(SystemExit):
        main(["train", "--model", "nope"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "오류" in error and "잘못된 선택: 'nope'" in error and "invalid choice" not in error, error
    with pytest.raises(SystemExit):
        main(["claims", "--help"])  # a subcommand of the lab: its description and options in Korean too
    said = capsys.readouterr().out
    assert "강의의 각 주장" in said and "list the claims" not in said, said[:400]
    assert argparse.ArgumentParser(prog="x").format_usage().startswith("usage: x")


def test_argparse_words_keep_their_percent_placeholders_in_korean():
    """argparse formats its words itself with %: a Korean entry that lost %(message)s would crash every error."""
    from segedu.arguments import ARGPARSE_WORDS
    from segedu.language import _translations

    korean = _translations("ko")
    percent = re.compile(r"%\(\w+\)[sr]|%[sr]")
    for word in ARGPARSE_WORDS:
        assert word in korean, word
        assert sorted(percent.findall(korean[word])) == sorted(percent.findall(word)), word


def test_an_out_of_memory_verdict_describes_the_limit_in_korean(monkeypatch):
    """The whole verdict, the limit's size included, not an English phrase inside a Korean sentence."""
    from segedu.course.checks import compare, harness

    def numpy_style(x):
        raise MemoryError("Unable to allocate 8.00 GiB for an array with shape (1024, 1024, 1024)")

    monkeypatch.setenv("SEGEDU_LANG", "ko")
    monkeypatch.setattr(harness, "MEMORY_LIMIT", 64 * 2**20)
    with pytest.raises(ExerciseFailed) as failure:
        compare("double", numpy_style, lambda x: x * 2, [("x", (torch.ones(2),), {})])
    verdict = str(failure.value).splitlines()[0]
    assert "8.00 GiB" in verdict and "64 MiB" in verdict and HANGUL.search(verdict), verdict
    assert not re.search(r"\b(about|more|ran out)\b", verdict), verdict
