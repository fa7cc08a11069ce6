"""`segedu.recipes`: median frequency balancing, the timed scoring of a recipe's split, and `train --recipe`."""

from __future__ import annotations

import json

import pytest
import torch

from segedu.recipes import RECIPES, TimedEvaluation, median_frequency_weights


class Masks:
    """A stand-in data set: (image, mask) pairs with the given masks."""

    def __init__(self, masks):
        self.masks = [torch.tensor(mask) for mask in masks]

    def __len__(self):
        return len(self.masks)

    def __getitem__(self, index):
        return torch.zeros(3, *self.masks[index].shape), self.masks[index]


class Matrix:
    """What `engine.evaluate` returns, with fixed scores."""

    def miou(self):
        return 0.5

    def pixel_accuracy(self):
        return 0.9

    def iou(self):
        return torch.tensor([0.4, 0.6])


def test_median_frequency_weights_follow_eigen_and_fergus_by_hand():
    # frame 1: 6 pixels of class 0, 2 of class 1; frame 2: 4 of class 0, 2 of class 2, 2 ignored
    data = Masks([[[0, 0, 0, 0], [0, 0, 1, 1]], [[0, 0, 0, 0], [2, 2, 255, 255]]])
    # f_c = pixels of c / pixels of the frames holding c: f0 = 10/14, f1 = 2/8, f2 = 2/6; median f = 1/3
    expected = [(1 / 3) / (10 / 14), (1 / 3) / (2 / 8), 1.0, 1.0]  # class 3 never appears: weight 1
    assert median_frequency_weights(data, 4) == pytest.approx(expected, abs=1e-4)
    assert median_frequency_weights(data, 4, power=0.5) == pytest.approx([w ** 0.5 for w in expected], abs=1e-4)


def test_timed_evaluation_scores_once_per_mark_and_after_the_last_epoch(monkeypatch, tmp_path):
    import segedu.engine as engine

    calls = []

    monkeypatch.setattr(engine, "evaluate", lambda model, data, **options: calls.append(options) or Matrix())
    said = []
    scorer = TimedEvaluation(torch.nn.Conv2d(3, 2, 1), Masks([[[0]]]), minutes=(15, 30, 60), epochs=8,
                             folder=tmp_path, say=said.append)
    for seconds in (400, 400, 400, 400, 1000, 100, 100, 100):  # cumulative minutes 6.7 13.3 20 26.7 43.3 45 46.7 48.3
        scorer({"seconds": seconds})
    assert [point["epoch"] for point in scorer.curve] == [3, 5, 8]  # 15 min at epoch 3, 30 at 5, then the last
    assert [point["minutes"] for point in scorer.curve] == [20.0, pytest.approx(43.33), pytest.approx(48.33)]
    assert json.loads((tmp_path / "curve.json").read_text())["curve"] == scorer.curve
    resumed = TimedEvaluation(torch.nn.Conv2d(3, 2, 1), Masks([[[0]]]), minutes=(15, 30, 60), epochs=10,
                              folder=tmp_path, resume_from={"history": [{"seconds": 1200}, {"seconds": 1200}]})
    assert resumed.epoch == 2 and resumed.trained_seconds == 2400 and resumed.marks == [60]
    assert resumed.curve == scorer.curve  # read back from curve.json


def test_a_run_its_budget_ended_early_is_scored_at_its_last_epoch(tmp_path, monkeypatch):
    from segedu import engine

    monkeypatch.setattr(engine, "evaluate", lambda model, data, **options: Matrix())
    scorer = TimedEvaluation(torch.nn.Conv2d(3, 2, 1), Masks([[[0]]]), minutes=(15, 30, 60), epochs=8,
                             folder=tmp_path, say=lambda text: None)
    for seconds in (400, 400, 400, 400):  # 4 of the 8 epochs trained: 26.7 minutes, one mark (15) reached
        scorer({"seconds": seconds})
    assert [point["epoch"] for point in scorer.curve] == [3]
    scorer.finish(None)
    assert [point["epoch"] for point in scorer.curve] == [3, 4]  # the last epoch trained is scored
    scorer.finish(None)
    assert len(scorer.curve) == 2  # once


