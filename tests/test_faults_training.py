"""Issue #32, round two: training, resuming, checkpoints and evaluate say what went wrong, and nothing is silent.

Resuming with any other recorded setting is refused with the difference named and a way forward (`--init-from`); a
checkpoint with NaN weights, or one built to run code, is refused by name; a full disk names the folder; `evaluate`
refuses an unknown split and an unwritable folder before scoring; a stopped `train` ends with one line and an exit
status that torchrun does not report as a failure.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segedu.__main__ import main
from segedu.checkpoint import load_checkpoint, load_model, save_checkpoint
from segedu.data import Shapes
from segedu.engine import History, TrainConfig, fit
from segedu.errors import CheckpointError
from segedu.models import build_model

pytestmark = pytest.mark.fault

TRAIN = Shapes("train", size=32, length=8)
TINY = ["--model", "unet", "--data", "shapes", "--subset", "8", "--batch-size", "4", "--image-size", "32",
        "--width", "0.0625", "--device", "cpu", "--no-progress"]


def small_model(seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model("unet", num_classes=5, width=0.0625, depth=3, **options)


def config(folder, **changes):
    return TrainConfig(**{"epochs": 1, "batch_size": 4, "lr": 5e-3, "progress": False, "checkpoint_dir": str(folder),
                          **changes})


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """The checkpoint of one epoch of `train` on 8 Shapes scenes at 32x32."""
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY, "--epochs", "1", "--output", str(folder)]) == 0
    return folder / "last.pt"


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


# 1. resume compares every recorded setting


def test_resume_with_another_image_size_subset_or_recorded_setting_is_refused_by_name(run, capsys):
    """Before: `--resume` with another --image-size or --subset trained on without a word."""
    assert main(["train", *TINY, "--epochs", "1", "--output", str(run.parent), "--resume", str(run),
                 "--image-size", "48"]) == 2
    said = error_line(capsys)
    assert f"cannot resume {run}" in said and "image_size 48x48 (the checkpoint: 32x32)" in said
    assert f"--init-from {run}" in said
    assert main(["train", *TINY, "--epochs", "1", "--output", str(run.parent), "--resume", str(run),
                 "--subset", "4"]) == 2
    said = error_line(capsys)
    assert "subset 4 (the checkpoint: 8)" in said and "4 training samples (the checkpoint: 8)" in said
    # the library: every TrainConfig setting but the runtime's, the model's options, the number of samples
    fit(small_model(), TRAIN, None, config(run.parent / "library"))
    resume = run.parent / "library" / "last.pt"
    for model, data, changes, named in (
            (small_model(), TRAIN, {"ignore_index": 0}, "ignore_index 0 (the checkpoint: 255)"),
            (small_model(), TRAIN, {"freeze_encoder": True}, "freeze_encoder True (the checkpoint: False)"),
            (small_model(), Shapes("train", size=32, length=12), {}, "12 training samples (the checkpoint: 8)"),
            (small_model(padding=False), TRAIN, {}, "model option padding False (the checkpoint: 'not given')")):
        with pytest.raises(CheckpointError, match=r"other training settings: .*" + named.replace("(", r"\(")
                           .replace(")", r"\)")):
            fit(model, data, None, config(run.parent / "library", **changes), resume=resume)
    # the runtime's choices may change: this resume of a finished run trains nothing and is accepted
    history = fit(small_model(), TRAIN, None, config(run.parent / "library", channels_last=True, bf16=False),
                  resume=resume)
    assert len(history) == 1 and not history.interrupted


# 2. --init-from: a new run from a checkpoint's weights


def test_init_from_starts_a_new_run_from_the_weights_and_the_refusals_name_it(run, tmp_path, capsys):
    """Before: `--resume` with more --epochs was refused with no way forward; --init-from did not exist."""
    assert main(["train", *TINY, "--epochs", "3", "--output", str(run.parent), "--resume", str(run)]) == 2
    said = error_line(capsys)
    assert "epochs 3 (the checkpoint: 1)" in said and f"start a new run from its weights with --init-from {run}" in said
    new = tmp_path / "new"
    assert main(["train", *TINY, "--epochs", "2", "--output", str(new), "--init-from", str(run)]) == 0
    state = load_checkpoint(new / "last.pt")
    assert state["epoch"] == 2 and len(state["history"]) == 2 and state["init_from"] == str(run)
    # the new run starts from the checkpoint's weights: with a vanishing learning rate they barely move
    started = small_model(seed=99)
    source = tmp_path / "source"
    fit(small_model(seed=1), TRAIN, None, config(source))
    fit(started, TRAIN, None, config(tmp_path / "still", lr=1e-12), init_from=source / "last.pt")
    weights = load_checkpoint(source / "last.pt")["model"]
    for name, parameter in started.named_parameters():
        assert torch.allclose(parameter, weights[name], atol=1e-6), name
    # refused: together with --resume, another model or classes, another width, an unknown name
    with pytest.raises(SystemExit):
        main(["train", *TINY, "--resume", str(run), "--init-from", str(run)])
    assert "--init-from: not allowed with argument --resume" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not both"):
        fit(small_model(), TRAIN, None, config(tmp_path / "both"), resume=run, init_from=run)
    with pytest.raises(CheckpointError, match=r"--init-from unet_lite0_isbi2012: checkpoint .*unet_lite0_isbi2012.pt was written "
                                              r"for model 'unet' with 2 classes and 1 input channels, not 'unet' with 5"):
        fit(small_model(), TRAIN, None, config(tmp_path / "shipped"), init_from="unet_lite0_isbi2012")
    assert main(["train", *TINY, "--width", "0.125", "--output", str(tmp_path / "wider"), "--init-from", str(run)]) == 2
    said = error_line(capsys)
    assert "does not fit this model" in said and "width 0.0625 (this run: 0.125)" in said
    assert main(["train", *TINY, "--output", str(tmp_path / "x"), "--init-from", "unet_nowhere"]) == 2
    assert "no such checkpoint file, nor the name of a shipped model (unet_lite0_isbi2012" in error_line(capsys)
    export = tmp_path / "shared.pt"
    from segedu.checkpoint import export_checkpoint
    export_checkpoint(run, export)
    with pytest.raises(CheckpointError, match=f"holds weights only.*--init-from {export}"):
        fit(small_model(), TRAIN, None, config(tmp_path / "y"), resume=export)


# 3. non-finite weights


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_tensor(tmp_path, bad):
    """Before: NaN or infinite weights (valid checksums) loaded without a word."""
    model = small_model()
    weights = model.state_dict()
    first = [name for name, value in weights.items() if value.is_floating_point()][3]
    weights[first] = weights[first].clone()
    weights[first].view(-1)[1] = bad
    path = save_checkpoint(tmp_path / "diverged.pt", {"model_spec": model.build_spec, "model": weights})
    for load in (load_checkpoint, load_model):
        with pytest.raises(CheckpointError, match=rf"checkpoint {path} holds non-finite weights: {first} has 1 "
                                                  rf"{'NaN' if bad != bad else 'infinite'} value"):
            load(path)


# 4. a pickle payload's refusal does not pass on torch's advice


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_the_refusal_of_a_code_running_checkpoint_does_not_advise_weights_only_false(tmp_path):
    """Before: the message quoted torch: loading with `weights_only=False` "will likely succeed" (and run the code)."""

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    torch.save({"format": "segedu-checkpoint-v1", "model": Payload()}, tmp_path / "payload.pt")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(tmp_path / "payload.pt")
    said = str(refused.value)
    assert "payload.pt" in said and "something other than tensors and plain data" in said and "system" in said
    assert "weights_only" not in said and "likely succeed" not in said and "\n" not in said
    assert "weights_only" not in str(refused.value.__cause__ or "") and refused.value.__suppress_context__
    assert not (tmp_path / "ran").exists()


# 5. a full disk at a checkpoint write


@pytest.mark.parametrize("failure", [RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs "
                                                  "4054"), OSError(errno.ENOSPC, "No space left on device")])
def test_a_full_disk_at_a_checkpoint_write_names_the_folder_and_keeps_the_previous(tmp_path, monkeypatch, failure):
    """Before: `RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos ...`, no disk, no folder."""
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.ones(3)}, "epoch": 1})
    real_save = torch.save

    def fills_the_disk(value, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04" + b"\0" * 100)  # a partial archive, then the disk is full
        raise failure

    monkeypatch.setattr(torch, "save", fills_the_disk)
    with pytest.raises(CheckpointError, match=rf"cannot write checkpoint last.pt to the folder {tmp_path}: the disk "
                                              rf"may be full.*the previous last.pt is kept"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"], "no temporary file is left behind"


def test_a_full_disk_during_train_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs 4054")

    monkeypatch.setattr(torch, "save", full)
    assert main(["train", *TINY, "--epochs", "1", "--output", str(tmp_path / "run")]) == 2
    said = error_line(capsys)
    assert f"to the folder {tmp_path / 'run'}: the disk may be full" in said and "nothing was written" in said


# 6. and 7. evaluate: an unknown split, an unwritable folder


def test_evaluate_refuses_an_unknown_split_naming_the_valid_ones(run, capsys):
    """Before: `--split nonsense` scored Shapes' training split and named its files after the nonsense."""
    assert main(["evaluate", "--checkpoint", str(run), "--split", "nonsense", "--samples", "0"]) == 2
    said = error_line(capsys)
    assert "'nonsense'" in said and "('train', 'val', 'test')" in said
    assert not list(run.parent.glob("*nonsense*"))


