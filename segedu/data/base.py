"""The contract every segedu data set keeps, and the code they share.

A data set yields ``(image, mask)``: image float32 (C, H, W) in [0, 1], mask int64 (H, W) holding
class indices 0..num_classes-1 or `ignore_index` (255) for pixels that carry no label. It exposes
`class_names`, `palette` (one RGB colour per class) and `num_classes`.

Paired transforms are torchvision.transforms.v2 callables applied to
``(tv_tensors.Image, tv_tensors.Mask)``: geometric ones move both, photometric ones leave the
mask alone, and masks are always resized with nearest-neighbour interpolation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from ..errors import DataError
from .io import image_size, read_image, read_mask
from ..language import tr

__all__ = ["IGNORE_INDEX", "SegmentationDataset", "FilePairDataset", "Repeated", "evenly_spaced", "invalid_labels"]

IGNORE_INDEX = 255
Transforms = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[torch.Tensor, torch.Tensor]]


def evenly_spaced(length: int, count: int | None) -> list[int]:
    """`count` indices spread evenly over range(length) (all of them when count is None or too big)."""
    if count is None or count >= length:
        return list(range(length))
    if count < 1:
        raise ValueError(tr("subset must be at least 1, got {count}", count=count))
    return sorted(set(np.linspace(0, length - 1, count).round().astype(int).tolist()))


def invalid_labels(mask: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Boolean mask of the pixels whose label is neither a class index 0..num_classes-1 nor `ignore_index`."""
    return ((mask >= num_classes) | (mask < 0)) & (mask != ignore_index)


