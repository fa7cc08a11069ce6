"""Notebook 07's experiments (`segedu.lab.claims.fcn`) on stand-ins: objects by size, lost and fragmented, against
measured receptive fields."""

from __future__ import annotations

import pytest
import torch

from segedu.lab import claims


def test_object_statistics_bin_objects_by_size_and_count_lost_and_fragmented_pixels():
    masks = torch.zeros(2, 100, 120, dtype=torch.long)
    masks[0, 0:10, 0:10] = 8  # a small car (100 px)
    masks[0, 20:40, 20:40] = 9  # a medium pedestrian (400 px)
    masks[1, 20:90, 30:100] = 8  # a large car (4900 px)
    masks[1, 0:1, 0:3] = 2  # 3 px of pole: too small to count
    predictions = masks.clone()
    predictions[0, 0:10, 0:10] = 0  # the small car lost
    predictions[1, 20:55, 30:100] = 3  # the large car's top half labelled road: fragmented, recall 0.5
    statistics, regions = claims.object_statistics(predictions, masks, classes=(2, 8, 9), bounds=(256, 4096))
    small, medium, large = statistics[0, 0], statistics[0, 1], statistics[1, 2]
    assert small.tolist() == [0.0, 1.0, 0.0] and medium.tolist() == [1.0, 1.0, 0.0]
    assert large.tolist() == [0.5, 1.0, 1.0]
    assert statistics.sum().item() == small.sum() + medium.sum() + large.sum()  # nothing else counted
    again, _ = claims.object_statistics(predictions, masks, classes=(2, 8, 9), bounds=(256, 4096), regions=regions)
    assert torch.equal(again, statistics)


