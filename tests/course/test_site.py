"""`make site`: every notebook becomes a page with navigation, in English and in Korean, with a language switch to
the same page in the other language; the contents page links them all with their sections; the glossary is a page
in both languages; pictures stand in for widgets; links are checked (and the checker catches a broken one), nothing
is loaded from the web; a notebook is executed when asked, and a failing notebook names itself and leaves the
previous site in place. (tests/course/test_site_offline.py opens pages in a browser with the network blocked.)"""

import html
import json
import re

import nbformat
import pytest

from segedu.course import site, site_pages
from segedu.course.glossary import glossary
from segedu.course.toc import COURSE, EXPLORER_CALL

from .test_toc import NOTEBOOKS


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output = tmp_path_factory.mktemp("site") / "site"
    site.build_site(NOTEBOOKS, output, execute=False, log=lambda line: None)
    return output


def test_every_notebook_has_a_page_linked_from_the_contents(built):
    index = (built / "index.html").read_text()
    pages = [lesson.notebook.replace(".ipynb", ".html") for lesson in COURSE]
    assert sorted(path.name for path in built.glob("*.html")) == sorted(pages + ["index.html", "glossary.html",
                                                                                 "claims.html"])
    assert [page for page in re.findall(r'href="(\d\d_\w+\.html)"', index) if "#" not in page] == pages
    for lesson, page in zip(COURSE, pages):
        assert f">{lesson.title}<" in index
        body = (built / page).read_text()
        assert 'nav class="segedu"' in body and 'href="index.html"' in body
    assert site.broken_links(built) == []
    # sections: each page's numbered headings are listed under it, with working anchors
    assert index.count('href="09_unet_isbi.html#') >= 3


def test_the_korean_edition_mirrors_the_english_one(built):
    pages = [lesson.notebook.replace(".ipynb", ".html") for lesson in COURSE]
    korean = built / "ko"
    assert sorted(path.name for path in korean.glob("*.html")) == sorted(pages + ["index.html", "glossary.html",
                                                                                  "claims.html"])
    index = (korean / "index.html").read_text()
    assert [page for page in re.findall(r'href="(\d\d_\w+\.html)"', index) if "#" not in page] == pages
    assert "<html lang='ko'>" in index and "차례" in index and index.count('href="00_segmentation_basics.html#') >= 3
    for page in pages + ["index.html", "glossary.html", "claims.html"]:
        english, translated = (built / page).read_text(), (korean / page).read_text()
        assert f'class="language" href="ko/{page}" hreflang="ko"' in english, page
        assert f'class="language" href="../{page}" hreflang="en"' in translated, page
        assert 'href="glossary.html"' in english and 'href="glossary.html"' in translated
    page = (korean / "11_transfer_learning.html").read_text()
    assert '<html lang="ko">' in page and '<span class="title">전이 학습</span>' in page  # the Korean heading
    assert "../_static/mathjax/tex-svg-full.js" in page
    assert re.search(r"[\uac00-\ud7a3]", page) and len(re.findall(r"[\uac00-\ud7a3]", page)) > 500


def test_the_glossary_is_a_page_in_both_languages(built):
    english = (built / "glossary.html").read_text()
    korean = (built / "ko" / "glossary.html").read_text()
    for term in glossary():
        anchor = site_pages._slug(term.english)
        for page in (english, korean):
            assert f'id="{anchor}"' in page and html.escape(term.korean) in page and html.escape(term.english) in page
        assert html.escape(term.definition_en).split("`")[0] in english
        assert html.escape(term.definition_ko).split("`")[0] in korean
    assert "<th>English</th><th>한국어</th><th>definition</th>" in english
    assert "<th>한국어</th><th>English</th><th>정의</th>" in korean


def test_the_claims_report_is_a_page_in_both_languages(built):
    """The notebooks cite the claims report: the site carries it, every claim in each language, in a table whose
    notebook links reach the notebooks' pages; the Korean page's link to the English report stays in the site."""
    claims = [record["name"] for record in json.loads(
        (site_pages.CLAIMS_REPORTS["en"].parent / "claims.json").read_text())["claims"]]
    english = (built / "claims.html").read_text()
    korean = (built / "ko" / "claims.html").read_text()
    for page, cited in ((english, "the lecture says"), (korean, "강의 내용")):
        assert 'href="claims.html">' in page and "<table>" in page and f"<th>{cited}</th>" in page
        assert all(f"<code>{name}</code>" in page for name in claims)
    assert korean.count('href="07_fcn.html"') >= 3 and 'href="../claims.html">claims.md</a>' in korean
    assert "holds(성립)" in korean and "ipynb" not in korean
    for other in (built / "index.html", built / "glossary.html", built / "ko" / "07_fcn.html"):
        assert 'href="claims.html">' in other.read_text()  # in every page's navigation bar


