"""fit / evaluate: learning, exact resume, Ctrl-C, NaN, and two processes under torchrun (gloo, CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from segedu.checkpoint import load_checkpoint
from segedu.data import Shapes
from segedu.engine import TrainConfig, evaluate, fit, predict, resolve_device
from segedu.models import build_model

TRAIN, VAL = Shapes("train", size=32, length=48), Shapes("val", size=32, length=16)


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("unet", num_classes=5, width=0.0625, depth=3)


def config(tmp_path=None, **changes):
    return TrainConfig(**{"epochs": 3, "batch_size": 8, "lr": 5e-3, "progress": False,
                          "checkpoint_dir": str(tmp_path) if tmp_path else None, **changes})


class Crash(Exception):
    pass


def crash_after_epoch_two(record):
    """A callback: the run dies after its second epoch is saved."""
    if record["epoch"] == 2:
        raise Crash


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

    with pytest.raises(Crash):
        fit(small_model(), TRAIN, VAL, config(tmp_path / "split"), callbacks=[crash_after_epoch_two])
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 2
    resumed = small_model(seed=99)  # different initial weights: everything must come from the checkpoint
    history = fit(resumed, TRAIN, VAL, config(tmp_path / "split"), resume=tmp_path / "split" / "last.pt")
    assert len(history) == 3
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_epochs_within_a_budget():
    from segedu.engine.config import epochs_within

    assert epochs_within(60, 77, 50) == 46  # SegNet's recipe on a 2-core AMD EPYC: 46 x 77 s = 59 min
    assert epochs_within(60, 33, 50) == 50  # a faster processor fits them all, and never more
    assert epochs_within(0.001, 100, 5) == 1  # at least the epoch that was measured
    with pytest.raises(ValueError, match="minutes must be positive"):
        TrainConfig(minutes=0)


def test_a_budget_trims_the_epochs_and_ends_the_decay_with_them(tmp_path, capsys):
    history = fit(small_model(), TRAIN, None, config(tmp_path, epochs=4, minutes=1e-6))
    assert len(history) == 1
    assert "1 of the 4 epochs fit in 1e-06 minutes" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["config"]["epochs"] == 1  # what a resume continues
    assert state["scheduler"]["lr_lambdas"] == [{"total_steps": 6}]  # the decay ends with the epoch: 48 / 8 steps
    roomy = fit(small_model(), TRAIN, None, config(epochs=2, minutes=1000.0))
    assert len(roomy) == 2 and roomy.records[-1]["lr"] == 0.0


def test_a_run_its_budget_shortened_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setattr("segedu.engine.training.epochs_within", lambda minutes, seconds, epochs: 3)
    whole = small_model()
    assert len(fit(whole, TRAIN, None, config(tmp_path / "whole", epochs=5, minutes=10.0))) == 3

    with pytest.raises(Crash):
        fit(small_model(), TRAIN, None, config(tmp_path / "split", epochs=5, minutes=10.0),
            callbacks=[crash_after_epoch_two])
    monkeypatch.setattr("segedu.engine.training.epochs_within", lambda minutes, seconds, epochs: epochs)
    resumed = small_model(seed=99)  # the same command as the stopped run: 5 epochs asked, the budget chose 3
    history = fit(resumed, TRAIN, None, config(tmp_path / "split", epochs=5, minutes=10.0),
                  resume=tmp_path / "split" / "last.pt")
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
    per process (on CUDA fit uses SyncBatchNorm; gloo has none). fp32 and contiguous tensors: channels_last kernels
    accumulate weight gradients in another order at another batch size, which moves the weights by about 1e-4."""
    arguments = ["-m", "segedu", "train", "--model", "unet", "--option", "batch_norm=False", "--data", "shapes",
                 "--epochs", "2", "--subset", "32", "--batch-size", "8", "--image-size", "32", "--width", "0.125",
                 "--lr", "3e-3", "--device", "cpu", "--precision", "fp32", "--no-channels-last",
                 "--no-progress"]
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


def test_frozen_encoder_keeps_weights_and_batch_statistics():
    torch.manual_seed(0)
    model = build_model("deeplabv3", num_classes=5, backbone="resnet18", width=0.125)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head_before = model.head.weight.clone()
    fit(model, TRAIN, VAL, config(epochs=1, freeze_encoder=True))
    assert all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
    assert not torch.equal(head_before, model.head.weight)
    with pytest.raises(ValueError, match="freeze_encoder needs a segedu model"):
        fit(torch.nn.Conv2d(3, 5, 1), TRAIN, VAL, config(epochs=1, freeze_encoder=True))


def test_encoder_lr_factor_scales_the_encoders_steps_and_only_theirs():
    """One plain SGD step from the same weights on the same batch: with the factor 0.1 every encoder weight moves a
    tenth as far as with 1, every other weight as far."""
    steps, start = {}, build_model("deeplabv3", num_classes=5, backbone="resnet18", width=0.125).state_dict()
    for factor in (1.0, 0.1):
        model = build_model("deeplabv3", num_classes=5, backbone="resnet18", width=0.125)
        model.load_state_dict(start)
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        fit(model, Shapes("train", size=32, length=8), None,
            config(epochs=1, optimizer="sgd", momentum=0.0, weight_decay=0.0, scheduler="constant",
                   encoder_lr_factor=factor, bf16=False, channels_last=False))
        steps[factor] = {name: p.detach() - before[name] for name, p in model.named_parameters()}
    encoder = {f"encoder.{name}" for name, _ in model.encoder.named_parameters()}
    moved = [name for name in encoder if steps[1.0][name].abs().max() > 1e-6]
    assert moved and len(encoder) < len(steps[1.0])
    for name in moved:
        torch.testing.assert_close(steps[0.1][name], 0.1 * steps[1.0][name], rtol=1e-3, atol=1e-7)
    for name in set(steps[1.0]) - encoder:
        torch.testing.assert_close(steps[0.1][name], steps[1.0][name], rtol=1e-3, atol=1e-7)
    with pytest.raises(ValueError, match="encoder_lr_factor must be positive"):
        config(encoder_lr_factor=0)
    with pytest.raises(ValueError, match="encoder_lr_factor needs a model with an `encoder`"):
        fit(torch.nn.Conv2d(3, 5, 1), TRAIN, VAL, config(epochs=1, encoder_lr_factor=0.1))


