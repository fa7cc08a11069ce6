"""Heads on a frozen encoder's cached features: shapes, the levels each FCN head reads, determinism, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.backbones import build_backbone
from segedu.data import build_dataset
from segedu.lab.frozen import HEADS, PROBES, FeatureCache, HeadConfig, build_head, predict_head, train_head
from segedu.lab.scoring import score_frames

SIZE = (64, 96)  # the synthetic stand-in: no data needed

# The levels each head reads, coarsest first, as the lecture defines the heads (Long et al. 2015, figure 3: FCN-16s
# adds pool4's scores to pool5's, FCN-8s also pool3's; the linear probes read one level, at output stride 32 or, for
# probe3-5, 8; the hypercolumn levels 3-5; plain / pyramid / aspp / largefov sit on the dilated encoder's last level).
# Written here, not read from the code.
LEVELS = {"fcn32s": ("level5",), "fcn16s": ("level5", "level4"), "fcn8s": ("level5", "level4", "level3"),
          "concat8s": ("level5", "level4", "level3"), "linear3": ("level3",), "linear4": ("level4",),
          "linear5": ("level5",), "hypercolumn": ("level5", "level4", "level3"), "plain": ("level5",),
          "pyramid": ("level5",), "aspp": ("level5",), "largefov": ("level5",),
          "concat_fusion": ("level5", "level4", "level3"), "sum_fusion": ("level5", "level4", "level3"),
          "probe3": ("level3",), "probe4": ("level4",), "probe5": ("level5",),
          "segnet": ("level5", "level4", "level3"), "deconvnet": ("level5", "level4", "level3")}
DILATED = ("plain", "pyramid", "aspp", "largefov")  # on the output-stride-8 encoder
DENSE = ("probe3", "probe4", "probe5")  # levels 3, 4 and 5 of the output-stride-8 encoder, on one grid


@pytest.fixture(scope="module")
def caches():
    return (FeatureCache("streets", "train", image_size=SIZE, subset=16, batch_size=8),
            FeatureCache("streets", "test", image_size=SIZE, subset=8, output_stride=8, levels=("level5",)))


@pytest.fixture(scope="module")
def dense():
    """Levels 3, 4 and 5 at output stride 8, as `Lab.stride8_levels` caches them for the probes."""
    return FeatureCache("streets", "test", image_size=SIZE, subset=8, output_stride=8)


def test_the_cache_holds_every_frame_at_each_level(caches):
    train, test = caches
    assert train.features["level3"].shape == (16, 40, 8, 12) and train.features["level5"].shape == (16, 320, 2, 3)
    assert test.features["level5"].shape == (8, 320, 8, 12)  # output stride 8: dilated, not downsampled
    assert train.masks.shape == (16, 64, 96) and train.images.dtype == torch.uint8
    assert train.features["level5"].dtype == torch.float16
    # a frame of the second batch is cached in its place, as the pretrained encoder sees it alone
    image, mask = build_dataset("streets", "train", image_size=SIZE, subset=16)[9]
    with torch.no_grad():
        features = build_backbone("efficientnet_lite0", pretrained=True).eval()(image[None])
    assert torch.equal(train.masks[9].long(), mask)
    assert torch.equal(train.images[9], (image * 255).round().to(torch.uint8))
    for level in ("level3", "level4", "level5"):
        torch.testing.assert_close(train.features[level][9].float(), features[level][0], atol=2e-2, rtol=1e-2)


@pytest.mark.parametrize("kind", [kind for kind in HEADS if kind != "early"])  # early: level 2, tests/test_endtoend.py
def test_every_head_reads_only_its_levels_and_predicts_at_the_image_size(caches, dense, kind):
    assert kind in LEVELS, f"a new head {kind!r}: write down the levels it should read"
    train, test = caches
    cache = dense if kind in DENSE else test if kind in DILATED else train
    head = build_head(kind, cache, hidden=16).eval()
    logits = predict_head(head, cache)
    assert logits.shape == (len(cache), 11, 64, 96)
    # the head is handed every cached level; replacing a level by noise changes its output iff the head reads it
    inputs = {level: tensor[:4].float() for level, tensor in cache.features.items()}
    with torch.no_grad():
        reference = head(inputs)
        finest = LEVELS[kind][-1]
        assert reference.shape == (4, 11, *inputs[finest].shape[-2:])  # at the finest level the head reads
        for level in inputs:
            generator = torch.Generator().manual_seed(0)
            noise = torch.randn(inputs[level].shape, generator=generator) * inputs[level].std() + inputs[level].mean()
            changed = head({**inputs, level: noise})
            if level in LEVELS[kind]:
                assert not torch.allclose(changed, reference), f"{kind} ignores {level}, which it should read"
            else:
                torch.testing.assert_close(changed, reference, msg=f"{kind} reads {level}, which it should not")
    with pytest.raises(ValueError, match="unknown head"):
        build_head("fcn4s", cache)


@pytest.mark.slow
def test_training_is_deterministic_and_learns(caches):
    train, _ = caches
    config = dataclasses.replace(HeadConfig(), epochs=6, image_size=(64, 96), hidden=16)
    first, second = (train_head("fcn8s", train, config, seed=3) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    untrained = build_head("fcn8s", train, hidden=16).eval()
    accuracy = lambda head: score_frames(predict_head(head, train).argmax(1), train.masks.long())  # noqa: E731
    trained_hits, untrained_hits = accuracy(first).confusions, accuracy(untrained).confusions
    diagonal = lambda matrices: matrices.sum(0).diagonal().sum() / matrices.sum()  # noqa: E731
    assert diagonal(trained_hits) > diagonal(untrained_hits) + 0.2  # well above chance on what it trained on


def test_class_weights_weigh_each_pixels_loss_by_its_true_class(caches):
    """Uniform weights change nothing. Weight on one class alone leaves only its pixels in the loss, so the head
    learns to call everything that class; unweighted, it calls it about as often as it occurs. A wrong number of
    weights is refused."""
    train, _ = caches
    config = dataclasses.replace(HeadConfig(), epochs=4, image_size=(64, 96), hidden=16, learning_rate=0.05)
    plain = train_head("linear3", train, config, seed=1)
    uniform = train_head("linear3", train, config, seed=1, class_weights=torch.ones(11))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), uniform.state_dict().values()))
    counts = torch.bincount(train.masks.flatten().long(), minlength=256)[:11]
    chosen = int(counts.argsort()[5])  # a class of middling frequency
    only = torch.zeros(11)
    only[chosen] = 1.0
    weighted = train_head("linear3", train, config, seed=1, class_weights=only)
    share = lambda head: float((predict_head(head, train).argmax(1) == chosen).float().mean())  # noqa: E731
    assert share(plain) < 0.5 < share(weighted), (share(plain), share(weighted))
    with pytest.raises(ValueError, match="one weight per class \\(11\\), got shape \\(5,\\)"):
        train_head("linear3", train, config, seed=1, class_weights=torch.ones(5))


def test_a_linear_probe_is_one_1x1_convolution_on_its_level(caches):
    train, _ = caches
    head = build_head("linear4", train).eval()
    assert [type(module).__name__ for module in head.modules() if list(module.parameters(recurse=False))] == ["Conv2d"]
    features = {level: train.features[level][:2].float() for level in ("level3", "level4", "level5")}
    weight, bias = head.branches["level4"].weight[:, :, 0, 0], head.branches["level4"].bias  # (K, C), (K,)
    expected = torch.einsum("kc,nchw->nkhw", weight, features["level4"]) + bias[:, None, None]
    with torch.no_grad():
        torch.testing.assert_close(head(features), expected)


def test_the_probes_are_linear_classifiers_on_one_level_each_on_maps_of_one_size(dense):
    # what `linear_probe_depth` needs: at output stride 8 the three levels share one grid, so the three probes
    # predict maps of the same size and differ only in the level they read
    assert PROBES == DENSE
    sizes = {level: tuple(dense.features[level].shape[-2:]) for level in ("level3", "level4", "level5")}
    assert set(sizes.values()) == {(8, 12)}, sizes  # 64x96 / 8, for level 3 as for level 5
    features = {level: tensor[:2].float() for level, tensor in dense.features.items()}
    for kind, level in zip(PROBES, ("level3", "level4", "level5")):
        head = build_head(kind, dense).eval()
        assert [type(module).__name__ for module in head.modules()
                if list(module.parameters(recurse=False))] == ["Conv2d"], kind
        weight, bias = head.branches[level].weight[:, :, 0, 0], head.branches[level].bias  # (K, C), (K,)
        expected = torch.einsum("kc,nchw->nkhw", weight, features[level]) + bias[:, None, None]
        with torch.no_grad():
            output = head(features)
        assert output.shape == (2, 11, 8, 12)
        torch.testing.assert_close(output, expected)


def test_the_hypercolumn_classifier_equals_summed_upsampled_linear_scores(caches):
    # Hariharan et al. 2015, section 3: a linear classifier on upsampled, concatenated features is the sum of each
    # level's linear scores, upsampled; an independent computation of the same map
    train, _ = caches
    head = build_head("hypercolumn", train).eval()
    features = {level: train.features[level][:2].float() for level in ("level3", "level4", "level5")}
    size = features["level3"].shape[-2:]
    weight, start, total = head.score.weight[:, :, 0, 0], 0, head.score.bias[None, :, None, None]
    for level in ("level5", "level4", "level3"):
        channels = features[level].shape[1]
        scores = torch.einsum("kc,nchw->nkhw", weight[:, start:start + channels], features[level])
        total = total + torch.nn.functional.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        start += channels
    assert start == head.score.in_channels == 40 + 112 + 320
    with torch.no_grad():
        torch.testing.assert_close(head(features), total, atol=1e-4, rtol=1e-4)


def test_concatenated_scores_are_the_function_class_of_summed_scores(caches):
    # why the old skip_concat_vs_sum compared a function class with itself: concat8s's 1x1 score after the
    # concatenation is the sum of per-level 1x1 scores of each level's branch, upsampled (both linear)
    train, _ = caches
    head = build_head("concat8s", train, hidden=16).eval()
    features = {level: train.features[level][:2].float() for level in ("level3", "level4", "level5")}
    size = features["level3"].shape[-2:]
    weight, total = head.score.weight[:, :, 0, 0], head.score.bias[None, :, None, None]
    with torch.no_grad():
        for index, level in enumerate(("level5", "level4", "level3")):
            reduced = head.branches[level](features[level])
            scores = torch.einsum("kc,nchw->nkhw", weight[:, 16 * index:16 * (index + 1)], reduced)
            total = total + torch.nn.functional.interpolate(scores, size=size, mode="bilinear", align_corners=False)
        torch.testing.assert_close(head(features), total, atol=1e-4, rtol=1e-4)


def test_the_fusion_heads_have_equal_parameters_and_fuse_as_named(caches):
    # the fair comparison of concatenated and summed skips: a nonlinear decoder after the fusion, equal parameters
    train, _ = caches
    heads = {kind: build_head(kind, train).eval() for kind in ("concat_fusion", "sum_fusion")}
    sizes = {kind: sum(p.numel() for p in head.parameters()) for kind, head in heads.items()}
    assert abs(sizes["concat_fusion"] - sizes["sum_fusion"]) <= 0.01 * sizes["concat_fusion"], sizes
    features = {level: train.features[level][:2].float() for level in ("level3", "level4", "level5")}
    size = features["level3"].shape[-2:]
    for kind, head in heads.items():
        with torch.no_grad():
            maps = [torch.nn.functional.interpolate(head.branches[level](features[level]), size=size,
                                                    mode="bilinear", align_corners=False)
                    for level in ("level5", "level4", "level3")]
            fused = maps[0] + maps[1] + maps[2] if kind == "sum_fusion" else torch.cat(maps, 1)
            torch.testing.assert_close(head(features), head.score(fused), atol=1e-5, rtol=1e-5)


def test_a_shared_cache_is_computed_once_kept_on_disk_and_recomputed_when_damaged(tmp_path, monkeypatch):
    """`FeatureCache.shared`: the first call encodes the frames and writes one file; the second reads it without
    running the encoder; other settings get another file; a damaged file is computed again and replaced."""
    first = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, folder=tmp_path, progress=False)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and files[0].name.startswith("streets-train-64x96-os32-")
    direct = FeatureCache("streets", "train", image_size=SIZE, subset=4)
    for level in ("level3", "level4", "level5"):
        assert torch.equal(first.features[level], direct.features[level])

    def no_encoder(self, *args, **kwargs):
        raise AssertionError("the encoder ran although the cache was on disk")

    with monkeypatch.context() as patched:
        patched.setattr(FeatureCache, "_encode", no_encoder)
        again = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, folder=tmp_path, progress=False)
    assert torch.equal(again.features["level5"], first.features["level5"]) and torch.equal(again.masks, first.masks)
    assert again.channels == first.channels and again.image_size == SIZE and len(again) == 4

    FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8, folder=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.pt"))) == 2  # another output stride: another file

    files[0].write_bytes(b"not a cache")
    repaired = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, folder=tmp_path, progress=False)
    assert torch.equal(repaired.features["level4"], first.features["level4"])
    assert torch.load(files[0], weights_only=True)["split"] == "train"  # replaced by a good file


def test_fewer_levels_are_read_from_a_kept_file_that_holds_them(tmp_path, monkeypatch):
    """Level 5 alone, asked for after levels 3-5 were kept (notebook 12 after notebook 07): read from that file,
    without the encoder and without a new file, the same numbers; another subset, another output stride, more
    levels than any file holds, or a damaged wider file: computed."""
    wide = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8, folder=tmp_path,
                               progress=False)
    FeatureCache.shared("streets", "train", image_size=SIZE, subset=3, output_stride=8, folder=tmp_path,
                        levels=("level4",), progress=False)  # another subset's file, holding another level

    def no_encoder(self, *args, **kwargs):
        raise AssertionError("the encoder ran although a kept file holds the levels")

    with monkeypatch.context() as patched:
        patched.setattr(FeatureCache, "_encode", no_encoder)
        narrow = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8,
                                     levels=("level5",), folder=tmp_path, progress=False)
        middle = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8,
                                     levels=("level4", "level3"), folder=tmp_path, progress=False)
    assert set(narrow.features) == {"level5"} and narrow.channels == {"level5": wide.channels["level5"]}
    assert torch.equal(narrow.features["level5"], wide.features["level5"]) and torch.equal(narrow.masks, wide.masks)
    assert set(middle.features) == {"level3", "level4"}
    assert len(list(tmp_path.glob("*.pt"))) == 2
    direct = FeatureCache("streets", "train", image_size=SIZE, subset=4, output_stride=8, levels=("level5",))
    assert torch.equal(narrow.features["level5"], direct.features["level5"])  # what computing it would give

    calls = []
    encode = FeatureCache._encode
    monkeypatch.setattr(FeatureCache, "_encode", lambda self, *args, **kwargs: calls.append(1) or encode(
        self, *args, **kwargs))
    FeatureCache.shared("streets", "train", image_size=SIZE, subset=3, output_stride=8, levels=("level5",),
                        folder=tmp_path, progress=False)  # subset 3 kept level 4 only; subset 4's file is not its
    FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=32, levels=("level5",),
                        folder=tmp_path, progress=False)  # another output stride
    assert len(calls) == 2 and len(list(tmp_path.glob("*.pt"))) == 4
    FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8, folder=tmp_path,
                        levels=("level2", "level3", "level4", "level5"), progress=False)  # level 2: in no file
    assert len(calls) == 3
    for wider in tmp_path.glob("*-os8-level*level5-4-*.pt"):  # levels 3-5 and 2-5 of subset 4
        wider.write_bytes(b"not a cache")
    repaired = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, output_stride=8, levels=("level4",),
                                   folder=tmp_path, progress=False)
    assert len(calls) == 4 and torch.equal(repaired.features["level4"], wide.features["level4"])


def test_another_encoder_gets_its_own_features_and_file(tmp_path):
    """`backbone`: the cache holds that encoder's features (EfficientNet-Lite2's level 3 has 48 channels, Lite0's 40,
    as Tan and Le's compound scaling widens it), under a file of its own; a Lab passes its encoder to its caches."""
    from segedu.lab.claims import Lab

    lite0 = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, folder=tmp_path, progress=False)
    lite2 = FeatureCache.shared("streets", "train", image_size=SIZE, subset=4, folder=tmp_path, progress=False,
                                backbone="efficientnet_lite2")
    assert (lite0.channels["level3"], lite2.channels["level3"]) == (40, 48)
    names = sorted(path.name for path in tmp_path.glob("*.pt"))
    assert len(names) == 2 and any("efficientnet_lite2" in name for name in names)
    direct = FeatureCache("streets", "train", image_size=SIZE, subset=4, backbone="efficientnet_lite2")
    assert torch.equal(direct.features["level5"], lite2.features["level5"])
    lab = Lab(data="streets", seeds=(0,), subset={"train": 4}, backbone="efficientnet_lite2")
    lab.config = dataclasses.replace(lab.config, image_size=SIZE)
    assert lab.features("train").channels == lite2.channels
    given = FeatureCache.of_images(direct.images.float() / 255, direct.masks, name="crops", backbone=lab.backbone)
    assert given.channels == lite2.channels  # DeconvNet's crops through the lab's encoder too


SHARED_AT_ONCE = """
import sys, time
from pathlib import Path
from segedu.lab.frozen import FeatureCache
folder, me = Path(sys.argv[1]), sys.argv[2]
(folder / f"ready-{me}").touch()
while len(list(folder.glob("ready-*"))) < 2:  # both processes ask at the same moment
    time.sleep(0.01)
cache = FeatureCache.shared("streets", "train", image_size=(64, 96), subset=4, folder=folder / "cache", progress=False)
print(cache.seconds)
"""


@pytest.mark.slow
def test_two_processes_asking_for_the_same_cache_at_once_compute_it_once(tmp_path):
    """Two notebooks (or two test workers) that ask for one cache together: one encodes the frames, the other waits
    and loads its file (`seconds` is 0 for a cache read from disk)."""
    import subprocess
    import sys

    processes = [subprocess.Popen([sys.executable, "-c", SHARED_AT_ONCE, str(tmp_path), str(me)],
                                  stdout=subprocess.PIPE, text=True) for me in (0, 1)]
    seconds = sorted(float(process.communicate(timeout=300)[0].split()[-1]) for process in processes)
    assert seconds[0] == 0.0 < seconds[1], f"seconds spent encoding in each process: {seconds}"
