"""Segment your own street photo (notebook 00): classes and confidence of the center-cropped photo from the shipped
CamVid model, the same for a path as for the array; bad input is one line naming the file; the figure is readable;
the widget redraws for an upload."""

from __future__ import annotations

import base64
import datetime
import io

import numpy as np
import pytest
import torch
from PIL import Image

from segedu import pretrained
from segedu.course import photo
from segedu.data.classes import CAMVID_CLASSES
from segedu.errors import DataError


NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)  # what FileUpload entries carry


def street(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A crude street: grey sky, dark buildings, a road, noise; uint8 (height, width, 3)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, height)[:, None, None]
    picture = np.where(rows < 0.3, 220, np.where(rows < 0.6, 90, 70)) * np.ones((1, width, 3))
    picture = picture + rng.normal(0, 12, (height, width, 3))
    return np.clip(picture, 0, 255).astype(np.uint8)


def png_file(path, array: np.ndarray):
    Image.fromarray(array).save(path)
    return path


def one_line_naming(error: pytest.ExceptionInfo, name: str) -> str:
    message = str(error.value)
    assert name in message, message
    assert "\n" not in message, message
    return message


def test_a_synthetic_photo_gives_classes_and_confidence_at_the_cropped_size():
    result = photo.segment_photo(street(120, 320))  # wider than 3:4: columns are cut, rows kept
    classes, confidence, figure = result
    assert classes.shape == confidence.shape == (120, 160)
    assert classes.dtype == torch.int64 and confidence.dtype == torch.float32
    assert 0 <= int(classes.min()) and int(classes.max()) < len(CAMVID_CLASSES)
    assert 0 < float(confidence.min()) and float(confidence.max()) <= 1
    assert float(confidence.min()) >= 1 / len(CAMVID_CLASSES) - 1e-6  # a largest probability is never below 1/K
    assert figure is result.figure


def test_a_png_path_gives_what_the_array_gives(tmp_path):
    array = street(150, 210, seed=1)
    from_array = photo.segment_photo(array)
    from_path = photo.segment_photo(png_file(tmp_path / "my street.png", array))
    from_string = photo.segment_photo(str(tmp_path / "my street.png"))
    from_upload = photo.segment_photo({"name": "my street.png", "content": memoryview((tmp_path / "my street.png")
                                                                                      .read_bytes())})
    for other in (from_path, from_string, from_upload):
        assert torch.equal(other.classes, from_array.classes)
        assert torch.equal(other.confidence, from_array.confidence)


def test_a_tensor_from_a_data_set_works_like_its_uint8_array():
    array = street(90, 120, seed=2)
    tensor = torch.from_numpy(array).permute(2, 0, 1).float() / 255  # (3, H, W) in [0, 1], as data sets give it
    assert torch.equal(photo.segment_photo(tensor).classes, photo.segment_photo(array).classes)


def test_a_file_that_is_not_an_image_is_one_line_naming_it(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n" * 50)
    with pytest.raises(DataError) as error:
        photo.segment_photo(notes)
    assert "is not an image" in one_line_naming(error, str(notes))
    with pytest.raises(DataError) as error:
        photo.segment_photo({"name": "holiday.jpg", "content": memoryview(b"%PDF-1.4 not a photo")})
    assert "is not an image" in one_line_naming(error, "holiday.jpg")


def test_a_missing_path_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "no such street.jpg"
    with pytest.raises(DataError) as error:
        photo.segment_photo(missing)
    assert "does not exist" in one_line_naming(error, str(missing))
    with pytest.raises(DataError) as error:
        photo.segment_photo(tmp_path)  # a folder
    assert "is not a file" in one_line_naming(error, str(tmp_path))


def test_a_truncated_photo_is_one_line_naming_it(tmp_path):
    whole = png_file(tmp_path / "whole.png", street(200, 200, seed=3)).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError) as error:
        photo.segment_photo(cut)
    assert "corrupt or cut short" in one_line_naming(error, str(cut))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = png_file(tmp_path / "big.png", street(200, 200, seed=4))
    monkeypatch.setattr(photo, "MAX_BYTES", big.stat().st_size - 1)
    with pytest.raises(DataError) as error:
        photo.segment_photo(big)
    assert "more than the" in one_line_naming(error, str(big))
    with pytest.raises(DataError) as error:
        photo.segment_photo(big.read_bytes(), name="the upload big.png")
    one_line_naming(error, "the upload big.png")


def test_a_photo_with_too_many_pixels_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    wide = tmp_path / "panorama.png"
    Image.new("RGB", (400, 300)).save(wide)  # a few hundred bytes on disk
    monkeypatch.setattr(photo, "MAX_PIXELS", 400 * 300 - 1)
    with pytest.raises(DataError) as error:
        photo.segment_photo(wide)
    assert "400x300 pixels" in one_line_naming(error, str(wide))


