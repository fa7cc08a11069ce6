"""Segment your own street photo with the course's CamVid model (notebook 00).

`segment_photo(photo)` takes a photo: a file path, an upload (its bytes, or the entry ipywidgets' FileUpload
gives), a PIL image, an array (H, W, 3) or a tensor (3, H, W) in [0, 1]. It center-crops the photo to CamVid's
3:4 (height:width) frame, so nothing is stretched; the shipped CamVid checkpoint (`segedu.pretrained.CAMVID_MODEL`)
predicts at the size it was trained at; the classes and the confidence (the largest softmax probability of each
pixel) come back at the cropped photo's own size (at most `LARGEST`: a phone photo is reduced to 720x960), with a
figure of both: the prediction over the photo with a legend of CamVid's 11 classes, and the confidence map with
a colour bar. With no photo it uses one CamVid test frame, or a scene of CamVid's synthetic stand-in when CamVid is
not on this machine.

`photo_widget(photo)` shows the same behind an upload button. Bad input (no such file, not an image, a corrupt or
too large file) raises DataError with one line naming the file; the widget shows that line instead.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from .. import viz
from ..data.classes import CAMVID_CLASSES, CAMVID_PALETTE
from ..errors import DataError, InputError
from .messages import tr

__all__ = ["ASPECT", "LARGEST", "MAX_BYTES", "MAX_PIXELS", "DEFAULT_FRAME", "PhotoSegmentation", "read_photo",
           "center_crop", "figure_png", "default_photo", "segment_photo", "photo_figure", "PhotoWidget", "photo_widget"]

ASPECT = (3, 4)                      # height : width of a CamVid frame (360x480)
LARGEST = (720, 960)                 # results are at the cropped photo's size, reduced to at most this
MAX_BYTES = 40 * 2 ** 20             # larger files are refused before they are read
MAX_PIXELS = 60_000_000              # larger images are refused before they are decoded
SMALLEST = 16                        # a photo needs at least this many pixels on each side
DEFAULT_FRAME = "0001TP_008550.png"  # the CamVid test frame shown when no photo is given
BANDS = 10                           # the confidence map's colour bands, 0.1 wide
CONFIDENCE_LEVELS = np.linspace(0, 1, BANDS + 1)


class PhotoSegmentation(NamedTuple):
    classes: torch.Tensor     # int64 (H, W): a CamVid class index per pixel of the cropped photo
    confidence: torch.Tensor  # float32 (H, W) in [0, 1]: the largest softmax probability of each pixel
    figure: Any               # matplotlib Figure: prediction over the photo (with legend) | confidence (colour bar)


def _size(count: float) -> str:
    return f"{count / 2 ** 20:.1f} MB"


def _decode(source, name: str) -> np.ndarray:
    """Decode an image file (a path or a binary file object) into uint8 RGB (H, W, 3); DataError naming `name`."""
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as picture:
                width, height = picture.size
                if width * height > MAX_PIXELS:
                    raise DataError(tr("{name} is {width}x{height} pixels ({megapixels} megapixels), more than the "
                                       "{allowed} allowed: save a smaller copy of the photo", name=name, width=width,
                                       height=height, megapixels=f"{width * height / 1e6:.0f}",
                                       allowed=f"{MAX_PIXELS / 1e6:.0f}"))
                picture.load()  # decode now, so that a truncated file fails here
                picture = ImageOps.exif_transpose(picture)  # phone photos store their rotation in EXIF
                array = np.array(picture.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(tr("{name} has too many pixels to decode safely: save a smaller copy of the photo",
                           name=name)) from None
    except UnidentifiedImageError:
        raise DataError(tr("{name} is not an image: give a photo (PNG, JPEG, ...)", name=name)) from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        reason = " ".join(str(error).split())[:120]
        raise DataError(tr("cannot read {name}: the image is corrupt or cut short ({reason})", name=name,
                           reason=reason)) from None
    return array


def _from_array(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)  # (C, H, W), as a data set gives it
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise DataError(tr("{name} has shape {shape}: give (H, W, 3) or (3, H, W)", name=name,
                           shape=tuple(array.shape)))
    if array.dtype != np.uint8:
        array = np.round(np.clip(array.astype(np.float32), 0, 1) * 255).astype(np.uint8)  # floats in [0, 1]
    array = array[..., :3]
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else np.ascontiguousarray(array)


def read_photo(photo, *, name: str | None = None) -> tuple[np.ndarray, str]:
    """(uint8 RGB array (H, W, 3), the name that messages use) of `photo`: a path, the bytes of an image file,
    an ipywidgets FileUpload entry ({"name", "content", ...}), a PIL image, an array or a tensor.

    DataError naming the file when it is missing, not a file, over `MAX_BYTES` or `MAX_PIXELS`, not an image,
    corrupt, or smaller than 16 pixels on a side."""
    from PIL import Image

    if isinstance(photo, dict) and "content" in photo:  # ipywidgets 8: FileUpload.value is a tuple of these
        name = name or tr("the upload {file}", file=photo.get("name", "")).strip()
        photo = photo["content"]
    if isinstance(photo, (str, Path)):
        path = Path(photo).expanduser()
        name = name or str(path)
        if not path.exists():
            raise DataError(tr("{name} does not exist: check the path (relative paths start in the notebook's folder)",
                               name=name))
        if not path.is_file():
            raise DataError(tr("{name} is not a file: give the path of a photo", name=name))
        if path.stat().st_size > MAX_BYTES:
            raise DataError(tr("{name} is {size}, more than the {allowed} allowed: save a smaller copy of the photo",
                               name=name, size=_size(path.stat().st_size), allowed=_size(MAX_BYTES)))
        array = _decode(path, name)
    elif isinstance(photo, (bytes, bytearray, memoryview)):
        name = name or tr("the uploaded file")
        if len(photo) > MAX_BYTES:
            raise DataError(tr("{name} is {size}, more than the {allowed} allowed: save a smaller copy of the photo",
                               name=name, size=_size(len(photo)), allowed=_size(MAX_BYTES)))
        if len(photo) == 0:
            raise DataError(tr("{name} is empty: give a photo (PNG, JPEG, ...)", name=name))
        array = _decode(io.BytesIO(bytes(photo)), name)
    elif isinstance(photo, Image.Image):
        name = name or tr("the image")
        array = np.array(photo.convert("RGB"), dtype=np.uint8)
    elif isinstance(photo, (np.ndarray, torch.Tensor)):
        name = name or tr("the image")
        array = _from_array(photo.detach().cpu().numpy() if isinstance(photo, torch.Tensor) else photo, name)
    else:
        raise DataError(tr("cannot read a photo from a {kind}: give a file path, an upload, a PIL image or an array "
                           "(H, W, 3)", kind=type(photo).__name__))
    height, width = array.shape[:2]
    if min(height, width) < SMALLEST:
        raise DataError(tr("{name} is {height}x{width} pixels, too small to segment: give a photo at least "
                           "{smallest} pixels on each side", name=name, height=height, width=width,
                           smallest=SMALLEST))
    return array, name


def center_crop(array: np.ndarray, aspect: tuple[int, int] = ASPECT) -> np.ndarray:
    """The largest centred window of `array` (H, W, ...) whose height:width is `aspect` (to the nearest pixel)."""
    height, width = array.shape[:2]
    tall, wide = aspect
    if height * wide > width * tall:  # taller than the aspect: cut rows at the top and bottom
        keep = max(1, round(width * tall / wide))
        top = (height - keep) // 2
        return array[top: top + keep]
    keep = max(1, round(height * wide / tall))  # wider: cut columns at the left and right
    left = (width - keep) // 2
    return array[:, left: left + keep]


def default_photo() -> tuple[np.ndarray, str]:
    """The photo used when none is given: CamVid test frame `DEFAULT_FRAME` when CamVid is in the data folder
    (``SEGEDU_DATA``), else the first test scene of its synthetic stand-in."""
    from ..data import SyntheticStreets, data_root

    frame = data_root() / "camvid" / "test" / DEFAULT_FRAME
    if frame.is_file():
        return read_photo(frame, name=tr("CamVid test frame {frame}", frame=DEFAULT_FRAME))
    image, _ = SyntheticStreets("test")[0]
    return read_photo(image, name=tr("CamVid's synthetic stand-in, test scene 0"))


@functools.lru_cache(maxsize=2)
def _shipped(name: str) -> tuple[nn.Module, tuple[int, int]]:
    from ..pretrained import load_pretrained

    model, info = load_pretrained(name)
    return model, tuple(info["data"]["image_size"])


def _model(model: nn.Module | str | None, image_size) -> tuple[nn.Module, tuple[int, int]]:
    if model is None or isinstance(model, str):
        from .. import pretrained

        model, trained_at = _shipped(model or pretrained.CAMVID_MODEL)
        return model, tuple(image_size or trained_at)
    return model, tuple(image_size or (360, 480))


def segment_photo(photo=None, model: nn.Module | str | None = None, *, image_size: tuple[int, int] | None = None,
                  name: str | None = None) -> PhotoSegmentation:
    """The CamVid classes (int64 (H, W)) and confidence (float32 (H, W), the largest softmax probability) of
    `photo`, and their figure.

    The photo (see `read_photo`; None: `default_photo()`) is center-cropped to CamVid's 3:4 aspect and reduced to
    at most `LARGEST`; (H, W) is that crop's size. `model`: None for the shipped checkpoint named by
    `segedu.pretrained.CAMVID_MODEL`, another shipped checkpoint's name, or a network with CamVid's 11 outputs.
    The photo is resized to `image_size` (default: the size the checkpoint was trained at; 360x480 for a network
    given as is) before the model, and the logits back to (H, W). DataError naming the file for bad input."""
    from PIL import Image

    from ..engine import predict

    array, name = default_photo() if photo is None else read_photo(photo, name=name)
    array = center_crop(array)
    height, width = array.shape[:2]
    if height > LARGEST[0] or width > LARGEST[1]:
        scale = min(LARGEST[0] / height, LARGEST[1] / width)
        height, width = max(1, round(height * scale)), max(1, round(width * scale))
        array = np.asarray(Image.fromarray(array).resize((width, height), Image.Resampling.LANCZOS))
    network, input_size = _model(model, image_size)
    device = next(network.parameters(), torch.zeros(())).device
    image = torch.tensor(array).permute(2, 0, 1).float().div(255)  # a copy: a resized photo is read-only
    with torch.inference_mode():
        logits = predict(network, image[None].to(device), input_size=input_size, output_size=(height, width))
        if logits.shape[1] != len(CAMVID_CLASSES):
            raise InputError(tr("the model predicts {count} classes; a street photo is drawn with CamVid's {camvid}",
                                count=logits.shape[1], camvid=len(CAMVID_CLASSES)))
        confidence, classes = logits[0].float().softmax(0).max(0)
    classes, confidence = classes.cpu().clone(), confidence.cpu().clone()
    return PhotoSegmentation(classes, confidence, photo_figure(image, classes, confidence, title=name))


def photo_figure(image: torch.Tensor, classes: torch.Tensor, confidence: torch.Tensor, *, title: str | None = None):
    """Two panels at 100 dpi: the classes over the photo (image (3, H, W) in [0, 1]), with a legend of CamVid's 11
    classes and the share of the photo each covers; the confidence map in [0, 1], in bands of 0.1 (easier to read
    off the colour bar than a continuous scale), with a colour bar."""
    from matplotlib.colors import BoundaryNorm
    from matplotlib.figure import Figure

    height, width = classes.shape
    figure = Figure(figsize=(10, 3.6), dpi=100, layout="constrained")
    overlay_axis, confidence_axis = figure.subplots(1, 2)
    overlay_axis.imshow(viz.overlay(image, classes, CAMVID_PALETTE, alpha=0.55))
    overlay_axis.set_title(tr("predicted classes over the photo"), fontsize=11)
    shares = torch.bincount(classes.flatten(), minlength=len(CAMVID_CLASSES)).double() / classes.numel()
    labels = [f"{name} {100 * share:.0f}%" for name, share in zip(CAMVID_CLASSES, shares.tolist())]
    viz.class_legend(overlay_axis, labels, CAMVID_PALETTE, fontsize=9, title=tr("class, share"),
                     title_fontsize=9)
    shown = confidence_axis.imshow(confidence.numpy(), cmap=_bands(), norm=BoundaryNorm(CONFIDENCE_LEVELS, BANDS))
    confidence_axis.set_title(tr("confidence: the largest softmax\nprobability of each pixel (mean {mean})",
                                 mean=f"{float(confidence.mean()):.2f}"), fontsize=11)  # two lines: clear of the bar
    bar = figure.colorbar(shown, ax=confidence_axis, fraction=0.05, ticks=CONFIDENCE_LEVELS[::2])
    bar.set_label(tr("confidence"), fontsize=10)
    bar.ax.tick_params(labelsize=9)
    for axis in (overlay_axis, confidence_axis):
        axis.set_axis_off()
    title = title or tr("the photo")
    title = title if len(title) <= 60 else "..." + title[-57:]
    figure.suptitle(tr("{title}: the CamVid model's prediction, {height}x{width} (center-cropped to 3:4)", title=title,
                       height=height, width=width), fontsize=12)
    return figure


def _bands():
    import matplotlib

    return matplotlib.colormaps["magma"].resampled(BANDS)


def figure_png(figure, *, dpi: int = 100) -> bytes:
    """`figure` as a PNG of at most 256 colours: CamVid's class colours, the confidence bands and greys (text) kept
    exact, the rest chosen for the photo. A third of the size of a full-colour PNG of a photo, which keeps a
    notebook that stores one small."""
    from PIL import Image

    picture = Image.open(io.BytesIO(viz.figure_png(figure, dpi=dpi))).convert("RGB")
    fixed = [tuple(colour) for colour in CAMVID_PALETTE]
    fixed += [tuple(round(255 * value) for value in _bands()(index)[:3]) for index in range(BANDS)]
    fixed += [(grey, grey, grey) for grey in range(0, 256, 17)]
    free = 256 - len(fixed)
    chosen = picture.quantize(colors=free, method=Image.Quantize.MEDIANCUT).getpalette()[: 3 * free]
    palette = Image.new("P", (1, 1))
    palette.putpalette([value for colour in fixed for value in colour] + chosen)
    buffer = io.BytesIO()
    picture.quantize(palette=palette, dither=Image.Dither.NONE).save(buffer, format="png", optimize=True,
                                                                     dpi=(dpi, dpi))  # kept in the PNG (pHYs)
    return buffer.getvalue()


class PhotoWidget:
    """An upload button, a one-line message and the figure of the latest photo (an ipywidgets box in `.widget`).

    `show(photo)` segments another photo (or the default one); an upload does the same. Bad input puts the error's
    one line in `.message` and hides the picture. Displayed as the live widget, plus a PNG of the current figure for
    readers without a kernel."""

    def __init__(self, photo=None, model: nn.Module | str | None = None):
        import ipywidgets as widgets

        self.model, self.result = model, None
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description=tr("Upload a photo"))
        self.message = widgets.HTML()
        self.image = widgets.Image(format="png", layout={"max_width": "100%"})
        self.upload.observe(self._uploaded, names="value")
        self.widget = widgets.VBox([widgets.HBox([self.upload, self.message]), self.image])
        self.show(photo)

    def show(self, photo=None, *, name: str | None = None) -> PhotoSegmentation | None:
        """Segment `photo` and draw it; None (and the message) when the input is bad."""
        try:
            array, name = default_photo() if photo is None else read_photo(photo, name=name)
            self.result = segment_photo(array, self.model, name=name)
        except DataError as error:
            self.result = None
            self.message.value = f'<span style="color:#b00020">{_escape(str(error))}</span>'
            self.image.layout.display = "none"
            return None
        self.image.value = figure_png(self.result.figure)
        self.image.layout.display = None
        self.message.value = tr("Showing {name}. Upload another photo, or type its path in the cell: {call}",
                                name=_escape(name), call='<code>photo_widget("my_street.jpg")</code>')
        return self.result

    def _uploaded(self, change) -> None:
        if change["new"]:  # ipywidgets 8: a tuple of {"name", "type", "size", "content", "last_modified"}
            self.show(change["new"][-1])

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if self.result is not None and self.image.value:
            bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return bundle

    def close(self) -> None:
        self.widget.close()


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def photo_widget(photo=None, model: nn.Module | str | None = None) -> PhotoWidget:
    """An upload button and the CamVid model's prediction for `photo` (a path; None: a CamVid test frame, or its
    stand-in's), replaced by each uploaded photo's."""
    return PhotoWidget(photo, model)
