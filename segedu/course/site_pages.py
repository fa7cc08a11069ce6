"""The pieces of the course site that are not notebooks (segedu.course.site builds the site from them): the page
template, MathJax served from the site itself, the navigation bar with its language switch, the contents page, the
glossary page and the claims report (which the notebooks cite), in English and in Korean.

Offline by construction: the math is typeset in the reader's browser by MathJax 3 (its single-file SVG build, which
needs no fonts and loads nothing further), copied at build time from the PyPI package `django-static-mathjax`
(MathJax's own files, Apache 2.0, no dependencies) into `_static/mathjax/` of the site; require.js and the Mermaid
loader, which the course never uses, are left out, so a page loads nothing from the network. Hangul is drawn by the
reader's own fonts (every system set up for Korean has one).
"""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
import time
from pathlib import Path

from .glossary import glossary
from .toc import COURSE

__all__ = ["Edition", "TEMPLATE_NAME", "TEMPLATES", "MATHJAX", "STYLE", "mathjax_files", "copy_mathjax",
           "navigation", "index_page", "glossary_page", "claims_page", "CLAIMS_REPORTS"]

MATHJAX = "_static/mathjax/tex-svg-full.js"  # where the site serves MathJax, relative to its root
MATHJAX_DISTRIBUTION = "django-static-mathjax"
TEMPLATE_NAME = "segedu_page.html.j2"
# The claims report in each language, read as files (the course does not import the lab): segedu/lab/results/
CLAIMS_REPORTS = {language: Path(__file__).resolve().parents[1] / "lab" / "results" / name
                  for language, name in (("en", "claims.md"), ("ko", "claims.ko.md"))}
# nbconvert's lab template without the network: require.js and Mermaid dropped, MathJax 3 from the site itself,
# configured like JupyterLab's (dollars for inline math, double dollars for display math).
TEMPLATES = {TEMPLATE_NAME: """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
{% raw %}<script>
window.MathJax = {
  tex: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], displayMath: [['$$', '$$'], ['\\\\[', '\\\\]']],
        processEscapes: true, processEnvironments: true, tags: 'ams'},
  svg: {fontCache: 'global'}
};
</script>{% endraw %}
<script src="{{ resources.mathjax_url }}" defer></script>
{%- endblock html_head_js_mathjax -%}
"""}

WORDS = {
    "en": {"contents": "contents", "glossary": "glossary", "claims": "claims report", "switch": "한국어",
           "title": "segedu: the course",
           "heading": "segedu: semantic segmentation, built from scratch",
           "intro": "Every notebook of the course with its outputs and figures, executed in the fast profile on a "
                    "CPU. To run and change them, open them in JupyterLab (<code>make lab</code>).",
           "columns": ("#", "notebook and its sections", "what it teaches", "prerequisites", "CPU time"),
           "seconds": "{:.0f} s", "built": "Built {}.",
           "glossary_title": "Glossary",
           "glossary_intro": "The course's terms, each with the Korean the lecture uses for it and a one-line "
                             "definition.",
           "glossary_columns": ("English", "한국어", "definition")},
    "ko": {"contents": "차례", "glossary": "용어집", "claims": "주장 검증 보고서", "switch": "English", "title": "segedu: 강의",
           "heading": "segedu: 처음부터 만들어 보는 의미적 분할",
           "intro": "강의의 모든 노트북을 출력과 그림과 함께 담았습니다. 노트북은 CPU에서 fast 프로필로 실행했습니다. "
                    "직접 실행하고 고쳐 보려면 JupyterLab에서 여세요(<code>SEGEDU_LANG=ko make lab</code>).",
           "columns": ("#", "노트북과 절", None, "선수 지식", "CPU 시간"),
           "seconds": "{:.0f}초", "built": "만든 날짜: {}.",
           "glossary_title": "용어집",
           "glossary_intro": "강의에서 쓰는 용어와 한 줄 정의입니다. 분야에서 영어 용어를 그대로 쓰는 경우가 많아 영어 "
                             "표기를 함께 적었습니다.",
           "glossary_columns": ("한국어", "English", "정의")},
}

