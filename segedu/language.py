"""The course's language: English, or Korean for the lecture's first learners.

    segedu.set_language("ko")      # or SEGEDU_LANG=ko before starting Jupyter
    segedu.language()              # "ko"

Korean switches matplotlib to a font that has Hangul: NanumGothic, shipped by the PyPI package
`koreanize-matplotlib` (installed with the course). It is added as a *fallback* after the default font, so Latin
letters, digits and symbols keep their look and every Hangul syllable is drawn by NanumGothic (matplotlib falls
back glyph by glyph since 3.6). Without it, matplotlib draws each Hangul syllable as an empty box and warns
"Glyph ... missing from font(s)".
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LANGUAGES", "language", "set_language", "korean_font"]

LANGUAGES = ("en", "ko")
KOREAN_FONT = "NanumGothic"


def language() -> str:
    """The language chosen by `set_language` or ``SEGEDU_LANG`` ("en" by default)."""
    chosen = os.environ.get("SEGEDU_LANG", "en").split("_")[0].lower() or "en"
    if chosen not in LANGUAGES:
        raise ValueError(f"SEGEDU_LANG={os.environ['SEGEDU_LANG']!r}: the course speaks {', '.join(LANGUAGES)}")
    return chosen


def korean_font() -> Path:
    """The NanumGothic file shipped by `koreanize-matplotlib`, found without importing the package (its import
    changes matplotlib's settings and warns). FileNotFoundError says how to install it."""
    import importlib.util

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("Korean text needs the NanumGothic font of the package koreanize-matplotlib: "
                                "pip install koreanize-matplotlib (make install does)")
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / f"{KOREAN_FONT}.ttf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall koreanize-matplotlib")
    return path


def set_language(code: str) -> str:
    """Use `code` ("en" or "ko") for the course's figures from now on (and in child processes, via SEGEDU_LANG).
    Korean adds NanumGothic as matplotlib's fallback font for Hangul. -> the language."""
    if code not in LANGUAGES:
        raise ValueError(f"set_language({code!r}): the course speaks {', '.join(LANGUAGES)}")
    os.environ["SEGEDU_LANG"] = code
    if code == "ko":
        _add_hangul_fallback()
    return code


def _add_hangul_fallback() -> None:
    import matplotlib as mpl
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(korean_font()))
    families = [family for family in mpl.rcParams["font.family"] if family != KOREAN_FONT]
    # a generic family ("sans-serif") names the first installed font of its list; the fallback needs names
    default = font_manager.FontProperties(family=families or ["sans-serif"]).get_name()
    mpl.rcParams["font.family"] = [default, KOREAN_FONT]
    mpl.rcParams["axes.unicode_minus"] = True
