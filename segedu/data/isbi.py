"""ISBI 2012 EM membrane segmentation (Cardona et al. 2010; Arganda-Carreras et al. 2015), U-Net's data.

Two layouts are read:
- PNG slices as in zhixuhao/unet: ``train/image/N.png``, ``train/label/N.png`` (0 = membrane,
  255 = cell), ``test/N.png`` (no labels were released);
- the challenge's own multi-page TIFF stacks: ``train-volume.tif``, ``train-labels.tif``,
  ``test-volume.tif``.

Classes: 0 "membrane" (black in the labels), 1 "cell" (white); raw values are thresholded at 128.
Only 30 slices are labelled, so the split is ours, documented here and fixed: "train" is slices
0..24, "val" the last `holdout` (default 5: slices 25..29), "trainval" all 30. "test" yields the 30
unlabelled slices with masks entirely `ignore_index`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

from ..errors import DataError
from ..language import tr
from .base import IGNORE_INDEX, SegmentationDataset, Transforms, evenly_spaced
from .classes import ISBI_CLASSES, ISBI_PALETTE
from .io import read_image, read_mask
from .root import data_root

__all__ = ["ISBI2012"]

_SLICES = 30


def _read_stack(path: Path) -> list[np.ndarray]:
    """Every page of a multi-page TIFF as uint8 (H, W) arrays."""
    try:
        with Image.open(path) as stack:
            return [np.asarray(page.convert("L"), dtype=np.uint8).copy() for page in ImageSequence.Iterator(stack)]
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(tr("cannot read TIFF stack {path}: {error}", path=path, error=error)) from error


class ISBI2012(SegmentationDataset):
    """ISBI 2012 membranes: image float32 (1, 512, 512), mask int64 (512, 512) with 0 membrane, 1 cell."""

    class_names = ISBI_CLASSES
    palette = ISBI_PALETTE
    in_channels = 1
    splits = ("train", "val", "trainval", "test")

    def __init__(self, root: Path | str | None = None, split: str = "train", *, holdout: int = 5,
                 transforms: Transforms | None = None, subset: int | None = None):
        if split not in self.splits:
            raise ValueError(tr("ISBI2012 split must be one of {splits}, got {split!r}",
                                splits=self.splits, split=split))
        if not 0 < holdout < _SLICES:
            raise ValueError(tr("holdout must be between 1 and {slices_1}, got {holdout}",
                                slices_1=_SLICES - 1, holdout=holdout))
        super().__init__(transforms=transforms)
        self.root = Path(root) if root is not None else data_root() / "isbi2012"
        self.split = split
        labelled = split != "test"
        indices = {"train": range(_SLICES - holdout), "val": range(_SLICES - holdout, _SLICES),
                   "trainval": range(_SLICES), "test": range(_SLICES)}[split]
        self.layout = self._detect_layout()
        if self.layout == "tiff":
            volume = _read_stack(self.root / ("train-volume.tif" if labelled else "test-volume.tif"))
            labels = _read_stack(self.root / "train-labels.tif") if labelled else None
            if labelled and (len(volume) != _SLICES or len(labels) != _SLICES):
                raise DataError(tr("ISBI2012 stacks in {root} hold {number_of_volume} images and {number_of_labels} "
                                   "labels, expected {_SLICES} of each",
                                   root=self.root, number_of_volume=len(volume), number_of_labels=len(labels),
                                   _SLICES=_SLICES))
            indices = indices if labelled else range(len(volume))
            self._slices = [(volume[i], labels[i] if labels else None, f"slice {i}") for i in indices]
            self._files = None
        else:
            folder = self.root / ("train" if labelled else "test")
            self._files = [(folder / "image" / f"{i}.png", folder / "label" / f"{i}.png") if labelled
                           else (folder / f"{i}.png", None) for i in indices]
            missing = [str(path) for pair in self._files for path in pair if path is not None and not path.is_file()]
            if missing:
                raise DataError(tr("ISBI2012 {split}: {number_of_missing} file(s) missing, first {missing_0}",
                                   split=split, number_of_missing=len(missing), missing_0=missing[0]))
        keep = evenly_spaced(len(indices), subset)
        if self._files is not None:
            self._files = [self._files[i] for i in keep]
        else:
            self._slices = [self._slices[i] for i in keep]

    def _detect_layout(self) -> str:
        if (self.root / "train-volume.tif").is_file():
            return "tiff"
        if (self.root / "train" / "image").is_dir() or (self.root / "test").is_dir():
            return "png"
        raise DataError(tr("ISBI 2012 is not in {folder} (neither train/image/*.png nor train-volume.tif): fetch it "
                           "(13 MB) with `python -m segedu data download isbi2012`, or set SEGEDU_DATA to a folder "
                           "holding isbi2012/ (its synthetic stand-in: --data membranes)", folder=self.root))

    def __len__(self) -> int:
        return len(self._files) if self._files is not None else len(self._slices)

    @staticmethod
    def encode_mask(raw: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((raw >= 128).astype(np.int64))  # (H, W): 0 membrane, 1 cell

    def load(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        if self._files is not None:
            image_path, mask_path = self._files[index]
            image = read_image(image_path, channels=1)
            name = str(mask_path or image_path)
            raw = read_mask(mask_path) if mask_path is not None else None
        else:
            image_2d, raw, name = self._slices[index]
            image = image_2d[:, :, None]
        if raw is None:
            return image, torch.full(image.shape[:2], IGNORE_INDEX, dtype=torch.int64), name
        return image, self.encode_mask(raw), name
