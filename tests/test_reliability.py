"""Nothing lost: SIGINT and SIGTERM at any moment of `fit` leave a whole state on disk, and resuming from it ends
bit-identical to the run that was never stopped; bad resumes and bad checkpoint folders are clear errors."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from segedu.checkpoint import export_checkpoint, load_checkpoint, save_checkpoint
from segedu.data import Shapes
from segedu.engine import TrainConfig, fit
from segedu.errors import CheckpointError
from segedu.models import build_model

pytestmark = pytest.mark.fault

TRAIN, VAL = Shapes("train", size=32, length=40), Shapes("val", size=32, length=8)
STEPS_PER_EPOCH = 5  # 40 samples, batches of 8


def small_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("unet", num_classes=5, width=0.0625, depth=3)  # batch norm: its statistics must resume too


def config(folder, **changes):
    # the layout is set, so fit reads no sample to measure it with: the n-th load below is the n-th of training
    return TrainConfig(**{"epochs": 3, "batch_size": 8, "lr": 5e-3, "progress": False, "checkpoint_dir": str(folder),
                          "channels_last": False, **changes})


class Augmented(torch.utils.data.Dataset):
    """TRAIN with a random flip drawn from torch's global generator (as transforms do), and a hook at the n-th load."""

    def __init__(self, at: int | None = None, action=None):
        self.loads, self.at, self.action = 0, at, action

    def __len__(self):
        return len(TRAIN)

    def __getitem__(self, index):
        self.loads += 1
        if self.loads == self.at:
            self.action()
        image, mask = TRAIN[index]
        if torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, mask


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    model = small_model()
    history = fit(model, Augmented(), VAL, config(tmp_path_factory.mktemp("whole")))
    return model.state_dict(), history["train_loss"]


def _same(reference, model, history):
    weights, losses = reference
    assert history["train_loss"] == losses  # bit-identical losses, epoch by epoch
    for name, value in weights.items():
        assert torch.equal(value, model.state_dict()[name]), name


def _signal(number):
    return lambda: os.kill(os.getpid(), number)


@pytest.mark.slow  # six trainings; needs no data, so CI's second pass (no data, slow tests left out) skips it
@pytest.mark.parametrize("load, number", [
    (8 * STEPS_PER_EPOCH + 1, signal.SIGINT),      # while the first batch of epoch 2 loads
    (8 * STEPS_PER_EPOCH + 20, signal.SIGTERM),    # mid-epoch 2
    (3, signal.SIGINT),                            # in the first batch of the run: no last.pt yet
])
def test_a_signal_between_steps_saves_a_state_that_resumes_exactly(tmp_path, reference, load, number, capsys):
    stopped = fit(small_model(), Augmented(load, _signal(number)), VAL, config(tmp_path))
    assert stopped.interrupted and stopped.checkpoint.name == "interrupted.pt"
    state = load_checkpoint(stopped.checkpoint)
    step = (load - 1) // 8 % STEPS_PER_EPOCH + 1  # the batch being loaded finishes its step, then the loop stops
    assert state["epoch"] == (load - 1) // 8 // STEPS_PER_EPOCH and state["step"] == step
    said = capsys.readouterr().out
    assert f"stopped by {signal.Signals(number).name}" in said and "continues exactly" in said
    resumed = small_model(seed=99)  # everything must come from the checkpoint
    history = fit(resumed, Augmented(), VAL, config(tmp_path), resume=stopped.checkpoint)
    assert not history.interrupted
    _same(reference, resumed, history)


@pytest.mark.slow
def test_ctrl_c_raised_while_loading_and_a_signal_during_the_checkpoint_write(tmp_path, reference, monkeypatch):
    def interrupt():
        raise KeyboardInterrupt

    stopped = fit(small_model(), Augmented(8 * STEPS_PER_EPOCH + 13, interrupt), VAL, config(tmp_path / "raised"))
    resumed = small_model(seed=99)
    _same(reference, resumed, fit(resumed, Augmented(), VAL, config(tmp_path / "raised"), resume=stopped.checkpoint))

    import segedu.engine.training as engine

    writes = []

    def signalled_save(path, state):  # SIGINT arrives while last.pt of epoch 1 is being written
        writes.append(path.name)
        if len(writes) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return save_checkpoint(path, state)

    monkeypatch.setattr(engine, "save_checkpoint", signalled_save)
    stopped = fit(small_model(), Augmented(), VAL, config(tmp_path / "write"))
    monkeypatch.undo()
    assert stopped.interrupted and stopped.checkpoint.name == "last.pt" and len(stopped) == 1
    assert load_checkpoint(stopped.checkpoint)["epoch"] == 1  # the write finished: the epoch is not lost
    resumed = small_model(seed=99)
    _same(reference, resumed, fit(resumed, Augmented(), VAL, config(tmp_path / "write"), resume=stopped.checkpoint))


