"""How every experiment of the lab scores its predictions: per-frame counts, so that the frames (and the seeds) can
be resampled and pooled afterwards. A frame's confusion matrix gives its IoUs; the correct and total pixels inside
the boundary band (pixels within `band_width` of a class edge, `segedu.metrics.boundary_band`) give the boundary
accuracy that FCN's skips are said to improve."""

from __future__ import annotations

import dataclasses

import torch

from ..metrics import boundary_band, frame_confusions

__all__ = ["Scores", "score_frames"]


@dataclasses.dataclass
class Scores:
    """Per-frame counts, the input of a paired bootstrap: confusions (F, K, K); band (F, 2) [correct, total] inside
    the boundary band."""

    confusions: torch.Tensor
    band: torch.Tensor

    def __add__(self, other: "Scores") -> "Scores":  # sum over seeds: the seeds' pooled counts
        return Scores(self.confusions + other.confusions, self.band + other.band)


def score_frames(predictions: torch.Tensor, masks: torch.Tensor, *, num_classes: int = 11,
                 band_width: int = 3, band: torch.Tensor | None = None) -> Scores:
    """predictions, masks: (F, H, W) class indices (255 = void) -> per-frame confusion and boundary-band counts.
    `band`: the masks' boundary band, `boundary_band(masks, width=band_width)`, where the caller keeps it for the
    many heads it scores on the same frames (`claims.Lab.scores`); computed here otherwise."""
    if band is None:
        band = boundary_band(masks, width=band_width)
    elif band.shape != masks.shape:
        raise ValueError(f"score_frames: the band is {tuple(band.shape)}, the masks {tuple(masks.shape)}")
    correct = ((predictions == masks) & band).flatten(1).sum(1)
    return Scores(frame_confusions(predictions, masks, num_classes), torch.stack([correct, band.flatten(1).sum(1)], 1))