def test_fit_takes_a_loss_and_adds_the_auxiliary_head_with_its_weight():
    seen = []

    def counting_loss(logits, masks):
        seen.append(tuple(logits.shape))
        return torch.nn.functional.cross_entropy(logits.float(), masks, ignore_index=255)

    torch.manual_seed(0)
    model = build_model("pspnet", num_classes=5, backbone="resnet18", width=0.125)
    fit(model, Shapes("train", size=32, length=16), None, config(epochs=1), loss=counting_loss)
    assert seen == [(8, 5, 32, 32)] * 4  # two steps, the main and the auxiliary logits each

    from segedu.engine import cross_entropy, training_loss

    images, masks = TRAIN[0][0][None].repeat(2, 1, 1, 1), TRAIN[0][1][None].repeat(2, 1, 1)
    loss = cross_entropy()
    model.eval()  # dropout and batch statistics fixed: the same logits twice
    logits, auxiliary = model(images, auxiliary=True)
    expected = loss(logits, masks) + 0.4 * loss(auxiliary, masks)
    assert training_loss(model, images, masks, loss, 0.4).item() == pytest.approx(expected.item(), rel=1e-6)


def test_unet_trains_with_the_border_weight_map():
    from segedu.data import SyntheticMembranes
    from segedu.losses import BorderWeightedLoss

    slices = SyntheticMembranes("train", subset=4)
    train = [(image[:, :96, :96], mask[:96, :96]) for image, mask in (slices[i] for i in range(4))]  # 96x96 tiles
    torch.manual_seed(0)
    model = build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=3)
    weighted = BorderWeightedLoss(w0=10.0, sigma=5.0)
    masks = torch.stack([mask for _, mask in train])
    weights = weighted.weights(masks)
    assert weights.max() > 10 and weights[masks == 1].median() < 2 < weights[masks == 0].median()  # gaps weigh most
    history = fit(model, train, None, config(epochs=6, batch_size=4, lr=1e-2), loss=weighted)
    assert history["train_loss"][-1] < 0.8 * history["train_loss"][0]
    with pytest.raises(ValueError, match="sigma > 0"):
        BorderWeightedLoss(sigma=0)


def test_predict_resizes_in_and_out_and_leaves_the_model_as_it_was():
    model = small_model().train()
    images = torch.rand(2, 3, 30, 40)
    logits = predict(model, images, input_size=(32, 32), output_size=(15, 20))
    assert logits.shape == (2, 5, 15, 20) and logits.dtype == torch.float32 and model.training
    with torch.no_grad():
        model.eval()
        resized = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", antialias=True)
        expected = torch.nn.functional.interpolate(model(resized), size=(15, 20), mode="bilinear")
    assert torch.allclose(logits, expected, atol=1e-6)
    assert predict(model, images).shape == (2, 5, 30, 40)


def test_predict_averages_the_softmax_over_scales_and_flips():
    from segedu.engine import predict

    torch.manual_seed(0)
    model = build_model("unet", num_classes=3, width=0.0625, depth=2).eval()
    images = torch.rand(2, 3, 32, 48)
    plain = predict(model, images)
    with torch.no_grad():
        assert torch.equal(plain, model(images))  # one scale of 1, no flip: the model's own logits
        mirrored = model(images.flip(-1)).flip(-1)
        expected = ((torch.softmax(model(images), 1) + torch.softmax(mirrored, 1)) / 2).log()
        assert torch.allclose(predict(model, images, flip=True), expected, atol=1e-6)
        half = F.interpolate(model(F.interpolate(images, size=(16, 24), mode="bilinear", antialias=True)),
                             size=(32, 48), mode="bilinear")
        expected = ((torch.softmax(half, 1) + torch.softmax(model(images), 1)) / 2).log()
        assert torch.allclose(predict(model, images, scales=(0.5, 1.0)), expected, atol=1e-6)
    symmetric = torch.nn.Conv2d(3, 3, 1).eval()  # a 1x1 convolution is mirror-symmetric: flipping changes nothing
    assert torch.allclose(predict(symmetric, images, flip=True).softmax(1), predict(symmetric, images).softmax(1),
                          atol=1e-6)
    with pytest.raises(ValueError, match="scales must be positive"):
        predict(model, images, scales=(0.0, 1.0))


def test_fit_reports_its_epochs_in_the_learners_language(monkeypatch, capsys):
    """The epoch line (stdout) and the live bar's description and loss (stderr) go through the messages' catalog."""
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    torch.manual_seed(0)
    fit(build_model("unet", num_classes=5, width=0.0625), Shapes(size=32, length=8), None,
        TrainConfig(epochs=1, batch_size=4, progress=True))
    printed, bar = capsys.readouterr()
    assert "에포크 1/1" in printed and "손실 " in printed and "데이터 대기" in printed
    assert "epoch" not in printed and "waiting" not in printed
    assert "에포크 1/1" in bar and "손실=" in bar and "loss=" not in bar