def test_resuming_with_other_settings_or_from_an_exported_checkpoint_is_refused(tmp_path):
    fit(small_model(), TRAIN, None, config(tmp_path, epochs=1))
    with pytest.raises(CheckpointError, match=r"other training settings: epochs 4 \(the checkpoint: 1\)"):
        fit(small_model(), TRAIN, None, config(tmp_path, epochs=4), resume=tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match=r"optimizer 'sgd' \(the checkpoint: 'adamw'\)"):
        fit(small_model(), TRAIN, None, config(tmp_path, epochs=1, optimizer="sgd"), resume=tmp_path / "last.pt")
    export_checkpoint(tmp_path / "last.pt", tmp_path / "shared.pt")
    with pytest.raises(CheckpointError, match="shared.pt holds weights only"):
        fit(small_model(), TRAIN, None, config(tmp_path, epochs=1), resume=tmp_path / "shared.pt")


def test_checkpoint_folder_problems_are_found_before_the_first_step_and_stale_files_removed(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(CheckpointError, match="is a file"):
        fit(small_model(), TRAIN, None, config(tmp_path / "file", epochs=1))
    stale = tmp_path / "run" / ".last.pt.999999999.tmp"  # a killed run's half-written checkpoint
    stale.parent.mkdir()
    stale.write_bytes(b"x" * 1000)
    fit(small_model(), TRAIN, None, config(tmp_path / "run", epochs=1))
    assert not stale.exists() and (tmp_path / "run" / "last.pt").is_file()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(CheckpointError, match="cannot write checkpoints to"):
            fit(small_model(), TRAIN, None, config(locked, epochs=1))


DISTRIBUTED_RUN = """
import os, signal, sys
import torch
sys.path.insert(0, {tests!r})
from test_reliability import Augmented, VAL, config, small_model
from segedu.engine import fit

mode, folder = sys.argv[1], sys.argv[2]
rank = int(os.environ["RANK"])
data = Augmented()
if mode == "stop" and rank == 1:  # only the second process is signalled, mid-epoch 2 (20 loads per epoch each)
    data = Augmented(30, lambda: os.kill(os.getpid(), signal.SIGTERM))
history = fit(small_model(), data, VAL, config(folder), resume=sys.argv[3] if mode == "resume" else None)
print(f"rank {{rank}}: interrupted={{history.interrupted}} epochs={{len(history.records)}}", flush=True)
"""


@pytest.mark.slow
def test_a_signal_to_one_of_two_torchrun_processes_stops_both_at_the_same_step_and_resumes_exactly(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "run.py"
    script.write_text(DISTRIBUTED_RUN.format(tests=str(Path(__file__).parent)))
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}

    def torchrun(*arguments):
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               str(script), *map(str, arguments)], capture_output=True, text=True, timeout=600,
                              env=environment)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    torchrun("whole", tmp_path / "whole")
    stopped = torchrun("stop", tmp_path / "stopped")
    # rank 0 was never signalled, yet it stops after the same step as rank 1, and says where the state is
    assert "rank 0: interrupted=True epochs=1" in stopped and "rank 1: interrupted=True epochs=1" in stopped
    assert "stopped by a signal to another process in epoch 2 after step 3" in stopped, stopped
    state = load_checkpoint(tmp_path / "stopped" / "interrupted.pt")
    assert state["world_size"] == 2 and state["step"] == 3 and len(state["rng_per_process"]) == 2
    assert not torch.equal(state["rng_per_process"][0]["torch"], state["rng_per_process"][1]["torch"])
    torchrun("resume", tmp_path / "stopped", tmp_path / "stopped" / "interrupted.pt")
    whole, resumed = (load_checkpoint(tmp_path / run / "last.pt") for run in ("whole", "stopped"))
    assert [record["train_loss"] for record in resumed["history"]] == [record["train_loss"] for record in whole["history"]]
    for name, value in whole["model"].items():  # bit-identical, batch-norm statistics included
        assert torch.equal(value, resumed["model"][name]), name
    with pytest.raises(CheckpointError, match=r"written by a run of 2 process\(es\) and this run has 1.*"
                                              r"--nproc_per_node=2"):
        fit(small_model(), Augmented(), VAL, config(tmp_path / "single"), resume=tmp_path / "stopped" / "interrupted.pt")