def test_the_site_loads_nothing_from_the_web(built):
    assert site.external_resources(built) == []
    assert (built / site_pages.MATHJAX).is_file()
    for page in built.rglob("*.html"):
        text = page.read_text()
        assert "cdnjs" not in text and "require.min.js" not in text and "unpkg" not in text, page
        if page.name[:2].isdigit():
            assert re.search(r'<script[^>]+src="(\.\./)?_static/mathjax/tex-svg-full\.js"', text), page


def test_pages_are_readable_without_a_kernel(built):
    for page in [*built.glob("[0-9][0-9]_*.html"), *built.glob("ko/[0-9][0-9]_*.html")]:
        body = page.read_text()
        assert "widget-view+json" not in body and "IntSlider(" not in body and "HBox(" not in body, page.name
        assert "data:image/png;base64" in body, f"{page.name} shows no figure"
    stepper_page = (built / "02_transposed_convolution.html").read_text()
    after_stepper = stepper_page[stepper_page.index("TransposedConvStepper</span><span"):]
    assert "data:image/png;base64" in after_stepper[:20000]  # the stepper's first picture stands in for it


def test_broken_links_are_reported(tmp_path):
    (tmp_path / "index.html").write_text('<a href="a.html#there">a</a> <a href="missing.html">b</a> '
                                         '<img src="gone.png"> <a href="https://example.org">web</a>')
    (tmp_path / "a.html").write_text('<h2 id="here">here</h2>')
    (tmp_path / "ko").mkdir()
    (tmp_path / "ko" / "a.html").write_text('<a href="../a.html#here">ok</a> <a href="../ko/a.html">ok</a> '
                                            '<a href="a.html#here">no anchor here</a> '
                                            '<a href="../../outside.html">outside the site</a>')
    problems = site.broken_links(tmp_path)
    assert len(problems) == 5, problems
    assert any("#there" in problem for problem in problems) and any("missing.html" in p for p in problems)
    assert sum(problem.startswith("ko/a.html") for problem in problems) == 2


def _notebook(path, *cells):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 00 · A tiny lesson\n\n## Part one")] + [
        nbformat.v4.new_code_cell(cell) for cell in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_executes_notebooks_and_keeps_the_old_site_when_one_fails(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    cells = ("print('hello from the kernel')",
             "import matplotlib.pyplot as plt\nfigure, axis = plt.subplots()\naxis.plot([1, 2]);",
             "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)): pass",
             "import segedu\nprint('language:', segedu.language())")
    _notebook(source / "00_tiny.ipynb", *cells)
    (source / "ko").mkdir()
    _notebook(source / "ko" / "00_tiny.ipynb", *cells)
    output = tmp_path / "site"
    site.build_site(source, output, log=lambda line: None)
    page = (output / "00_tiny.html").read_text()
    assert "hello from the kernel" in page and "data:image/png;base64" in page
    assert "HBox(" not in page and "0/3" not in page  # the progress bar is dropped, not shown as text
    assert "language: en" in page and "language: ko" in (output / "ko" / "00_tiny.html").read_text()
    _notebook(source / "01_broken.ipynb", "raise ValueError('this lesson is broken')")
    with pytest.raises(RuntimeError, match="01_broken.ipynb"):
        site.build_site(source, output, log=lambda line: None)
    assert (output / "00_tiny.html").read_text() == page and not (output / "01_broken.html").exists()


def test_command_line_reports_a_missing_folder(tmp_path, capsys):
    assert site.main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "no notebooks" in capsys.readouterr().err


def test_a_committed_notebook_keeps_each_explorers_first_picture_and_drops_what_needs_a_kernel():
    """`site.lean`: an explorer of photographs stores its first view as JPEG, of drawings as PNG; either picture
    stays and its widget view goes. A progress bar (a widget view with no picture) goes altogether."""
    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("explorer", outputs=[
        nbformat.v4.new_output("display_data", {site.WIDGET_VIEW: view, "image/jpeg": "/9j/", "text/plain": "x"}),
        nbformat.v4.new_output("display_data", {site.WIDGET_VIEW: view, "image/png": "iVBO", "text/plain": "y"}),
        nbformat.v4.new_output("display_data", {site.WIDGET_VIEW: view, "text/plain": "progress"})])])
    notebook.metadata["widgets"] = {"state": {}}
    outputs = site.lean(notebook).cells[0].outputs
    assert [sorted(output["data"]) for output in outputs] == [["image/jpeg", "text/plain"], ["image/png", "text/plain"]]
    assert "widgets" not in notebook.metadata


def test_every_explorer_in_the_committed_notebooks_keeps_its_picture():
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and EXPLORER_CALL.search(source):
                pictures = [output for output in cell["outputs"] if {"image/png", "image/jpeg"} & set(output.get("data", {}))]
                assert pictures, f"{path.name}: the explorer cell {cell['id']} stores no picture of its first view"