def test_every_cpu_recipe_of_a_whole_training_has_a_budget_and_explicit_epochs_override_it(tmp_path, monkeypatch):
    from segedu import __main__ as cli

    assert {name: recipe.minutes for name, recipe in RECIPES.items() if recipe.minutes} == {
        "camvid-cpu": 60.0, "camvid-segnet": 60.0, "camvid-deconvnet": 60.0, "isbi-cpu": 20.0}
    seen = []
    monkeypatch.setattr("segedu.engine.fit", lambda model, train, val, config, **kwargs: seen.append(config) or
                        (_ for _ in ()).throw(SystemExit(0)))
    for extra in ([], ["--epochs", "2"]):
        with pytest.raises(SystemExit):
            cli.main(["train", "--recipe", "camvid-segnet", "--data", "streets", "--subset", "4", "--image-size",
                      "64x96", "--output", str(tmp_path / "run"), "--no-progress", *extra])
    assert [(config.epochs, config.minutes) for config in seen] == [(90, 60.0), (2, None)]  # SegNet: 90 epochs


def test_train_needs_a_model_and_data_or_a_recipe(capsys):
    from segedu.__main__ import main

    assert main(["train", "--data", "shapes"]) == 2
    assert "needs --model and --data, or a --recipe (camvid-cpu, " in capsys.readouterr().err


@pytest.mark.slow
def test_train_recipe_on_the_stand_in_writes_the_curve_and_the_class_weights(tmp_path, capsys):
    from segedu.__main__ import main
    from segedu.checkpoint import load_checkpoint

    output = tmp_path / "run"
    status = main(["train", "--recipe", "camvid-cpu", "--data", "streets", "--image-size", "64x96", "--epochs", "1",
                   "--subset", "4", "--output", str(output), "--no-progress", "--channels-last"])
    assert status == 0
    state = load_checkpoint(output / "last.pt")
    assert state["data"]["recipe"] == "camvid-cpu"
    assert state["config"]["freeze_encoder"] == RECIPES["camvid-cpu"].freeze_through
    assert len(state["config"]["class_weights"]) == 11 and max(state["config"]["class_weights"]) > 1
    assert state["curve"][-1]["epoch"] == 1 and 0 <= state["curve"][-1]["miou"] <= 1
    assert state["model_spec"]["options"] == {"width": 1.0, **RECIPES["camvid-cpu"].options}
    assert "per-class IoU" in capsys.readouterr().out


@pytest.mark.slow
def test_ship_exports_half_weights_with_metrics_that_torchmetrics_reproduces(tmp_path):
    from torchmetrics.classification import MulticlassJaccardIndex

    from segedu.__main__ import main
    from segedu.checkpoint import load_model
    from segedu.data import build_dataset
    from segedu.recipes import ship

    output = tmp_path / "run"
    assert main(["train", "--recipe", "camvid-cpu", "--data", "streets", "--image-size", "64x96", "--epochs", "1",
                 "--subset", "4", "--output", str(output), "--no-progress", "--no-channels-last"]) == 0
    metrics = ship(output / "last.pt", tmp_path / "shipped.pt", command="the command", machine="the machine",
                   data="streets", subset=4)
    model, state = load_model(tmp_path / "shipped.pt")
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    assert "optimizer" not in state and state["metrics"] == metrics and metrics["curve"][-1]["epoch"] == 1
    frames = build_dataset("streets", "test", image_size=None, subset=4)
    images, masks = map(torch.stack, zip(*[frames[i] for i in range(len(frames))]))
    with torch.no_grad():
        logits = model.float().eval()(torch.nn.functional.interpolate(images, size=(64, 96), mode="bilinear",
                                                                      antialias=True, align_corners=False))
    predictions = torch.nn.functional.interpolate(logits, size=masks.shape[-2:], mode="bilinear").argmax(1)
    reference = MulticlassJaccardIndex(11, average="none", ignore_index=255)(predictions, masks)
    present = (torch.bincount(masks[masks != 255], minlength=11) + torch.bincount(predictions[masks != 255],
                                                                                   minlength=11)) > 0
    assert metrics["test_subset4_miou"] == pytest.approx(reference[present].mean().item(), abs=2e-3)


def test_an_elastic_span_without_tiles_is_refused():
    """`elastic_span` sets U-Net's elastic deformation on tiles; a recipe without tiles must not ignore it."""
    import dataclasses

    recipe = dataclasses.replace(RECIPES["camvid-heads"], elastic_span=572)
    with pytest.raises(ValueError, match="elastic_span needs tile"):
        recipe.training_data("camvid", (360, 480), None)
