"""Notebook 11's claims on stand-ins: the linear probes on levels of equal resolution (`segedu.lab.claims.transfer`),
and the cost half of the backbone claims (`segedu.lab.claims.transfer_backbones`), whose accuracy half is not
testable offline."""

from __future__ import annotations

import pytest
import torch

from segedu.lab import claims
from segedu.lab.claims import transfer_backbones


def _scores_with_errors(masks: torch.Tensor, wrong_every: int) -> "object":
    """Per-frame Scores of predictions equal to `masks` but for every `wrong_every`-th pixel, set to another class."""
    from segedu.lab.scoring import score_frames

    predictions = masks.clone().flatten()
    predictions[::wrong_every] = (predictions[::wrong_every] + 1) % 11
    return score_frames(predictions.view_as(masks), masks)


def _costs(dear: set[str], **overrides) -> dict:
    """Stub costs: the networks in `dear` cost 10 of everything, the others 5; `overrides` {"name": {key: value}}."""
    cost = {name: {key: 10.0 if name in dear else 5.0 for key in ("gflops", "milliseconds", "activation_megabytes")}
            | {"parameters": 1e6} for name in ("resnet10", "resnet18", "resnet26", "resnet50", "vgg16",
                                              "mobilenet_v3_large")}
    for name, values in overrides.items():
        cost[name].update(values)
    return cost


@pytest.mark.parametrize("overrides, verdict", [
    ({}, "holds"),                                                 # both cuts cheaper in every measure
    ({"resnet10": {"gflops": 11.0}}, "contradicted"),              # ResNet-10 more multiply-adds than ResNet-18
    ({"resnet26": {"milliseconds": 12.0}}, "contradicted"),        # ResNet-26 slower than ResNet-50
    ({"resnet26": {"activation_megabytes": 10.0}}, "contradicted"),  # as much memory: not cheaper
])
def test_truncated_resnets_cost_half_holds_only_when_each_cut_is_cheaper_in_every_measure(monkeypatch, overrides,
                                                                                         verdict):
    asked = []
    monkeypatch.setattr(transfer_backbones, "backbone_costs",
                        lambda names: asked.append(list(names)) or _costs({"resnet18", "resnet50"}, **overrides))
    outcome = claims.truncated_resnets(claims.Lab(seeds=(0,)))
    assert asked == [["resnet10", "resnet18", "resnet26", "resnet50"]]
    assert outcome.verdict == verdict and outcome.interval is None and outcome.seeds == ()  # exact: no seeds
    assert "not testable offline" in outcome.summary  # the report's verdict; the summary says how the cost half went
    assert outcome.summary.endswith("the cost half holds" if verdict == "holds" else "the cost half is contradicted")
    assert ("resnet10 50% of resnet18's multiply-adds" in outcome.summary) is ("resnet10" not in overrides)


@pytest.mark.parametrize("overrides, failed", [
    ({}, None),                                                                 # as the lecture says
    ({"mobilenet_v3_large": {"milliseconds": 11.0}}, "ResNet-50 not the slowest, MobileNetV3 not the cheapest"),
    ({"vgg16": {"activation_megabytes": 4.0}}, "MobileNetV3 not the cheapest"),  # VGG-16 keeps less
    ({"vgg16": {"milliseconds": 12.0}}, "ResNet-50 not the slowest"),           # VGG-16 slower than ResNet-50
])
def test_backbones_accuracy_cost_half_needs_resnet_slowest_and_mobilenet_cheapest(monkeypatch, overrides, failed):
    """The lecture: ResNet slower than VGG-16 and MobileNet, MobileNet much faster. Stub costs: MobileNetV3 5,
    VGG-16 10 but 8 ms, ResNet-50 10."""
    asked = []
    costs = _costs({"resnet50", "vgg16"}, vgg16={"milliseconds": 8.0})
    for name, values in overrides.items():
        costs[name].update(values)
    monkeypatch.setattr(transfer_backbones, "backbone_costs", lambda names: asked.append(list(names)) or costs)
    outcome = claims.backbones_accuracy(claims.Lab(seeds=(0,)))
    assert asked == [["vgg16", "resnet50", "mobilenet_v3_large"]]
    assert outcome.verdict == ("holds" if failed is None else "contradicted")
    assert "not testable offline" in outcome.summary  # the report's verdict; the summary says how the cost half went
    assert outcome.summary.endswith("the cost half holds" if failed is None
                                    else f"the cost half is contradicted ({failed})")


