"""Reading images and masks from disk, with errors that name the file.

Images come back as uint8 arrays (H, W, C); masks as uint8 arrays (H, W) of raw values, or
(H, W, 3) when the mask is stored as RGB colours. Decoding the raw values into class indices
is each data set's job (`SegmentationDataset.encode_mask`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from ..language import tr

__all__ = ["IMAGE_SUFFIXES", "read_image", "read_mask", "image_size", "list_files"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_CHANNELS = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "LA": 2, "I;16": 1, "I": 1, "F": 1}


def _open(path: Path, what: str) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise DataError(tr("{what} {path} does not exist", what=what, path=path))
    try:
        picture = Image.open(path)
        picture.load()  # decode now, so a truncated file fails here and not later
    except Image.DecompressionBombError as error:
        raise DataError(tr("cannot read {what} {path}: {error} (PIL's guard against decompression bombs; raise "
                           "PIL.Image.MAX_IMAGE_PIXELS if the file is trusted)",
                           what=what, path=path, error=error)) from error
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(tr("cannot read {what} {path}: the file is corrupt or not an image ({error})",
                           what=what, path=path, error=error)) from error
    return picture


def read_image(path: Path, *, channels: int = 3) -> np.ndarray:
    """Decode an image file into a uint8 array (H, W, channels).

    Raises DataError naming `path` when the file is unreadable or has another number of channels.
    Palette images are expanded to RGB; 16-bit greyscale is rescaled to 8 bits.
    """
    picture = _open(path, tr("image"))
    found = _CHANNELS.get(picture.mode)
    if found != channels:
        raise DataError(tr("image {path} has {found} channel(s) (PIL mode {picture_mode!r}), expected {channels}; "
                           "convert it, or pass in_channels={found} to the data set and the model",
                           path=path, found=found, picture_mode=picture.mode, channels=channels))
    if picture.mode == "P":
        picture = picture.convert("RGB")
    if picture.mode in ("I;16", "I", "F"):
        array = np.asarray(picture, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-12)
        array = np.round((array - array.min()) / span * 255).astype(np.uint8)
    else:
        array = np.array(picture.convert("L") if picture.mode == "1" else picture, dtype=np.uint8)  # writable copy
    return array.reshape(array.shape[0], array.shape[1], channels)


def read_mask(path: Path, *, rgb: bool = False) -> np.ndarray:
    """Decode a mask: (H, W) raw index values, or (H, W, 3) colours when `rgb` is true."""
    picture = _open(path, tr("mask"))
    if rgb:
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)
    if picture.mode not in ("L", "P", "1", "I;16", "I"):
        raise DataError(tr("mask {path} is stored as {picture_mode!r} colours, not class indices; for colour masks "
                           "pass rgb_masks=True and a palette",
                           path=path, picture_mode=picture.mode))
    array = np.asarray(picture)
    if array.max(initial=0) > 255 or array.min(initial=0) < 0:
        raise DataError(tr("mask {path} holds values outside 0..255 (min {array_min}, max {array_max})",
                           path=path, array_min=array.min(), array_max=array.max()))
    return array.astype(np.uint8)


def image_size(path: Path, *, decode: bool = False) -> tuple[int, int]:
    """(height, width) of an image file, read from its header only; with `decode`, the pixels are decoded too, so
    that a truncated file is found now (a few milliseconds per CamVid frame) rather than during training."""
    if decode:
        picture = _open(path, tr("image"))
        width, height = picture.size
        picture.close()
        return height, width
    try:
        with Image.open(path) as picture:
            width, height = picture.size
    except Image.DecompressionBombError as error:
        raise DataError(tr("cannot read {path}: {error} (PIL's guard against decompression bombs)",
                           path=path, error=error)) from error
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise DataError(tr("cannot read {path}: the file is corrupt or not an image ({error})",
                           path=path, error=error)) from error
    return height, width


def list_files(folder: Path, *, what: str) -> list[Path]:
    """Sorted image files in `folder`; DataError if the folder is missing, holds none, or holds a folder (or
    anything else that is not a file) named like an image, whose pair would otherwise be dropped in silence."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(tr("{what} folder {folder} does not exist", what=what, folder=folder))
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    odd = next((p for p in files if not p.is_file()), None)
    if odd is not None:
        kind = tr("a folder") if odd.is_dir() else tr("not a regular file (a broken link?)")
        raise DataError(tr("{what} {odd} is {kind}, not an image file; rename or move it out of {folder}",
                           what=what, odd=odd, kind=kind, folder=folder))
    if not files:
        raise DataError(tr("{what} folder {folder} holds no images ({join_image_suffixes})",
                           what=what, folder=folder, join_image_suffixes=', '.join(IMAGE_SUFFIXES)))
    return files
