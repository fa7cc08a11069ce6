"""Figures are stored as PNG when they are drawings and as JPEG when they show a picture, both at 100 dpi, through
IPython's display formatters (segedu.course.figures)."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from segedu.course import figures


def chart():
    figure = Figure(figsize=(4, 3), dpi=72)
    figure.subplots().plot([0, 1, 2], [1, 0, 1])
    return figure


def picture(side=128):
    figure = Figure(figsize=(4, 3), dpi=72)
    figure.subplots().imshow(np.random.default_rng(0).random((side, side, 3)))
    return figure


def test_a_picture_is_a_photo_and_a_chart_or_a_tiny_image_is_not():
    assert figures.is_photo(picture()) and not figures.is_photo(chart())
    assert not figures.is_photo(picture(side=8))  # an 8x8 kernel drawn as an image is a drawing


@pytest.mark.parametrize("image_format, kind", [("png", "PNG"), ("jpeg", "JPEG")])
def test_the_bytes_carry_their_format_and_their_dpi(image_format, kind):
    stored = Image.open(io.BytesIO(figures.figure_bytes(picture(), image_format, dpi=100)))
    assert stored.format == kind and round(stored.info["dpi"][0]) == 100 and stored.size == (400, 300)


def test_the_formatters_store_drawings_as_png_and_pictures_as_jpeg():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert figures.install()
        formatter = shell.display_formatter
        drawn, _ = formatter.format(chart())
        shown, _ = formatter.format(picture())
        assert "image/png" in drawn and "image/jpeg" not in drawn
        assert "image/jpeg" in shown and "image/png" not in shown
        assert len(shown["image/jpeg"]) < len(figures.figure_bytes(picture(), "png"))  # smaller than as PNG
        assert round(Image.open(io.BytesIO(drawn["image/png"])).info["dpi"][0]) == 100  # asked 72, stored 100
    finally:
        InteractiveShell.clear_instance()


def test_outside_ipython_nothing_is_installed():
    assert figures.install() is False
