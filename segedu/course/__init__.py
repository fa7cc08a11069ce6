"""The course machinery: notebooks, checks, widgets, the site, translations. Importing it in a notebook makes its
figures store as PNG (drawings) or JPEG (photographs) at 100 dpi (segedu.course.figures), and, where the learner
asked for Korean (SEGEDU_LANG=ko, as the Korean edition's `make lab` sets it), gives matplotlib the Hangul font the
Korean figures need. What the notebooks' code prints and draws is translated as it appears
(segedu.course.output_translation)."""

from ..language import language as _language, set_language as _set_language
from . import figures as _figures, output_translation as _output_translation

if _figures.install():  # in IPython: what the code prints follows the learner's language too
    _output_translation.install_stdout()
    _output_translation.install_progress()
if _language() == "ko":
    _set_language("ko")
