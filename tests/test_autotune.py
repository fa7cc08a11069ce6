"""fit's choice of memory layout on the CPU (segedu.engine.autotune, issue #28 item 5): measured once per machine and
configuration, kept in a JSON cache, never changing what the run trains, kept by a resumed run, and overridden by an
explicit channels_last. The measuring is real in every test; where a test needs a given winner, the measured ratio
is replaced by a fixed one after the real measuring steps have run."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import segedu.runtime as runtime_module
from segedu.checkpoint import load_checkpoint
from segedu.data import Shapes
from segedu.engine import TrainConfig, autotune, fit
from segedu.engine.step import cross_entropy, segmentation_objective
from segedu.models import build_model
from segedu.runtime import Runtime

TRAIN = Shapes("train", size=32, length=8)  # two steps of 4 per epoch


def small_model(seed: int = 0):
    """FCN on a narrow ResNet-18: batch norm and dropout, so a stray draw from the generators would show."""
    torch.manual_seed(seed)
    return build_model("fcn", num_classes=5, backbone="resnet18", width=0.125)


def config(folder=None, **changes):
    return TrainConfig(**{"epochs": 1, "batch_size": 4, "lr": 5e-3, "device": "cpu", "progress": False,
                          "checkpoint_dir": str(folder) if folder else None, "bf16": False, **changes})


@pytest.fixture(autouse=True)
def measured_always(monkeypatch, tmp_path):
    """A private cache, and tiny runs measured (they are far below MIN_RUN_STEPS)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(autotune, "MIN_RUN_STEPS", 0)


def ratio(monkeypatch, value: float) -> list:
    """measure_speedup runs for real (every copy, step and draw), then reports `value`; returns the list of calls."""
    calls, real = [], autotune.measure_speedup

    def measured(*args, **kwargs):
        calls.append(real(*args, **kwargs))
        return value

    monkeypatch.setattr(autotune, "measure_speedup", measured)
    return calls


def forbid_measuring(monkeypatch):
    monkeypatch.setattr(autotune, "measure_speedup", lambda *args, **kwargs: pytest.fail("measured again"))


def test_measuring_touches_neither_the_model_nor_the_generators():
    """Both layouts train their own copies; the model's weights and buffers and every global generator are as before.
    The ratio is a real measurement: positive and finite."""
    model = small_model().train()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    runtime = Runtime(device=torch.device("cpu"), fused=True)
    images, masks = torch.randn(4, 3, 32, 32), torch.randint(0, 5, (4, 32, 32))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    generators = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    make = lambda copy, layout: layout.optimizer("adamw", copy.parameters(), lr=1e-2)  # noqa: E731
    speedup = autotune.measure_speedup(model, runtime, images, masks, segmentation_objective(cross_entropy()), make)
    assert 0 < speedup < float("inf")
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert model.encoder.levels["level1"][0].weight.is_contiguous()  # still in its own layout
    assert random.getstate() == generators[0] and (np.random.get_state()[1] == generators[1]).all()
    assert torch.equal(torch.get_rng_state(), generators[2])


