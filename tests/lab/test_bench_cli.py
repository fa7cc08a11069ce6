"""`python -m segedu bench` (segedu.lab.bench.cli): the options reach the benchmark, repeated runs report how far
the ratios move, --data sets the loader beside the fastest model, --crf runs the CRF benchmark, and the JSON holds
every figure; plus the quick CPU run end to end."""

import json
import math

import pytest

from segedu.__main__ import main
from segedu.lab.bench import cli


def row(model, ratio, images_per_second):
    return {"model": model, "mode": "fp32", "images_per_second": images_per_second, "spread": 0.0,
            "peak_memory_gib": None, "forward_gflops_per_image": 1.0, "mfu": None, "ratio": ratio}


def test_repeated_runs_and_the_data_pipeline(monkeypatch, tmp_path, capsys):
    """Two fake runs with ratios 0.8 and 1.0 (spread 1.0 / 0.8 - 1 = 25%); the fastest model trains at 100 images/s
    and the loader gives 50, so the loader/model ratio is 0.50. The fastest setting (fcn-resnet50, fp32) is then
    trained fed by the loader, and its images/s and time waiting for data are printed and kept."""
    configs, runs = [], iter([[row("fcn-resnet50", 0.8, 100.0), row("tv:fcn_resnet50", None, 100.0)],
                              [row("fcn-resnet50", 1.0, 100.0), row("tv:fcn_resnet50", None, 80.0)]])
    data_calls, fed_calls = [], []

    def fed_training(build, runtime, *, log, **options):
        fed_calls.append((runtime.bf16, runtime.channels_last, options))
        log("fed by the loader: workers 0:     40.0 img/s,  25% of the time waiting for data")
        return [{"workers": 0, "steps": 4, "images_per_second": 40.0, "data_wait_fraction": 0.25}]

    monkeypatch.setattr(cli, "fed_training", fed_training)

    def run_bench(config, *, log):
        configs.append(config)
        return next(runs)

    def data_pipeline(**options):
        data_calls.append(options)
        return [{"workers": 0, "keep_decoded": False, "images_per_second": 50.0}]

    monkeypatch.setattr(cli, "run_bench", run_bench)
    monkeypatch.setattr(cli, "data_pipeline", data_pipeline)
    output = tmp_path / "bench.json"
    assert main(["bench", "--device", "cpu", "--quick", "--steps", "3", "--repeat", "2", "--data",
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert len(configs) == 2 and configs[0].steps == 3  # --steps over the quick profile's 12
    assert configs[0].image_size == (64, 96) and configs[0].batch_size == 2 and configs[0].warmup == 3
    assert "run 1 of 2" in printed and "run 2 of 2" in printed and "largest spread: 25.0%" in printed
    assert data_calls == [{"image_size": (96, 128), "batch_size": 2, "workers": (0, 1), "batches": 4}]
    assert "data pipeline: up to 50 img/s; fastest model trains at 100 img/s (ratio 0.50;" in printed
    assert fed_calls == [(False, False, {"image_size": (64, 96), "batch_size": 2, "workers": (0, 1), "steps": 4,
                                         "num_classes": 11})]
    assert ("fcn-resnet50 (fp32) fed by the CamVid loader at 64x96, batch 2:\n"
            "  fed by the loader: workers 0:     40.0 img/s,  25% of the time waiting for data") in printed
    report = json.loads(output.read_text())
    assert report["rows"][0]["ratio"] == 1.0  # the last run's rows
    assert report["agreement"][0]["ratios"] == [0.8, 1.0] and report["agreement"][0]["spread"] == pytest.approx(0.25)
    assert report["data"][0]["images_per_second"] == 50.0 and report["config"]["steps"] == 3
    assert report["fed"] == {"model": "fcn-resnet50", "mode": "fp32", "image_size": [64, 96], "rows": [
        {"workers": 0, "steps": 4, "images_per_second": 40.0, "data_wait_fraction": 0.25}]}


def test_crf_flag_runs_the_crf_benchmark_and_writes_its_report(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "crf_benchmark", lambda: {"segedu_seconds": 0.5, "frames": 4})
    monkeypatch.setattr(cli, "run_bench", lambda config, *, log: pytest.fail("--crf must not time the models"))
    output = tmp_path / "crf.json"
    assert main(["bench", "--crf", "--output", str(output)]) == 0
    assert json.loads(output.read_text()) == {"segedu_seconds": 0.5, "frames": 4}


def test_unknown_models_are_refused(capsys):
    assert main(["bench", "--quick", "--models", "nonsense"]) == 2
    assert "unknown bench model" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_cpu_bench_compares_every_pair(tmp_path, capsys):
    """`python -m segedu bench --device cpu --quick`, as CI runs it: every pair gets a ratio, the JSON has it all."""
    output = tmp_path / "bench.json"
    # the steps are cut to keep the suite quick: this checks the plumbing, not the figures
    assert main(["bench", "--device", "cpu", "--quick", "--steps", "3", "--warmup", "1", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "tv:lraspp_mobilenet_v3_large" in printed and "ours/tv" in printed
    report = json.loads(output.read_text())
    ratios = {(row["model"], row["mode"]): row["ratio"] for row in report["rows"] if row["ratio"] is not None}
    pairs = {"fcn-resnet50", "deeplabv3-resnet50-os8", "deeplabv3-mobilenet"}
    assert {model for model, _ in ratios} == pairs
    # bf16 is skipped, with a line, on a CPU that would emulate it
    assert {mode for _, mode in ratios} == set(report["config"]["modes"]) - set(report["skipped"])
    assert all(f"{mode} skipped: " in printed for mode in report["skipped"])
    # 3 steps on a shared CPU can swing a ratio tenfold, so no bounds on the figures: each is ours / theirs as written
    speed = {(row["model"], row["mode"]): row["images_per_second"] for row in report["rows"]}
    versus = {row["model"]: row["versus"] for row in report["rows"]}
    for (model, mode), ratio in ratios.items():
        assert ratio == pytest.approx(speed[model, mode] / speed[versus[model], mode]) and math.isfinite(ratio)
