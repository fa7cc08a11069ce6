"""Where data sets live: ``$SEGEDU_DATA`` if set, else the repository's git-ignored ``datasets/`` folder."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_root"]

_REPOSITORY_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def data_root() -> Path:
    """The folder that holds ``camvid/``, ``isbi2012/`` and the other data sets."""
    configured = os.environ.get("SEGEDU_DATA")
    return Path(configured).expanduser() if configured else _REPOSITORY_DATASETS
