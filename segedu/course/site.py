"""The static course site, in English and in Korean: every notebook executed (fast profile) and rendered to HTML,
with a contents page, the glossary and the claims report in each language.

    python -m segedu.course.site notebooks site              # execute, render, check links (what `make site` runs)
    python -m segedu.course.site notebooks site --no-execute # render the outputs already stored in the notebooks
    python -m segedu.course.site notebooks site --languages en   # the English pages only (half the time)
    python -m segedu.course.site notebooks --refresh         # execute the notebooks in place and store them lean
                                                             # (the Korean edition executed in Korean too)

The English pages come from `notebooks/NN_name.ipynb` and lie at the site's root; the Korean ones come from
`notebooks/ko/` (built from the English notebooks and the catalogs, segedu.course.translation), are executed with
``SEGEDU_LANG=ko`` (so figures and printed explanations are in Korean) and lie in `site/ko/`. Every page has a bar
with the contents, the glossary, the previous and the next notebook, and a language switch to the same page in the
other language; links between notebooks point at the pages.

A learner reads the site without a kernel and without a network: figures are embedded PNGs; an explorer widget
shows the PNG of its first view (segedu.course.widgets stores one beside the live widget); progress bars, which mean
nothing after the fact, are dropped; equations are typeset by a copy of MathJax served with the site
(segedu.course.site_pages). The build ends by checking that every local link and anchor resolves and that no page
loads anything (script, style, image, frame) from the web.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import posixpath
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import site_pages
from .toc import COURSE

__all__ = ["build_site", "broken_links", "external_resources", "refresh_notebooks", "lean"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PICTURES = {"image/png", "image/jpeg"}  # an explorer's first view: PNG for drawings, JPEG for photographs
KOREAN = "ko"  # the folder of the Korean notebooks in the source, and of the Korean pages in the site


def _lessons(source: Path, *, titles_from_headings: bool = False) -> list[tuple[Path, str]]:
    """(path, title) for every NN_name.ipynb in `source`, in order; titles from segedu.course (unless
    `titles_from_headings`, as for a translation), else the first heading."""
    known = {} if titles_from_headings else {lesson.notebook: lesson.title for lesson in COURSE}
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks named NN_name.ipynb in {source}")
    return [(path, known.get(path.name) or _heading(path)) for path in paths]


def _heading(path: Path) -> str:
    """The short title of a notebook: its first heading without "NN · " and without what follows a colon."""
    try:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        headings = (re.search(r"^#+\s*(?:\d\d\s*·\s*)?(.+)$", "".join(cell["source"]), flags=re.M)
                    for cell in cells if cell["cell_type"] == "markdown")  # the badges cell has none
        heading = next(found for found in headings if found)[1]
        return heading.split(":")[0].strip()
    except (ValueError, KeyError, TypeError, StopIteration):  # not a notebook, no Markdown, no heading
        return path.stem[3:].replace("_", " ")


def _execute(notebook, path: Path, timeout: int):
    from nbclient import NotebookClient

    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures stored, whatever the caller's
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def refresh_notebooks(source: Path | str, *, only: list[str] | None = None, timeout: int = 600, log=print,
                      korean: bool = True) -> dict:
    """Execute every NN_name.ipynb of `source` (or those whose number is in `only`) in place, in the fast profile
    with inline figures, and store it lean, then rebuild its Korean edition and (`korean`) execute it in Korean;
    return {name: seconds} of the English runs, kernel start-up included."""
    import nbformat

    os.environ.setdefault("SEGEDU_PROFILE", "fast")
    seconds = {}
    for path, _ in _lessons(Path(source)):
        if only and path.name[:2] not in only:
            continue
        notebook = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        try:
            _execute(notebook, path, timeout)
        except Exception as error:
            raise RuntimeError(f"executing {path} failed: {str(error)[-2000:]}") from error
        seconds[path.name] = time.perf_counter() - started
        partial = path.with_name(f".{path.name}.partial")
        nbformat.write(lean(notebook), partial)
        os.replace(partial, path)
        log(f"{path.name}: executed in {seconds[path.name]:.1f} s, {path.stat().st_size / 1e6:.2f} MB")
    _rebuild_korean(Path(source), [name[:2] for name in seconds], log, timeout=timeout, execute=korean)
    return seconds


def _rebuild_korean(source: Path, numbers: list[str], log, *, timeout: int = 600, execute: bool = True) -> None:
    """The Korean notebooks follow the English ones they are built from (`segedu.course.translation`), and are
    executed in Korean (`execute`), so that their figures and printed lines are Korean; the run is stamped with the
    hash of the code it executed."""
    import nbformat

    from .translation import EXECUTED, build, code_hash

    if not numbers or not (source / "locale" / KOREAN).is_dir():
        return
    try:
        targets = list(build(source, names=numbers))
    except ValueError as error:  # an English cell changed: its translation is missing or fuzzy
        log(f"the Korean edition was not rebuilt: {error}")
        return
    for target in targets:
        if not execute:
            log(f"{target.relative_to(source.parent)}: rebuilt from the English notebook and its catalog")
            continue
        notebook = nbformat.read(target, as_version=4)
        started = time.perf_counter()
        try:
            with _language(KOREAN):
                _execute(notebook, target, timeout)
        except Exception as error:
            raise RuntimeError(f"executing {target} failed: {str(error)[-2000:]}") from error
        notebook.metadata[EXECUTED] = {"language": KOREAN, "code": code_hash(notebook)}
        partial = target.with_name(f".{target.name}.partial")
        nbformat.write(lean(notebook), partial)
        os.replace(partial, target)
        build(source, names=[target.name[:2]])  # the stored form `translation check` expects, with these outputs
        log(f"{target.relative_to(source.parent)}: rebuilt and executed in Korean in "
            f"{time.perf_counter() - started:.1f} s")


def lean(notebook):
    """Drop what needs a kernel (in place): widget state, widget views, and widget outputs with no picture to stand in
    for them (progress bars); an explorer keeps the one picture of its first view. What a committed notebook keeps and
    what the site shows; opened in JupyterLab, the picture stands until the cell runs again."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [output for output in cell.outputs
                        if not (WIDGET_VIEW in output.get("data", {}) and not PICTURES & set(output["data"]))]
        for output in cell.outputs:
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return notebook


