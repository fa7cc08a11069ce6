"""Heads on a frozen encoder's cached features: shapes, the levels each FCN head reads, determinism, learning."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from segedu.frozen import FCN_LEVELS, HEADS, FeatureCache, HeadConfig, build_head, predict_head, score_frames, train_head


@pytest.fixture(scope="module")
def caches():
    size = (64, 96)  # the synthetic stand-in: no data needed
    return (FeatureCache("streets", "train", image_size=size, subset=16, batch_size=8),
            FeatureCache("streets", "test", image_size=size, subset=8, output_stride=8, levels=("level5",)))


def test_the_cache_holds_every_frame_at_each_level(caches):
    train, test = caches
    assert train.features["level3"].shape == (16, 40, 8, 12) and train.features["level5"].shape == (16, 320, 2, 3)
    assert test.features["level5"].shape == (8, 320, 8, 12)  # output stride 8: dilated, not downsampled
    assert train.masks.shape == (16, 64, 96) and train.images.dtype == torch.uint8
    assert train.features["level5"].dtype == torch.float16


@pytest.mark.parametrize("kind", [kind for kind in HEADS if kind != "early"])  # early: level 2, tests/test_endtoend.py
def test_every_head_reads_only_its_levels_and_predicts_at_the_image_size(caches, kind):
    train, test = caches
    cache = train if kind in FCN_LEVELS else test
    head = build_head(kind, cache, hidden=16).eval()
    assert head.levels == FCN_LEVELS.get(kind, ("level5",))
    logits = predict_head(head, cache)
    assert logits.shape == (len(cache), 11, 64, 96)
    if kind in FCN_LEVELS:  # a finer level the head does not use must not change its output
        unused = [level for level in ("level3", "level4") if level not in head.levels]
        changed = {**cache.features, **{level: torch.randn_like(cache.features[level]) for level in unused}}
        with torch.no_grad():
            same = head({level: changed[level].float() for level in head.levels})
        assert same.shape[-2:] == cache.features[head.levels[-1]].shape[-2:]
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
