"""Which data sets are on this machine, what stands in for a missing one, and fetching the missing ones.

Notebooks start with ``data = choose("camvid")``: the real data set's name when it is here, else the name of
its synthetic stand-in (`segedu.data.standins`), after one line that says which data set is missing, the
command that fetches it, and that the numbers below are about the stand-in. `build_dataset` takes either name.

``python -m segedu data fetch-missing`` (run by ``make lab`` and ``make test``) downloads what is missing with
the checksummed, atomic `download`, states each size first, and never fails the caller: offline, or with
``SEGEDU_NO_DOWNLOAD=1``, it prints one line per missing data set and the course runs on the stand-ins.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError, DownloadError
from ..language import tr
from .download import SOURCES, download
from .root import data_root

__all__ = ["STANDINS", "FETCH_COMMANDS", "missing_reason", "choose", "is_standin", "display_name",
           "downloads_allowed", "fetch_missing"]

STANDINS = {"camvid": "streets", "isbi2012": "membranes"}  # real data set -> its synthetic stand-in
DISPLAY_NAMES = {"camvid": "CamVid", "isbi2012": "ISBI 2012", "streets": "the CamVid stand-in",
                 "membranes": "the ISBI 2012 stand-in"}
FETCH_COMMANDS = {name: f"python -m segedu data download {name}" for name in STANDINS}
_DESCRIPTIONS = {"streets": "synthetic street scenes with CamVid's 11 classes",
                 "membranes": "synthetic EM slices with ISBI 2012's membrane and cell classes"}


def missing_reason(name: str, root: Path | str | None = None) -> str | None:
    """None if data set `name` ("camvid" or "isbi2012") is readable under `root`, else why not (one sentence)."""
    from .camvid import CamVid
    from .isbi import ISBI2012

    folder = Path(root if root is not None else data_root()) / name
    if not folder.is_dir():
        return tr("{name} is not in {folder}", name=DISPLAY_NAMES[name], folder=folder)
    try:
        (CamVid if name == "camvid" else ISBI2012)(folder, "train")
    except DataError as error:
        return f"{DISPLAY_NAMES[name]} in {folder} is incomplete ({error})"
    return None


def display_name(name: str) -> str:
    """What figure titles call data set `name`: "CamVid", "ISBI 2012", "the CamVid stand-in", ... (else `name`)."""
    return DISPLAY_NAMES.get(name, name)


def is_standin(name: str) -> bool:
    """True for the names of the synthetic stand-ins ("streets", "membranes")."""
    return name in STANDINS.values()


def choose(name: str, *, root: Path | str | None = None, say: Callable[[str], None] = print) -> str:
    """`name` if that data set is here; else its stand-in's name, after saying so in one line.

    Example: ``data = choose("camvid")`` then ``build_dataset(data, "train", ...)`` reads CamVid when it is
    present and `SyntheticStreets` when it is not.
    """
    if name not in STANDINS:
        raise ValueError(tr("choose() knows {STANDINS}, got {name!r}", STANDINS=sorted(STANDINS), name=name))
    reason = missing_reason(name, root)
    if reason is None:
        return name
    standin = STANDINS[name]
    say(f"{reason}: this run uses {standin!r} ({_DESCRIPTIONS[standin]}) as a stand-in, so the numbers below are "
        f"about the stand-in, not {DISPLAY_NAMES[name]}. Fetch the real data ({SOURCES[name].size}) with: "
        f"{FETCH_COMMANDS[name]}")
    return standin


def downloads_allowed() -> bool:
    """False when ``SEGEDU_NO_DOWNLOAD`` is set to anything but "", "0" or "false"."""
    return os.environ.get("SEGEDU_NO_DOWNLOAD", "").strip().lower() in ("", "0", "false", "no")


def fetch_missing(names: tuple[str, ...] = tuple(STANDINS), root: Path | str | None = None, *,
                  say: Callable[[str], None] = print, progress: bool = True, urls: dict[str, str] | None = None) -> dict:
    """Download each data set of `names` that is missing under `root`; return {name: "present" | "downloaded" |
    "skipped" | "failed"}. Never raises for a failed download: it says so in one line, with the command to retry.

    `urls` replaces upstream addresses (a mirror, or a local server in tests).
    """
    root = Path(root if root is not None else data_root())
    outcome = {}
    for name in names:
        reason = missing_reason(name, root)
        if reason is None:
            outcome[name] = "present"
            continue
        later = f"the notebooks use the stand-in {STANDINS[name]!r}; fetch it later with: {FETCH_COMMANDS[name]}"
        if not downloads_allowed():
            say(f"{reason}; downloads are off (SEGEDU_NO_DOWNLOAD): {later}")
            outcome[name] = "skipped"
            continue
        source = SOURCES[name]
        say(f"{reason}: downloading it ({source.size}) from {(urls or {}).get(name, source.url)} "
            f"(terms: {source.licence}; SEGEDU_NO_DOWNLOAD=1 turns this off)")
        try:
            download(name, root, url=(urls or {}).get(name), progress=progress)
        except (DownloadError, OSError) as error:
            say(f"{DISPLAY_NAMES[name]} could not be downloaded ({error}): {later}")
            outcome[name] = "failed"
            continue
        say(f"{DISPLAY_NAMES[name]} is ready in {root / name}")
        outcome[name] = "downloaded"
    return outcome
