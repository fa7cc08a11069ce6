"""The static course site: every notebook executed (fast profile) and rendered to HTML, with a contents page.

    python -m segedu.course.site notebooks site              # execute, render, check links (what `make site` runs)
    python -m segedu.course.site notebooks site --no-execute # render the outputs already stored in the notebooks
    python -m segedu.course.site notebooks --refresh         # execute the notebooks in place and store them lean

A learner reads the site without a kernel: figures are embedded PNGs; an explorer widget shows the PNG of its first
view (segedu.course.widgets stores one beside the live widget); progress bars, which mean nothing after the fact, are
dropped. Each page has a bar with the contents, the previous and the next notebook; links between notebooks point at
the pages. The build ends by checking that every local link and anchor of the site resolves.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .toc import COURSE

__all__ = ["build_site", "broken_links", "refresh_notebooks", "lean"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
STYLE = """
<style>
  nav.segedu { position: sticky; top: 0; z-index: 10; display: flex; gap: 1.5em; align-items: center;
               padding: 0.6em 1.2em; background: #1f3b57; font: 14px/1.4 system-ui, sans-serif; }
  nav.segedu a { color: #fff; text-decoration: none; } nav.segedu a:hover { text-decoration: underline; }
  nav.segedu .spacer { flex: 1; } nav.segedu .title { color: #cfe3f5; font-weight: 600; }
</style>
"""
INDEX_STYLE = """
<style>
  body { font: 16px/1.55 system-ui, sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1.2em; color: #1d2733; }
  h1 { margin-bottom: 0.2em; } table { border-collapse: collapse; width: 100%; font-size: 14px; }
  th, td { border-bottom: 1px solid #dde3ea; padding: 0.45em 0.6em; text-align: left; vertical-align: top; }
  th { background: #f1f5f9; } ul.sections { margin: 0.2em 0 0; padding-left: 0.2em; list-style: none; font-size: 13px; color: #445; }
  a { color: #1f5f99; } .muted { color: #667; }
</style>
"""


def _lessons(source: Path) -> list[tuple[Path, str]]:
    """(path, title) for every NN_name.ipynb in `source`, in order; titles from segedu.course, else the heading."""
    known = {lesson.notebook: lesson.title for lesson in COURSE}
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks named NN_name.ipynb in {source}")
    return [(path, known.get(path.name) or path.stem[3:].replace("_", " ")) for path in paths]


def _execute(notebook, path: Path, timeout: int):
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def refresh_notebooks(source: Path | str, *, only: list[str] | None = None, timeout: int = 600, log=print) -> dict:
    """Execute every NN_name.ipynb of `source` (or those whose number is in `only`) in place, in the fast profile
    with inline figures, and store it lean; return {name: seconds}, kernel start-up included."""
    import nbformat

    os.environ.setdefault("SEGEDU_PROFILE", "fast")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
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
    _rebuild_korean(Path(source), [name[:2] for name in seconds], log)
    return seconds


def _rebuild_korean(source: Path, numbers: list[str], log) -> None:
    """The Korean notebooks follow the English ones they are built from (`segedu.course.translation`)."""
    from .translation import build

    if not numbers or not (source / "locale" / "ko").is_dir():
        return
    try:
        for target in build(source, names=numbers):
            log(f"{target.relative_to(source.parent)}: rebuilt from the English notebook and its catalog")
    except ValueError as error:  # an English cell changed: its translation is missing or fuzzy
        log(f"the Korean edition was not rebuilt: {error}")


def lean(notebook):
    """Drop what needs a kernel (in place): widget state, widget views, and widget outputs with no picture to stand in
    for them (progress bars); an explorer keeps the one picture of its first view. What a committed notebook keeps and
    what the site shows; opened in JupyterLab, the picture stands until the cell runs again."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [output for output in cell.outputs
                        if not (WIDGET_VIEW in output.get("data", {}) and "image/png" not in output["data"])]
        for output in cell.outputs:
            output.get("data", {}).pop(WIDGET_VIEW, None)
    return notebook


def _navigation(index: int, pages: list[tuple[str, str]]) -> str:
    parts = ['<nav class="segedu">', '<a href="index.html">segedu · contents</a>',
             f'<span class="title">{html.escape(pages[index][1])}</span>', '<span class="spacer"></span>']
    if index > 0:
        parts.append(f'<a href="{pages[index - 1][0]}">&larr; {html.escape(pages[index - 1][1])}</a>')
    if index + 1 < len(pages):
        parts.append(f'<a href="{pages[index + 1][0]}">{html.escape(pages[index + 1][1])} &rarr;</a>')
    return "".join(parts) + "</nav>"


def _sections(page: str) -> list[tuple[str, str]]:
    """(anchor, text) of each second-level heading of a rendered page."""
    found = []
    for anchor, inner in re.findall(r'<h2 id="([^"]+)">(.*?)</h2>', page, flags=re.S):
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        found.append((anchor, html.unescape(text)))
    return found


def _index(pages: list[tuple[str, str]], sections: list[list[tuple[str, str]]]) -> str:
    lessons = {lesson.notebook.removesuffix(".ipynb") + ".html": lesson for lesson in COURSE}
    rows = []
    for (page, title), headings in zip(pages, sections):
        lesson = lessons.get(page)
        items = "".join(f'<li><a href="{page}#{anchor}">{html.escape(text)}</a></li>' for anchor, text in headings)
        teaches = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(lesson.teaches)) if lesson else ""
        prerequisites = html.escape(", ".join(lesson.prerequisites)) if lesson else ""
        cpu = f"{lesson.cpu_seconds:.0f} s" if lesson else ""
        rows.append(f'<tr><td>{page[:2]}</td><td><a href="{page}"><b>{html.escape(title)}</b></a>'
                    f'<ul class="sections">{items}</ul></td><td>{teaches}</td><td>{prerequisites}</td><td>{cpu}</td></tr>')
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>segedu: the course</title>"
            f"{INDEX_STYLE}</head><body><h1>segedu: semantic segmentation, built from scratch</h1>"
            "<p>Every notebook of the course with its outputs and figures, executed in the fast profile on a CPU. "
            "To run and change them, open them in JupyterLab (<code>make lab</code>).</p>"
            "<table><tr><th>#</th><th>notebook and its sections</th><th>what it teaches</th><th>prerequisites</th>"
            f"<th>CPU time</th></tr>{''.join(rows)}</table>"
            f"<p class='muted'>Built {time.strftime('%Y-%m-%d')}.</p></body></html>")


def build_site(source: Path | str, output: Path | str, *, execute: bool = True, timeout: int = 600,
               log=print) -> Path:
    """Render every NN_name.ipynb of `source` into `output` (index.html + one page per notebook); returns index.html."""
    import nbformat
    from nbconvert import HTMLExporter

    source, output = Path(source), Path(output)
    lessons = _lessons(source)
    os.environ.setdefault("SEGEDU_PROFILE", "fast")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures as PNG, whatever the shell set
    staging = output.with_name(output.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    exporter = HTMLExporter(template_name="lab")
    pages = [(path.stem + ".html", title) for path, title in lessons]
    rendered = []
    for path, _ in lessons:
        started = time.perf_counter()
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception as error:
            raise ValueError(f"{path} is not a readable notebook: {error}") from error
        if execute:
            try:
                _execute(notebook, path, timeout)
            except Exception as error:
                raise RuntimeError(f"executing {path} failed: {str(error)[-2000:]}") from error
        body, _ = exporter.from_notebook_node(lean(notebook))
        rendered.append(body)
        log(f"{path.name}: {'executed and ' if execute else ''}rendered in {time.perf_counter() - started:.1f} s")
    sections = [_sections(body) for body in rendered]
    for index, body in enumerate(rendered):
        body = re.sub(r'href="(\d\d_[\w-]+)\.ipynb', r'href="\1.html', body)  # notebook-to-notebook links
        body = body.replace("</head>", STYLE + "</head>", 1)
        body = re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + _navigation(index, pages), body, count=1)
        (staging / pages[index][0]).write_text(body, encoding="utf-8")
    (staging / "index.html").write_text(_index(pages, sections), encoding="utf-8")
    problems = broken_links(staging)
    if problems:
        raise RuntimeError("the site has broken links:\n" + "\n".join(problems[:50]))
    shutil.rmtree(output, ignore_errors=True)
    staging.rename(output)  # a half-built site never replaces a good one
    return output / "index.html"


def broken_links(site: Path | str) -> list[str]:
    """'page: link' for every local href or src of the site's pages that names a missing file or anchor."""
    from bs4 import BeautifulSoup

    site = Path(site)
    anchors: dict[str, set[str]] = {}
    links: list[tuple[str, str]] = []
    for page in sorted(site.glob("*.html")):
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        anchors[page.name] = {tag["id"] for tag in soup.find_all(id=True)} | {
            tag["name"] for tag in soup.find_all("a", attrs={"name": True})}
        links += [(page.name, tag.get("href") or tag.get("src")) for tag in soup.find_all(["a", "img", "link", "script"])
                  if tag.get("href") or tag.get("src")]
    problems = []
    for page, link in links:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            continue  # the web (MathJax, require.js from a CDN): not part of the site
        target = unquote(parts.path) or page
        if not (site / target).exists():
            problems.append(f"{page}: {link} (no file {target})")
        elif (parts.fragment and target.endswith(".html")
              and not {parts.fragment, unquote(parts.fragment)} & anchors.get(target, set())):  # as browsers match
            problems.append(f"{page}: {link} (no anchor #{parts.fragment} in {target})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m segedu.course.site", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of NN_name.ipynb notebooks")
    parser.add_argument("output", type=Path, nargs="?",
                        help="folder to write the site to (replaced when the build succeeds)")
    parser.add_argument("--no-execute", dest="execute", action="store_false", help="render the stored outputs")
    parser.add_argument("--refresh", action="store_true",
                        help="instead of a site: execute the notebooks in place and store them lean (what is committed)")
    parser.add_argument("--only", help="with --refresh: comma-separated notebook numbers, e.g. 07,09")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    arguments = parser.parse_args(argv)
    if arguments.refresh:
        try:
            refresh_notebooks(arguments.source, only=arguments.only.split(",") if arguments.only else None,
                              timeout=arguments.timeout)
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if arguments.output is None:
        parser.error("give the output folder of the site, or --refresh")
    try:
        index = build_site(arguments.source, arguments.output, execute=arguments.execute, timeout=arguments.timeout)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"site written: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