def _read_only(folder: Path):
    """Make `folder` refuse new files, as a read-only mount does (root writes through permissions: chattr +i)."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        return lambda: folder.chmod(0o700)
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("running as root, and chattr +i is not available to make a folder read-only")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_evaluate_into_a_read_only_folder_is_refused_before_scoring(run, tmp_path, monkeypatch, capsys):
    """Before: evaluate scored everything (78 s on CamVid) and then failed to write its metrics."""
    import segedu.engine

    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "last.pt").write_bytes(run.read_bytes())
    scored, score = [], segedu.engine.evaluate

    def counted(*args, **kwargs):
        scored.append(1)
        return score(*args, **kwargs)

    monkeypatch.setattr(segedu.engine, "evaluate", counted)
    unlock = _read_only(folder)
    try:
        assert main(["evaluate", "--checkpoint", str(folder / "last.pt"), "--split", "val"]) == 2
    finally:
        unlock()
    assert not scored, "it scored before finding that it cannot write the results"
    said = error_line(capsys)
    assert f"the folder {folder} is not writable" in said


# 8. a stopped train: one line, and an exit status torchrun does not report as a failure

STOPPED_TRAIN = """
import os, signal, sys
from segedu.__main__ import main
from segedu.data import Shapes

split, at = sys.argv[1], int(sys.argv[2])
original, calls = Shapes.__getitem__, [0]

