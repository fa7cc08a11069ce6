"""Run profiles: the same notebook is quick on a laptop CPU ("fast") and faithful on a GPU ("full").

`profile()` picks "full" when CUDA is available and "fast" otherwise; the environment variable
``SEGEDU_PROFILE=fast|full`` overrides it. Notebooks and the command line read their default
sizes from the returned `Profile`, so a learner never edits numbers to make a cell fit a CPU.
"""

from __future__ import annotations

import dataclasses
import os

import torch
from .language import tr

__all__ = ["Profile", "PROFILES", "profile"]


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes that trade fidelity for time.

    Attributes:
        name: "fast" or "full".
        camvid_size: (height, width) CamVid frames are resized to for training.
        isbi_size: side of the square ISBI 2012 crops.
        shapes_size: side of the synthetic `Shapes` scenes.
        train_subset: at most this many training samples (None: all of them).
        eval_subset: at most this many validation/test samples (None: all of them).
        epochs: default number of epochs.
        batch_size: default batch size.
        width: channel multiplier for models that accept one (1.0 = the paper's widths).
    """

    name: str
    camvid_size: tuple[int, int]
    isbi_size: int
    shapes_size: int
    train_subset: int | None
    eval_subset: int | None
    epochs: int
    batch_size: int
    width: float


PROFILES: dict[str, Profile] = {
    "fast": Profile(name="fast", camvid_size=(96, 128), isbi_size=128, shapes_size=64,
                    train_subset=64, eval_subset=32, epochs=2, batch_size=8, width=0.25),
    "full": Profile(name="full", camvid_size=(360, 480), isbi_size=512, shapes_size=128,
                    train_subset=None, eval_subset=None, epochs=60, batch_size=8, width=1.0),
}


def profile(name: str | None = None) -> Profile:
    """Return the run profile: `name` if given, else ``$SEGEDU_PROFILE``, else "full" on CUDA and "fast" otherwise."""
    chosen = name or os.environ.get("SEGEDU_PROFILE") or ("full" if torch.cuda.is_available() else "fast")
    if chosen not in PROFILES:
        raise ValueError(tr("unknown profile {chosen!r} (from SEGEDU_PROFILE or the name argument); choose one of "
                            "{PROFILES}", chosen=chosen, PROFILES=sorted(PROFILES)))
    return PROFILES[chosen]
