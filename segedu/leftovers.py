"""Files that a killed process left behind: checkpoints' ``.last.pt.<pid>.tmp`` and downloads' ``.camvid.<pid>.*``
scratch folders carry their writer's process id, and only a writer that no longer runs has its leftovers removed.
Shared by `segedu.checkpoint` and `segedu.data.download`, so neither imports the other."""

from __future__ import annotations

import os

__all__ = ["process_alive", "write_text_atomically"]


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (its temporary files are then left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_text_atomically(path, text: str) -> None:
    """Write `text` to `path` (UTF-8) whole or not at all: into ``.<name>.<pid>.tmp`` beside it, then renamed over it, so a
    stop while writing leaves the previous file as it was."""
    from pathlib import Path

    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
