"""VOC and Oxford-IIIT Pet read through torchvision's own file lists (tiny folders in their layouts, no download)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from segedu.data import OxfordIIITPet, VOCSegmentation

from .conftest import write_image


def test_voc_reads_torchvision_layout(tmp_path):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    write_image(base / "JPEGImages" / "2007_000032.jpg", np.zeros((10, 12, 3), np.uint8))
    mask = Image.fromarray(np.array([[0, 15, 255] * 4] * 10, np.uint8), mode="P")
    mask.putpalette([v for colour in VOCSegmentation.palette for v in colour] + [0] * (768 - 63))
    (base / "SegmentationClass").mkdir(parents=True)
    mask.save(base / "SegmentationClass" / "2007_000032.png")
    (base / "ImageSets" / "Segmentation").mkdir(parents=True)
    (base / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\n")
    image, target = VOCSegmentation(tmp_path, "train")[0]
    assert image.shape == (3, 10, 12) and target[0, :3].tolist() == [0, 15, 255]
    assert VOCSegmentation.palette[15] == (192, 128, 128), "VOC's colour for 'person'"


def test_pet_trimaps_become_classes(tmp_path):
    base = tmp_path / "oxford-iiit-pet"
    write_image(base / "images" / "Abyssinian_1.jpg", np.zeros((6, 6, 3), np.uint8))
    write_image(base / "annotations" / "trimaps" / "Abyssinian_1.png", np.array([[1, 2, 3] * 2] * 6, np.uint8))
    (base / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\n")
    _, target = OxfordIIITPet(tmp_path, "trainval")[0]
    assert target[0, :3].tolist() == [1, 0, 2], "trimap 1 pet, 2 background, 3 border"
