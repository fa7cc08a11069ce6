"""fit / evaluate: learning, exact resume, Ctrl-C, NaN, and two processes under torchrun (gloo, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from segedu.checkpoint import load_checkpoint
from segedu.data import Shapes
from segedu.engine import TrainConfig, evaluate, fit, resolve_device
from segedu.models import build_model

TRAIN, VAL = Shapes("train", size=32, length=48), Shapes("val", size=32, length=16)


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("unet", num_classes=5, width=0.0625, depth=3)


def config(tmp_path=None, **changes):
    return TrainConfig(**{"epochs": 3, "batch_size": 8, "lr": 5e-3, "progress": False,
                          "checkpoint_dir": str(tmp_path) if tmp_path else None, **changes})


def test_training_beats_the_majority_baseline():
    torch.manual_seed(0)
    model = build_model("unet", num_classes=5, width=0.125, depth=3)
    train, val = Shapes("train", size=48, length=256), Shapes("val", size=48, length=32)
    history = fit(model, train, val, config(epochs=5, lr=3e-3))
    assert history["train_loss"][-1] < history["train_loss"][0]
    counts = torch.bincount(torch.stack([val[i][1] for i in range(len(val))]).flatten())
    baseline_miou = (counts.max() / counts.sum()).item() / 5  # all majority: IoU = its share, others 0
    assert history["val_miou"][-1] > baseline_miou
    assert evaluate(model, val).miou() == pytest.approx(history["val_miou"][-1], abs=1e-6)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    whole = small_model()
    fit(whole, TRAIN, VAL, config(tmp_path / "whole"))

    class Crash(Exception):
        pass

    def crash_after_epoch_two(record):
        if record["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        fit(small_model(), TRAIN, VAL, config(tmp_path / "split"), callbacks=[crash_after_epoch_two])
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 2
    resumed = small_model(seed=99)  # different initial weights: everything must come from the checkpoint
    history = fit(resumed, TRAIN, VAL, config(tmp_path / "split"), resume=tmp_path / "split" / "last.pt")
    assert len(history) == 3
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_ctrl_c_saves_a_checkpoint_and_stops_cleanly(tmp_path):
    class Interrupting(torch.utils.data.Dataset):
        def __init__(self):
            self.calls = 0

        def __len__(self):
            return len(TRAIN)

        def __getitem__(self, index):
            self.calls += 1
            if self.calls == 60:  # during the second epoch
                raise KeyboardInterrupt
            return TRAIN[index]

    model = small_model()
    history = fit(model, Interrupting(), None, config(tmp_path))
    assert history.interrupted and len(history) == 1
    state = load_checkpoint(history.checkpoint)
    assert history.checkpoint.name == "interrupted.pt" and state["interrupted"] and state["epoch"] == 1
    resumed = fit(small_model(), TRAIN, None, config(tmp_path), resume=history.checkpoint)
    assert len(resumed) == 3 and not resumed.interrupted


def test_nan_loss_stops_with_a_message():
    class Poisoned(torch.utils.data.Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            image, mask = TRAIN[index]
            return image * float("nan"), mask

    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 0.*Lower the learning rate"):
        fit(small_model(), Poisoned(), None, config(batch_size=4))


def test_evaluate_scores_at_the_label_resolution():
    model = small_model()
    at_native = evaluate(model, VAL)
    resized = evaluate(model, VAL, input_size=(24, 24))
    assert at_native.matrix.sum() == resized.matrix.sum() == 16 * 32 * 32


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.slow
def test_two_processes_with_torchrun_and_gloo_match_one_process(tmp_path):
    """DistributedDataParallel over 2 CPU processes (gloo) at global batch 8 trains the same model as one process at
    batch 8: same global batches, averaged gradients. U-Net without batch norm, whose statistics would otherwise be
    per process (on CUDA fit uses SyncBatchNorm; gloo has none)."""
    arguments = ["-m", "segedu", "train", "--model", "unet", "--option", "batch_norm=False", "--data", "shapes",
                 "--epochs", "2", "--subset", "32", "--batch-size", "8", "--image-size", "32", "--width", "0.125",
                 "--lr", "3e-3", "--device", "cpu", "--no-progress"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          *arguments, "--output", str(tmp_path / "two")],
                         capture_output=True, text=True, timeout=300, env=environment)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-3000:]
    assert two.stdout.count("epoch 2/2") == 1, "only the main process reports"
    one = subprocess.run([sys.executable, *arguments, "--output", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=300, env=environment)
    assert one.returncode == 0, one.stderr[-3000:]
    states = [load_checkpoint(tmp_path / run / "last.pt") for run in ("one", "two")]
    histories = [state["history"] for state in states]
    assert [len(history) for history in histories] == [2, 2]
    for single, distributed in zip(*histories):
        assert distributed["train_loss"] == pytest.approx(single["train_loss"], rel=1e-4)
        assert distributed["val_miou"] == pytest.approx(single["val_miou"], abs=1e-3)
    assert histories[0][-1]["train_loss"] < histories[0][0]["train_loss"]  # it trained
    for name, weight in states[0]["model"].items():  # the same weights, up to the order of float additions
        assert torch.allclose(weight.float(), states[1]["model"][name].float(), atol=1e-5), name


def test_frozen_backbone_keeps_weights_and_batch_statistics():
    torch.manual_seed(0)
    model = build_model("deeplabv3", num_classes=5, backbone="resnet18", width=0.125)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = model.classifier.weight.clone()
    fit(model, TRAIN, VAL, config(epochs=1, freeze_backbone=True))
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    assert not torch.equal(head_before, model.classifier.weight)
    with pytest.raises(ValueError, match="needs a model with a `backbone`"):
        fit(small_model(), TRAIN, VAL, config(epochs=1, freeze_backbone=True))
