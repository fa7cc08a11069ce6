"""Files that a killed process left behind: checkpoints' ``.last.pt.<pid>.tmp`` and downloads' ``.camvid.<pid>.*``
scratch folders carry their writer's process id, and only a writer that no longer runs has its leftovers removed.
Shared by `segedu.checkpoint` and `segedu.data.download`, so neither imports the other."""

from __future__ import annotations

import os

__all__ = ["process_alive"]


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (its temporary files are then left alone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
