"""The claims registry: the statistics behind each verdict, the runner's report and exit status, the fast claims."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch

from segedu.lab import claims
from segedu.metrics import ConfusionMatrix, boundary_band, frame_confusions
from segedu.lab.statistics import accuracy_of, miou_of, paired_bootstrap


def _hits(rate: torch.Tensor, generator: torch.Generator, pixels: int = 200) -> torch.Tensor:
    """(F,) per-frame accuracy -> (F, 2) [correct, total] counts drawn from it."""
    correct = torch.binomial(torch.full_like(rate, float(pixels)), rate, generator=generator)
    return torch.stack([correct, torch.full_like(rate, float(pixels))], 1)


def test_the_paired_interval_covers_a_known_difference_and_excludes_zero_only_when_there_is_one():
    generator = torch.Generator().manual_seed(0)
    covered, excluded_when_equal = 0, 0
    for trial in range(40):
        difficulty = torch.rand(60, generator=generator) * 0.6 + 0.2  # frames differ a lot: pairing matters
        a = _hits((difficulty + 0.05).clamp(max=1), generator)
        b = _hits(difficulty, generator)
        interval = paired_bootstrap(a, b, accuracy_of, resamples=500, seed=trial)
        covered += interval.low <= 0.05 <= interval.high
        same = paired_bootstrap(_hits(difficulty, generator), b, accuracy_of, resamples=500, seed=trial)
        excluded_when_equal += same.excludes_zero
    assert covered >= 34  # a 95% interval: about 38 of 40; well below 34 means it is too narrow
    assert excluded_when_equal <= 6  # equal models: about 2 of 40 false alarms
    assert interval.low > 0  # a 5-point gain on 60 paired frames is clear


def test_paired_bootstrap_refuses_mismatched_counts_and_equals_the_direct_score():
    with pytest.raises(ValueError, match="same shape"):
        paired_bootstrap(torch.ones(5, 2), torch.ones(4, 2), accuracy_of)
    predictions, targets = torch.randint(0, 3, (6, 8, 8)), torch.randint(0, 3, (6, 8, 8))
    confusions = frame_confusions(predictions, targets, 3)
    interval = paired_bootstrap(confusions, frame_confusions(targets, targets, 3), miou_of)
    assert interval.effect == pytest.approx(ConfusionMatrix(3).update(predictions, targets).miou() - 1.0)


def test_the_boundary_band_is_the_pixels_near_another_labelled_class():
    target = torch.zeros(1, 12, 12, dtype=torch.long)
    target[:, :, 6:] = 1  # a vertical edge between columns 5 and 6
    target[:, :2] = 255  # void rows make no boundary and are never scored
    band = boundary_band(target, width=2)[0]
    assert band[2:, 4:8].all() and not band[2:, :4].any() and not band[2:, 8:].any() and not band[:2].any()
    with pytest.raises(ValueError, match="at least 1 pixel"):
        boundary_band(target, width=0)


@pytest.mark.parametrize("claim", [c for c in claims.CLAIMS if c.fast], ids=lambda c: c.name)
def test_every_fast_claim_holds(claim):
    outcome = claim.experiment(None)
    assert outcome.holds, outcome.summary


def _arguments(tmp_path, **changes):
    values = dict(only=None, seed=None, fast=True, out=tmp_path, list=False)
    values.update(changes)
    return argparse.Namespace(**values)


def test_the_runner_writes_the_report_and_fails_when_a_claim_does_not_hold(tmp_path, monkeypatch):
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    report = json.loads((tmp_path / "claims.json").read_text())
    assert [r["name"] for r in report["claims"]] == ["separable_cost", "dilation_field"]
    assert report["held"] == 2 and report["machine"] and report["command"]
    assert all(r["holds"] and r["cpu_seconds"] >= 0 for r in report["claims"])
    assert "| `separable_cost` |" in (tmp_path / "claims.md").read_text()
    assert {p["name"] for p in report["pending"]} == set(claims.PENDING)  # what is not measured is listed as such
    assert not set(claims.PENDING) & {c.name for c in claims.CLAIMS}

    def broken(lab):
        raise RuntimeError("no data")

    failing = claims.Claim("broken", "a claim", "00", "-", "-", "-", broken, fast=True)
    wrong = claims.Claim("wrong", "a claim", "00", "-", "-", "-", lambda lab: claims.Outcome(False, "2 < 3"), fast=True)
    monkeypatch.setattr(claims, "CLAIMS", claims.CLAIMS + (failing, wrong))
    assert claims.main(_arguments(tmp_path, only=["broken", "wrong", "separable_cost"])) == 1
    records = {r["name"]: r for r in json.loads((tmp_path / "claims.json").read_text())["claims"]}
    assert not records["broken"]["holds"] and "RuntimeError: no data" in records["broken"]["summary"]
    assert not records["wrong"]["holds"] and records["separable_cost"]["holds"]
    assert claims.main(_arguments(tmp_path, only=["no_such_claim"])) == 2


def test_merging_replaces_only_the_claims_that_ran_and_keeps_every_command(tmp_path):
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    first = json.loads((tmp_path / "claims.json").read_text())
    kept = next(r for r in first["claims"] if r["name"] == "dilation_field")
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "segnet_parameters"], merge=True)) == 0
    merged = json.loads((tmp_path / "claims.json").read_text())
    names = [r["name"] for r in merged["claims"]]
    assert sorted(names) == ["dilation_field", "segnet_parameters", "separable_cost"]
    assert names == [c.name for c in claims.CLAIMS if c.name in names]  # the registry's order
    assert next(r for r in merged["claims"] if r["name"] == "dilation_field") == kept  # untouched
    assert len(merged["runs"]) == 2 and merged["held"] == 3
    assert merged["seconds"] == pytest.approx(sum(run["seconds"] for run in merged["runs"]))
    assert "Commands:" in (tmp_path / "claims.md").read_text()
    # a run that replaces every claim of an earlier run drops that run from the provenance
    assert claims.main(_arguments(tmp_path, only=["dilation_field", "separable_cost", "segnet_parameters"],
                                  merge=True)) == 0
    assert len(json.loads((tmp_path / "claims.json").read_text())["runs"]) == 1
    # without --merge the report is the run alone
    assert claims.main(_arguments(tmp_path, only=["separable_cost"])) == 0
    assert [r["name"] for r in json.loads((tmp_path / "claims.json").read_text())["claims"]] == ["separable_cost"]
    (tmp_path / "claims.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot merge into .*claims.json"):
        claims.main(_arguments(tmp_path, only=["separable_cost"], merge=True))


def test_the_committed_report_covers_the_registry_and_what_the_notebooks_print():
    import re
    from pathlib import Path

    report = claims.committed_report()
    assert set(report) == {c.name for c in claims.CLAIMS}  # every registered claim measured, nothing stale
    assert len(report) >= 22
    for record in report.values():
        assert record["summary"] and not record["summary"].startswith("the experiment failed"), record["name"]
    notebooks = Path(claims.__file__).parents[3] / "notebooks"
    shown = {name for path in notebooks.glob("*.ipynb")
             for name in re.findall(r'claims\.show\(\\"(\w+)\\"\)', path.read_text())}
    assert shown, "no notebook prints a claim"
    unknown = shown - set(report) - set(claims.PENDING)  # a pending claim prints why it is not measured yet
    assert not unknown, f"notebooks print claims the report lacks: {sorted(unknown)}"
    assert set(claims.PENDING) == {c.name for c in claims.UNMEASURED}  # every pending claim can be run by name


def test_instance_wise_inference_covers_the_frame_and_aggregates_as_said():
    windows = claims.proposal_windows((96, 128))
    assert windows[0] == (0, 0, 96, 128) and len(windows) == 10
    covered = torch.zeros(96, 128)
    for top, left, height, width in windows[1:]:
        assert (height, width) == (48, 64) and top + height <= 96 and left + width <= 128
        covered[top:top + height, left:left + width] += 1
    assert covered.min() >= 1  # the half-size windows alone reach every pixel

    class Constant(torch.nn.Module):  # the same scores everywhere, whatever the input
        def forward(self, images):
            return torch.tensor([0.0, 1.0]).view(1, 2, 1, 1).expand(len(images), 2, *images.shape[-2:])

    combined = claims.instance_wise(Constant(), torch.rand(1, 3, 96, 128))
    probability = torch.tensor([0.0, 1.0]).softmax(0)
    assert torch.allclose(combined["max"][0, :, 50, 70], probability)  # the max of equal windows is one of them
    counts = 1 + covered  # the whole frame, and each window over the pixel
    assert torch.allclose(combined["sum"][0, 1], probability[1] * counts)


def test_show_names_the_run_that_measured_a_claim_and_its_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(claims, "REPORT", tmp_path)
    monkeypatch.setitem(claims.NOTES, "dilation_field", "a caveat written after reading the result")
    assert claims.main(_arguments(tmp_path, only=["separable_cost", "dilation_field"])) == 0
    assert claims.main(_arguments(tmp_path, only=["dilation_field"], merge=True)) == 0
    claims.show("dilation_field")
    shown = capsys.readouterr().out
    assert "[holds]" in shown and "note: a caveat written after reading the result" in shown
    report = json.loads((tmp_path / "claims.json").read_text())
    first, second = report["runs"]
    assert first["claims"] == ["separable_cost"] and second["claims"] == ["dilation_field"]  # replaced: moved
    assert "--only dilation_field" in shown or second["command"] in shown
    assert "## Notes" in (tmp_path / "claims.md").read_text()
    claims.show("separable_cost")
    assert "note:" not in capsys.readouterr().out


def test_the_deconvnet_claims_run_end_to_end_on_tiny_stand_in_frames(monkeypatch, tmp_path):
    """The three DeconvNet experiments share one set of trained networks; a smoke run on random frames with a
    car in each, two steps, one seed: every number they report is there and the two-stage arm trains on crops."""
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split) + size[0])
        masks = torch.randint(0, 8, (4, *size), generator=generator)
        masks[:, size[0] // 4: size[0] // 2, size[1] // 4: size[1] // 2] = 8  # a car in every frame
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator), masks)

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    config = dataclasses.replace(endtoend.TrainingConfig(), scratch_steps=2, batch_size=2, vgg_width=0.0625,
                                 camvid_size=(32, 48), seeds=(0,))
    lab = claims.Lab(seeds=(0,), training=config, models=tmp_path)
    two_stage = claims.deconvnet_two_stage(lab)
    assert set(two_stage.numbers["test_miou"]) == {"one stage", "two stages", "fcn8s"}
    assert set(two_stage.numbers["train_miou"]) == {"one stage", "two stages", "fcn8s"}
    assert two_stage.numbers["crops"] == 4 and len(two_stage.numbers["step"]["per_seed"]) == 1
    for name, (gap,) in two_stage.numbers["gap"].items():  # one seed: its gap is the pooled difference
        difference = 100 * (two_stage.numbers["train_miou"][name] - two_stage.numbers["test_miou"][name])
        assert gap == pytest.approx(difference)
    ensemble = claims.deconvnet_fcn_ensemble(lab)  # reuses the networks trained above
    assert set(ensemble.numbers["miou"]) == {"deconvnet", "fcn8s", "ensemble"}
    assert len(lab._deconvnet["models"]) == 1
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == ["deconvnet-seed0.pt", "deconvnet-two-stage-seed0.pt", "fcn8s-seed0.pt"]

    def no_training(*args, **kwargs):
        raise AssertionError("a kept network was trained again")

    monkeypatch.setattr(endtoend, "train", no_training)  # a second process finds all three kept
    again = claims.deconvnet_two_stage(claims.Lab(seeds=(0,), training=config, models=tmp_path))
    assert again.numbers["test_miou"] == two_stage.numbers["test_miou"]
    assert again.numbers["train_miou"] == two_stage.numbers["train_miou"]


def test_a_lab_with_a_models_folder_keeps_trained_networks_and_retrains_only_under_other_settings(tmp_path):
    """`Lab.trained`: the first call trains and keeps the weights; a second lab with the same settings loads them
    without training; a lab whose training settings differ trains again and replaces the file."""
    from segedu.lab import endtoend

    fits = []

    def fit(model):
        fits.append(1)
        with torch.no_grad():
            model.weight.add_(1.0)  # what "training" changed, to be found again on loading
        return model

    build = lambda: torch.nn.Linear(3, 2)  # noqa: E731
    config = dataclasses.replace(endtoend.TrainingConfig(), scratch_steps=7)
    first = claims.Lab(seeds=(0,), training=config, models=tmp_path).trained("net", 0, lambda: (torch.manual_seed(0), build())[1], fit)
    again = claims.Lab(seeds=(0,), training=config, models=tmp_path).trained("net", 0, lambda: (torch.manual_seed(5), build())[1], fit)
    assert len(fits) == 1 and torch.equal(again.weight, first.weight) and not again.training
    claims.Lab(seeds=(0, 1, 2), training=config, models=tmp_path).trained("net", 0, build, fit)  # seed 0 is seed 0
    assert len(fits) == 1
    assert (tmp_path / "net-seed0.pt").is_file() and not list(tmp_path.glob(".*.tmp"))
    other = dataclasses.replace(config, scratch_steps=8)
    claims.Lab(seeds=(0,), training=other, models=tmp_path).trained("net", 0, build, fit)
    assert len(fits) == 2
    claims.Lab(seeds=(0,), training=config).trained("net", 0, build, fit)  # no folder: nothing kept or read
    assert len(fits) == 3


def test_object_statistics_bin_objects_by_size_and_count_lost_and_fragmented_pixels():
    masks = torch.zeros(2, 100, 120, dtype=torch.long)
    masks[0, 0:10, 0:10] = 8  # a small car (100 px)
    masks[0, 20:40, 20:40] = 9  # a medium pedestrian (400 px)
    masks[1, 20:90, 30:100] = 8  # a large car (4900 px)
    masks[1, 0:1, 0:3] = 2  # 3 px of pole: too small to count
    predictions = masks.clone()
    predictions[0, 0:10, 0:10] = 0  # the small car lost
    predictions[1, 20:55, 30:100] = 3  # the large car's top half labelled road: fragmented, recall 0.5
    statistics, regions = claims.object_statistics(predictions, masks, classes=(2, 8, 9))
    small, medium, large = statistics[0, 0], statistics[0, 1], statistics[1, 2]
    assert small.tolist() == [0.0, 1.0, 0.0] and medium.tolist() == [1.0, 1.0, 0.0]
    assert large.tolist() == [0.5, 1.0, 1.0]
    assert statistics.sum().item() == small.sum() + medium.sum() + large.sum()  # nothing else counted
    again, _ = claims.object_statistics(predictions, masks, classes=(2, 8, 9), regions=regions)
    assert torch.equal(again, statistics)


def test_the_object_size_claim_reads_recall_and_fragmentation_per_size(monkeypatch):
    """fcn_object_sizes on a stand-in lab: FCN-32s loses the small objects and breaks the large ones, FCN-8s
    neither; the claim holds for the first and reports both."""
    from types import SimpleNamespace

    from segedu.lab import frozen

    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 100, 120, dtype=torch.long)
    for frame in range(6):
        top = int(torch.randint(0, 10, (1,), generator=generator))
        masks[frame, top:top + 8, 0:8] = 9  # a small pedestrian (64 px)
        masks[frame, 30:50, 10:30] = 8  # a medium car (400 px)
        masks[frame, 20:90, 40:110] = 8  # a large car (4900 px)
    worse = masks.clone()
    worse[:, 0:20, 0:8] = 0  # FCN-32s: the pedestrians lost
    worse[:, 20:50, 40:110] = 3  # and the large cars' top halves labelled road
    predictions = {"fcn32s": worse, "fcn8s": masks}
    monkeypatch.setattr(frozen, "predict_head", lambda head, cache: torch.nn.functional.one_hot(
        predictions[head], 11).permute(0, 3, 1, 2).float())
    lab = SimpleNamespace(stride32={"test": SimpleNamespace(masks=masks)}, head=lambda kind, seed: kind,
                          config=SimpleNamespace(seeds=(0, 1)))
    outcome = claims.fcn_object_sizes(lab)
    table = outcome.numbers["table"]
    assert table["fcn32s"]["small"] == {"recall": 0.0, "fragmented": 0.0, "objects": 6}
    assert table["fcn32s"]["large"]["fragmented"] == 1.0 and table["fcn32s"]["medium"]["recall"] == 1.0
    assert table["fcn8s"]["small"]["recall"] == 1.0 and table["fcn8s"]["large"]["fragmented"] == 0.0
    assert outcome.holds and outcome.effect == pytest.approx(1.0)


def _scores_with_errors(masks: torch.Tensor, wrong_every: int) -> "object":
    """Per-frame Scores of predictions equal to `masks` but for every `wrong_every`-th pixel, set to another class."""
    from segedu.lab.frozen import score_frames

    predictions = masks.clone().flatten()
    predictions[::wrong_every] = (predictions[::wrong_every] + 1) % 11
    return score_frames(predictions.view_as(masks), masks)


@pytest.mark.parametrize("truncated_errors, truncated_gflops, holds", [
    (1000, 1.0, True),    # as accurate and cheaper: holds
    (3, 1.0, False),      # a third of its pixels wrong: loses far more than 2 points
    (1000, 9.0, False),   # as accurate but costlier
])
def test_truncated_resnets_holds_only_when_cheaper_and_within_the_loss(monkeypatch, truncated_errors,
                                                                       truncated_gflops, holds):
    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 11, (12, 16, 16), generator=generator)

    def runs(lab, backbones):
        names = [name for name, _ in backbones]
        assert names == ["resnet10", "resnet18", "resnet26", "resnet50"]
        full = {"resnet18", "resnet50"}
        scores = {f"{name} (scratch)": [_scores_with_errors(masks, 1000 if name in full else truncated_errors)
                                        for _ in lab.training.seeds] for name in names}
        cost = {name: {"gflops": 5.0 if name in full else truncated_gflops,
                       "milliseconds": 20.0 if name in full else 10.0, "activation_megabytes": 1.0,
                       "parameters": 1e6} for name in names}
        return scores, cost

    monkeypatch.setattr(claims, "_backbone_runs", runs)
    outcome = claims.truncated_resnets(claims.Lab(seeds=(0, 1)))
    assert outcome.holds is holds
    assert set(outcome.numbers["steps"]) == {"resnet18 - resnet10", "resnet50 - resnet26"}
    assert (outcome.numbers["steps"]["resnet18 - resnet10"]["effect"] > 0.1) is (truncated_errors == 3)  # fraction


def test_backbone_runs_train_each_backbone_per_seed_on_stand_in_frames(monkeypatch):
    """The training loop shared by `backbones_accuracy` and `truncated_resnets`, one step on random frames; the cost
    measurement is stubbed (it is `segedu.measure`'s, tested there)."""
    from types import SimpleNamespace

    from segedu import measure
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split))
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator),
                               torch.randint(0, 11, (4, *size), generator=generator))

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    measured = []
    monkeypatch.setattr(measure, "measure", lambda model, size, **options: measured.append(size) or SimpleNamespace(
        gflops=1.0, milliseconds=2.0, activation_megabytes=3.0, parameters=4))
    config = dataclasses.replace(endtoend.TrainingConfig(), steps=1, batch_size=2, camvid_size=(32, 48))
    runs, cost = claims._backbone_runs(claims.Lab(seeds=(0, 1), training=config), [("resnet10", False)])
    assert list(runs) == ["resnet10 (scratch)"] and len(runs["resnet10 (scratch)"]) == 2
    assert runs["resnet10 (scratch)"][0].confusions.shape == (4, 11, 11)
    assert measured == [(360, 480)] and cost["resnet10"]["gflops"] == 1.0


