"""Any user's data set: a folder of images and a folder of masks, paired by file stem.

Masks are either index PNGs (each pixel a class index, 255 = ignore) or RGB colour images that a
palette decodes (``rgb_masks=True``); a colour not in the palette is an error naming the file,
unless it is listed in `void_colours`, which map to the ignore index.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .base import IGNORE_INDEX, FilePairDataset, Transforms
from .io import list_files
from ..language import tr

__all__ = ["SegmentationFolder", "default_palette"]


def default_palette(num_classes: int) -> tuple[tuple[int, int, int], ...]:
    """Distinct colours from matplotlib's tab20 map, cycled past 20 classes."""
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors
    return tuple(tuple(int(round(255 * c)) for c in colours[i % len(colours)]) for i in range(num_classes))


class SegmentationFolder(FilePairDataset):
    """Pairs ``images_dir/NAME.*`` with ``masks_dir/NAME.*``.

    Args:
        images_dir, masks_dir: folders of images and masks.
        class_names: one name per class; their number is num_classes.
        palette: one RGB colour per class (default: tab20 colours). Needed to decode RGB masks.
        rgb_masks: masks are RGB colours from `palette` rather than class indices.
        void_colours: RGB colours (RGB masks only) that mean "no label" and map to the ignore index.
        in_channels: channels of the images (3 for RGB, 1 for greyscale).
        transforms, subset: as for every segedu data set.
    """

    def __init__(self, images_dir: Path | str, masks_dir: Path | str, *, class_names: Sequence[str],
                 palette: Sequence[tuple[int, int, int]] | None = None, rgb_masks: bool = False,
                 void_colours: Sequence[tuple[int, int, int]] = (), in_channels: int = 3,
                 transforms: Transforms | None = None, subset: int | None = None):
        if len(class_names) < 1:
            raise ValueError(tr("class_names must name at least one class"))
        if len(class_names) > IGNORE_INDEX:
            raise DataError(tr("class_names names {number_of_class_names} classes; at most {IGNORE_INDEX} fit "
                               "(labels 0..{ignore_index_1}: {IGNORE_INDEX} is the ignore index)",
                               number_of_class_names=len(class_names), IGNORE_INDEX=IGNORE_INDEX,
                               ignore_index_1=IGNORE_INDEX - 1))
        self.class_names = tuple(class_names)
        self.palette = tuple(tuple(c) for c in palette) if palette is not None else default_palette(len(class_names))
        if len(self.palette) != len(self.class_names):
            raise ValueError(tr("palette has {number_of_palette} colours for {number_of_class_names} classes",
                                number_of_palette=len(self.palette), number_of_class_names=len(self.class_names)))
        self.rgb_masks, self.in_channels = rgb_masks, in_channels
        self._colour_to_index = {self._key(c): i for i, c in enumerate(self.palette)}
        self._colour_to_index.update({self._key(c): IGNORE_INDEX for c in void_colours})
        super().__init__(self._pair_by_stem(Path(images_dir), Path(masks_dir)), transforms=transforms, subset=subset)

    @staticmethod
    def _key(colour: Sequence[int]) -> int:
        red, green, blue = (int(v) for v in colour)
        return (red << 16) | (green << 8) | blue

    @staticmethod
    def _pair_by_stem(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
        images = list_files(images_dir, what=tr("image"))
        masks = {path.stem: path for path in list_files(masks_dir, what=tr("mask"))}
        unmatched = [path.name for path in images if path.stem not in masks]
        if unmatched:
            raise DataError(tr("{number_of_unmatched} image(s) in {images_dir} have no mask of the same name in "
                               "{masks_dir}, first {unmatched_0}",
                               number_of_unmatched=len(unmatched), images_dir=images_dir, masks_dir=masks_dir,
                               unmatched_0=unmatched[0]))
        return [(path, masks[path.stem]) for path in images]

    def encode_mask(self, raw: np.ndarray, path: Path) -> torch.Tensor:
        if not self.rgb_masks:
            return torch.from_numpy(raw.astype(np.int64))
        keys = (raw[..., 0].astype(np.int64) << 16) | (raw[..., 1].astype(np.int64) << 8) | raw[..., 2]  # (H, W)
        unique, inverse = np.unique(keys, return_inverse=True)
        unknown = [int(k) for k in unique if int(k) not in self._colour_to_index]
        if unknown:
            colour = ((unknown[0] >> 16) & 255, (unknown[0] >> 8) & 255, unknown[0] & 255)
            row, column = (int(v[0]) for v in np.nonzero(keys == unknown[0]))
            raise DataError(tr("mask {path} holds colour {colour} (first at row {row}, column {column}) that is not "
                               "in the palette; add it to the palette, or to void_colours to ignore it",
                               path=path, colour=colour, row=row, column=column))
        lookup = np.array([self._colour_to_index[int(k)] for k in unique], dtype=np.int64)
        return torch.from_numpy(lookup[inverse].reshape(keys.shape))
