"""PASCAL VOC 2012 and Oxford-IIIT Pet through torchvision's loaders, for learners who are online.

torchvision downloads and lays out the files (``download=True``); these classes read the same files
as every other segedu data set, so masks, errors and transforms behave alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision

from .base import IGNORE_INDEX, FilePairDataset, Transforms
from .root import data_root

__all__ = ["VOCSegmentation", "OxfordIIITPet"]


def _voc_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    """VOC's colour map: the bits of the class index spread over the high bits of R, G and B."""
    colours = []
    for index in range(num_classes):
        red = green = blue = 0
        for bit in range(8):
            red |= ((index >> (3 * bit)) & 1) << (7 - bit)
            green |= ((index >> (3 * bit + 1)) & 1) << (7 - bit)
            blue |= ((index >> (3 * bit + 2)) & 1) << (7 - bit)
        colours.append((red, green, blue))
    return tuple(colours)


class VOCSegmentation(FilePairDataset):
    """PASCAL VOC 2012 segmentation: 21 classes, object borders (255) ignored. Splits "train", "val", "trainval"."""

    class_names = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
                   "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
                   "train", "tvmonitor")
    palette = _voc_palette(21)

    def __init__(self, root: Path | str | None = None, split: str = "train", *, download: bool = False,
                 transforms: Transforms | None = None, subset: int | None = None):
        root = Path(root) if root is not None else data_root() / "voc"
        source = torchvision.datasets.VOCSegmentation(str(root), year="2012", image_set=split, download=download)
        super().__init__(list(zip(map(Path, source.images), map(Path, source.masks))),
                         transforms=transforms, subset=subset)


class OxfordIIITPet(FilePairDataset):
    """Oxford-IIIT Pet trimaps: 0 background, 1 pet, 2 border. Splits "trainval" and "test"."""

    class_names = ("background", "pet", "border")
    palette = ((0, 0, 0), (255, 160, 0), (255, 255, 255))
    _TRIMAP_TO_CLASS = np.array([IGNORE_INDEX, 1, 0, 2] + [IGNORE_INDEX] * 252, dtype=np.int64)

    def __init__(self, root: Path | str | None = None, split: str = "trainval", *, download: bool = False,
                 transforms: Transforms | None = None, subset: int | None = None):
        root = Path(root) if root is not None else data_root() / "oxford-iiit-pet"
        source = torchvision.datasets.OxfordIIITPet(str(root), split=split, target_types="segmentation",
                                                    download=download)
        super().__init__(list(zip(map(Path, source._images), map(Path, source._segs))),
                         transforms=transforms, subset=subset)

    def encode_mask(self, raw: np.ndarray, path: Path) -> torch.Tensor:
        return torch.from_numpy(self._TRIMAP_TO_CLASS[raw])  # trimap 1 pet, 2 background, 3 border
