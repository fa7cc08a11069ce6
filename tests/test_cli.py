"""The command line, end to end: train and evaluate on the offline CamVid, help, and clear errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from segedu.__main__ import build_parser, main

HANGUL = re.compile("[가-힣]")


def test_help_documents_every_option(capsys):
    for command in (["train"], ["evaluate"], ["data", "download"], ["bench"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
        text = capsys.readouterr().out
        parser_actions = [a for a in build_parser()._subparsers._group_actions[0].choices[command[0]]._actions]
        assert text.count("--") >= 3
        for action in parser_actions:
            if action.help is None and action.option_strings:
                pytest.fail(f"option {action.option_strings} of {command} has no help")


@pytest.mark.slow
def test_train_then_evaluate_on_camvid(data_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "unet", "--data", "camvid", "--epochs", "1", "--subset", "16",
                 "--image-size", "64x80", "--width", "0.125", "--output", str(run), "--no-progress"]) == 0
    assert (run / "last.pt").is_file()
    assert main(["evaluate", "--checkpoint", str(run / "last.pt"), "--split", "test", "--subset", "6"]) == 0
    out = capsys.readouterr().out
    assert "Bicyclist" in out and "mIoU" in out and "pixel accuracy" in out
    metrics = json.loads((run / "metrics-camvid-test.json").read_text())
    assert metrics["samples"] == 6 and 0 <= metrics["miou"] <= 1 and len(metrics["iou"]) == 11
    figure = run / "predictions-camvid-test.png"
    assert figure.is_file() and figure.stat().st_size > 10_000


@pytest.mark.fault
def test_errors_are_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "segedu", "evaluate", "--checkpoint", str(tmp_path / "nope.pt")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == f"error: checkpoint {tmp_path / 'nope.pt'} does not exist"
    result = subprocess.run([sys.executable, "-m", "segedu", "train", "--model", "resnet9", "--data", "shapes"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice: 'resnet9'" in result.stderr
    assert main(["train", "--model", "unet", "--data", str(tmp_path / "nothing-here"), "--epochs", "1"]) == 2


def test_model_options_and_precision_reach_the_run(tmp_path, capsys):
    from segedu.checkpoint import load_checkpoint

    run = tmp_path / "run"
    assert main(["train", "--model", "unet", "--data", "shapes", "--epochs", "1", "--subset", "8", "--batch-size", "4",
                 "--image-size", "32", "--width", "0.0625", "--option", "batch_norm=False", "--precision", "bf16",
                 "--device", "cpu", "--output", str(run), "--no-progress"]) == 0
    state = load_checkpoint(run / "last.pt")
    assert state["config"]["bf16"] is True
    assert not any("running_mean" in key for key in state["model"])  # no batch norm layers were built
    assert "% waiting for data" in capsys.readouterr().out
    assert main(["train", "--model", "unet", "--data", "shapes", "--option", "batch_norm"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("arguments, message", [
    (["--epochs", "0"], "--epochs: must be a whole number of at least 1, got '0'"),
    (["--batch-size", "0"], "--batch-size: must be a whole number of at least 1"),
    (["--width", "0"], "--width: must be a finite number above 0"),
    (["--width", "-1"], "--width: must be a finite number above 0"),
    (["--lr", "inf"], "--lr: must be a finite number above 0, got 'inf'"),
    (["--lr", "nan"], "--lr: must be a finite number above 0"),
    (["--device", "foo"], "--device: must be auto, cpu, cuda, cuda:N or mps, got 'foo'"),
    (["--subset", "-1"], "--subset: must be a whole number of at least 0"),
    (["--num-workers", "-2"], "--num-workers: must be a whole number of at least 0"),
])
@pytest.mark.fault
def test_out_of_range_arguments_are_refused_before_anything_runs(arguments, message, capsys):
    """Values that used to mean the default in silence (--epochs 0) or fail late (--lr inf) stop at parsing."""
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--model", "unet", "--data", "shapes", *arguments])
    assert stopped.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.fault
def test_evaluate_refuses_negative_samples_and_draws_nothing_for_zero(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--checkpoint", str(tmp_path / "x.pt"), "--samples", "-1"])
    assert "--samples: must be a whole number of at least 0" in capsys.readouterr().err
    run = tmp_path / "run"
    assert main(["train", "--model", "unet", "--data", "shapes", "--epochs", "1", "--subset", "8", "--batch-size", "4",
                 "--image-size", "32", "--width", "0.0625", "--device", "cpu", "--output", str(run), "--no-progress"]) == 0
    assert main(["evaluate", "--checkpoint", str(run / "last.pt"), "--samples", "0", "--subset", "4"]) == 0
    assert not list(run.glob("predictions-*.png")) and list(run.glob("metrics-*.json"))


@pytest.mark.fault
def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    import segedu.__main__ as cli

    def broken(args):
        raise KeyError("momentum")

    monkeypatch.setattr(cli, "_info", broken)
    assert cli.main(["info"]) == 2
    assert capsys.readouterr().err.strip() == "error: KeyError: 'momentum' (run with --debug for the traceback)"
    with pytest.raises(KeyError):
        cli.main(["--debug", "info"])


def test_the_command_line_speaks_korean_when_asked_and_english_otherwise(monkeypatch, capsys, tmp_path):
    """SEGEDU_LANG=ko: every option's help, what a command prints and the error line are Korean."""
    monkeypatch.setenv("SEGEDU_LANG", "ko")
    commands = build_parser()._subparsers._group_actions[0].choices
    for command in ("train", "evaluate", "data", "info"):
        for action in commands[command]._actions:
            if action.option_strings and action.dest != "help":  # -h is argparse's own
                assert HANGUL.search(action.help), f"{command} {action.option_strings[0]}: {action.help!r}"
    assert main(["info"]) == 0
    printed = capsys.readouterr().out
    assert HANGUL.search(printed.splitlines()[0]) and HANGUL.search(printed.splitlines()[-1])
    missing = tmp_path / "nope.pt"
    assert main(["evaluate", "--checkpoint", str(missing)]) == 2
    error = capsys.readouterr().err.strip()
    assert HANGUL.search(error.split(":")[0]) and str(missing) in error
    assert HANGUL.search(error.split(str(missing))[-1])  # the library's own message too
    monkeypatch.setenv("SEGEDU_LANG", "en")
    assert main(["info"]) == 0
    assert not HANGUL.search(capsys.readouterr().out)
