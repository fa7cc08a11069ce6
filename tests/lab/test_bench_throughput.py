"""Training throughput (segedu.lab.bench.throughput): FLOP counts agree with torchvision's published operation counts,
the GPU peak table holds the vendors' published figures and picks bf16 or TF32, MFU is 3 x FLOPs x images/s / peak,
ratios pair the right models, pairs are timed in turns and summarised by their median, and the table's format.

Every expected figure here comes from outside the code under test: a vendor's datasheet, torchvision's model cards,
or arithmetic done by hand on made-up numbers."""

from types import SimpleNamespace

import pytest
import torch
import torchvision

from segedu.lab.bench import throughput
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


# Dense (no sparsity) tensor-core peaks in FLOP/s, (bf16, tf32), for the name torch.cuda.get_device_name reports.
# Copied from NVIDIA's datasheets, which print most figures "with sparsity" (2:4), twice the dense rate; those are
# halved here. The vendors round to whole TFLOP/s, hence the 0.2% tolerance below.
DATASHEETS = [
    # NVIDIA H100 Tensor Core GPU datasheet, H100 SXM: BF16 1,979 TFLOPS*, TF32 989 TFLOPS* (* with sparsity)
    pytest.param("NVIDIA H100 80GB HBM3", 1979e12 / 2, 989e12 / 2, id="H100 SXM"),
    # the same datasheet, H100 PCIe: BF16 1,513 TFLOPS*, TF32 756 TFLOPS*
    pytest.param("NVIDIA H100 PCIe", 1513e12 / 2, 756e12 / 2, id="H100 PCIe"),
    # NVIDIA H200 Tensor Core GPU datasheet, H200 SXM: BF16 1,979 TFLOPS*, TF32 989 TFLOPS*
    pytest.param("NVIDIA H200", 1979e12 / 2, 989e12 / 2, id="H200 SXM"),
    # NVIDIA A100 Tensor Core GPU datasheet: BF16 312 TFLOPS | 624 TFLOPS*, TF32 156 TFLOPS | 312 TFLOPS*
    pytest.param("NVIDIA A100-SXM4-80GB", 312e12, 156e12, id="A100"),
    # NVIDIA L4 Tensor Core GPU datasheet: BF16 242 TFLOPS*, TF32 120 TFLOPS*
    pytest.param("NVIDIA L4", 242e12 / 2, 120e12 / 2, id="L4"),
    # NVIDIA L40S datasheet: BF16 362.05 | 733 TFLOPS*, TF32 183 | 366 TFLOPS*
    pytest.param("NVIDIA L40S", 362.05e12, 183e12, id="L40S"),
    # NVIDIA L40 datasheet: BF16 181.05 | 362.1 TFLOPS*, TF32 90.5 | 181 TFLOPS*
    pytest.param("NVIDIA L40", 181.05e12, 90.5e12, id="L40"),
    # NVIDIA H200 NVL (same datasheet as the H200): BF16 1,671 TFLOPS*, TF32 835 TFLOPS*
    pytest.param("NVIDIA H200 NVL", 1671e12 / 2, 835e12 / 2, id="H200 NVL"),
    # The A10G in PEAKS has no NVIDIA datasheet (an AWS-only part), so it is not checked here.
]


@pytest.mark.parametrize("device_name,bf16,tf32", DATASHEETS)
def test_peaks_are_the_datasheets_dense_figures(monkeypatch, device_name, bf16, tf32):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: device_name)
    cuda = torch.device("cuda", 0)
    assert throughput.peak_flops(cuda, "bf16") == pytest.approx(bf16, rel=2e-3)
    assert throughput.peak_flops(cuda, "fp32") == pytest.approx(tf32, rel=2e-3)


