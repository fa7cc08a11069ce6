"""Bad input fails early with a message naming the file or argument, and nothing is lost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segedu.checkpoint import load_checkpoint, load_model, save_checkpoint
from segedu.data import CamVid, ISBI2012, SegmentationFolder, build_dataset
from segedu.engine import TrainConfig, fit
from segedu.errors import CheckpointError, DataError
from segedu.models import build_model

from .conftest import write_image

pytestmark = pytest.mark.fault


def folder(path, **options):
    return SegmentationFolder(path / "images", path / "masks", class_names=["road", "car", "sky"], **options)


def test_corrupt_image_names_the_file(folder_dataset):
    broken = folder_dataset / "images" / "frame2.png"
    broken.write_bytes(broken.read_bytes()[:60])  # truncated PNG
    with pytest.raises(DataError, match="frame2.png"):
        folder(folder_dataset)[2]


def test_not_an_image_at_all(folder_dataset):
    (folder_dataset / "images" / "frame1.png").write_text("hello")
    with pytest.raises(DataError, match=r"frame1\.png.*corrupt or not an image"):
        folder(folder_dataset)[1]


def test_mask_of_another_size(folder_dataset):
    write_image(folder_dataset / "masks" / "frame3.png", np.zeros((10, 24), np.uint8))
    dataset = folder(folder_dataset)
    with pytest.raises(DataError, match=r"frame3.png.*\(10, 24\)"):
        dataset[3]
    with pytest.raises(DataError, match="frame3.png"):
        dataset.validate()


def test_label_out_of_range_is_caught_before_training(folder_dataset):
    mask = np.zeros((20, 24), np.uint8)
    mask[5, 7] = 7
    write_image(folder_dataset / "masks" / "frame5.png", mask)
    dataset = folder(folder_dataset)
    model = build_model("unet", num_classes=3, width=0.0625)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(DataError, match=r"frame5.png.*\[7\].*row 5, column 7"):
        fit(model, dataset, None, TrainConfig(epochs=1, batch_size=2, progress=False))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "no step was taken"


def test_labels_of_a_custom_dataset_are_checked_per_batch():
    class Plain(torch.utils.data.Dataset):  # no validate(): the batch check in the loop catches it on the CPU
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return torch.rand(3, 16, 16), torch.full((16, 16), 9, dtype=torch.int64)

    with pytest.raises(DataError, match=r"batch 0.*\[9\]"):
        fit(build_model("unet", num_classes=3, width=0.0625), Plain(), None, TrainConfig(epochs=1, batch_size=2, progress=False))


def test_model_and_data_disagree_on_classes(folder_dataset):
    with pytest.raises(DataError, match="3 classes but the model predicts 5"):
        fit(build_model("unet", num_classes=5, width=0.0625), folder(folder_dataset), None, TrainConfig(progress=False))


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=r"images.*holds no images"):
        folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        SegmentationFolder(tmp_path / "nowhere", tmp_path / "masks", class_names=["a"])
    with pytest.raises(DataError, match=r"CamVid is not in .*camvid: fetch it .* `python -m segedu data download camvid`"):
        CamVid(tmp_path / "camvid")
    with pytest.raises(DataError, match=r"ISBI 2012 is not in .* `python -m segedu data download isbi2012`"):
        ISBI2012(tmp_path)
    (tmp_path / "classes.txt").write_text("\n  \n")
    with pytest.raises(DataError, match=r"classes.txt names no class"):
        build_dataset(str(tmp_path), "train", image_size=None)


def test_image_without_mask(folder_dataset):
    (folder_dataset / "masks" / "frame4.png").unlink()
    with pytest.raises(DataError, match="frame4.png"):
        folder(folder_dataset)


def test_wrong_number_of_channels(folder_dataset):
    write_image(folder_dataset / "images" / "frame0.png", np.zeros((20, 24), np.uint8))  # greyscale
    with pytest.raises(DataError, match=r"frame0.png has 1 channel\(s\).*expected 3"):
        folder(folder_dataset)[0]


def test_rgb_mask_where_indices_are_expected(folder_dataset):
    write_image(folder_dataset / "masks" / "frame0.png", np.zeros((20, 24, 3), np.uint8))
    with pytest.raises(DataError, match="frame0.png.*rgb_masks=True"):
        folder(folder_dataset)[0]


def test_unknown_colour_in_an_rgb_mask(folder_dataset):
    write_image(folder_dataset / "masks" / "frame0.png", np.full((20, 24, 3), 77, np.uint8))
    dataset = folder(folder_dataset, rgb_masks=True, palette=[(0, 0, 0), (1, 1, 1), (2, 2, 2)])
    with pytest.raises(DataError, match=r"frame0.png holds colour \(77, 77, 77\)"):
        dataset[0]


def test_unknown_model_and_data_names(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'unet9'.*unet"):
        build_model("unet9", num_classes=2)
    with pytest.raises(DataError, match="unknown data set 'camvidd'"):
        build_dataset("camvidd", "train", image_size=None)
    with pytest.raises(DataError, match="classes.txt"):
        build_dataset(str(tmp_path), "train", image_size=None)


def test_checkpoint_of_another_model(tmp_path):
    path = save_checkpoint(tmp_path / "other.pt", {"model_spec": {"name": "unet", "num_classes": 11, "in_channels": 3,
                                                                  "options": {"width": 0.0625}},
                                                   "model": build_model("unet", num_classes=11, width=0.0625).state_dict()})
    model = build_model("unet", num_classes=2, in_channels=1, width=0.0625)
    from segedu.checkpoint import check_compatible
    with pytest.raises(CheckpointError, match="other.pt was written for model 'unet' with 11 classes"):
        check_compatible(load_checkpoint(path), model, path)
    wider = build_model("unet", num_classes=11, width=0.125)
    wider.build_spec = None
    with pytest.raises(CheckpointError, match="does not fit this model"):
        check_compatible(load_checkpoint(path), wider, path)
    assert load_model(path)[0].num_classes == 11


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="plain.pt is not a segedu checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_refuse_code_execution(tmp_path):
    """weights_only=True: a pickle that would run code on load is rejected, and the code does not run."""
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump({"format": "segedu-checkpoint-v1", "model": Evil()}, handle)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    torch.save({"format": "segedu-checkpoint-v1", "model": Evil()}, tmp_path / "evil-zip.pt")  # a valid archive
    with pytest.raises(CheckpointError, match="evil-zip.pt"):
        load_checkpoint(tmp_path / "evil-zip.pt")
    assert not (tmp_path / "pwned").exists()


def test_a_flipped_bit_in_a_stored_tensor_is_refused(tmp_path):
    """torch.save writes a zip archive with a CRC-32 per member; load_checkpoint checks them all."""
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"weight": torch.full((1000,), 7.0)}})
    data = bytearray(path.read_bytes())
    data[data.find(torch.full((4,), 7.0).numpy().tobytes()) + 100] ^= 0x10  # one bit of one float
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"flipped.pt is corrupt: .*CRC-32"):
        load_checkpoint(tmp_path / "flipped.pt")
    assert torch.equal(load_checkpoint(path)["model"]["weight"], torch.full((1000,), 7.0))  # the original loads


def test_empty_truncated_textual_and_folder_checkpoints_are_named(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"weight": torch.ones(1000)}})
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("epoch 3, loss 0.2\n")
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for name, message in (("empty.pt", "is empty"), ("text.pt", "not a zip archive"), ("cut.pt", "cut.pt")):
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.ones(3)}, "epoch": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1, "the previous checkpoint survives a crash mid-write"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file is left behind"


def test_library_refuses_what_it_would_silently_misread():
    from segedu.crf import CRFConfig, dense_crf
    from segedu.metrics import ConfusionMatrix
    from segedu.models import build_model

    with pytest.raises(ValueError, match="whole number of at least 1, got 2.5"):
        ConfusionMatrix(2.5)
    with pytest.raises(ValueError, match="targets must be class indices"):
        ConfusionMatrix(3).update(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), 1.7))
    with pytest.raises(ValueError, match="3 classes, 2 names"):
        ConfusionMatrix(3).update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long)).table(["a", "b"])
    with pytest.raises(ValueError, match="spatial_sigma must be a finite width above 0"):
        CRFConfig(spatial_sigma=0)  # it used to return NaN probabilities
    with pytest.raises(ValueError, match="iterations must be a whole number"):
        CRFConfig(iterations=0)
    with pytest.raises(ValueError, match=r"add a batch dimension"):
        dense_crf(torch.rand(3, 8, 8), torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="empty batch"):
        dense_crf(torch.rand(0, 3, 8, 8), torch.rand(0, 2, 8, 8))
    model = build_model("deeplabv1", num_classes=3, width=0.125).eval()
    with pytest.raises(ValueError, match="at least 8x8 pixels, got 7x12"):
        model(torch.rand(1, 3, 7, 12))
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_a_truncated_validation_image_stops_the_run_before_the_first_step(folder_dataset, tmp_path):
    import shutil

    shutil.copytree(folder_dataset, tmp_path / "val")
    broken = tmp_path / "val" / "images" / "frame2.png"
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])  # the header survives: only decoding finds it
    train, val = folder(folder_dataset), folder(tmp_path / "val")
    steps = []
    model = build_model("unet", num_classes=3, width=0.0625, depth=2)
    model.register_forward_pre_hook(lambda module, inputs: steps.append(1))
    with pytest.raises(DataError, match="frame2.png"):
        fit(model, train, val, TrainConfig(epochs=1, batch_size=2, progress=False, checkpoint_dir=str(tmp_path / "r")))
    assert not steps and not (tmp_path / "r" / "last.pt").exists()


def test_an_image_over_pils_size_limit_names_the_file(folder_dataset, monkeypatch):
    from PIL import Image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # every test image is now "too large"
    with pytest.raises(DataError, match=r"frame0.png: .*decompression bomb"):
        folder(folder_dataset)[0]


def test_evaluate_scores_a_folder_whose_images_differ_in_size(folder_dataset):
    # It used to fail with "stack expects each tensor to be equal size" (after 7.7 GB on a folder of photos).
    from segedu.engine import evaluate, stack_by_size
    from segedu.metrics import ConfusionMatrix

    rng = np.random.default_rng(1)
    for name, (height, width) in (("frame1", (28, 36)), ("frame4", (28, 36)), ("frame5", (16, 40))):
        write_image(folder_dataset / "images" / f"{name}.png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        write_image(folder_dataset / "masks" / f"{name}.png", rng.integers(0, 3, (height, width), dtype=np.uint8))
    data = folder(folder_dataset)
    groups = stack_by_size([data[index] for index in range(6)])
    assert [tuple(images.shape) for images, _ in groups] == [(3, 3, 20, 24), (2, 3, 28, 36), (1, 3, 16, 40)]
    torch.manual_seed(0)
    model = build_model("fcn8s", num_classes=3, width=0.0625).eval()
    matrix = evaluate(model, data, batch_size=4, device="cpu")
    alone = ConfusionMatrix(3)  # each image scored by itself, at its own size
    with torch.no_grad():
        for index in range(6):
            image, mask = data[index]
            alone.update(model(image[None]).argmax(1), mask[None])
    assert torch.equal(matrix.matrix.cpu(), alone.matrix.cpu()) and int(alone.matrix.sum()) == 3 * 480 + 2 * 1008 + 640 - 3


def test_stack_by_size_is_the_default_collation_when_sizes_agree(folder_dataset):
    from torch.utils.data import default_collate

    from segedu.engine import stack_by_size

    samples = [folder(folder_dataset)[index] for index in range(4)]
    ((images, masks),) = stack_by_size(samples)
    expected_images, expected_masks = default_collate(samples)
    assert torch.equal(images, expected_images) and torch.equal(masks, expected_masks)


def test_the_command_line_evaluates_and_draws_a_folder_of_mixed_sizes(folder_dataset, tmp_path, capsys):
    from segedu.__main__ import main

    run = tmp_path / "run"
    assert main(["train", "--model", "fcn8s", "--data", str(folder_dataset), "--epochs", "1", "--batch-size", "2",
                 "--image-size", "16x16", "--width", "0.0625", "--device", "cpu", "--output", str(run),
                 "--no-progress"]) == 0
    rng = np.random.default_rng(2)
    for name, (height, width) in (("frame0", (28, 36)), ("frame5", (16, 40))):
        write_image(folder_dataset / "images" / f"{name}.png", rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        write_image(folder_dataset / "masks" / f"{name}.png", rng.integers(0, 3, (height, width), dtype=np.uint8))
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run / "last.pt"), "--data", str(folder_dataset), "--split", "train",
                 "--samples", "3"]) == 0
    assert "mIoU" in capsys.readouterr().out and list(run.glob("predictions-*.png"))
