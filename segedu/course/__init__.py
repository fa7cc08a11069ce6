"""The course machinery: notebooks, checks, widgets, the site, translations. Importing it in a notebook makes its
figures store as PNG (drawings) or JPEG (photographs) at 100 dpi (segedu.course.figures)."""

from . import figures as _figures

_figures.install()
