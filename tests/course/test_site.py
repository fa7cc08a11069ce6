"""`make site`: every notebook becomes a page with navigation, the contents page links them all with their
sections, pictures stand in for widgets, links are checked (and the checker catches a broken one), a notebook is
executed when asked, and a failing notebook names itself and leaves the previous site in place."""

import json
import re

import nbformat
import pytest

from segedu.course import site
from segedu.course.toc import COURSE

from .test_toc import NOTEBOOKS


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output = tmp_path_factory.mktemp("site") / "site"
    site.build_site(NOTEBOOKS, output, execute=False, log=lambda line: None)
    return output


def test_every_notebook_has_a_page_linked_from_the_contents(built):
    index = (built / "index.html").read_text()
    pages = [lesson.notebook.replace(".ipynb", ".html") for lesson in COURSE]
    assert sorted(path.name for path in built.glob("*.html")) == sorted(pages + ["index.html"])
    assert [page for page in re.findall(r'href="(\d\d_\w+\.html)"', index) if "#" not in page] == pages
    for lesson, page in zip(COURSE, pages):
        assert f">{lesson.title}<" in index
        body = (built / page).read_text()
        assert 'nav class="segedu"' in body and 'href="index.html"' in body
    assert site.broken_links(built) == []
    # sections: each page's numbered headings are listed under it, with working anchors
    assert index.count('href="09_unet_isbi.html#') >= 3


def test_pages_are_readable_without_a_kernel(built):
    for page in built.glob("[0-9][0-9]_*.html"):
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
    problems = site.broken_links(tmp_path)
    assert len(problems) == 3
    assert any("#there" in problem for problem in problems) and any("missing.html" in p for p in problems)


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
    _notebook(source / "00_tiny.ipynb", "print('hello from the kernel')",
              "import matplotlib.pyplot as plt\nfigure, axis = plt.subplots()\naxis.plot([1, 2]);",
              "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)): pass")
    output = tmp_path / "site"
    site.build_site(source, output, log=lambda line: None)
    page = (output / "00_tiny.html").read_text()
    assert "hello from the kernel" in page and "data:image/png;base64" in page
    assert "HBox(" not in page and "0/3" not in page  # the progress bar is dropped, not shown as text
    _notebook(source / "01_broken.ipynb", "raise ValueError('this lesson is broken')")
    with pytest.raises(RuntimeError, match="01_broken.ipynb"):
        site.build_site(source, output, log=lambda line: None)
    assert (output / "00_tiny.html").read_text() == page and not (output / "01_broken.html").exists()


def test_command_line_reports_a_missing_folder(tmp_path, capsys):
    assert site.main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "no notebooks" in capsys.readouterr().err