class SegmentationDataset(Dataset):
    """Base class: subclasses implement `__len__` and `load(index) -> (image uint8 (H,W,C), mask int64 (H,W), name)`."""

    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    in_channels: int = 3
    ignore_index: int = IGNORE_INDEX

    def __init__(self, *, transforms: Transforms | None = None):
        self.transforms = transforms
        self._decoded: dict[int, tuple[np.ndarray, torch.Tensor, str]] | None = None

    def keep_decoded(self) -> SegmentationDataset:
        """Keep every decoded (uint8 image, mask) in memory after its first read; returns self.

        Decoding PNGs is most of the cost of reading a sample; the transforms (random ones included) still run on
        every read, so this is safe for training data. Memory: the decoded data set (CamVid: 518 KB a frame).
        `validate` (which `fit` calls before a run) reads every sample into the kept ones in the main process, so
        DataLoader workers start with them all; what a worker reads later it keeps in its own copy.
        """
        self._decoded = {}
        return self

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def load(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        raise NotImplementedError

    def load_mask(self, index: int) -> torch.Tensor:
        """The untransformed mask (H, W) int64 of sample `index`, ignore index included (data sets stored as files
        read the mask file alone)."""
        return self.load(index)[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_array, mask, name = self._read(index)
        if self._decoded is not None:
            mask = mask.clone()  # callers may change the mask in place; the kept one stays as read
        image = tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(image_array)).permute(2, 0, 1))  # (C, H, W) uint8
        target = tv_tensors.Mask(mask)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        if image.dtype == torch.uint8:
            image = image.float().div_(255)
        return image.as_subclass(torch.Tensor).float(), target.as_subclass(torch.Tensor).long()

    def check_sample(self, image_array: np.ndarray, mask: torch.Tensor, name: str) -> None:
        """Raise DataError if the mask's size differs from the image's or it holds an invalid label."""
        if image_array.shape[:2] != tuple(mask.shape):
            raise DataError(tr("mask of {name} is {mask_shape} (H, W) but its image is {image_array_shape}",
                               name=name, mask_shape=tuple(mask.shape), image_array_shape=image_array.shape[:2]))
        self.check_labels(mask, name)

    def check_labels(self, mask: torch.Tensor, name: str) -> None:
        """Raise DataError if `mask` holds a value that is neither a class index nor the ignore index."""
        bad = invalid_labels(mask, self.num_classes, self.ignore_index)
        if bad.any():
            values = sorted(set(mask[bad].unique().tolist()))[:8]
            row, column = (int(v) for v in bad.nonzero()[0])
            raise DataError(tr("mask of {name} holds label(s) {values} (first at row {row}, column {column}); valid "
                               "labels are 0..{last_label} and the ignore index {ignore_index}",
                               name=name, values=values, row=row, column=column,
                               last_label=self.num_classes - 1, ignore_index=self.ignore_index))

    def validate(self) -> None:
        """Check every sample's labels and sizes before training starts (subclasses may do it faster); with
        `keep_decoded`, through the kept samples (`_validate_kept`)."""
        if self._validate_kept():
            return
        for index in range(len(self)):
            self.check_sample(*self.load(index))

    def _validate_kept(self) -> bool:
        """With `keep_decoded`, validate by reading each sample into the kept ones: a sample already kept was
        checked when it was read, and one read now is not decoded again in the first epoch (a notebook that fits
        several models on one data set decodes it once). -> False when nothing is kept (validate as usual)."""
        if self._decoded is None:
            return False
        for index in range(len(self)):
            self._read(index)
        return True

    def _read(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        """Sample `index` as (image array, mask, name): the kept one, or loaded and checked (and kept, with
        `keep_decoded`)."""
        if self._decoded is not None and index in self._decoded:
            return self._decoded[index]
        sample = self.load(index)
        self.check_sample(*sample)
        if self._decoded is not None:
            self._decoded[index] = sample
        return sample


class FilePairDataset(SegmentationDataset):
    """A data set of (image file, mask file) pairs; subclasses decode raw mask values in `encode_mask`."""

    rgb_masks: bool = False

    def __init__(self, pairs: Sequence[tuple[Path, Path]], *, transforms: Transforms | None = None,
                 subset: int | None = None):
        super().__init__(transforms=transforms)
        self.pairs = [pairs[i] for i in evenly_spaced(len(pairs), subset)]

    def __len__(self) -> int:
        return len(self.pairs)

    def encode_mask(self, raw: np.ndarray, path: Path) -> torch.Tensor:
        """Raw mask values (H, W) uint8 -> class indices (H, W) int64. The default keeps them as they are."""
        return torch.from_numpy(raw.astype(np.int64))

    def load(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        image_path, mask_path = self.pairs[index]
        return read_image(image_path, channels=self.in_channels), self.load_mask(index), str(mask_path)

    def load_mask(self, index: int) -> torch.Tensor:
        mask_path = self.pairs[index][1]
        return self.encode_mask(read_mask(mask_path, rgb=self.rgb_masks), mask_path)

    def validate(self) -> None:
        """Reads every mask and decodes every image before training: labels, sizes and truncated files, each
        reported with the file named (a truncated validation image used to surface only after the first epoch).
        With `keep_decoded`, through the kept samples (`_validate_kept`)."""
        if self._validate_kept():
            return
        for index, (image_path, mask_path) in enumerate(self.pairs):
            mask = self.load_mask(index)
            size = image_size(image_path, decode=True)
            if size != tuple(mask.shape):
                raise DataError(tr("mask {mask_path} is {mask_shape} (H, W) but image {image_path} is {size}",
                                   mask_path=mask_path, mask_shape=tuple(mask.shape), image_path=image_path, size=size))
            self.check_labels(mask, str(mask_path))


class Repeated(Dataset):
    """`dataset` read `times` over in one epoch: sample i is dataset[i % len(dataset)], its random transforms drawn
    anew each time. For small data sets trained on random tiles (ISBI 2012's 25 slices, U-Net's tiles): an epoch of
    a few hundred tiles instead of 25 keeps the per-epoch costs (logging, checkpoints) small. Every other attribute
    (class_names, palette, in_channels, load_mask, ...) is the wrapped data set's."""

    def __init__(self, dataset: Dataset, times: int):
        if times < 1:
            raise ValueError(tr("Repeated needs times >= 1, got {times}", times=times))
        self.dataset, self.times = dataset, int(times)

    def __len__(self) -> int:
        return len(self.dataset) * self.times

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(tr("index {index} out of range for {length} samples",
                                index=index, length=len(self)))
        return self.dataset[index % len(self.dataset)]

    def load_mask(self, index: int) -> torch.Tensor:
        return self.dataset.load_mask(index % len(self.dataset))

    def __getattr__(self, name: str):
        if name in ("dataset", "times"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
