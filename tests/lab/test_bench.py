"""The benchmark: FLOP counts agree with torchvision's published operation counts, ratios pair the right models,
the GPU peak table picks bf16 or TF32, bad names are refused, and the command writes its figures."""

import json

import pytest
import torch
import torchvision

from segedu.lab import bench
from segedu.__main__ import main
from segedu.measure import count_flops


@pytest.mark.parametrize("name,weights", [("deeplabv3_resnet50", "DeepLabV3_ResNet50_Weights"),
                                          ("lraspp_mobilenet_v3_large", "LRASPP_MobileNet_V3_Large_Weights")])
def test_flops_match_torchvision_published_operations(name, weights):
    """torchvision's model cards give multiply-adds ("_ops", in G) at 520x520; MFU counts 2 FLOPs per multiply-add."""
    published = getattr(torchvision.models.segmentation, weights).DEFAULT.meta["_ops"]
    with torch.device("meta"):
        options = {"aux_loss": True} if "deeplab" in name else {}
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=21, **options)
        flops = count_flops(model.eval(), torch.empty(1, 3, 520, 520))
    assert flops / 2e9 == pytest.approx(published, rel=2e-3)


def test_rows_pair_ours_with_torchvision_at_the_same_setting():
    config = bench.BenchConfig(device="cpu", image_size=(32, 48), batch_size=2, steps=1, warmup=0, modes=("fp32",),
                               models=("deeplabv3-mobilenet", "tv:deeplabv3_mobilenet_v3_large", "unet"))
    rows = {row["model"]: row for row in bench.run_bench(config, log=lambda line: None)}
    ours, theirs = rows["deeplabv3-mobilenet"], rows["tv:deeplabv3_mobilenet_v3_large"]
    assert ours["versus"] == "tv:deeplabv3_mobilenet_v3_large"
    assert ours["ratio"] == pytest.approx(ours["images_per_second"] / theirs["images_per_second"])
    assert rows["unet"]["ratio"] is None and theirs["ratio"] is None
    assert all(row["mfu"] is None and row["peak_memory_gib"] is None for row in rows.values())  # a CPU: no peak
    # same architecture family and size: forward FLOPs within 25% of torchvision's
    assert ours["forward_gflops_per_image"] == pytest.approx(theirs["forward_gflops_per_image"], rel=0.25)
    with pytest.raises(ValueError, match="unknown bench model"):
        bench.run_bench(bench.BenchConfig(device="cpu", models=("resnet9000",)))


def test_peak_table_picks_the_math_mode(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    cuda = torch.device("cuda", 0)
    assert bench.peak_flops(cuda, "bf16") == 989e12 and bench.peak_flops(cuda, "fp32") == 494e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    assert bench.peak_flops(cuda, "bf16") == 756e12
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future GPU")
    assert bench.peak_flops(cuda, "bf16") is None and bench.peak_flops(cuda, "bf16", 100.0) == 100e12
    assert bench.peak_flops(torch.device("cpu"), "fp32") is None


@pytest.mark.slow
def test_quick_cpu_bench_compares_every_pair(tmp_path, capsys):
    """`python -m segedu bench --device cpu --quick`, as CI runs it: every pair gets a ratio, the JSON has it all."""
    output = tmp_path / "bench.json"
    # the steps are cut to keep the suite quick: this checks the plumbing; scripts/bench_stability.py the figures
    assert main(["bench", "--device", "cpu", "--quick", "--steps", "3", "--warmup", "1", "--output", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "tv:lraspp_mobilenet_v3_large" in printed and "ours/tv" in printed
    report = json.loads(output.read_text())
    ratios = {(row["model"], row["mode"]): row["ratio"] for row in report["rows"] if row["ratio"] is not None}
    pairs = {"fcn-resnet50", "deeplabv3-resnet50-os8", "deeplabv3-mobilenet"}
    assert {model for model, _ in ratios} == pairs
    assert {mode for _, mode in ratios} == set(report["config"]["modes"])
    assert all(0.1 < ratio < 10 for ratio in ratios.values())
    assert main(["bench", "--quick", "--models", "nonsense"]) == 2


def test_pairs_are_timed_in_turns_and_summarised_by_their_median(monkeypatch):
    calls = []

    def fake_trainer(entry, mode, config, device):
        def step():
            calls.append(entry.name)
        return step

    clock = iter(range(1000))
    monkeypatch.setattr(bench, "_trainer", fake_trainer)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(clock)))
    known = {entry.name: entry for entry in bench.entries()}
    group = [known["fcn-resnet50"], known["tv:fcn_resnet50"]]
    config = bench.BenchConfig(device="cpu", batch_size=2, steps=4, warmup=1)
    rows = bench.measure_group(group, "fp32", config, torch.device("cpu"))
    ours, theirs = "fcn-resnet50", "tv:fcn_resnet50"
    assert calls == [ours, theirs] + [ours, theirs, theirs, ours, ours, theirs, theirs, ours]
    assert [row["steps"] for row in rows] == [4, 4]
    assert rows[0]["milliseconds_per_step"] == 1000.0 and rows[0]["spread"] == 0.0  # every fake step took 1 s
    assert bench._groups([theirs, "unet", ours], known) == [[known[ours], known[theirs]], [known["unet"]]]


def test_models_with_options_can_be_benchmarked():
    entry = bench._configured("deeplabv2[backbone=resnet18;rates=(2, 4);width=0.125]")
    model = entry.build(3)
    assert [branch.dilation for branch in model.head] == [(2, 2), (4, 4)] and model.build_spec["options"]["width"] == 0.125
    with pytest.raises(ValueError, match=r"write NAME\[key=value;key=value\]"):
        bench._configured("deeplabv2[rates=2")


def test_crf_benchmark_reports_ours_and_compares_when_the_peer_is_there(capsys):
    lines = []
    report = bench.crf_benchmark(image_size=(24, 32), frames=1, iterations=2, repeats=1, log=lines.append)
    assert report["segedu_seconds"] > 0 and "segedu (lattice)" in lines[0]
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        assert "pydensecrf is not installed" in lines[1] and "ratio" not in report
    else:
        assert report["ratio"] > 0 and min(report["label_agreement"]) > 0.99