def signalled(self, index):  # SIGTERM at the at-th sample read from `split` (under torchrun: by the second process)
    if self.split == split and os.environ.get("RANK", "1") == "1":
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGTERM)
    return original(self, index)

Shapes.__getitem__ = signalled
sys.exit(main(sys.argv[3:]))
"""


def _stopped_train(tmp_path, split, at, epochs):
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED_TRAIN)
    return subprocess.run([sys.executable, str(script), split, str(at), "train", *TINY, "--epochs", str(epochs),
                           "--output", str(tmp_path / "run")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=Path(__file__).parent.parent)


def test_sigterm_mid_run_saves_says_one_line_and_exits_0(tmp_path):
    """Before: a worker stopped by SIGTERM exited 130, and torchrun printed a 30-line ChildFailedError and exited 1."""
    done = _stopped_train(tmp_path, "train", 2, epochs=2)  # during the first batch: the step finishes, then it stops
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    saved = tmp_path / "run" / "interrupted.pt"
    last = done.stdout.strip().splitlines()[-1]
    assert last == f"stopped by SIGTERM in epoch 1 after step 1; saved {saved}: --resume {saved} continues exactly " \
                   f"from there", done.stdout
    assert load_checkpoint(saved)["step"] == 1


def test_sigterm_after_the_final_save_is_a_complete_run(tmp_path):
    """Before: a SIGTERM during the final epoch's validation (its checkpoint then written) also exited 130."""
    done = _stopped_train(tmp_path, "val", 2, epochs=1)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    assert "SIGTERM arrived after the final epoch 1" in done.stdout and "the run is complete" in done.stdout
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


@pytest.mark.slow
def test_under_torchrun_a_stopped_run_is_not_reported_as_a_failure(tmp_path):
    """Before: both workers stopped and saved correctly, exited 130, and torchrun printed a ChildFailedError and
    exited 1. Only the second process is signalled; both stop after the same step."""
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED_TRAIN)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), "train", "2", "train", *TINY, "--epochs", "2", "--output", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0 and "ChildFailedError" not in done.stderr, done.stderr[-3000:]
    saved = tmp_path / "run" / "interrupted.pt"
    assert done.stdout.strip().splitlines()[-1] == (f"stopped by a signal to another process in epoch 1 after step 1; "
                                                    f"saved {saved}: --resume {saved} continues exactly from there")
    assert load_checkpoint(saved)["world_size"] == 2


def test_the_exit_status_of_a_stopped_train(monkeypatch):
    """The documented statuses (docs/command-line.md): 0 when saved and stopped by SIGTERM or under torchrun, 130 for
    Ctrl-C of one process, 128 + the signal when nothing was saved."""
    from segedu.__main__ import _stopped_status

    saved = Path("runs/x/interrupted.pt")
    for world, stopped_by, checkpoint, status in (
            ("1", "SIGTERM", saved, 0), ("1", "SIGINT", saved, 130), ("1", "KeyboardInterrupt", saved, 130),
            ("2", "SIGINT", saved, 0), ("2", "a signal to another process", saved, 0),
            ("1", "SIGTERM", None, 143), ("2", "SIGINT", None, 130)):
        monkeypatch.setenv("WORLD_SIZE", world)
        assert _stopped_status(History(interrupted=True, checkpoint=checkpoint, stopped_by=stopped_by)) == status
