"""`segedu.set_language("ko")`: every Hangul glyph of a figure is drawn (no "Glyph ... missing" warning), and
Latin text keeps the default font."""

from __future__ import annotations

import os
import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from segedu.language import language, set_language  # noqa: E402

HANGUL = "의미적 분할: 전이 학습, 미세 조정, 리셉티브 필드"
LANGUAGE_AT_START = os.environ.get("SEGEDU_LANG")


def missing_glyph_warnings(text):
    figure, axis = plt.subplots(figsize=(4, 2), dpi=100)
    axis.set_title(text)
    axis.set_xlabel("epoch (에폭)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure.canvas.draw()
    plt.close(figure)
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


@pytest.fixture
def restored(monkeypatch):
    # setenv first: delenv of an unset variable records nothing, and set_language("ko") would outlive the test
    monkeypatch.setenv("SEGEDU_LANG", "en")
    monkeypatch.delenv("SEGEDU_LANG")
    with matplotlib.rc_context():
        yield


def test_without_korean_hangul_is_missing_so_the_check_can_fail(restored):
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans"]
    matplotlib.rcParams["font.family"] = "sans-serif"
    assert missing_glyph_warnings(HANGUL)


def test_korean_draws_every_hangul_glyph_and_keeps_the_default_font_first(restored):
    from matplotlib import font_manager

    first = font_manager.FontProperties(family=matplotlib.rcParams["font.family"]).get_name()
    assert set_language("ko") == "ko" and language() == "ko"
    assert missing_glyph_warnings(HANGUL) == []
    assert matplotlib.rcParams["font.family"] == [first, "NanumGothic"]


def test_the_language_the_test_before_set_is_gone():
    """Runs after the Korean test (pytest keeps a file's order): nbval's kernels inherit the environment, so a
    language left behind would translate the English notebooks' outputs."""
    assert os.environ.get("SEGEDU_LANG") == LANGUAGE_AT_START


def test_an_unknown_language_is_refused_with_the_choices(restored, monkeypatch):
    with pytest.raises(ValueError, match="en, ko"):
        set_language("fr")
    monkeypatch.setenv("SEGEDU_LANG", "ja_JP")
    with pytest.raises(ValueError, match="SEGEDU_LANG='ja_JP'"):
        language()

