"""How a notebook stores its figures: drawings as PNG, pictures of photographs as JPEG, both at 100 dpi.

A CamVid frame or an electron-microscopy slice compresses poorly as PNG: one figure of four street scenes takes
half a megabyte, and a notebook has a megabyte in all. As JPEG at quality 88 it takes a fifth of that, and its text
stays sharp enough to read; a chart or a diagram stays PNG, which keeps its lines and letters exact. `install()`
registers that choice with IPython's display formatters for matplotlib figures (the inline backend shows every
figure through them), so a notebook needs nothing but `import segedu.course`; outside IPython it does nothing.

The same formatters put a figure's texts in the learner's language before it is drawn, and list them (as templates,
`segedu.course.output_translation`) in the output's metadata, where the translation catalogs find them.
"""

from __future__ import annotations

import io

__all__ = ["PHOTO_PIXELS", "JPEG_QUALITY", "is_photo", "figure_bytes", "install"]

PHOTO_PIXELS = 96 * 96  # an image drawn from at least this many pixels counts as a picture, not a drawing
JPEG_QUALITY = 88


def is_photo(figure) -> bool:
    """Whether `figure` shows a picture (an imshow of at least PHOTO_PIXELS pixels): it is stored as JPEG."""
    for axis in figure.axes:
        for image in axis.get_images():
            array = image.get_array()
            if array is not None and array.shape[0] * array.shape[1] >= PHOTO_PIXELS:
                return True
    return False


def figure_bytes(figure, image_format: str, *, dpi: float = 100, tight: bool = False) -> bytes:
    """`figure` as PNG or JPEG bytes at `dpi` (written into the file: pHYs for PNG, JFIF density for JPEG)."""
    buffer = io.BytesIO()
    options = {"pil_kwargs": {"quality": JPEG_QUALITY}} if image_format == "jpeg" else {}
    figure.savefig(buffer, format=image_format, dpi=dpi, bbox_inches="tight" if tight else None,
                   facecolor="white", **options)
    return buffer.getvalue()


def install() -> bool:
    """Register the PNG-or-JPEG choice for matplotlib figures in the running IPython; False outside IPython."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import matplotlib

    if "inline" in matplotlib.get_backend():  # load the inline backend now: on loading it registers its own PNG
        import matplotlib.pyplot as plt   # formatter for figures, which must come before ours, not after

        plt.switch_backend(matplotlib.get_backend())
    from .output_translation import TEXTS_KEY, figure_texts, translate_figure

    formatters = shell.display_formatter.formatters

    def drawn(figure, image_format: str):
        texts = figure_texts(figure)  # the English texts, listed before they are translated
        translate_figure(figure)
        return figure_bytes(figure, image_format, dpi=max(100, figure.dpi), tight=True), {TEXTS_KEY: texts}

    def png(figure):
        return None if is_photo(figure) or not figure.axes else drawn(figure, "png")

    def jpeg(figure):
        return drawn(figure, "jpeg") if is_photo(figure) else None

    formatters["image/png"].for_type(Figure, png)
    formatters["image/jpeg"].for_type(Figure, jpeg)
    return True