def test_the_decision_is_cached_by_cpu_torch_model_input_batch_and_precision(monkeypatch, tmp_path):
    """The first call measures and writes the cache; the same configuration again reads it (no measuring); another
    CPU name, batch size, input size or precision measures again, each under its own key."""
    calls = ratio(monkeypatch, 1.5)
    monkeypatch.setattr(autotune, "cpu_name", lambda: "AMD EPYC 7B13")
    path = tmp_path / "autotune.json"
    objective = segmentation_objective(cross_entropy())
    make = lambda copy, layout: layout.optimizer("adamw", copy.parameters(), lr=1e-2)  # noqa: E731
    cpu = Runtime(device=torch.device("cpu"))

    def choose(runtime=cpu, batch_size=4, data=TRAIN):
        return autotune.choose_layout(small_model(), data, runtime, batch_size=batch_size, run_steps=1000,
                                      objective=objective, make_optimizer=make, cache=path)

    first = choose()
    assert (first.channels_last, first.source, first.speedup, len(calls)) == (True, "measured", 1.5, 1)
    assert first.note() == "1.50x contiguous's images/s, measured on AMD EPYC 7B13"
    (entry,) = json.loads(path.read_text())["layouts"].values()
    assert entry["channels_last"] is True and entry["speedup"] == 1.5
    key = entry["key"]
    assert (key["cpu"], key["torch"], key["threads"], key["input"], key["batch_size"], key["precision"]) == (
        "AMD EPYC 7B13", torch.__version__, torch.get_num_threads(), [3, 32, 32], 4, "fp32")
    assert key["model"]["name"] == "fcn" and key["model"]["options"] == {"backbone": "resnet18", "width": 0.125}
    again = choose()
    assert (again.channels_last, again.source, len(calls)) == (True, "cached", 1)
    assert again.note() == "1.50x contiguous's images/s, measured earlier on AMD EPYC 7B13"
    monkeypatch.setattr(autotune, "cpu_name", lambda: "Intel(R) Xeon(R) Platinum 8481C")
    assert choose().source == "measured" and len(calls) == 2
    choose(batch_size=2)
    choose(data=Shapes("train", size=48, length=8))
    choose(runtime=Runtime(device=torch.device("cpu"), bf16=True))
    assert len(calls) == 5 and len(json.loads(path.read_text())["layouts"]) == 5
    assert choose(batch_size=2).source == "cached" and len(calls) == 5


def test_contiguous_unless_channels_last_is_clearly_faster_and_short_runs_are_not_measured(monkeypatch, tmp_path):
    objective = segmentation_objective(cross_entropy())
    make = lambda copy, layout: layout.optimizer("adamw", copy.parameters(), lr=1e-2)  # noqa: E731

    def choose(run_steps, cache):
        return autotune.choose_layout(small_model(), TRAIN, Runtime(device=torch.device("cpu")), batch_size=4,
                                      run_steps=run_steps, objective=objective, make_optimizer=make,
                                      cache=tmp_path / cache)

    ratio(monkeypatch, 1.04)  # within the 5% margin
    assert not choose(1000, "a.json").channels_last
    monkeypatch.setattr(autotune, "MIN_RUN_STEPS", 100)
    forbid_measuring(monkeypatch)
    short = choose(99, "b.json")
    assert (short.channels_last, short.source) == (False, "short run") and not (tmp_path / "b.json").exists()
    assert "not measured: 99 training steps are too few" in short.note()
    assert choose(99, "a.json").source == "cached"  # a short run still takes what the cache knows


@pytest.mark.parametrize("speedup,chosen", [(2.0, True), (0.5, False)])
def test_measuring_leaves_the_training_bit_identical(monkeypatch, tmp_path, speedup, chosen):
    """A run whose layout was measured ends with exactly the weights (and losses) of a run given that layout by hand:
    the measuring steps ran (on copies, with dropout drawing random numbers) and changed nothing."""
    calls = ratio(monkeypatch, speedup)
    measured = small_model()
    history = fit(measured, TRAIN, None, config(epochs=2))
    assert len(calls) == 1 and history.runtime.channels_last is chosen and not history.runtime.measure_layout
    by_hand = small_model()
    reference = fit(by_hand, TRAIN, None, config(epochs=2, channels_last=chosen))
    assert history["train_loss"] == reference["train_loss"]
    for name, value in by_hand.state_dict().items():
        assert torch.equal(value, measured.state_dict()[name]), name


