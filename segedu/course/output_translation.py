"""What a notebook's code prints and draws, in the learner's language: printed lines and the texts of figures
(titles, axis labels, legends, annotations, category ticks), translated from the notebooks' own gettext catalogs.

The notebooks' code is the same in both editions, so their outputs are translated as they appear, not in the code:

* a **template** is an output text with each number replaced by a numbered placeholder
  (``"FCN-8s: 54.9 mIoU after 3 epochs"`` -> ``"FCN-8s: {0} mIoU after {1} epochs"``; a digit inside a word, as in
  FCN-8s, ResNet-50 or 3x3, is part of the word; a size's unit goes with its number, as in 12.8M), so one catalog
  entry covers every run's numbers;
* `segedu.course.translation update` collects the templates of each English notebook's stored outputs (its printed
  lines, and the texts the figures carry in their output's metadata, `figure_texts`) into the notebook's catalog,
  one entry per template with the context ``NN_name:output``;
* a printed line that ends in a verdict (holds, contradicted, inconclusive) brings the versions with the other two
  verdicts (`verdict_versions`): the learner's run, or one on the stand-in data, may reach another one;
* a line that names other classes or verdicts than the stored run's (a run on the stand-ins, or the learner's)
  is translated by the entry for the stored line, its class names and verdicts filled in as values (`valued`);
* in Korean (``SEGEDU_LANG=ko`` or `segedu.set_language("ko")`) `install_stdout` (installed in every kernel by
  `import segedu.course`) translates each printed line, `install_progress` the descriptions of the progress bars the
  notebooks' code starts, and `segedu.course.figures` each figure's texts before it is drawn (`translate_figure`);
  a text without an entry stays English, never blank.

The Korean notebooks are executed in Korean (``site notebooks --refresh``), so their stored figures are Korean; a
Korean notebook not executed since its English code changed carries the English outputs with the printed lines
translated (`translate_outputs`), and its figures stay English until the next refresh.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from pathlib import Path

import polib

from ..data.availability import STANDINS, display_name
from ..language import language
from .messages import placeholders
from .output_values import valued, valued_table

__all__ = ["template", "translations", "conflicts", "output_table", "translate", "translate_line", "translate_figure",
           "figure_texts", "install_stdout", "install_progress", "progress_descriptions", "output_templates",
           "translate_outputs", "verdict_versions", "OUTPUT_CONTEXT", "VERDICT_REASONS"]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
OUTPUT_CONTEXT = "output"
TEXTS_KEY = "texts"  # the key of a figure output's metadata that lists the figure's texts
# A number: not part of a word (conv1, 3x3, FCN-8s, ResNet-50), its sign only where it starts a word, a unit of
# size or of speed-up kept with it (12.8M parameters, 1.42x).
_NUMBER = re.compile(r"(?<![\w.])(?<!\w[-−])[-+−]?\d+(?:\.\d+)?(?:[kMGB]|x(?!\d))?(?!\w|\.\d)")
_WORDS = re.compile(r"[A-Za-z]{2}")


_COLUMNS = re.compile(r"(?<=\S) {2,}(?=\S)")
# A judged line ends in its verdict, alone or with the rule's reason (`segedu.lab.seeds.said` and `reported`), and
# another run (the learner's, or one on the stand-in data) may reach another verdict: the catalog holds all three
# versions of such a line (`verdict_versions`). Each {} is one of the reason's numbers, as a template's placeholder.
VERDICT_REASONS = {"holds": "the whole interval is above {}",
                   "contradicted": "the whole interval is below {}, the least gain that counts",
                   "inconclusive": "the interval covers all of {} to {}"}
_JUDGED = re.compile(r": (holds|contradicted|inconclusive)(?: \((?:{})\))?$".format(
    "|".join(re.escape(reason).replace(r"\{\}", r"\{\d+\}") for reason in VERDICT_REASONS.values())))
# A rule other than "better" gives its own words as the reason, the same whatever the verdict.
_RULED = re.compile(r": (holds|contradicted|inconclusive)( \(the rule: [^()]*\))$")


def normalized(key: str) -> str:
    """A template with each run of spaces between words as two: a table row keeps its key when a wider number moves
    its columns (the translation brings its own spacing)."""
    return _COLUMNS.sub("  ", key)


def template(text: str) -> tuple[str, list[str]]:
    """(`text` with its numbers as {0}, {1}, ..., its braces doubled and its column gaps `normalized`, the numbers
    in order)."""
    numbers, parts, start = [], [], 0
    for match in _NUMBER.finditer(text):
        parts.append(text[start:match.start()].replace("{", "{{").replace("}", "}}") + "{" + str(len(numbers)) + "}")
        numbers.append(match.group())
        start = match.end()
    parts.append(text[start:].replace("{", "{{").replace("}", "}}"))
    return normalized("".join(parts)), numbers


_MATH = re.compile(r"\$[^$]*\$")


def verdict_versions(key: str) -> list[str]:
    """A template and, if it ends in a verdict (": holds", ": holds (the whole interval is above {3})", or ": holds
    (the rule: A - B above {3})"), its versions with the other two verdicts, the template first."""
    ruled = _RULED.search(key)
    if ruled is not None:
        head = key[:ruled.start()]
        return [key, *(f"{head}: {verdict}{ruled.group(2)}" for verdict in VERDICT_REASONS if verdict != ruled.group(1))]
    match = _JUDGED.search(key)
    if match is None:
        return [key]
    head, reasoned = key[:match.start()], match.group(0) != f": {match.group(1)}"
    first = len(placeholders(head))
    versions = [f"{head}: {verdict}" + (f" ({_numbered(reason, first)})" if reasoned else "")
                for verdict, reason in VERDICT_REASONS.items()]
    return [key, *(version for version in versions if version != key)]


def _numbered(reason: str, first: int) -> str:
    """`reason` with its {} numbered from `first` on: "above {}", 3 -> "above {3}"."""
    pieces = reason.split("{}")
    return pieces[0] + "".join("{%d}%s" % (first + index, piece) for index, piece in enumerate(pieces[1:]))


def worth_translating(text: str) -> bool:
    """Whether `text` has words (two Latin letters in a row) outside math: a line of numbers alone, or a tick label
    such as $10^{2}$, is the same in any language."""
    return bool(_WORDS.search(_MATH.sub("", text)))


def _is_output_entry(entry: polib.POEntry) -> bool:
    return ((entry.msgctxt or "").endswith(":" + OUTPUT_CONTEXT) and bool(entry.msgstr) and not entry.obsolete
            and "fuzzy" not in entry.flags and placeholders(entry.msgstr) <= placeholders(entry.msgid))


def translations(code: str, root: Path = NOTEBOOKS) -> dict[str, dict[str, str]]:
    """{template: {catalog name: translation}} of every notebook catalog of language `code` (translated, not
    fuzzy): a template several notebooks share must be translated alike (`conflicts`)."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted((Path(root) / "locale" / code).glob("*.po")):
        for entry in polib.pofile(str(path), wrapwidth=0):
            if _is_output_entry(entry):
                found.setdefault(normalized(entry.msgid), {})[path.stem] = entry.msgstr
    return found


def conflicts(code: str, root: Path = NOTEBOOKS) -> list[str]:
    """The templates that two notebooks translate differently: one kernel runs any notebook, so it needs one."""
    return [f"{template!r} is translated differently in " + ", ".join(f"{name} ({text!r})" for name, text in
                                                                        by_catalog.items())
            for template, by_catalog in translations(code, root).items() if len(set(by_catalog.values())) > 1]


def output_table(code: str, root: Path = NOTEBOOKS) -> dict[str, str]:
    """{template: translation} from every notebook catalog of language `code` (the first catalog's, by name, where
    two disagree, which `translation check` refuses): the one table a Korean kernel (at run time) and `translation
    build` (for the stored outputs) both translate with."""
    return {template: next(iter(by_catalog.values())) for template, by_catalog in translations(code, root).items()}


@functools.lru_cache(maxsize=None)
def _table(code: str) -> dict[str, str]:
    return output_table(code)  # read once per kernel


# On the stand-ins a text names "the CamVid stand-in" where the English notebook's stored run, on the data, named
# "CamVid" (`data.display_name`): the catalog's entry for the data's text serves, the stand-in named in the language.
STANDIN_WORDS = {"ko": "{data} 대용 데이터셋"}
_STANDIN_NAMES = tuple((display_name(data), display_name(standin)) for data, standin in STANDINS.items())
# A line measured on a stand-in says so where the data's line says nothing (`experiments.published_line`, notebook
# 10's published CRF gain): the data's entry translates the rest, the caveat goes first in the language ({0}: the
# stand-in's name as the line gives it, quotes included).
STANDIN_CAVEATS = {re.compile(r" on the synthetic stand-in ('[^']+') \(not comparable\)"):
                   {"ko": "(합성 대용 데이터셋 {0}에서 잰 값이라 비교할 수 없습니다) "},
                   re.compile(r"^\(measured on the stand-in, not comparable\) "):
                   {"ko": "(이 노트북의 값은 대용 데이터셋에서 잰 것이라 발표 수치와 비교할 수 없습니다) "}}


def translate(text: str, code: str | None = None, *, table: dict[str, str] | None = None) -> str:
    """`text` in language `code` (the learner's by default) where the catalogs have its template, else unchanged; a
    text that names other classes or verdicts (`valued`), or is spaced otherwise, than the catalog's entry for it
    with its own; a text that
    names a stand-in ("the CamVid stand-in") as the data's text ("CamVid"), with the stand-in named in
    `STANDIN_WORDS`; a text of several lines without an entry of its own line by line."""
    code = code or language()
    if code == "en" or not worth_translating(text):
        return text
    table = _table(code) if table is None else table
    key, numbers = template(text)
    if key in table:
        return _on_columns(table[key].format(*numbers), text)
    valued_key, values = valued(key)  # other class names, verdicts or spacing than the stored line's
    by_values = valued_table(table)
    if valued_key in by_values:
        filled = by_values[valued_key].format(*numbers, **{f"v{index}": value for index, value in enumerate(values)})
        return _on_columns(filled, text)
    for data, standin in _STANDIN_NAMES:
        if standin in text and code in STANDIN_WORDS:  # translated as the data's text, the stand-in named after
            as_data = text.replace(standin, data)
            translated = translate(as_data, code, table=table)
            if translated != as_data:
                return translated.replace(data, STANDIN_WORDS[code].format(data=data))
    for caveat, words in STANDIN_CAVEATS.items():
        found = caveat.search(text)
        if found is not None and code in words:  # the line as on the data, the caveat first
            as_data = text[:found.start()] + text[found.end():]
            translated = translate(as_data, code, table=table)
            if translated != as_data:
                return words[code].format(*found.groups()) + translated
    if "\n" in text:
        return "\n".join(translate(line, code, table=table) for line in text.split("\n"))
    return text


def _width(text: str) -> int:
    """The columns `text` takes in a monospaced font (a Hangul syllable or another wide character takes two)."""
    return sum(2 if unicodedata.east_asian_width(character) in "WF" else 1 for character in text)


def _cells(line: str) -> list[tuple[int, int, str]]:
    """[(first column, column after the end, text)] of the cells of a table row (texts parted by two spaces or
    more), in display columns."""
    cells, column, start = [], 0, 0
    for match in _COLUMNS.finditer(line):
        text = line[start:match.start()]
        cells.append((column, column + _width(text), text))
        column += _width(text) + len(match.group())
        start = match.end()
    cells.append((column, column + _width(line[start:]), line[start:]))
    return cells


def _on_columns(translated: str, original: str) -> str:
    """`translated` with each cell it keeps word for word from `original`, a row of a table printed with padded
    fields (a number, a model's name, "67 px"), back in that cell's column, two spaces at least after the cell
    before it; a translated cell keeps the gap the translation put before it. The catalog holds one translation per
    template, written with the spacing of one row's numbers, so without this a narrower or wider number would move
    its row's columns. A text that is not a row of as many cells keeps the translation's spacing."""
    if "\n" in original or "\n" in translated:
        return translated
    before, after = _cells(original), _cells(translated)
    if len(before) < 2 or len(before) != len(after):
        return translated
    row, cursor, previous_end = "", 0, 0
    for index, ((start, _, kept), (translated_start, translated_end, text)) in enumerate(zip(before, after)):
        if index == 0:
            column = translated_start
        elif text == kept:
            column = max(start, cursor + 2)
        else:
            column = cursor + translated_start - previous_end
        row += " " * (column - cursor) + text
        cursor, previous_end = column + _width(text), translated_end
    return row


def translate_line(line: str, code: str | None = None, *, table: dict[str, str] | None = None) -> str:
    """One printed line, its indentation and trailing spaces kept."""
    stripped = line.strip()
    if not stripped:
        return line
    start = line.index(stripped)
    return line[:start] + translate(stripped, code, table=table) + line[start + len(stripped):]


def _texts(figure):
    from matplotlib.text import Text

    return [artist for artist in figure.findobj(Text) if artist.get_visible() and worth_translating(artist.get_text())]


def _label_formatters(figure):
    """(formatter, setter) of each tick formatter that may write words (fixed labels, categories, functions): a
    tick label is written again by its formatter whenever the figure is drawn, so the words are translated there."""
    from matplotlib.category import StrCategoryFormatter
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    for axes in figure.axes:
        for axis in (axes.xaxis, axes.yaxis):
            for formatter, setter in ((axis.get_major_formatter(), axis.set_major_formatter),
                                      (axis.get_minor_formatter(), axis.set_minor_formatter)):
                if isinstance(formatter, (FixedFormatter, StrCategoryFormatter, FuncFormatter)) \
                        and not getattr(formatter, "translated", False):
                    yield formatter, setter


def _formatter_words(formatter) -> list[str]:
    """The words a formatter was given (fixed labels, categories, `set_ticklabels`'s labels)."""
    from matplotlib.ticker import FixedFormatter

    if isinstance(formatter, FixedFormatter):
        words = formatter.seq
    elif hasattr(formatter, "_units"):
        words = list(formatter._units)
    else:
        function = getattr(formatter, "func", None)
        given = function.args if isinstance(function, functools.partial) else ()
        words = list(given[0].values()) if given and isinstance(given[0], dict) else []
    return [str(word) for word in words if worth_translating(str(word))]


def figure_texts(figure) -> list[str]:
    """The templates of `figure`'s texts and tick labels, each once: what `translation update` collects."""
    texts = [artist.get_text() for artist in _texts(figure)]
    texts += [word for formatter, _ in _label_formatters(figure) for word in _formatter_words(formatter)]
    return list(dict.fromkeys(template(text)[0] for text in texts))


def translate_figure(figure, code: str | None = None) -> int:
    """Translate `figure`'s texts and worded tick labels in place into language `code` (the learner's). -> how
    many texts changed."""
    from matplotlib.ticker import FuncFormatter

    code = code or language()
    if code == "en":
        return 0
    changed = 0
    for artist in _texts(figure):
        text = artist.get_text()
        translated = translate(text, code)
        if translated != text:
            artist.set_text(translated)
            changed += 1
    for formatter, setter in list(_label_formatters(figure)):
        translated = FuncFormatter(lambda value, position, words=formatter: translate(words(value, position), code))
        translated.translated = True
        setter(translated)
    return changed


class TranslatingStream:
    """A text stream that passes each complete line to `stream` in the learner's language at the time of writing (a
    partial line waits for its end or for `flush`, which the kernel calls after every cell); everything else is the
    wrapped stream's."""

    def __init__(self, stream):
        self.stream, self._pending = stream, ""

    def write(self, text: str) -> int:
        code = language()
        if code == "en" and not self._pending:
            return self.stream.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        if lines:
            self.stream.write("".join(translate_line(line, code) + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.stream.write(translate_line(pending))
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def install_stdout() -> bool:
    """Print in the learner's language from now on (`segedu.set_language` takes effect at the next line); False if
    it is installed already."""
    if isinstance(sys.stdout, TranslatingStream):
        return False
    sys.stdout = TranslatingStream(sys.stdout)
    return True


def install_progress() -> bool:
    """Describe the progress bars that the notebooks' own code starts (``tqdm(..., desc="training FCN-8s")``), and
    name the values they show (``bar.set_postfix(loss=...)``), in the learner's language from now on, looked up as
    `translate` looks up a printed line; False if installed already. The committed notebooks drop progress bars, so
    their descriptions come to the catalogs from the code itself (`progress_descriptions`)."""
    from tqdm import std

    if getattr(std.tqdm.__init__, "translates_description", False):
        return False
    original = std.tqdm.__init__

    @functools.wraps(original)
    def __init__(self, *args, **options):
        if isinstance(options.get("desc"), str):
            options["desc"] = translate(options["desc"])
        elif len(args) > 1 and isinstance(args[1], str):  # tqdm(iterable, desc, ...)
            args = (args[0], translate(args[1]), *args[2:])
        original(self, *args, **options)

    @functools.wraps(original_postfix := std.tqdm.set_postfix)
    def set_postfix(self, ordered_dict=None, refresh=True, **values):  # bar.set_postfix(loss="0.512")
        if ordered_dict is not None:
            ordered_dict = {translate(str(key)): value for key, value in dict(ordered_dict).items()}
        original_postfix(self, ordered_dict, refresh, **{translate(key): value for key, value in values.items()})

    __init__.translates_description = True
    std.tqdm.__init__, std.tqdm.set_postfix = __init__, set_postfix
    return True


_DESCRIPTION = re.compile(r"\bdesc=(?P<quote>[\"'])(?P<text>[^\"'\n]+)(?P=quote)")
_POSTFIX = re.compile(r"\.set_postfix\((?P<arguments>[^\n]*)")  # its names: the words before "=" on its line


def progress_descriptions(notebook: dict) -> list[str]:
    """The templates of the progress bars' descriptions written in a notebook's code cells (``desc="..."``), and the
    names of the values they show (``bar.set_postfix(loss=...)``)."""
    found = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            found += [template(match.group("text"))[0] for match in _DESCRIPTION.finditer(source)]
            found += [name for match in _POSTFIX.finditer(source)
                      for name in re.findall(r"(?:^|,)\s*(\w+)=", match["arguments"])]
    return found


def _printed(output: dict) -> str | None:
    """The text of a stored stdout output (nbformat keeps it as a string or a list of lines), None for others."""
    if output.get("output_type") != "stream" or output.get("name") != "stdout":
        return None
    return output["text"] if isinstance(output["text"], str) else "".join(output["text"])


def _stdout_lines(output: dict) -> list[str]:
    text = _printed(output)
    return [] if text is None else [line.strip() for line in text.split("\n") if worth_translating(line)]


def output_templates(notebook: dict) -> list[str]:
    """Every template of a notebook's stored outputs, in order, each once: its printed lines (stdout) and the texts
    of its figures (their outputs' metadata, written by `segedu.course.figures`), then its progress bars'
    descriptions (`progress_descriptions`)."""
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            found += [version for line in _stdout_lines(output) for version in verdict_versions(template(line)[0])]
            for metadata in output.get("metadata", {}).values():
                if isinstance(metadata, dict):
                    found += [normalized(text) for text in metadata.get(TEXTS_KEY, []) if worth_translating(text)]
    return list(dict.fromkeys(found + progress_descriptions(notebook)))


def translate_outputs(notebook: dict, table: dict[str, str]) -> dict:
    """Translate the printed lines of `notebook`'s stored outputs in place with `table` ({template: translation})."""
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = _printed(output)
            if text is not None:
                lines = [translate_line(line, "xx", table=table) for line in text.split("\n")]
                joined = "\n".join(lines)
                output["text"] = joined if isinstance(output["text"], str) else joined.splitlines(keepends=True)
    return notebook