@pytest.mark.parametrize("lecture", [True, False])
def test_the_object_size_claim_judges_size_against_each_heads_measured_field(monkeypatch, lecture):
    """fcn_object_sizes on a stand-in lab with fields of 12 and 40 px (bins: below 144 px, below 1600 px, above).
    As the lecture says: the small-field head (probe3) breaks the objects that outgrow its field and keeps the
    small ones; the large-field head (probe5) keeps the larger objects whole and loses the small ones. Swapped,
    both interactions reverse and the claim is contradicted."""
    from types import SimpleNamespace

    from segedu.lab import frozen
    from segedu.lab.claims import fcn

    generator = torch.Generator().manual_seed(0)
    masks = torch.zeros(6, 100, 120, dtype=torch.long)
    for frame in range(6):
        top = int(torch.randint(0, 10, (1,), generator=generator))
        masks[frame, top:top + 8, 0:8] = 9  # a pedestrian of 64 px: within the small field
        masks[frame, 30:50, 10:30] = 8  # a car of 400 px: between the fields
        masks[frame, 40:90, 50:100] = 8  # a car of 2500 px: beyond both, reported only
    broken = masks.clone()
    broken[:, 30:40, 10:30] = 3  # the 400 px cars' top halves labelled road
    broken[:, 40:65, 50:100] = 3  # and the 2500 px cars'
    lost = masks.clone()
    lost[:, 0:20, 0:8] = 0  # the pedestrians lost to the sky
    predictions = {"probe3": broken, "probe5": lost} if lecture else {"probe3": lost, "probe5": broken}
    monkeypatch.setattr(frozen, "predict_head", lambda head, cache: torch.nn.functional.one_hot(
        predictions[head], 11).permute(0, 3, 1, 2).float())
    fields = {"probe3": {"level": "level3", "theoretical": 67, "effective": 12},
              "probe5": {"level": "level5", "theoretical": 851, "effective": 40}}
    monkeypatch.setattr(fcn, "receptive_fields", lambda lab: fields)
    asked = []
    lab = SimpleNamespace(caches=lambda kind: asked.append(kind) or {"test": SimpleNamespace(masks=masks)},
                          head=lambda kind, seed: kind, config=SimpleNamespace(seeds=(0, 1)),
                          test_blocks=lambda: torch.arange(6) // 2)
    outcome = claims.fcn_object_sizes(lab)
    assert set(asked) <= {"probe3"} and outcome.numbers["fields"] == fields
    assert outcome.numbers["bounds"] == [144, 1600]  # areas: the squares of the effective fields
    table = outcome.numbers["table"]
    assert all(table[kind][size]["objects"] == 6 for kind in table for size in ("within", "between", "beyond"))
    small, large = ("probe3", "probe5") if lecture else ("probe5", "probe3")  # the head that breaks, that loses
    assert table[small]["between"] == {"recall": 0.5, "fragmented": 1.0, "objects": 6}
    assert table[small]["within"]["recall"] == 1.0 and table[large]["within"]["recall"] == 0.0
    assert table[large]["between"]["fragmented"] == 0.0 and table[large]["beyond"]["fragmented"] == 0.0
    steps = outcome.numbers["steps"]
    assert list(steps) == ["fragmented, between - within: probe3 - probe5", "recall, within - between: probe3 - probe5"]
    sign = 1 if lecture else -1
    # fragmented: (1 - 0) - (0 - 0) = 1; recall: (1 - 0.5) - (0 - 1) = 1.5; swapped, both negative
    assert [s["effect"] for s in steps.values()] == pytest.approx([sign * 1.0, sign * 1.5])
    assert outcome.effect == pytest.approx(sign * 1.0)
    verdict = "holds" if lecture else "contradicted"
    assert outcome.verdict == verdict and [s["verdict"] for s in steps.values()] == [verdict, verdict]
    assert all((s["seeds"], s["frames"], s["blocks"]) == (2, 6, 3) for s in steps.values())  # blocks of 2 frames
    per_bin = outcome.numbers["per_bin"]  # the simple differences, read but not judged
    assert per_bin["recall, within: probe3 - probe5"]["effect"] == pytest.approx(sign * 1.0)
    assert "verdict" not in per_bin["recall, within: probe3 - probe5"]


def test_the_theoretical_field_of_efficientnet_lite0_is_kept_by_dilation():
    """Written out by hand (r += (k - 1) * dilation * jump, jump *= stride): stem 3x3/2 -> 3; level 1's 3x3 -> 7;
    level 2's 3x3/2, 3x3 -> 11, 19; level 3's 5x5/2, 5x5 -> 35, 67; level 4's three 3x3 (the first /2) and three 5x5
    -> 83, 115, 147, 211, 275, 339; level 5's four 5x5 (the first /2) and one 3x3 -> 403, 531, 659, 787, 851. At
    output stride 8 the dilations replace the strides and the fields stay (DeepLab's atrous trick)."""
    from segedu.backbones import build_backbone
    from segedu.lab.claims import fcn

    for output_stride in (32, 8):
        encoder = build_backbone("efficientnet_lite0", output_stride=output_stride)
        fields = {level: fcn.theoretical_field(encoder, level) for level in ("level2", "level3", "level4", "level5")}
        assert fields == {"level2": 19, "level3": 67, "level4": 339, "level5": 851}, output_stride


@pytest.mark.parametrize("share, side", [(0.5, 3), (0.95, 5), (0.2, 1)])
def test_the_effective_field_is_the_square_holding_a_share_of_the_gradient_energy(share, side):
    """Two 3x3 all-ones convolutions: the centre's gradient is [1, 2, 3, 2, 1] along each axis, its energy the
    squares [1, 4, 9, 4, 1] (total 19 per axis): the central pixel holds 81 / 361 = 22%, the 3x3 square
    17^2 / 361 = 80%, the 5x5 square all of it."""
    from segedu.lab.claims import fcn

    class Stack(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = torch.nn.Conv2d(3, 1, 3, padding=1, bias=False)
            self.second = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
            for layer in (self.first, self.second):
                torch.nn.init.ones_(layer.weight)

        def forward(self, images):
            return {"level1": self.second(self.first(images))}

    images = torch.rand(3, 3, 15, 17, generator=torch.Generator().manual_seed(0))
    field = fcn.effective_field(Stack(), images, "level1", share=share)
    assert field["side"] == side and field["centre"] == (7, 8) and field["energy"].shape == (15, 17)
    assert (field["energy"] > 0).sum() == 25  # the theoretical field, 5x5


def test_the_measured_fields_of_the_pretrained_encoder_grow_with_depth(monkeypatch):
    """`receptive_fields` on a few stand-in frames: level 3's effective field lies inside its theoretical one
    (67 px) and is smaller than level 5's."""
    from segedu.lab.claims import fcn

    class Frames:  # the train cache of the probes, as `Lab.stride8_levels` holds it
        output_stride, backbone = 8, "efficientnet_lite0"
        images = (torch.rand(3, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)

        def __len__(self):
            return 3

    monkeypatch.setattr(fcn, "FIELD_FRAMES", 2)
    asked = []
    lab = type("StandIn", (), {"caches": lambda self, kind: asked.append(kind) or {"train": Frames()}})()
    fields = fcn.receptive_fields(lab)
    assert asked == ["probe3"] and list(fields) == ["probe3", "probe5"]
    assert [fields[kind]["level"] for kind in fields] == ["level3", "level5"]
    assert [fields[kind]["theoretical"] for kind in fields] == [67, 851]
    assert fields["probe3"]["effective"] <= 67 and fields["probe3"]["effective"] < fields["probe5"]["effective"]


def test_the_objects_are_the_same_regions_with_or_without_scipy(monkeypatch):
    """`object_statistics` finds objects with SciPy's labelling when it can and the library's otherwise: the same
    regions, so the same statistics."""
    import builtins

    from segedu.lab.claims import fcn

    generator = torch.Generator().manual_seed(3)
    masks = torch.randint(0, 3, (3, 24, 32), generator=generator)
    masks[:, 4:14, 6:20] = 2  # a large object beside the scattered small ones
    predictions = torch.randint(0, 3, (3, 24, 32), generator=generator)
    fast, _ = fcn.object_statistics(predictions, masks, classes=(1, 2), bounds=(20, 100))
    real_import = builtins.__import__

    def without_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("no scipy here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_scipy)
    slow, _ = fcn.object_statistics(predictions, masks, classes=(1, 2), bounds=(20, 100))
    torch.testing.assert_close(fast, slow)  # the same objects, summed in another order
    assert fast[..., 1].sum() > 0


def test_the_effective_field_of_a_whole_network_is_that_of_its_output_map():
    """With no level, the network's own output (N, K, h, w) is read: the same two all-ones 3x3 convolutions returning
    their map directly give the 5x5 theoretical field and a 3x3 square at half the energy."""
    from segedu.lab.claims import fcn

    network = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, padding=1, bias=False),
                                  torch.nn.Conv2d(2, 4, 3, padding=1, bias=False))
    for layer in network:
        torch.nn.init.ones_(layer.weight)
    images = torch.rand(2, 3, 15, 17, generator=torch.Generator().manual_seed(1))
    field = fcn.effective_field(network, images, share=0.5)
    assert field["side"] == 3 and field["centre"] == (7, 8) and (field["energy"] > 0).sum() == 25


def test_object_statistics_can_bin_by_extent():
    """A pole 3 px wide and 40 px tall: by area (120 px) in the middle bin of (50, 150), by extent (40 px, the
    longer side of its bounding box) in the last bin of (30, 40)."""
    masks = torch.zeros(1, 50, 20, dtype=torch.long)
    masks[0, 5:45, 8:11] = 2
    by_area, _ = claims.object_statistics(masks, masks, classes=(2,), bounds=(50, 150))
    by_extent, _ = claims.object_statistics(masks, masks, classes=(2,), bounds=(30, 40), extent=True)
    assert by_area[0, :, 1].tolist() == [0.0, 1.0, 0.0] and by_area[0, 1].tolist() == [1.0, 1.0, 0.0]
    assert by_extent[0, :, 1].tolist() == [0.0, 0.0, 1.0]  # rows 5 to 44: 40 px, at least the second bound


def test_enlarged_statistics_show_the_network_larger_frames_and_score_the_native_objects():
    """A stand-in network whose rule depends on the input's size: up to 40 px high it labels each pixel by the
    class its input encodes; on larger inputs it labels the top half road, so at 3x every object that crosses the
    middle is fragmented. The objects and their bins are those of the native masks at every scale: by extent,
    the car (10 px) in bin 1 of (5, 20) and the pedestrian (3 px) in bin 0, as they are and at 3x."""
    masks = torch.zeros(2, 30, 40, dtype=torch.long)
    masks[:, 10:20, 5:15] = 8  # a car of 10x10 px across the middle (row 15)
    masks[:, 0:3, 30:32] = 9  # a pedestrian of 3x2 px at the top
    images = torch.zeros(2, 3, 30, 40)
    images[:, 0] = masks.float() / 10  # the class, encoded in the red channel
    seen = []

    class Network(torch.nn.Module):
        def forward(self, batch):
            seen.append(tuple(batch.shape[-2:]))
            labels = (batch[:, 0] * 10).round().long().clamp(0, 10)
            if batch.shape[-2] > 40:
                labels[:, : batch.shape[-2] // 2] = 3
            return torch.nn.functional.one_hot(labels, 11).permute(0, 3, 1, 2).float() * 10

    statistics = claims.fcn.enlarged_statistics(Network(), images, masks, scales=(1, 3), bounds=(5, 20))
    assert set(seen) == {(30, 40), (90, 120)}
    assert statistics[1].sum(0).tolist() == [[2.0, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    assert statistics[3][:, :, 1].sum(0).tolist() == [2.0, 2.0, 0.0]
    cars, pedestrians = statistics[3][:, 1], statistics[3][:, 0]
    assert cars[:, 2].tolist() == [1.0, 1.0] and cars[:, 0].tolist() == pytest.approx([0.5, 0.5], abs=0.05)
    assert pedestrians[:, 0].tolist() == [0.0, 0.0]  # in the top half: lost at 3x
    only_cars = claims.fcn.enlarged_statistics(Network(), images, masks, scales=(1,), bounds=(5, 20), classes=(8,))
    assert only_cars[1][:, :, 1].sum(0).tolist() == [0.0, 2.0, 0.0]


@pytest.mark.parametrize("lecture", [True, False])
def test_the_enlarged_field_claim_judges_the_crossing_cars_against_the_control_cars(monkeypatch, lecture):
    """fcn_field_enlarged on a stand-in lab with a field of 40 px (groups by extent: 5-10 px control, 10-20 px
    crossing). As the lecture says: at 4x the crossing cars (14 px, past the field) lose their top halves and the
    control cars (7 px, inside it) keep all: the interaction is +50 points and the claim holds. Swapped (the control
    cars lose their top 3 rows of 7 instead), it is -43 points and the claim is contradicted."""
    from types import SimpleNamespace

    from segedu.lab import frozen
    from segedu.lab.claims import fcn_enlarged

    masks = torch.zeros(4, 40, 60, dtype=torch.uint8)
    masks[:, 2:9, 2:9] = 8  # a control car, 7 px
    masks[:, 20:34, 30:44] = 8  # a crossing car, 14 px
    masks[:, 36:38, 50:52] = 8  # a smaller car, 2 px: neither group
    broken = masks.long().clone()
    broken[:, 20:27, 30:44] = 3 if lecture else 8  # the crossing car's top half labelled road
    broken[:, 2:5, 2:9] = 8 if lecture else 3  # or the control car's
    predictions = {1: masks.long(), 2: masks.long(), 4: broken}
    monkeypatch.setattr(frozen, "predict_head", lambda head, cache, size: torch.nn.functional.one_hot(
        predictions[cache.scale], 11).permute(0, 3, 1, 2).float())
    monkeypatch.setattr(fcn_enlarged, "fcn8s_fields", lambda lab: [40, 38, 42])
    monkeypatch.setattr(fcn_enlarged, "enlarged_test_caches", lambda lab: {
        scale: SimpleNamespace(scale=scale) for scale in (2, 4)})
    trained = torch.zeros(1, 60, 80, dtype=torch.uint8)
    trained[0, 0:28, 0:28] = 8  # a training car of 28 px: the control cars' sizes at 4x (20 to 40 px)
    trained[0, 5:55, 30:80] = 8  # one of 50 px: the crossing cars' (40 to 80 px)
    lab = SimpleNamespace(config=SimpleNamespace(seeds=(0, 1, 2)), head=lambda kind, seed: (kind, seed),
                          stride32={"test": SimpleNamespace(masks=masks, scale=1), "train": SimpleNamespace(
                              masks=trained)}, test_blocks=lambda: torch.arange(4))
    outcome = fcn_enlarged.fcn_field_enlarged(lab)
    assert outcome.numbers["field"] == 40 and outcome.numbers["bounds"] == [5.0, 10.0, 20.0]
    assert outcome.verdict == ("holds" if lecture else "contradicted")
    assert outcome.effect == pytest.approx(7 / 14 if lecture else -3 / 7)  # the rows lost: 7 of 14, or 3 of 7
    table = outcome.numbers["table"]
    assert [table[group]["cars"] for group in ("smaller", "control", "crossing", "larger")] == [4, 4, 4, 0]
    assert table["crossing"]["4x"]["broken"] == (1.0 if lecture else 0.0)
    assert table["control"]["2x"]["recall"] == 1.0
    assert outcome.numbers["training_cars"] == {"smaller": 0, "control": 1, "crossing": 1, "larger": 0}


def test_the_enlarged_crops_are_windows_of_the_frames_enlarged_and_the_trained_sizes_claim_uses_its_own_heads(
        monkeypatch):
    """`enlarged_crops` on three stand-in frames: six 60x80 windows (one per frame at 2x, one at 4x) whose labels are
    windows of the enlarged masks, drawn by a generator of their own (the same crops on a second call). The claim
    then tests the heads trained with them, with their own fields, and counts the crops' cars as learned."""
    from types import SimpleNamespace

    from segedu.data import build_dataset
    from segedu.lab.claims import fcn_enlarged

    lab = SimpleNamespace(data="streets", subset={"train": 3}, config=SimpleNamespace(image_size=(60, 80)),
                          shared=lambda name, compute: compute(), backbone="efficientnet_lite0")
    crops = fcn_enlarged.enlarged_crops(lab)
    assert len(crops) == 6 and crops.image_size == (60, 80) and crops.masks.shape == (6, 60, 80)
    frames = build_dataset("streets", "train", image_size=(240, 320), subset=3)  # 4x
    generator = torch.Generator().manual_seed(fcn_enlarged.CROP_DRAW * 100_003 + 10 * 1 + 4)
    top = int(torch.randint(0, 240 - 60 + 1, (1,), generator=generator))
    left = int(torch.randint(0, 320 - 80 + 1, (1,), generator=generator))
    assert torch.equal(crops.masks[4].long(), frames[1][1][top:top + 60, left:left + 80].long())  # frame 1 at 4x
    assert torch.equal(fcn_enlarged.enlarged_crops(lab).masks, crops.masks)

    asked = {}
    monkeypatch.setattr(fcn_enlarged, "heads_on_enlarged_crops", lambda lab: {0: "trained on crops"})
    monkeypatch.setattr(fcn_enlarged, "enlarged_crops", lambda lab: SimpleNamespace(masks=torch.ones(2, 4, 4)))
    monkeypatch.setattr(fcn_enlarged, "fcn8s_fields", lambda lab, heads, name: asked.update(measured=heads) or [40])
    monkeypatch.setattr(fcn_enlarged, "_enlarged_outcome", lambda lab, heads, fields, masks, rule: asked.update(
        heads=heads, fields=fields, masks=masks.shape))
    native = SimpleNamespace(stride32={"train": SimpleNamespace(masks=torch.zeros(3, 4, 4))})
    fcn_enlarged.fcn_field_trained_sizes(native)
    assert asked == {"measured": {0: "trained on crops"}, "heads": {0: "trained on crops"}, "fields": [40],
                     "masks": (5, 4, 4)}  # the 3 frames' and the 2 crops' labels: what the heads learned from


@pytest.mark.parametrize("lecture", [True, False])
def test_the_shrunk_field_claim_judges_the_cars_shrunk_against_the_same_cars_restored(monkeypatch, lecture):
    """fcn_field_shrunk on a stand-in lab with a field of 40 px (judged cars: 5-10 px at the heads' size). As the
    lecture says: shrunk, the judged car (7 px) loses its top 3 rows; restored and scored on 2x2 cells it keeps all:
    +3/7 and the claim holds. Swapped (the restored car loses them, the shrunk one keeps all), it is -3/7 and the claim
    is contradicted. The plain arms ("as trained", "restored" at the head's own cells) are shown, never judged: here
    they lose everything, which must not move the verdict."""
    from types import SimpleNamespace

    from segedu.lab import frozen
    from segedu.lab.claims import fcn_enlarged

    masks = torch.zeros(4, 40, 60, dtype=torch.uint8)
    masks[:, 2:9, 2:9] = 8  # a judged car, 7 px
    masks[:, 20:34, 30:44] = 8  # a larger car, 14 px
    masks[:, 36:38, 50:52] = 8  # a smallest car, 2 px
    broken = masks.long().clone()
    broken[:, 2:5, 2:9] = 3  # the judged car's top 3 rows labelled road
    predictions = {("shrunk", 1): broken if lecture else masks.long(),
                   ("restored", 2): masks.long() if lecture else broken,
                   ("restored", 1): torch.zeros_like(masks.long()), ("native", 1): torch.zeros_like(masks.long())}
    asked = []

    def predict_head(head, cache, size, pool=1):
        asked.append((cache.name, pool, size))
        return torch.nn.functional.one_hot(predictions[cache.name, pool], 11).permute(0, 3, 1, 2).float()

    monkeypatch.setattr(frozen, "predict_head", predict_head)
    monkeypatch.setattr(fcn_enlarged, "fcn8s_fields", lambda lab: [40, 38, 42])
    monkeypatch.setattr(fcn_enlarged, "shrunk_test_caches", lambda lab: {
        name: SimpleNamespace(name=name) for name in ("shrunk", "restored")})
    trained = torch.zeros(1, 60, 80, dtype=torch.uint8)
    trained[0, 0:3, 0:3] = 8  # two training cars of 3 px: the judged cars' sizes shrunk (2.5 to 5 px)
    trained[0, 0:3, 50:53] = 8
    trained[0, 10:17, 10:17] = 8  # one of 7 px: their sizes as they are (5 to 10 px)
    trained[0, 30:59, 30:59] = 8  # one of 29 px: larger
    lab = SimpleNamespace(config=SimpleNamespace(seeds=(0, 1, 2), image_size=(40, 60)),
                          head=lambda kind, seed: (kind, seed),
                          stride32={"test": SimpleNamespace(masks=masks, name="native"),
                                    "train": SimpleNamespace(masks=trained)}, test_blocks=lambda: torch.arange(4))
    outcome = fcn_enlarged.fcn_field_shrunk(lab)
    assert outcome.numbers["field"] == 40 and outcome.numbers["bounds"] == [5.0, 10.0]
    assert outcome.verdict == ("holds" if lecture else "contradicted")
    assert outcome.effect == pytest.approx(3 / 7 if lecture else -3 / 7)
    assert {(name, pool) for name, pool, _ in asked} == set(predictions) and {size for *_, size in asked} == {(40, 60)}
    table = outcome.numbers["table"]
    assert [table[group]["cars"] for group in fcn_enlarged.SHRUNK_GROUPS] == [4, 4, 4]
    assert table["judged"]["as trained"] == 0.0 and table["larger"]["restored, 2x2 cells"] == 1.0
    assert outcome.numbers["training_cars"] == {"judged, shrunk": 2, "judged, as they are": 1, "all": 4}


def test_the_shrunk_frames_are_restored_to_the_heads_size_with_the_frames_own_labels(monkeypatch):
    """`shrunk_test_caches`: the test frames at half the heads' size (asked of the lab), and the same frames
    upsampled back to the heads' size, encoded with the native frames' masks: a frame white on its left half stays
    white on the left and black on the right, at twice the size."""
    from types import SimpleNamespace

    from segedu.lab import frozen
    from segedu.lab.claims import fcn_enlarged

    small = torch.zeros(2, 3, 6, 8, dtype=torch.uint8)
    small[..., :4] = 255
    native_masks = torch.randint(0, 11, (2, 12, 16), dtype=torch.uint8)
    asked = {}
    lab = SimpleNamespace(data="streets", config=SimpleNamespace(image_size=(12, 16)), backbone="the lab's encoder",
                          features=lambda split, size: asked.update(features=(split, size)) or SimpleNamespace(
                              images=small), stride32={"test": SimpleNamespace(masks=native_masks)},
                          shared=lambda name, compute: compute())
    monkeypatch.setattr(frozen.FeatureCache, "of_images", classmethod(
        lambda cls, images, masks, name, backbone: SimpleNamespace(images=images, masks=masks, backbone=backbone)))
    caches = fcn_enlarged.shrunk_test_caches(lab)
    assert caches["restored"].backbone == "the lab's encoder"  # restored through the encoder of the shrunk ones
    assert asked["features"] == ("test", (6, 8)) and caches["shrunk"].images is small
    restored = caches["restored"].images
    assert restored.shape == (2, 3, 12, 16) and torch.equal(caches["restored"].masks, native_masks)
    assert torch.all(restored[..., :7] == 1) and torch.all(restored[..., 9:] == 0)


def test_a_heads_scores_averaged_over_cells_as_a_coarser_stride():
    """`frozen.predict_head(..., pool=2)`: each 2x2 block of the head's map is averaged (the last, odd row and column
    average what is left) before the upsampling; pool=1 leaves the map as it is."""
    from types import SimpleNamespace

    from segedu.lab import frozen

    scores = torch.arange(9.0).reshape(1, 1, 3, 3)

    class Cache(SimpleNamespace):
        def __len__(self):
            return 1

    cache = Cache(features={"level3": torch.zeros(1, 1, 3, 3)}, image_size=(3, 3))

    class Head(torch.nn.Module):
        levels = ("level3",)

        def forward(self, features):
            return scores

    coarse = frozen.predict_head(Head(), cache, size=(2, 2), pool=2)
    assert coarse.flatten().tolist() == [2.0, 3.5, 6.5, 8.0]  # (0+1+3+4)/4, (2+5)/2, (6+7)/2, 8
    assert torch.equal(frozen.predict_head(Head(), cache, size=(3, 3)), scores)