def test_backbone_costs_measure_each_network_once_at_360x480(monkeypatch):
    """The cost measurement is `segedu.measure`'s (tested there), stubbed: each name's own network, one frame."""
    from types import SimpleNamespace

    from segedu import measure

    measured = []
    monkeypatch.setattr(measure, "measure", lambda model, size, **options: measured.append(
        (model.name, size, options["batch_size"])) or SimpleNamespace(gflops=1.0, milliseconds=2.0,
                                                                    activation_megabytes=3.0, parameters=4))
    cost = transfer_backbones.backbone_costs(["resnet10", "mobilenet_v3_large"])
    assert measured == [("resnet10", (360, 480), 1), ("mobilenet_v3_large", (360, 480), 1)]
    assert cost["resnet10"] == {"gflops": 1.0, "milliseconds": 2.0, "activation_megabytes": 3.0, "parameters": 4}


def test_the_lab_routes_the_probes_to_levels_3_to_5_at_output_stride_8(monkeypatch):
    """`linear_probe_depth`'s probes read every level on one grid (`Lab.stride8_levels`: the dilated encoder, levels
    3-5, train and test); the stride-32 probes of `hypercolumn_levels` and the other heads keep their caches."""
    built = []
    monkeypatch.setattr(claims.Lab, "features", lambda self, split, *, size=None, output_stride=32, levels=(
        "level3", "level4", "level5"): built.append((split, output_stride, tuple(levels))) or f"{split}@{output_stride}")
    lab = claims.Lab(seeds=(0,))
    assert lab.caches("probe4") == {"train": "train@8", "test": "test@8"}
    assert built == [("train", 8, ("level3", "level4", "level5")), ("test", 8, ("level3", "level4", "level5"))]
    assert all(lab.caches(kind) is lab.stride8_levels for kind in ("probe3", "probe4", "probe5"))
    assert all(lab.caches(kind) is lab.stride32 for kind in ("linear3", "linear4", "linear5", "fcn8s", "hypercolumn"))
    assert lab.caches("plain") is lab.stride8 and lab.stride8 is not lab.stride8_levels
    assert ("val", 8, ("level5",)) in built  # Lab.stride8 as it was: level 5 alone, with its validation split


@pytest.mark.parametrize("order, verdict", [(("probe5", "probe4", "probe3"), "holds"),
                                            (("probe3", "probe4", "probe5"), "contradicted")])