STYLE = """
<style>
  nav.segedu { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; align-items: center;
               padding: 0.6em 1.2em; background: #1f3b57; font: 14px/1.4 system-ui, sans-serif; }
  nav.segedu a { color: #fff; text-decoration: none; } nav.segedu a:hover { text-decoration: underline; }
  nav.segedu .spacer { flex: 1; } nav.segedu .title { color: #cfe3f5; font-weight: 600; }
  nav.segedu a.language { border: 1px solid #8fb3d3; border-radius: 4px; padding: 0.1em 0.6em; }
</style>
"""
INDEX_STYLE = """
<style>
  main.segedu { font: 16px/1.55 system-ui, sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1.2em;
                color: #1d2733; }
  body { margin: 0; } h1 { margin-bottom: 0.2em; } table { border-collapse: collapse; width: 100%; font-size: 14px; }
  th, td { border-bottom: 1px solid #dde3ea; padding: 0.45em 0.6em; text-align: left; vertical-align: top; }
  th { background: #f1f5f9; }
  ul.sections { margin: 0.2em 0 0; padding-left: 0.2em; list-style: none; font-size: 13px; color: #445; }
  main.segedu a { color: #1f5f99; } .muted { color: #667; }
</style>
"""


@dataclasses.dataclass
class Edition:
    """One language of the site: its pages lie in `folder` ("" for the site's root, "ko/" for Korean)."""

    language: str
    folder: str
    pages: list[tuple[str, str]]  # (file name, title) of each lesson page, in the course's order

    @property
    def up(self) -> str:
        """From a page of this edition back to the site's root."""
        return "../" * self.folder.count("/")

    def link_to(self, other: Edition, name: str) -> str:
        """From a page of this edition to page `name` of `other` (its contents page where it lacks that page)."""
        known = {page for page, _ in other.pages} | {"index.html", "glossary.html", "claims.html"}
        return self.up + other.folder + (name if name in known else "index.html")


def mathjax_files() -> tuple[Path, Path]:
    """(MathJax's single-file SVG build, its licence) from the installed `django-static-mathjax`."""
    import importlib.metadata

    try:
        distribution = importlib.metadata.distribution(MATHJAX_DISTRIBUTION)
        script, licence = (Path(distribution.locate_file(f"mathjax/static/mathjax/{name}"))
                           for name in ("es5/tex-svg-full.js", "LICENSE"))
    except importlib.metadata.PackageNotFoundError:
        script = licence = None
    if not (script and script.is_file() and licence.is_file()):
        raise FileNotFoundError(f"the site typesets its equations with the MathJax of the package "
                                f"{MATHJAX_DISTRIBUTION}: pip install {MATHJAX_DISTRIBUTION} (make install does)")
    return script, licence


def copy_mathjax(site: Path) -> Path:
    """Copy MathJax, unmodified and with its licence, into `site`; -> the script's path."""
    script, licence = mathjax_files()
    target = site / MATHJAX
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(script, target)
    shutil.copyfile(licence, target.with_name("LICENSE"))
    return target


def navigation(edition: Edition, other: Edition | None, name: str, title: str) -> str:
    """The bar on top of every page: contents, glossary, the page's title, previous and next lesson, and the link to
    the same page in the other language."""
    words = WORDS[edition.language]
    parts = ['<nav class="segedu">', f'<a href="index.html">segedu · {words["contents"]}</a>',
             f'<a href="glossary.html">{words["glossary"]}</a>', f'<a href="claims.html">{words["claims"]}</a>',
             f'<span class="title">{html.escape(title)}</span>',
             '<span class="spacer"></span>']
    names = [page for page, _ in edition.pages]
    if name in names:
        index = names.index(name)
        if index > 0:
            previous, title_before = edition.pages[index - 1]
            parts.append(f'<a href="{previous}" rel="prev">&larr; {html.escape(title_before)}</a>')
        if index + 1 < len(names):
            following, title_after = edition.pages[index + 1]
            parts.append(f'<a href="{following}" rel="next">{html.escape(title_after)} &rarr;</a>')
    if other is not None:
        parts.append(f'<a class="language" href="{edition.link_to(other, name)}" hreflang="{other.language}" '
                     f'lang="{other.language}">{words["switch"]}</a>')
    return "".join(parts) + "</nav>"