def test_fit_prints_records_and_uses_the_measured_layout(monkeypatch, tmp_path, capsys):
    ratio(monkeypatch, 1.66)
    monkeypatch.setattr(autotune, "cpu_name", lambda: "AMD EPYC 7B13")
    assert config().runtime().describe() == ("cpu: fp32, channels_last or contiguous (fit measures which trains "
                                             "faster), fused optimizer, 0 data workers")
    model = small_model()
    history = fit(model, TRAIN, None, config(tmp_path / "run"))
    line = ("runtime cpu: fp32, channels_last (1.66x contiguous's images/s, measured on AMD EPYC 7B13), fused "
            "optimizer, 0 data workers")
    assert line in capsys.readouterr().out.splitlines() and history.runtime.describe() == line[len("runtime "):]
    weight = model.encoder.levels["level1"][0].weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["config"]["channels_last"] is None  # what was asked for; what was used is the runtime record
    assert state["runtime"]["channels_last"] is True
    assert state["runtime"]["layout"] == {"channels_last": True, "source": "measured", "speedup": 1.66,
                                          "cpu": "AMD EPYC 7B13", "detail": ""}


def test_explicit_settings_win_and_cuda_keeps_its_default(monkeypatch):
    """channels_last=True or False is used as given, whatever the cache says, and nothing is measured; on CUDA the
    runtime keeps channels_last on and fit measures nothing."""
    ratio(monkeypatch, 2.0)
    fit(small_model(), TRAIN, None, config())  # the cache now says channels_last
    forbid_measuring(monkeypatch)
    for given in (True, False):
        assert not config(channels_last=given).runtime().measure_layout
        history = fit(small_model(), TRAIN, None, config(channels_last=given))
        assert history.runtime.channels_last is given and history.runtime.layout_note == ""
    assert fit(small_model(), TRAIN, None, config()).runtime.layout_note.endswith("measured earlier on "
                                                                                  f"{autotune.cpu_name()}")
    monkeypatch.setattr(runtime_module, "resolve_device", lambda device: torch.device("cuda"))
    on_cuda = TrainConfig(device="cuda").runtime()
    assert on_cuda.channels_last and not on_cuda.measure_layout


def test_a_resumed_run_keeps_the_layout_it_started_with(monkeypatch, tmp_path, capsys):
    """A run measured channels_last faster; it stops after epoch 1; the cache then says contiguous. Resumed with
    channels_last None, it continues in channels_last without measuring, and ends with the weights of the run that
    was never stopped. An explicit --no-channels-last on resuming still wins."""
    ratio(monkeypatch, 2.0)
    whole = small_model()
    fit(whole, TRAIN, None, config(tmp_path / "whole", epochs=2))

    def stop_after_epoch_one(record):
        raise KeyboardInterrupt

    split = tmp_path / "split"
    stopped = fit(small_model(), TRAIN, None, config(split, epochs=2), callbacks=[stop_after_epoch_one])
    assert stopped.interrupted and stopped.runtime.channels_last
    cache = autotune.cache_path()
    cache.write_text(cache.read_text().replace('"channels_last": true', '"channels_last": false'))
    assert not fit(small_model(), TRAIN, None, config(epochs=2)).runtime.channels_last  # a new run reads the cache
    forbid_measuring(monkeypatch)
    capsys.readouterr()
    resumed = small_model(seed=99)
    history = fit(resumed, TRAIN, None, config(split, epochs=2), resume=split / "last.pt")
    assert len(history) == 2 and history.runtime.channels_last
    assert "channels_last (2.00x contiguous's images/s, as the run started, measured on" in capsys.readouterr().out
    for name, value in whole.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert load_checkpoint(split / "last.pt")["runtime"]["layout"]["source"] == "resumed"
    forced = fit(small_model(), TRAIN, None, config(split, epochs=2, channels_last=False), resume=split / "last.pt")
    assert not forced.runtime.channels_last


def test_checkpoints_from_before_the_record_resume_as_they_ran():
    assert autotune.recorded_layout({"config": {"channels_last": None}}).channels_last is False
    assert autotune.recorded_layout({"config": {"channels_last": True}}).channels_last is True
    assert autotune.recorded_layout({"runtime": {"channels_last": True, "layout": None},
                                     "config": {"channels_last": None}}).channels_last is True
