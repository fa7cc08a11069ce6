"""Settings the processor lacks natively (issue #28 item 5): `bench --device cpu` skips bf16 where the CPU has neither
AVX-512 BF16 nor AMX, with one line naming the processor and why, and runs it with a warning when --modes names it;
torch.compile is skipped where it cannot run; and the loader-fed training run reports its time waiting for data.
The feature detection is replaced by a stand-in, so these run the same on any processor."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from segedu.__main__ import main
from segedu.lab.bench import cli, pipeline, throughput

CPU = "AMD EPYC 7B13"
SKIP = (f"bf16 skipped: this CPU ({CPU}) has no AVX-512 BF16 or AMX, so bf16 would be emulated, slower than fp32 "
        f"(over 20 minutes for the quick bench on such a processor); name it in --modes to measure it anyway")


@pytest.fixture
def measured(monkeypatch) -> list[str]:
    """The bench without timing anything; returns the modes it measured, in order."""
    modes = []

    def measure_group(group, mode, config, device):
        modes.append(mode)
        return [{"model": entry.name, "mode": mode, "images_per_second": 10.0, "peak_memory_gib": None,
                 "spread": 0.0} for entry in group]

    monkeypatch.setattr(throughput, "measure_group", measure_group)
    monkeypatch.setattr(throughput, "_forward_flops", lambda entry, config: 1e9)
    monkeypatch.setattr(throughput, "cpu_name", lambda: CPU)
    monkeypatch.setattr(cli, "cpu_name", lambda: CPU)
    return modes


def native_bf16(monkeypatch, native: bool) -> None:
    monkeypatch.setattr(throughput, "cpu_has_native_bf16", lambda: native)


def test_quick_bench_skips_emulated_bf16_with_one_line(monkeypatch, measured, tmp_path, capsys):
    """On a CPU without native bf16, `bench --device cpu --quick` (modes fp32, bf16, fp32+channels_last) prints the
    skip line once, measures only fp32 and fp32+channels_last, and the JSON names what was skipped and why."""
    native_bf16(monkeypatch, False)
    output = tmp_path / "bench.json"
    assert main(["bench", "--device", "cpu", "--quick", "--models", "unet", "--repeat", "2",
                 "--output", str(output)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed.count(SKIP) == 1 and printed[0].startswith(f"segedu bench on {CPU} (")
    assert measured == ["fp32", "fp32+channels_last"] * 2
    report = json.loads(output.read_text())
    assert report["skipped"] == {"bf16": SKIP.split(": ", 1)[1].split("; name it")[0]}
    assert {row["mode"] for row in report["rows"]} == {"fp32", "fp32+channels_last"}


def test_bf16_named_in_modes_runs_anyway_with_a_warning(monkeypatch, measured, capsys):
    native_bf16(monkeypatch, False)
    assert main(["bench", "--device", "cpu", "--quick", "--models", "unet", "--modes", "fp32,bf16"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert measured == ["fp32", "bf16"] and not any("skipped" in line for line in printed)
    assert (f"bf16 warning: this CPU ({CPU}) has no AVX-512 BF16 or AMX, so bf16 would be emulated, slower than fp32 "
            f"(over 20 minutes for the quick bench on such a processor); measured anyway, since --modes names it"
            ) in printed


def test_a_cpu_with_native_bf16_measures_it_without_a_word(monkeypatch, measured, capsys):
    native_bf16(monkeypatch, True)
    assert main(["bench", "--device", "cpu", "--quick", "--models", "unet"]) == 0
    assert measured == ["fp32", "bf16", "fp32+channels_last"]
    assert not any(word in capsys.readouterr().out for word in ("skipped", "warning"))


def test_run_bench_logs_the_same_lines_from_python(monkeypatch, measured):
    native_bf16(monkeypatch, False)
    lines = []
    config = throughput.BenchConfig(device="cpu", models=("unet",), modes=("bf16+channels_last", "fp32"))
    rows = throughput.run_bench(config, log=lines.append)
    assert [row["mode"] for row in rows] == ["fp32"] and lines[0] == SKIP.replace("bf16 skipped", "bf16+channels_last "
                                                                                 "skipped", 1)


def test_torch_compile_is_skipped_where_it_cannot_run(monkeypatch):
    """On the CPU: skipped (named: run, with a warning), and skipped even when named if there is no C++ compiler; on
    a GPU without Triton: skipped even when named."""
    native_bf16(monkeypatch, True)
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    modes = ("fp32", "fp32+compile")
    monkeypatch.setattr(throughput, "_compiler_present", lambda: True)
    run, skipped, lines = throughput.mode_plan(throughput.BenchConfig(device="cpu", modes=modes), cpu)
    assert run == ["fp32"] and skipped == {"fp32+compile": "torch.compile is measured on the GPU only (on the CPU it "
                                                           "compiles for minutes per model)"}
    assert lines == [f"fp32+compile skipped: {skipped['fp32+compile']}; name it in --modes to measure it anyway"]
    named = throughput.BenchConfig(device="cpu", modes=modes, force_modes=True)
    run, skipped, lines = throughput.mode_plan(named, cpu)
    assert run == list(modes) and not skipped and lines[0].startswith("fp32+compile warning: ")
    monkeypatch.setattr(throughput, "_compiler_present", lambda: False)
    run, skipped, lines = throughput.mode_plan(named, cpu)
    assert run == ["fp32"] and lines == ["fp32+compile skipped: torch.compile on the CPU needs a C++ compiler (g++ or "
                                         "clang++) and none was found"]
    monkeypatch.setattr(throughput, "_triton_present", lambda: False)
    run, skipped, _ = throughput.mode_plan(throughput.BenchConfig(device="cuda", modes=modes, force_modes=True), cuda)
    assert run == ["fp32"] and skipped == {"fp32+compile": "torch.compile on the GPU needs Triton and it is not "
                                                           "installed"}
    monkeypatch.setattr(throughput, "_triton_present", lambda: True)
    assert throughput.mode_plan(throughput.BenchConfig(device="cuda", modes=modes), cuda)[0] == list(modes)


class SlowCamVid(torch.utils.data.Dataset):
    """12 tiny samples, each taking 1 s of a fake clock to load."""

    def __init__(self, clock):
        self.clock = clock

    def __len__(self):
        return 12

    def __getitem__(self, index):
        self.clock[0] += 1.0
        return torch.zeros(3, 16, 16), torch.zeros(16, 16, dtype=torch.long)


def test_the_fed_run_counts_the_time_spent_waiting_for_data(monkeypatch):
    """Batches of 2 load in 2 s (1 s a sample) and each training step takes 3 s of the same fake clock: 2 of every
    5 s are spent waiting, a fraction of 0.4, and 2 images per 5 s make 0.4 images/s. 12 samples make 6 batches:
    the first is untimed, so at most 5 are timed; asked for 3, 3 are."""
    clock, steps = [0.0], []

    def train_step(model, optimizer, images, masks, objective, *, runtime):
        steps.append(images.shape)
        clock[0] += 3.0

    monkeypatch.setattr("segedu.data.build_dataset", lambda name, split, *, image_size, augment: SlowCamVid(clock))
    monkeypatch.setattr(pipeline, "train_step", train_step)
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    runtime = throughput.mode_runtime("fp32", torch.device("cpu"))
    build = lambda num_classes: torch.nn.Conv2d(3, num_classes, 1)  # noqa: E731
    lines = []
    rows = pipeline.fed_training(build, runtime, image_size=(16, 16), batch_size=2, workers=(0,), steps=40,
                                 log=lines.append)
    assert rows == [{"workers": 0, "steps": 5, "images_per_second": pytest.approx(0.4),
                     "data_wait_fraction": pytest.approx(0.4)}]
    assert len(steps) == 6 and lines == ["fed by the loader: workers 0:      0.4 img/s,  40% of the time waiting for data"]
    rows = pipeline.fed_training(build, runtime, image_size=(16, 16), batch_size=2, workers=(0,), steps=3,
                                 log=lambda line: None)
    assert rows[0]["steps"] == 3 and rows[0]["data_wait_fraction"] == pytest.approx(0.4)