def offline_badges(notebook):
    """The Colab and Kaggle badges as plain links (in place): their pictures live on the hosts' servers, and a page
    of the site loads nothing from the web."""
    from .hosted_cells import BADGES_ID

    for cell in notebook.cells:
        if cell.get("id") == BADGES_ID:
            cell.source = re.sub(r"\[!\[([^\]]*)\]\([^)]*\)\]\(([^)]*)\)", r"[\1](\2)", cell.source)
    return notebook


def _sections(page: str) -> list[tuple[str, str]]:
    """(anchor, text) of each second-level heading of a rendered page."""
    found = []
    for anchor, inner in re.findall(r'<h2 id="([^"]+)">(.*?)</h2>', page, flags=re.S):
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        found.append((anchor, html.unescape(text)))
    return found


@contextlib.contextmanager
def _language(language: str):
    """SEGEDU_LANG for the kernels started inside (they inherit the environment), restored afterwards."""
    before = os.environ.get("SEGEDU_LANG")
    os.environ["SEGEDU_LANG"] = language
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SEGEDU_LANG", None)
        else:
            os.environ["SEGEDU_LANG"] = before


def _render(lessons: list[tuple[Path, str]], edition: site_pages.Edition, *, execute: bool, timeout: int,
            log) -> list[str]:
    """Each notebook of `lessons` (executed when asked, in the edition's language) as nbconvert's HTML."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", template_file=site_pages.TEMPLATE_NAME,
                            extra_loaders=[DictLoader(site_pages.TEMPLATES)])
    exporter.language_code = edition.language
    exporter.mathjax_url = edition.up + site_pages.MATHJAX
    rendered = []
    for path, _ in lessons:
        started = time.perf_counter()
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:
            raise ValueError(f"{path} is not a readable notebook: {error}") from error
        if execute:
            try:
                with _language(edition.language):
                    _execute(notebook, path, timeout)
            except Exception as error:
                raise RuntimeError(f"executing {path} failed: {str(error)[-2000:]}") from error
        body, _ = exporter.from_notebook_node(offline_badges(lean(notebook)))
        rendered.append(body)
        log(f"{edition.folder}{path.name}: {'executed and ' if execute else ''}rendered in "
            f"{time.perf_counter() - started:.1f} s")
    return rendered


def build_site(source: Path | str, output: Path | str, *, execute: bool = True, timeout: int = 600,
               languages: tuple[str, ...] = ("en", KOREAN), log=print) -> Path:
    """Render every NN_name.ipynb of `source` into `output` (index.html, glossary.html, one page per notebook), and,
    where `source/ko/` holds notebooks and `languages` asks for it, the Korean edition into `output/ko/`; returns
    the English index.html (the Korean one when only Korean is asked for)."""
    source, output = Path(source), Path(output)
    unknown = set(languages) - {"en", KOREAN}
    if unknown or not languages:
        raise ValueError(f"the site speaks en and {KOREAN}, not {', '.join(sorted(unknown)) or 'nothing'}")
    editions = []  # (edition, lessons)
    if "en" in languages:
        lessons = _lessons(source)
        editions.append((site_pages.Edition("en", "", [(path.stem + ".html", title) for path, title in lessons]),
                         lessons))
    if KOREAN in languages:
        korean = source / KOREAN
        if "en" in languages and not any(korean.glob("[0-9][0-9]_*.ipynb")):
            log(f"no Korean notebooks in {korean}: the site is in English only")
        else:
            lessons = _lessons(korean, titles_from_headings=True)
            folder = KOREAN + "/" if "en" in languages else ""
            editions.append((site_pages.Edition(KOREAN, folder, [(path.stem + ".html", title)
                                                                   for path, title in lessons]), lessons))
    site_pages.mathjax_files()  # without MathJax, fail before any notebook runs
    os.environ.setdefault("SEGEDU_PROFILE", "fast")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures as PNG, whatever the shell set
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    site_pages.copy_mathjax(staging)
    for edition, lessons in editions:
        other = next((twin for twin, _ in editions if twin is not edition), None)
        folder = staging / edition.folder
        folder.mkdir(parents=True, exist_ok=True)
        rendered = _render(lessons, edition, execute=execute, timeout=timeout, log=log)
        for (name, title), body in zip(edition.pages, rendered):
            body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb', r'href="\1.html', body)  # notebook-to-notebook links
            body = body.replace("</head>", site_pages.STYLE + "</head>", 1)
            bar = site_pages.navigation(edition, other, name, title)
            body = re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + bar, body, count=1)
            (folder / name).write_text(body, encoding="utf-8")
        sections = [_sections(body) for body in rendered]
        (folder / "index.html").write_text(site_pages.index_page(edition, other, sections), encoding="utf-8")
        (folder / "glossary.html").write_text(site_pages.glossary_page(edition, other), encoding="utf-8")
        (folder / "claims.html").write_text(site_pages.claims_page(edition, other), encoding="utf-8")
    problems = broken_links(staging)
    if problems:
        raise RuntimeError("the site has broken links:\n" + "\n".join(problems[:50]))
    problems = external_resources(staging)
    if problems:
        raise RuntimeError("the site loads from the web (it must work offline):\n" + "\n".join(problems[:50]))
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)  # a half-built site never replaces a good one
    return output / "index.html"


def _pages(site: Path):
    """(path relative to the site, parsed page) of every page of the site, subfolders included."""
    from bs4 import BeautifulSoup

    for page in sorted(site.rglob("*.html")):
        yield page.relative_to(site).as_posix(), BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def broken_links(site: Path | str) -> list[str]:
    """'page: link' for every local href or src of the site's pages that names a missing file or anchor."""
    site = Path(site)
    anchors: dict[str, set[str]] = {}
    links: list[tuple[str, str]] = []
    for name, soup in _pages(site):
        anchors[name] = {tag["id"] for tag in soup.find_all(id=True)} | {
            tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
        links += [(name, tag.get("href") or tag.get("src")) for tag in soup.find_all(["a", "img", "link", "script"])
                  if tag.get("href") or tag.get("src")]
    problems = []
    for page, link in links:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            continue  # the web (a paper, a data set's page): not part of the site
        target = (posixpath.normpath(posixpath.join(posixpath.dirname(page), unquote(parts.path))) if parts.path
                  else page)
        if target.startswith("../") or not (site / target).exists():
            problems.append(f"{page}: {link} (no file {target})")
        elif (parts.fragment and target.endswith(".html")
              and not {parts.fragment, unquote(parts.fragment)} & anchors.get(target, set())):  # as browsers match
            problems.append(f"{page}: {link} (no anchor #{parts.fragment} in {target})")
    return problems


# What a browser fetches by itself when it opens a page (links the reader clicks, <a href>, are not among them).
LOADED = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src",
          "audio": "src", "embed": "src", "object": "data", "track": "src", "input": "src"}