def _page(edition: Edition, other: Edition | None, name: str, title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='{edition.language}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1.0'><title>{html.escape(title)}</title>"
            f"{STYLE}{INDEX_STYLE}</head><body>{navigation(edition, other, name, title)}"
            f"<main class='segedu'>{body}</main></body></html>")


def _code(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def index_page(edition: Edition, other: Edition | None, sections: list[list[tuple[str, str]]]) -> str:
    """The contents page: every lesson with its sections, what it teaches, prerequisites and CPU time."""
    words = WORDS[edition.language]
    lessons = {lesson.notebook.removesuffix(".ipynb") + ".html": lesson for lesson in COURSE}
    columns = words["columns"]
    rows = []
    for (page, title), headings in zip(edition.pages, sections):
        lesson = lessons.get(page)
        items = "".join(f'<li><a href="{page}#{anchor}">{html.escape(text)}</a></li>' for anchor, text in headings)
        cells = [page[:2], f'<a href="{page}"><b>{html.escape(title)}</b></a><ul class="sections">{items}</ul>',
                 _code(lesson.teaches) if lesson else "",
                 html.escape(", ".join(lesson.prerequisites)) if lesson else "",
                 words["seconds"].format(lesson.cpu_seconds) if lesson else ""]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell, column in zip(cells, columns) if column) + "</tr>")
    header = "".join(f"<th>{column}</th>" for column in columns if column)
    body = (f"<h1>{words['heading']}</h1><p>{words['intro']}</p>"
            f"<table><tr>{header}</tr>{''.join(rows)}</table>"
            f"<p class='muted'>{words['built'].format(time.strftime('%Y-%m-%d'))}</p>")
    return _page(edition, other, "index.html", words["title"], body)


def _slug(term: str) -> str:
    return "term-" + (re.sub(r"[^a-z0-9]+", "-", term.lower()).strip("-") or "x")


def glossary_page(edition: Edition, other: Edition | None) -> str:
    """The glossary (segedu.course.glossary): English, the lecture's Korean and a one-line definition; each term
    has the same anchor in both languages."""
    words = WORDS[edition.language]
    rows = []
    for term in glossary():
        if edition.language == "ko":
            cells = (f"<b>{html.escape(term.korean)}</b>", html.escape(term.english), _code(term.definition_ko))
        else:
            cells = (f"<b>{html.escape(term.english)}</b>", html.escape(term.korean), _code(term.definition_en))
        rows.append(f'<tr id="{_slug(term.english)}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "".join(f"<th>{column}</th>" for column in words["glossary_columns"])
    body = (f"<h1>{words['glossary_title']}</h1><p>{words['glossary_intro']}</p>"
            f"<table><tr>{header}</tr>{''.join(rows)}</table>")
    return _page(edition, other, "glossary.html", f"segedu · {words['glossary_title']}", body)


def claims_page(edition: Edition, other: Edition | None, reports: dict[str, Path] = CLAIMS_REPORTS) -> str:
    """The claims report in the edition's language, rendered from its Markdown (mistune, nbconvert's own renderer):
    the English report with every number, the Korean page with each claim's words, verdict and note. Its links to
    notebooks become links to their pages (where the site has them); the Korean page's link to the English report,
    to that page of the site."""
    import mistune

    path = reports[edition.language]
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: `python -m segedu.lab.claims.korean build` writes the Korean "
                                f"page, `python -m segedu claims --out {path.parent}` the report")
    text = path.read_text(encoding="utf-8")
    pages = {page for page, _ in edition.pages}

    def notebook(match: re.Match) -> str:  # a notebook's page where the site has it, else its number alone
        page = match.group(2) + ".html"
        return f"[{match.group(1)}]({page})" if page in pages else match.group(1)

    text = re.sub(r"\[([^\]]*)\]\((?:\.\./)*notebooks/(?:ko/)?(\d\d_[\w-]+)\.ipynb\)", notebook, text)
    english = edition.link_to(other, "claims.html") if other is not None and other.language == "en" else None
    text = re.sub(r"\[claims\.md\]\(claims\.md\)", f"[claims.md]({english})" if english else "claims.md", text)
    body = mistune.create_markdown(escape=True, plugins=["table"])(text)
    title = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    return _page(edition, other, "claims.html", f"segedu · {title.group(1) if title else 'claims'}", body)