def test_the_linear_probe_claim_ranks_the_equal_resolution_probes(order, verdict):
    """linear_probe_depth on a stand-in lab: it asks for the three output-stride-8 probes only, and ranks level 5
    over level 4 over level 3. `order` is the stand-in's truth, best first."""
    from types import SimpleNamespace

    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 11, (12, 16, 16), generator=generator)
    errors = dict(zip(order, (1000, 5, 2)))  # the best arm nearly right, the worst with half its pixels wrong
    asked = []
    lab = SimpleNamespace(runs=lambda kind: asked.append(kind) or [_scores_with_errors(masks, errors[kind])
                                                                   for _ in range(2)],
                          test_blocks=lambda: torch.arange(12) // 3, config=SimpleNamespace(seeds=(0, 1)))
    outcome = claims.linear_probe_depth(lab)
    assert set(asked) == {"probe3", "probe4", "probe5"}
    steps = outcome.numbers["steps"]
    assert list(steps) == ["probe5 - probe4", "probe4 - probe3"]
    assert outcome.verdict == verdict and all(s["verdict"] == verdict for s in steps.values())
    assert all((s["seeds"], s["blocks"]) == (2, 4) for s in steps.values())


def _small_classes_missed(masks: torch.Tensor, every: int) -> "object":
    """Per-frame Scores of predictions equal to `masks` but for every `every`-th pixel of the small classes (Pole,
    SignSymbol, Pedestrian), given to Road instead (every 1: all of them missed)."""
    from segedu.data.classes import CAMVID_THIN
    from segedu.lab.scoring import score_frames

    predictions = masks.clone()
    small = torch.isin(masks, torch.tensor(CAMVID_THIN)).flatten().nonzero().flatten()
    predictions.view(-1)[small[::every]] = 3
    return score_frames(predictions, masks)


@pytest.mark.parametrize("large_misses, compromise_misses, large_cost, verdict", [
    (1000, 2, 2.2, "holds"),          # the large input finds the small classes the compromise misses, and costs more
    (2, 1000, 2.2, "contradicted"),   # the large input misses them instead
    (1000, 2, 1.2, "contradicted"),   # better, but not costlier: the cost condition fails whatever the interval
])
def test_the_small_objects_input_size_claim_judges_the_small_classes_and_the_cost(
        monkeypatch, large_misses, compromise_misses, large_cost, verdict):
    from types import SimpleNamespace

    import segedu.measure
    import segedu.models
    from segedu.lab.claims import transfer_input_size

    generator = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 11, (12, 16, 16), generator=generator)
    misses = dict(zip(transfer_input_size.LECTURE_SIZES, (compromise_misses, large_misses)))
    asked = []
    lab = SimpleNamespace(scores_at_size=lambda kind, seed, size: asked.append((kind, size))
                          or _small_classes_missed(masks, misses[size]),
                          test_blocks=lambda: torch.arange(12) // 3, config=SimpleNamespace(seeds=(0, 1)))
    monkeypatch.setattr(segedu.models, "build_model", lambda *arguments, **options: None)
    monkeypatch.setattr(segedu.measure, "measure", lambda network, size, **options: SimpleNamespace(
        activation_megabytes=2.0 * (large_cost if size == (540, 720) else 1.0),
        milliseconds=20.0 * (large_cost if size == (540, 720) else 1.0)))
    outcome = claims.input_size_small_objects(lab)
    assert {size for _, size in asked} == {(360, 480), (540, 720)} and {kind for kind, _ in asked} == {"fcn8s"}
    assert outcome.verdict == verdict
    small = outcome.numbers["steps"]["small classes"]
    # half the small classes' pixels missed: about half their IoU, a far smaller share of all 11 classes' mean
    assert (small["effect"] > 0.4) is (compromise_misses == 2)
    assert abs(outcome.numbers["steps"]["mIoU"]["effect"]) < 0.3
    assert (small["seeds"], small["blocks"]) == (2, 4)
    assert outcome.numbers["cost_ratios"] == {"memory": pytest.approx(large_cost), "latency": pytest.approx(large_cost)}


def test_the_lab_computes_each_features_cache_once_and_at_size_shares_them(monkeypatch):
    """`Lab.features` builds one FeatureCache per split, size, output stride and levels: the enlarged test frames of
    `fcn_field_enlarged` and `at_size`'s are the same object, and the configured size is `stride32` itself."""
    from segedu.lab import frozen

    made = []

    class Built:
        def __init__(self, data, split, *, image_size, output_stride, levels, backbone):
            made.append((split, tuple(image_size), output_stride, tuple(levels)))
            assert backbone == "efficientnet_lite0"  # the lab's encoder, Lite0 unless named

    monkeypatch.setattr(frozen, "FeatureCache", Built)
    lab = claims.Lab(seeds=(0,))
    test = lab.features("test", size=(360, 480))
    assert lab.features("test", size=(360, 480)) is test and lab.at_size((360, 480))["test"] is test
    levels = ("level3", "level4", "level5")
    assert made == [("test", (360, 480), 32, levels), ("train", (360, 480), 32, levels)]
    assert lab.at_size((180, 240)) is lab.stride32 and lab.stride32["train"] is lab.features("train")