@pytest.mark.parametrize("height,width", [(4032, 3024), (3024, 4032), (100, 400), (101, 101), (360, 480), (17, 1000)])
def test_the_center_crop_keeps_a_3_to_4_aspect(height, width):
    array = np.arange(height * width).reshape(height, width)
    crop = photo.center_crop(array)
    crop_height, crop_width = crop.shape
    assert abs(4 * crop_height - 3 * crop_width) <= 2, (crop_height, crop_width)  # 3:4 to the nearest pixel
    assert crop_height == height or crop_width == width  # the largest such window: one side is kept whole
    top, left = np.argwhere(array == crop[0, 0])[0]
    assert abs(top - (height - crop_height - top)) <= 1 and abs(left - (width - crop_width - left)) <= 1  # centred


def test_a_large_photo_is_segmented_at_most_at_720x960():
    classes, confidence, _ = photo.segment_photo(street(1600, 1200, seed=5))  # portrait: rows cut to 900x1200
    assert classes.shape == confidence.shape == photo.LARGEST


def test_the_model_is_the_one_named_by_camvid_model(monkeypatch):
    monkeypatch.setattr(pretrained, "CAMVID_MODEL", "a_checkpoint_not_shipped")
    with pytest.raises(ValueError, match="a_checkpoint_not_shipped"):
        photo.segment_photo(street(60, 80))


def test_the_figure_is_readable():
    from matplotlib.text import Text

    figure = photo.segment_photo(street(90, 120, seed=6)).figure
    assert figure.dpi >= 100
    legend = figure.axes[0].get_legend()
    assert [text.get_text().split()[0] for text in legend.get_texts()] == list(CAMVID_CLASSES)
    sizes = [text.get_fontsize() for text in figure.findobj(Text) if text.get_text().strip() and text.get_visible()]
    assert sizes and min(sizes) >= 9, sorted(sizes)[:3]
    assert len(figure.axes) == 3  # overlay, confidence and the confidence's colour bar
    assert figure.axes[1].images[0].get_array().shape == (90, 120)


def test_figure_png_keeps_the_class_colours_exact():
    from segedu.data.classes import CAMVID_PALETTE

    figure = photo.segment_photo(street(90, 120, seed=7)).figure
    picture = np.asarray(Image.open(io.BytesIO(photo.figure_png(figure))).convert("RGB"))
    colours = {tuple(colour) for colour in picture.reshape(-1, 3).tolist()}
    assert len(colours) <= 256
    assert all(tuple(colour) in colours for colour in CAMVID_PALETTE)  # every legend patch keeps its class colour


def test_without_a_photo_the_stand_in_is_used_when_camvid_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGEDU_DATA", str(tmp_path))
    array, name = photo.default_photo()
    assert array.shape == (360, 480, 3) and "stand-in" in name


def test_without_a_photo_a_camvid_test_frame_is_used(data_root, monkeypatch):
    monkeypatch.setenv("SEGEDU_DATA", str(data_root))
    array, name = photo.default_photo()
    assert array.shape == (360, 480, 3) and photo.DEFAULT_FRAME in name


def test_the_widget_redraws_for_an_upload_and_shows_a_bad_one_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGEDU_DATA", str(tmp_path))  # the stand-in: no data needed
    widget = photo.photo_widget()
    first = widget.image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert base64.b64decode(widget._repr_mimebundle_()["image/png"]) == first  # readers without a kernel

    content = png_file(tmp_path / "upload.png", street(300, 300, seed=8)).read_bytes()
    widget.upload.value = ({"name": "upload.png", "type": "image/png", "size": len(content),
                            "content": memoryview(content), "last_modified": NOW},)
    assert widget.image.value != first and widget.result.classes.shape == (225, 300)
    assert "upload.png" in widget.result.figure.get_suptitle()

    widget.upload.value = ({"name": "notes.png", "type": "image/png", "size": 5, "content": memoryview(b"hello"),
                            "last_modified": NOW},)
    assert "notes.png" in widget.message.value and "is not an image" in widget.message.value
    assert widget.image.layout.display == "none" and "image/png" not in widget._repr_mimebundle_()

    widget.show(tmp_path / "nowhere.jpg")  # a path typed in the cell
    assert "nowhere.jpg" in widget.message.value and "does not exist" in widget.message.value
    widget.close()

    typed = photo.photo_widget(str(tmp_path / "upload.png"))  # photo_widget("my_street.jpg")
    assert typed.result.classes.shape == (225, 300) and "upload.png" in typed.message.value
    typed.close()


def test_a_tiny_image_is_one_line_naming_it(tmp_path):
    tiny = png_file(tmp_path / "icon.png", street(10, 40))
    with pytest.raises(DataError) as error:
        photo.segment_photo(tiny)
    assert "too small" in one_line_naming(error, str(tiny))
