"""The site works offline in both languages: built from two of the course's notebooks and their Korean twins, its
pages load nothing from the web, and in Debian's Chromium with every request outside file:// blocked each equation
is typeset by the site's own MathJax (none left as raw LaTeX, none in error) on the English and the Korean page,
whose language switches lead to each other.

The browser test is skipped, with the reason, where Chromium or Playwright is missing (`apt-get install chromium`).
"""

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from segedu.course import site, site_pages

from .test_toc import NOTEBOOKS

CHOSEN = ("02_transposed_convolution", "05_atrous_convolution")  # small notebooks with 6 and 9 equations
MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$|\\\(.+?\\\)|\\\[.+?\\\]", flags=re.S)


def equations(notebook: Path) -> int:
    """How many equations the notebook's Markdown holds (code spans and fenced code left out)."""
    count = 0
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            text = re.sub(r"```.*?```|`[^`\n]*`", "", cell.source, flags=re.S)
            count += len(MATH.findall(text))
    return count


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    source = tmp_path_factory.mktemp("notebooks")
    (source / "ko").mkdir()
    for stem in CHOSEN:
        shutil.copy(NOTEBOOKS / f"{stem}.ipynb", source / f"{stem}.ipynb")
        shutil.copy(NOTEBOOKS / "ko" / f"{stem}.ipynb", source / "ko" / f"{stem}.ipynb")
    output = tmp_path_factory.mktemp("site") / "site"
    site.build_site(source, output, execute=False, log=lambda line: None)
    return source, output


def test_no_page_loads_anything_from_the_web(small_site):
    _, output = small_site
    pages = sorted(output.rglob("*.html"))
    assert {page.relative_to(output).as_posix() for page in pages} == {
        f"{folder}{name}" for folder in ("", "ko/") for name in
        ["index.html", "glossary.html", "claims.html"] + [f"{stem}.html" for stem in CHOSEN]}
    assert site.external_resources(output) == []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)=[\"']?(?:https?:)?//", text), page.name
        assert not re.search(r"cdnjs|jsdelivr|unpkg|require\.min\.js|mathjax/2\.", text), page.name
    assert (output / site_pages.MATHJAX).stat().st_size > 1_000_000  # MathJax itself, served with the site
    assert (output / site_pages.MATHJAX).with_name("LICENSE").is_file()
    assert site.broken_links(output) == []


def test_external_resources_are_reported(tmp_path):
    (tmp_path / "ko").mkdir()
    (tmp_path / "index.html").write_text(
        '<script src="https://cdnjs.example/mathjax.js"></script><link rel="stylesheet" href="//fonts.example/a.css">'
        '<img src="http://example.org/a.png"><a href="https://example.org/paper.pdf">a paper to read</a>'
        '<script src="_static/local.js"></script><img src="data:image/png;base64,AAAA">')
    (tmp_path / "ko" / "page.html").write_text(
        "<style>@import url('https://fonts.example/b.css'); h1 { color: red }</style>"
        "<script>import('https://cdn.example/mermaid.mjs')</script>"
        "<div style=\"background: url(http://x.example/c.png)\">")
    problems = site.external_resources(tmp_path)
    assert len(problems) == 6, problems
    assert not any("paper.pdf" in problem or "local.js" in problem for problem in problems)
    assert sum(problem.startswith("ko/page.html") for problem in problems) == 3


def test_languages_can_be_chosen(tmp_path):
    source = tmp_path / "notebooks"
    (source / "ko").mkdir(parents=True)
    shutil.copy(NOTEBOOKS / f"{CHOSEN[0]}.ipynb", source)
    shutil.copy(NOTEBOOKS / "ko" / f"{CHOSEN[0]}.ipynb", source / "ko")
    site.build_site(source, tmp_path / "en", execute=False, languages=("en",), log=lambda line: None)
    assert not (tmp_path / "en" / "ko").exists()
    assert 'class="language"' not in (tmp_path / "en" / "index.html").read_text()
    index = site.build_site(source, tmp_path / "ko", execute=False, languages=("ko",), log=lambda line: None)
    assert "lang='ko'" in index.read_text() and (tmp_path / "ko" / f"{CHOSEN[0]}.html").exists()
    with pytest.raises(ValueError, match="fr"):
        site.build_site(source, tmp_path / "fr", execute=False, languages=("fr",), log=lambda line: None)
    assert site.main([str(source), str(tmp_path / "both"), "--no-execute", "--languages", "en,ko"]) == 0
    assert (tmp_path / "both" / "ko" / "glossary.html").exists()


def test_a_missing_mathjax_is_named_before_anything_runs(tmp_path, monkeypatch, capsys):
    source = tmp_path / "notebooks"
    source.mkdir()
    shutil.copy(NOTEBOOKS / f"{CHOSEN[0]}.ipynb", source)
    monkeypatch.setattr(site_pages, "MATHJAX_DISTRIBUTION", "no-such-mathjax-package")
    assert site.main([str(source), str(tmp_path / "site"), "--no-execute"]) == 1
    assert "pip install no-such-mathjax-package" in capsys.readouterr().err
    assert not (tmp_path / "site").exists() and not (tmp_path / "site.partial").exists()


def _local(url: str) -> Path:
    assert url.startswith("file://"), url
    return Path(unquote(urlsplit(url).path))


@pytest.mark.browser
@pytest.mark.parametrize("stem", CHOSEN)
def test_every_equation_renders_offline_in_both_languages(small_site, browser, stem):
    source, output = small_site
    expected = equations(source / f"{stem}.ipynb")
    assert expected > 0 and equations(source / "ko" / f"{stem}.ipynb") == expected
    context = browser.new_context()
    blocked, failed, loaded = [], [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else (blocked.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.on("request", lambda request: loaded.append(request.url))
    try:
        switches = {}
        for folder, language, other in (("", "en", "ko"), ("ko/", "ko", "en")):
            page.goto((output / folder / f"{stem}.html").as_uri())
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
            page.evaluate("MathJax.startup.promise")
            assert page.evaluate("document.documentElement.lang") == language
            assert page.locator("mjx-container").count() == expected, f"{folder}{stem}: not every equation typeset"
            assert page.locator("mjx-container svg").count() == expected
            assert page.locator("mjx-merror").count() == 0, f"{folder}{stem}: MathJax reports an error"
            raw = page.evaluate(r"""[...document.querySelectorAll('.jp-MarkdownOutput')].map(cell => cell.innerText)
                                    .filter(text => /\$|\\\(|\\\[|\\frac|\\sum/.test(text))""")
            assert raw == [], f"{folder}{stem}: raw LaTeX left: {raw[:2]}"
            switch = page.locator("nav.segedu a.language")
            assert switch.count() == 1 and switch.get_attribute("hreflang") == other
            target = _local(page.evaluate("document.querySelector('nav.segedu a.language').href"))
            assert target.is_file() and target.name == f"{stem}.html", target
            switches[language] = target.resolve()
            for href in page.evaluate("[...document.querySelectorAll('nav.segedu a')].map(a => a.href)"):
                assert _local(href).is_file(), href
        assert switches["en"] == (output / "ko" / f"{stem}.html").resolve()
        assert switches["ko"] == (output / f"{stem}.html").resolve()
        page.goto(switches["en"].as_uri())  # the switch is followed like a reader would: the Korean page opens
        page.locator("nav.segedu a.language").click()
        page.wait_for_load_state()
        assert _local(page.url).resolve() == switches["ko"]
    finally:
        context.close()
    assert blocked == [] and failed == [], (blocked, failed)
    assert all(url.startswith(("file:", "data:", "blob:", "about:")) for url in loaded), loaded