WEB = re.compile(r"""https?://[^\s'"`)]+""")


def external_resources(site: Path | str) -> list[str]:
    """'page: address' for everything a page of the site would load from the web when opened: a script, a style
    sheet, an image, a frame, an @import or url() of a style, an address in an inline script; [] for a site that
    works offline."""
    problems = []
    for name, soup in _pages(Path(site)):
        for tag, attribute in LOADED.items():
            for element in soup.find_all(tag):
                address = element.get(attribute) or ""
                if tag == "link" and not {"stylesheet", "preload", "modulepreload", "icon", "manifest"} & set(
                        element.get("rel") or []):
                    continue
                if urlsplit(address).scheme not in ("", "data", "file") or address.startswith("//"):
                    problems.append(f"{name}: <{tag}> {address}")
        for element in soup.find_all(["script", "style"]):
            text = element.string or ""
            found = (re.findall(r"""(?:@import\s*|url\()\s*['"]?((?:https?:)?//[^'")\s]+)""", text)
                     if element.name == "style" else WEB.findall(text))
            problems += [f"{name}: inline <{element.name}> {address}" for address in found]
        for element in soup.find_all(style=True):
            problems += [f"{name}: style attribute {address}" for address in
                         re.findall(r"""url\(\s*['"]?((?:https?:)?//[^'")\s]+)""", element["style"])]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.site", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of NN_name.ipynb notebooks")
    parser.add_argument("output", type=Path, nargs="?",
                        help="folder to write the site to (replaced when the build succeeds)")
    parser.add_argument("--no-execute", dest="execute", action="store_false", help="render the stored outputs")
    parser.add_argument("--languages", default=f"en,{KOREAN}",
                        help=f"comma-separated editions to build (default en,{KOREAN}; {KOREAN} reads "
                             f"<source>/{KOREAN}/)")
    parser.add_argument("--refresh", action="store_true",
                        help="instead of a site: execute the notebooks in place and store them lean (what is committed)")
    parser.add_argument("--only", help="with --refresh: comma-separated notebook numbers, e.g. 07,09")
    parser.add_argument("--english-only", dest="korean", action="store_false",
                        help="with --refresh: rebuild the Korean notebooks without executing them in Korean")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    arguments = parser.parse_args(argv)
    if arguments.refresh:
        try:
            refresh_notebooks(arguments.source, only=arguments.only.split(",") if arguments.only else None,
                              timeout=arguments.timeout, korean=arguments.korean)
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if arguments.output is None:
        parser.error("give the output folder of the site, or --refresh")
    try:
        index = build_site(arguments.source, arguments.output, execute=arguments.execute, timeout=arguments.timeout,
                           languages=tuple(arguments.languages.split(",")))
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"site written: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
