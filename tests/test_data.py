"""The data sets: contract (dtypes, shapes, ignore index), real layouts, and paired transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from segedu.data import ISBI2012, CamVid, SegmentationFolder, Shapes, build_dataset
from segedu.data.transforms import eval_transforms, train_transforms
from segedu.errors import DataError

from .conftest import write_image


def check_sample(image, mask, channels, num_classes):
    assert image.dtype == torch.float32 and image.ndim == 3 and image.shape[0] == channels
    assert mask.dtype == torch.int64 and mask.shape == image.shape[1:]
    assert 0 <= image.min() and image.max() <= 1
    labels = set(mask.unique().tolist())
    assert labels <= set(range(num_classes)) | {255}


def test_camvid_matches_the_segnet_layout(data_root):
    sizes = {split: len(CamVid(data_root / "camvid", split)) for split in ("train", "val", "test")}
    assert sizes == {"train": 367, "val": 101, "test": 233}
    dataset = CamVid(data_root / "camvid", "train")
    image, mask = dataset[0]
    assert image.shape == (3, 360, 480)
    check_sample(image, mask, 3, 11)
    raw = np.array(Image.open(dataset.pairs[0][1]))
    assert (raw == 11).any(), "the first training frame has void pixels"
    assert torch.equal(mask == 255, torch.from_numpy(raw == 11)), "void (11) and only void becomes 255"
    assert dataset.num_classes == 11 and len(dataset.palette) == 11


def test_camvid_subset_is_evenly_spaced(data_root):
    full, subset = CamVid(data_root / "camvid", "val"), CamVid(data_root / "camvid", "val", subset=5)
    assert len(subset) == 5 and subset.pairs[0] == full.pairs[0] and subset.pairs[-1] == full.pairs[-1]


def test_isbi_png_layout_and_holdout(data_root):
    train, val = ISBI2012(data_root / "isbi2012", "train"), ISBI2012(data_root / "isbi2012", "val")
    assert (len(train), len(val), len(ISBI2012(data_root / "isbi2012", "trainval"))) == (25, 5, 30)
    image, mask = val[0]
    assert image.shape == (1, 512, 512)
    check_sample(image, mask, 1, 2)
    raw = np.array(Image.open(data_root / "isbi2012/train/label/25.png"))
    assert torch.equal(mask, torch.from_numpy((raw >= 128).astype(np.int64))), "val starts at slice 25; white = cell (1)"
    test_image, test_mask = ISBI2012(data_root / "isbi2012", "test")[3]
    assert test_image.shape == (1, 512, 512) and (test_mask == 255).all(), "test labels were never released"


def test_isbi_tiff_stacks_give_the_same_samples(data_root, tmp_path):
    pages = [Image.open(data_root / f"isbi2012/train/image/{i}.png") for i in range(30)]
    labels = [Image.open(data_root / f"isbi2012/train/label/{i}.png") for i in range(30)]
    pages[0].save(tmp_path / "train-volume.tif", save_all=True, append_images=pages[1:])
    labels[0].save(tmp_path / "train-labels.tif", save_all=True, append_images=labels[1:])
    pages[0].save(tmp_path / "test-volume.tif", save_all=True, append_images=pages[1:3])
    from_tiff, from_png = ISBI2012(tmp_path, "val"), ISBI2012(data_root / "isbi2012", "val")
    assert len(from_tiff) == 5
    for index in (0, 4):
        assert torch.equal(from_tiff[index][0], from_png[index][0]) and torch.equal(from_tiff[index][1], from_png[index][1])
    assert len(ISBI2012(tmp_path, "test")) == 3


def test_shapes_is_deterministic_and_splits_differ():
    first, again = Shapes("train", size=48)[7], Shapes("train", size=48)[7]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(Shapes("val", size=48)[7][0], first[0])
    assert not torch.equal(Shapes("train", size=48, seed=1)[7][0], first[0])
    check_sample(*first, 3, 5)
    counts = torch.bincount(torch.stack([Shapes("train", size=48)[i][1] for i in range(40)]).flatten(), minlength=5)
    assert (counts > 0).all(), "every class appears"


def test_shapes_colour_does_not_reveal_the_class():
    """The best per-pixel colour classifier (majority class of each quantized colour, fit on the data
    it is scored on, so an upper bound) stays far from the labels: shape, not colour, decides."""
    samples = [Shapes("train", size=48)[i] for i in range(60)]
    colours = torch.stack([s[0] for s in samples]).permute(0, 2, 3, 1).reshape(-1, 3)
    labels = torch.stack([s[1] for s in samples]).flatten()
    bins = (colours * 7.999).long()
    codes = bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2]
    table = torch.zeros(512, 5, dtype=torch.long).index_put_((codes, labels), torch.ones_like(codes), accumulate=True)
    predicted = table.argmax(1)[codes]
    foreground = labels > 0
    recall = (predicted[foreground] == labels[foreground]).float().mean().item()
    assert recall < 0.35, f"a colour lookup recovers {recall:.0%} of object pixels"


def test_folder_pairs_by_stem_and_decodes_rgb_masks(tmp_path):
    palette = [(0, 0, 0), (255, 0, 0), (0, 255, 0)]
    write_image(tmp_path / "img" / "b.jpg", np.full((8, 10, 3), 90, np.uint8))
    write_image(tmp_path / "img" / "a.png", np.full((8, 10, 3), 10, np.uint8))
    colour_mask = np.zeros((8, 10, 3), np.uint8)
    colour_mask[:, 5:] = (0, 255, 0)
    colour_mask[0, 0] = (9, 9, 9)
    write_image(tmp_path / "msk" / "a.png", colour_mask)
    write_image(tmp_path / "msk" / "b.png", np.full((8, 10, 3), (255, 0, 0), np.uint8))
    dataset = SegmentationFolder(tmp_path / "img", tmp_path / "msk", class_names=["bg", "red", "green"],
                                 palette=palette, rgb_masks=True, void_colours=[(9, 9, 9)])
    (image_a, mask_a), (image_b, mask_b) = dataset[0], dataset[1]
    assert image_a.mean() < image_b.mean(), "a pairs with a, b with b"
    assert mask_a[0, 0] == 255 and (mask_a[1:, :5] == 0).all() and (mask_a[:, 5:] == 2).all()
    assert (mask_b == 1).all()


def test_build_dataset_on_a_user_folder(folder_dataset):
    train = build_dataset(str(folder_dataset), "train", image_size=(16, 16), augment=True)
    val = build_dataset(str(folder_dataset), "val", image_size=None)
    assert (len(train), len(val)) == (5, 1) and train.class_names == ("road", "car", "sky")
    image, mask = train[0]
    assert image.shape == (3, 16, 16) and mask.shape == (16, 16)


def test_paired_transforms_move_image_and_mask_together():
    """Encode each pixel's label in the image itself: after any geometric transform the two must still agree."""
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (3, 4)).repeat_interleave(16, 0).repeat_interleave(16, 1)  # (48, 64), 16-pixel blocks
    image = tv_tensors.Image((labels * 60).to(torch.uint8).expand(3, -1, -1).clone())
    mask = tv_tensors.Mask(labels)
    for transform in (train_transforms((32, 40), colour_jitter=0), train_transforms((32, 40), elastic=True, colour_jitter=0),
                      eval_transforms((24, 32))):
        for _ in range(5):
            out_image, out_mask = transform(image, mask)
            assert out_mask.dtype == torch.int64 and out_image.dtype == torch.float32
            assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3, 255}, "nearest interpolation, ignore-filled borders"
            valid = out_mask != 255
            agree = (torch.round(out_image[0] * 255 / 60) == out_mask)[valid].float().mean()
            assert agree > 0.9, f"image and mask disagree on {1 - agree:.0%} of pixels"
    _, unresized = eval_transforms(None)(image, mask)
    assert torch.equal(unresized, labels), "masks are never normalized or rescaled"


