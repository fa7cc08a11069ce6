"""The course's language: English, or Korean for the lecture's first learners.

    segedu.set_language("ko")      # or SEGEDU_LANG=ko before starting Jupyter
    segedu.language()              # "ko"
    tr("{name} is ready", name="camvid")   # "camvid 준비 완료" in Korean, the English elsewhere

What the course says to the learner outside the notebooks' prose (the command line's output and help, the checks'
verdicts and hints) goes through `tr`: the English message is the key of a gettext catalog,
``segedu/locale/<language>/messages.po``, kept in step with the code by ``python -m segedu.course.messages update``
and required complete by its ``check``. A message missing from the catalog, or fuzzy, is said in English: the
learner never gets a blank. The catalog is inside the package, so an installed wheel speaks Korean too.

Korean switches matplotlib to a font that has Hangul: NanumGothic, shipped by the PyPI package
`koreanize-matplotlib` (installed with the course). It is added as a *fallback* after the default font, so Latin
letters, digits and symbols keep their look and every Hangul syllable is drawn by NanumGothic (matplotlib falls
back glyph by glyph since 3.6). Without it, matplotlib draws each Hangul syllable as an empty box and warns
"Glyph ... missing from font(s)".
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

__all__ = ["LANGUAGES", "language", "set_language", "korean_font", "tr", "said_later", "catalog_path", "in_step",
           "catalog_metadata"]

LOCALE = Path(__file__).resolve().parent / "locale"

LANGUAGES = ("en", "ko")
KOREAN_FONT = "NanumGothic"


def language() -> str:
    """The language chosen by `set_language` or ``SEGEDU_LANG`` ("en" by default)."""
    chosen = os.environ.get("SEGEDU_LANG", "en").split("_")[0].lower() or "en"
    if chosen not in LANGUAGES:
        raise ValueError(f"SEGEDU_LANG={os.environ['SEGEDU_LANG']!r}: the course speaks {', '.join(LANGUAGES)}")
    return chosen


def catalog_path(code: str) -> Path:
    """The catalog of the messages `tr` says, in language `code`."""
    return LOCALE / code / "messages.po"


@functools.lru_cache(maxsize=None)
def _translations(code: str) -> dict[str, str]:
    import polib

    path = catalog_path(code)
    if not path.exists():
        return {}
    return {entry.msgid: entry.msgstr for entry in polib.pofile(str(path), wrapwidth=0)
            if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags}


def catalog_metadata(code: str, project: str = "segedu") -> dict[str, str]:
    """The header of every gettext catalog the course writes, in language `code`."""
    return {"Project-Id-Version": project, "Language": code, "MIME-Version": "1.0",
            "Content-Type": "text/plain; charset=UTF-8", "Content-Transfer-Encoding": "8bit"}


def in_step(entry, context: str, english: str):
    """A catalog's entry for `context` (a `polib.POEntry`, or None where the catalog has none) in step with `english`:
    a new, untranslated entry where there was none; where the English changed, the old translation kept but marked
    fuzzy, with the old English as the previous message id for the translator. Every catalog the course keeps in
    step by context (the notebooks', the claims report's) goes through this."""
    import polib

    if entry is None:
        return polib.POEntry(msgctxt=context, msgid=english, msgstr="")
    entry.obsolete = False
    if entry.msgid != english:
        entry.previous_msgid, entry.msgid = entry.msgid, english
        if entry.msgstr and "fuzzy" not in entry.flags:
            entry.flags.append("fuzzy")
    return entry


def tr(message: str, /, **values) -> str:
    """`message` (English; a template when `values` are given) in the learner's language, formatted with `values`."""
    code = language()
    template = _translations(code).get(message, message) if code != "en" else message
    return template.format(**values) if values else template


def said_later(message: str, /) -> str:
    """`message` unchanged: marks an English message kept in a table for the catalog (so that
    ``segedu.course.messages`` finds it); `tr` translates it where it is said, in the language of that moment."""
    return message


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
