"""Class specificity inside DeconvNet's decoder (segedu.course.decoder_similarity, notebook 08): the statistic on
a case worked out by hand, the objects found in a mask, and the interval's sign on descriptors built to differ."""

from __future__ import annotations

import math

import pytest
import torch

from segedu.course.decoder_similarity import DecoderObjects, class_specificity, decoder_objects, specificity_gain
from segedu.models import build_model


def test_class_specificity_by_hand_pairs_from_one_frame_left_out():
    descriptors = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    classes = torch.tensor([0, 0, 1, 0])
    frames = torch.tensor([0, 1, 2, 0])  # objects 0 and 3 share frame 0: their pair is left out
    # one class, other frames: (0, 1) cosine 1, (3, 1) cosine 0 -> 1/2; different classes: (0, 2) 0, (1, 2) 0,
    # (3, 2) 1 -> 1/3
    assert class_specificity(descriptors, classes, frames) == pytest.approx(1 / 2 - 1 / 3)
    assert math.isnan(class_specificity(descriptors[:2], classes[:2], frames[:2]))  # no pair of two classes


def test_every_object_of_the_classes_asked_for_is_described_after_each_unpooling_and_each_stage():
    mask = torch.zeros(64, 64, dtype=torch.long)
    mask[4:20, 4:28] = 1
    mask[40:60, 36:60] = 1
    mask[30:50, 2:22] = 2
    mask[0:2, 60:62] = 2  # a box of 4 pixels: too small
    image = torch.rand(3, 64, 64)
    model = build_model("deconvnet", num_classes=3, width=0.0625)
    objects = decoder_objects(model, [(image, mask), (image, mask)], [1, 2], min_area=100)
    assert sorted(objects.classes.tolist()) == [1, 1, 1, 1, 2, 2] and objects.frames.tolist().count(0) == 3
    assert set(objects.descriptors) == {(kind, stage) for kind in ("unpooled", "dense") for stage in range(5)}
    assert all(found.shape[0] == 6 for found in objects.descriptors.values())


def _objects(unpooled: torch.Tensor, dense: torch.Tensor, classes: torch.Tensor) -> DecoderObjects:
    return DecoderObjects({("unpooled", 0): unpooled, ("dense", 0): dense}, classes, torch.arange(len(classes)), 1)


def test_the_gain_is_above_zero_when_the_deconvolutions_carry_the_class_and_below_when_unpooling_does():
    generator = torch.Generator().manual_seed(0)
    classes = torch.arange(40) % 2
    by_class = torch.nn.functional.one_hot(classes, 8).float() + 0.1 * torch.randn(40, 8, generator=generator)
    noise = torch.randn(40, 8, generator=generator)
    unpooled, dense, gain, low, high = specificity_gain(_objects(noise, by_class, classes), 0, resamples=200)
    assert dense > 0.5 > unpooled and low > 0 and gain == pytest.approx(dense - unpooled)
    _, _, gain, low, high = specificity_gain(_objects(by_class, noise, classes), 0, resamples=200)
    assert high < 0


def test_a_frame_drawn_twice_is_never_paired_with_its_own_copy():
    """Unpooled: every object its own direction (no two alike, specificity 0); dense: one direction per class
    (specificity 1). Every resample of the frames then has a gain of exactly 1, unless a frame's copies are paired
    with each other: an object and its copy are identical, which would lift the unpooled side above 0."""
    classes = torch.arange(12) % 2
    frames = torch.arange(12) // 2  # six frames, one object of each class in each
    unpooled, dense = torch.eye(12), torch.nn.functional.one_hot(classes, 12).float()
    objects = DecoderObjects({("unpooled", 0): unpooled, ("dense", 0): dense}, classes, frames, 1)
    _, _, gain, low, high = specificity_gain(objects, 0, resamples=100)
    assert gain == pytest.approx(1) and low == pytest.approx(1) and high == pytest.approx(1)