def test_keep_decoded_reads_each_file_once_and_serves_the_same_samples(folder_dataset):
    def build():
        return SegmentationFolder(folder_dataset / "images", folder_dataset / "masks", class_names=["road", "car", "sky"])

    plain, kept = build(), build().keep_decoded()
    reads = []
    original_load = kept.load
    kept.load = lambda index: reads.append(index) or original_load(index)
    for _ in range(3):
        for index in range(len(kept)):
            image, mask = kept[index]
            expected_image, expected_mask = plain[index]
            assert torch.equal(image, expected_image) and torch.equal(mask, expected_mask)
            mask.fill_(7)  # a caller scribbling on its copy does not reach the kept one
    assert sorted(reads) == list(range(len(kept)))


def test_validating_a_kept_data_set_reads_each_file_once_and_still_names_a_bad_one(folder_dataset):
    """fit validates its data before each run: a kept data set is validated by reading its samples into the kept
    ones, so the first epoch (and the next run on it) decodes nothing again, and a bad label is still caught."""
    dataset = SegmentationFolder(folder_dataset / "images", folder_dataset / "masks",
                                 class_names=["road", "car", "sky"]).keep_decoded()
    reads = []  # each mask file read, by validate's own check or by loading the sample
    original_read = dataset.load_mask
    dataset.load_mask = lambda index: reads.append(index) or original_read(index)
    dataset.validate()
    dataset.validate()
    for index in range(len(dataset)):
        dataset[index]
    assert sorted(reads) == list(range(len(dataset)))
    mask = np.zeros((20, 24), np.uint8)
    mask[3, 4] = 9
    write_image(folder_dataset / "masks" / "frame4.png", mask)
    fresh = SegmentationFolder(folder_dataset / "images", folder_dataset / "masks",
                               class_names=["road", "car", "sky"]).keep_decoded()
    with pytest.raises(DataError, match=r"frame4.png.*\[9\]"):
        fresh.validate()