def test_pspnet_auxiliary_loss_trains_both_arms_from_the_same_weights_on_stand_in_frames(monkeypatch):
    from segedu.lab import endtoend

    def frames(split, *, size, subset=None, data="camvid"):
        generator = torch.Generator().manual_seed(len(split))
        return endtoend.Frames(torch.rand(4, 3, *size, generator=generator),
                               torch.randint(0, 11, (4, *size), generator=generator))

    weights = []
    real_train = endtoend.train

    def spy(model, groups, frames_, config, *, seed, **options):
        weights.append((seed, options["auxiliary_weight"], model.head.weight.detach().clone()))
        return real_train(model, groups, frames_, config, seed=seed, **options)

    monkeypatch.setattr(endtoend, "camvid_frames", frames)
    monkeypatch.setattr(endtoend, "train", spy)
    monkeypatch.setattr(claims, "AUXILIARY_WIDTH", 0.0625)
    config = dataclasses.replace(endtoend.TrainingConfig(), steps=1, batch_size=2, camvid_size=(32, 48))
    outcome = claims.pspnet_auxiliary_loss(claims.Lab(seeds=(0, 1), training=config))
    assert [(seed, weight) for seed, weight, _ in weights] == [(0, 0.4), (0, 0.0), (1, 0.4), (1, 0.0)]
    assert torch.equal(weights[0][2], weights[1][2]) and not torch.equal(weights[0][2], weights[2][2])
    assert set(outcome.numbers["miou"]) == {"with", "without"} and len(outcome.numbers["step"]["per_seed"]) == 2