def test_unknown_devices_have_no_peak_unless_one_is_given(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Some Future GPU")
    cuda = torch.device("cuda", 0)
    assert throughput.peak_flops(cuda, "bf16") is None and throughput.peak_flops(cuda, "bf16", 100.0) == 100e12
    assert throughput.peak_flops(torch.device("cpu"), "fp32") is None
    assert throughput.peak_flops(torch.device("cpu"), "fp32", 2.5) == 2.5e12


def fake_measurements(monkeypatch, images_per_second: dict[str, float], forward_flops: float):
    """run_bench without timing anything: every entry runs at the given images/s and costs `forward_flops`; the
    device runs every mode natively (skipping the others is tests/lab/test_bench_modes.py's)."""
    monkeypatch.setattr(throughput, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(throughput, "_triton_present", lambda: True)
    monkeypatch.setattr(throughput, "_forward_flops", lambda entry, config: forward_flops)
    monkeypatch.setattr(throughput, "measure_group", lambda group, mode, config, device: [
        {"model": entry.name, "mode": mode, "images_per_second": images_per_second[entry.name],
         "peak_memory_gib": None, "spread": 0.0} for entry in group])


def test_mfu_is_three_times_the_forward_flops_times_images_per_second_over_the_peak(monkeypatch):
    # forward 2 GFLOP per image, 100 images/s, peak 1.2 TFLOP/s: 3 * 2e9 * 100 / 1.2e12 = 0.5
    fake_measurements(monkeypatch, {"unet": 100.0}, 2e9)
    config = throughput.BenchConfig(device="cpu", models=("unet",), modes=("fp32", "bf16"), peak_tflops=1.2)
    rows = throughput.run_bench(config, log=lambda line: None)
    assert [row["mode"] for row in rows] == ["fp32", "bf16"]
    assert [row["mfu"] for row in rows] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert rows[0]["forward_gflops_per_image"] == pytest.approx(2.0)


def test_mfu_takes_the_bf16_peak_for_bf16_and_the_tf32_peak_for_fp32(monkeypatch):
    # an A100 (datasheet: 312 TFLOP/s bf16, 156 TF32), 2 GFLOP per image at 1300 images/s: 3 * 2e9 * 1300 = 7.8e12
    # FLOP/s, so MFU 7.8 / 312 = 0.025 under bf16 and 7.8 / 156 = 0.05 under fp32 (TF32)
    fake_measurements(monkeypatch, {"unet": 1300.0}, 2e9)
    monkeypatch.setattr(throughput, "resolve_device", lambda name: torch.device("cuda", 0))
    monkeypatch.setattr(throughput, "Runtime", lambda device: SimpleNamespace(setup=lambda: None))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-80GB")
    modes = ("fp32", "bf16", "fp32+channels_last", "bf16+channels_last+compile")
    config = throughput.BenchConfig(device="cuda", models=("unet",), modes=modes)
    mfu = {row["mode"]: row["mfu"] for row in throughput.run_bench(config, log=lambda line: None)}
    assert mfu == {"fp32": pytest.approx(0.05), "bf16": pytest.approx(0.025),
                   "fp32+channels_last": pytest.approx(0.05), "bf16+channels_last+compile": pytest.approx(0.025)}


def test_ratio_is_ours_over_torchvision_at_the_same_setting(monkeypatch):
    # ours 100 images/s, torchvision's 80: ratio 1.25 on our row, none on theirs nor on a model without a counterpart
    fake_measurements(monkeypatch, {"deeplabv3-mobilenet": 100.0, "tv:deeplabv3_mobilenet_v3_large": 80.0,
                                    "unet": 50.0}, 1e9)
    config = throughput.BenchConfig(device="cpu", modes=("fp32", "bf16"),
                                    models=("unet", "tv:deeplabv3_mobilenet_v3_large", "deeplabv3-mobilenet"))
    rows = {(row["model"], row["mode"]): row for row in throughput.run_bench(config, log=lambda line: None)}
    for mode in ("fp32", "bf16"):
        ours, theirs = rows["deeplabv3-mobilenet", mode], rows["tv:deeplabv3_mobilenet_v3_large", mode]
        assert ours["versus"] == "tv:deeplabv3_mobilenet_v3_large" and ours["ratio"] == pytest.approx(1.25)
        assert theirs["ratio"] is None and rows["unet", mode]["ratio"] is None
        assert ours["mfu"] is None  # a CPU without --peak-tflops: no peak, no MFU


def test_rows_pair_ours_with_torchvision_at_the_same_setting():
    """A real (tiny) run on the CPU: the pair is measured, the CPU has no peak memory nor MFU, and the two models of
    the same family and size count forward FLOPs within 25% of each other."""
    config = throughput.BenchConfig(device="cpu", image_size=(32, 48), batch_size=2, steps=1, warmup=0,
                                    modes=("fp32",),
                                    models=("deeplabv3-mobilenet", "tv:deeplabv3_mobilenet_v3_large", "unet"))
    rows = {row["model"]: row for row in throughput.run_bench(config, log=lambda line: None)}
    ours, theirs = rows["deeplabv3-mobilenet"], rows["tv:deeplabv3_mobilenet_v3_large"]
    assert ours["versus"] == "tv:deeplabv3_mobilenet_v3_large" and ours["ratio"] > 0
    assert rows["unet"]["ratio"] is None and theirs["ratio"] is None
    assert all(row["mfu"] is None and row["peak_memory_gib"] is None for row in rows.values())
    assert ours["forward_gflops_per_image"] == pytest.approx(theirs["forward_gflops_per_image"], rel=0.25)
    with pytest.raises(ValueError, match="unknown bench model"):
        throughput.run_bench(throughput.BenchConfig(device="cpu", models=("resnet9000",)))


def test_pairs_are_timed_in_turns_and_summarised_by_their_median(monkeypatch):
    """Each fake step advances a fake clock by a chosen duration. Ours takes 0.4, 0.1, 0.2, 5.0, 0.3 s in its timed
    steps: median 0.3 s (the mean, 1.2 s, or the minimum, 0.1 s, would give other figures), quartiles 0.2 and 0.4 s,
    so spread (0.4 - 0.2) / 0.3 = 2/3 and 2 images / 0.3 s = 6.67 images/s. Theirs: 2.0, 1.0, 3.0, 1.5, 2.5 s, median
    2.0 s, quartiles 1.5 and 2.5 s, spread 0.5, 1 image/s. The untimed warm-up steps take 7 s (ours) and 4 s."""
    ours, theirs = "fcn-resnet50", "tv:fcn_resnet50"
    durations = {ours: iter([7.0, 0.4, 0.1, 0.2, 5.0, 0.3]), theirs: iter([4.0, 2.0, 1.0, 3.0, 1.5, 2.5])}
    now, calls = [0.0], []

    def fake_trainer(entry, mode, config, device):
        def step():
            calls.append(entry.name)
            now[0] += next(durations[entry.name])
        return step

    monkeypatch.setattr(throughput, "_trainer", fake_trainer)
    monkeypatch.setattr(throughput, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    known = {entry.name: entry for entry in throughput.entries()}
    config = throughput.BenchConfig(device="cpu", batch_size=2, steps=5, warmup=1)
    rows = throughput.measure_group([known[ours], known[theirs]], "fp32", config, torch.device("cpu"))
    assert calls == [ours, theirs] + [ours, theirs, theirs, ours, ours, theirs, theirs, ours, ours, theirs]
    assert [row["model"] for row in rows] == [ours, theirs] and [row["steps"] for row in rows] == [5, 5]
    assert rows[0]["milliseconds_per_step"] == pytest.approx(300.0)
    assert rows[0]["images_per_second"] == pytest.approx(2 / 0.3)
    assert rows[0]["spread"] == pytest.approx(2 / 3)
    assert rows[1]["milliseconds_per_step"] == pytest.approx(2000.0)
    assert rows[1]["images_per_second"] == pytest.approx(1.0) and rows[1]["spread"] == pytest.approx(0.5)
    assert rows[0]["warmup_seconds"] == pytest.approx(11.0) and rows[0]["peak_memory_gib"] is None
    assert throughput._groups([theirs, "unet", ours], known) == [[known[ours], known[theirs]], [known["unet"]]]


def test_models_with_options_can_be_benchmarked():
    entry = throughput._configured("deeplabv2[backbone=resnet18;rates=(2, 4);width=0.125]")
    model = entry.build(3)
    assert [branch.dilation for branch in model.head] == [(2, 2), (4, 4)] and model.build_spec["options"]["width"] == 0.125
    with pytest.raises(ValueError, match=r"write NAME\[key=value;key=value\]"):
        throughput._configured("deeplabv2[rates=2")


def test_table_rows_keep_their_columns():
    """The printed table, written out by hand: model (32 wide), setting (28), images/s, +- half the spread, peak
    memory, forward GFLOPs per image, MFU and the ratio; a dash where a figure is unknown."""
    row = {"model": "fcn-resnet50", "mode": "bf16", "images_per_second": 123.456, "spread": 0.1,
           "peak_memory_gib": 1.5, "forward_gflops_per_image": 12.34, "mfu": 0.4567, "ratio": 1.2345}
    assert throughput.format_row(row) == ("fcn-resnet50" + " " * 21 + "bf16" + " " * 25 +
                                          "   123.5 img/s +-  5%   1.50 GiB     12.3 GFLOPs  45.7%  1.23x")
    unknown = {**row, "peak_memory_gib": None, "mfu": None, "ratio": None, "spread": 0.0}
    assert throughput.format_row(unknown).endswith("img/s +-  0%          -     12.3 GFLOPs      -      -")
    title, header, rule, *rows = throughput.format_table([row, unknown], "CPU (2 threads)").split("\n")
    assert title == "training throughput on CPU (2 threads)"
    assert header.split() == ["model", "setting", "median", "throughput", "peak", "mem", "fwd/image", "MFU", "ours/tv"]
    assert rule == "-" * 124 == "-" * len(header)  # 32 + 28 + 20 + 10 + 15 + 6 + 7 columns and 6 spaces
    assert rows == [throughput.format_row(row), throughput.format_row(unknown)]


def test_ratio_agreement_across_runs():
    # one pair measured twice at ratios 0.8 and 1.0: spread 1.0 / 0.8 - 1 = 25% (the difference would be 20%)
    ours = {"model": "fcn-resnet50", "mode": "fp32"}
    theirs = {"model": "tv:fcn_resnet50", "mode": "fp32", "ratio": None}
    runs = [[{**ours, "ratio": 0.8}, theirs], [theirs, {**ours, "ratio": 1.0}]]  # rows in any order
    agreement = throughput.ratio_agreement(runs)
    assert agreement == [{**ours, "ratios": [0.8, 1.0], "spread": pytest.approx(0.25)}]
    lines = throughput.format_agreement(agreement).split("\n")
    assert lines[1].split() == ["fcn-resnet50", "fp32", "0.80", "1.00", "spread", "25.0%"]
    assert lines[-1] == "largest spread: 25.0%"
