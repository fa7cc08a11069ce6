"""A pytest plugin (``-p segedu.course.nbval_language``, set in pyproject.toml): nbval runs each notebook in its
edition's language, so the Korean notebooks (``notebooks/ko/``) are tested as a Korean learner runs them, with their
printed lines and figures translated (``SEGEDU_LANG=ko`` for the kernel nbval starts for the notebook)."""

from __future__ import annotations

import os

import pytest

from ..language import LANGUAGES

_BEFORE = "_segedu_language_before"


def _edition(item) -> str | None:
    """The language of a notebook's edition (its folder's, as in notebooks/ko/; English elsewhere), None for other
    tests. Set either way, so that a language another test left in the environment never reaches a kernel."""
    path = getattr(item, "path", None)
    if path is None or path.suffix != ".ipynb":
        return None
    return path.parent.name if path.parent.name in LANGUAGES else "en"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before nbval starts the notebook's kernel (in the first cell's setup), give it the edition's language."""
    code = _edition(item)
    if code is not None:
        setattr(item, _BEFORE, os.environ.get("SEGEDU_LANG"))
        os.environ["SEGEDU_LANG"] = code


def pytest_runtest_teardown(item):
    if hasattr(item, _BEFORE):
        before = getattr(item, _BEFORE)
        if before is None:
            os.environ.pop("SEGEDU_LANG", None)
        else:
            os.environ["SEGEDU_LANG"] = before
