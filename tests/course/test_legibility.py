"""Legible figures everywhere in the course: every figure a notebook stores is a PNG or JPEG of at least 100 dpi
that fits a notebook's output area (at most 1050 pixels wide, so it is shown at its own size, not shrunk), and every
call that draws one asks for at least 100 dpi, text of at least 9 points and a width of at most 10.5 inches.

The stored images say their resolution themselves (the PNG's pHYs chunk, the JPEG's JFIF density); the calls are
read from the notebooks' code cells and the course's drawing modules."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DRAWING = [ROOT / "segedu" / "viz.py", *sorted((ROOT / "segedu" / "course").glob("*.py"))]
SMALLEST_POINTS, LOWEST_DPI, WIDEST_PIXELS, WIDEST_INCHES = 9, 100, 1050, 10.5

DPI = re.compile(r"\bdpi\s*=\s*(\d+(?:\.\d+)?)")
SIZE = re.compile(r"\b(?:fontsize|labelsize|title_fontsize)[\"']?\s*[=:]\s*(\d+(?:\.\d+)?)\b")  # keyword or dict key
NAMED_SIZE = re.compile(r"\b(?:fontsize|labelsize|title_fontsize)\s*=\s*[\"'](xx-small|x-small|small)[\"']")
FIGSIZE = re.compile(r"\bfigsize\s*=\s*\(\s*(\d+(?:\.\d+)?)\s*,")


def stored_pngs(notebook: Path):
    for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for kind in ("image/png", "image/jpeg"):  # drawings, and pictures of photographs (segedu.course.figures)
                if kind in data:
                    yield index, Image.open(io.BytesIO(base64.b64decode(data[kind])))


def code(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                         if cell["cell_type"] == "code")
    return path.read_text()


def problems(text: str) -> list[str]:
    """The calls in `text` that ask for less than the rules allow."""
    found = [f"dpi={value}" for value in DPI.findall(text) if float(value) < LOWEST_DPI]
    found += [f"text size {value}" for value in SIZE.findall(text) if float(value) < SMALLEST_POINTS]
    found += [f'named size "{value}"' for value in NAMED_SIZE.findall(text)]
    found += [f"figsize width {value}" for value in FIGSIZE.findall(text) if float(value) > WIDEST_INCHES]
    return found


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_stored_figure_is_at_least_100_dpi_and_shown_at_its_own_size(notebook):
    bad = []
    for index, image in stored_pngs(notebook):
        dpi = image.info.get("dpi", (0, 0))[0]
        if round(dpi) < LOWEST_DPI or image.width > WIDEST_PIXELS:
            bad.append(f"cell {index}: {image.width}x{image.height} px at {dpi:.0f} dpi")
    assert not bad, f"{notebook.name}: figures below {LOWEST_DPI} dpi or wider than {WIDEST_PIXELS} px: {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS + DRAWING, ids=lambda path: path.name)
def test_every_drawing_call_asks_for_legible_sizes(path):
    assert not problems(code(path)), f"{path.relative_to(ROOT)}: {problems(code(path))}"


@pytest.mark.parametrize("text, expected", [
    ('plt.subplots(figsize=(9, 3), dpi=72)', ["dpi=72"]),
    ('axis.set_title("x", fontsize=7)', ["text size 7"]),
    ('axis.legend(fontsize="small")', ['named size "small"']),
    ('axis.legend(handles=handles, **{"loc": "best", "fontsize": 8})', ["text size 8"]),
    ('plt.figure(figsize=(12, 4))', ["figsize width 12"]),
    ('plt.subplots(figsize=(10, 3), dpi=100); axis.text(0, 0, "x", fontsize=9)', []),
])
def test_the_rules_catch_small_calls_and_pass_legible_ones(text, expected):
    assert problems(text) == expected
