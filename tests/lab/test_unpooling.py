"""SegNet's and DeconvNet's decoders on cached features (`segedu.lab.unpooling`): switches and unpooling checked
by hand, the fully connected bottleneck that only DeconvNet has, and DeconvNet's instance-wise inference and
two-stage training (`segedu.lab.claims.segnet_deconvnet`, `segedu.lab.frozen.train_head_in_stages`)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from segedu.lab import frozen
from segedu.lab.unpooling import UnpoolingHead, switches, unpool

CHANNELS = {"level5": 24, "level4": 12, "level3": 8}


def test_unpooling_puts_each_value_where_its_window_of_the_encoder_map_was_largest():
    generator = torch.Generator().manual_seed(0)
    encoder = torch.randn(2, 3, 5, 7, generator=generator)  # odd sides: the last row and column are windows alone
    indices = switches(encoder)
    assert indices.shape == (2, 3, 3, 4)
    values = torch.rand(2, 3, 3, 4, generator=generator) + 1
    expected = torch.zeros(2, 3, 5, 7)
    for n in range(2):
        for c in range(3):
            for i in range(3):
                for j in range(4):
                    window = encoder[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                    row, column = divmod(int(window.argmax()), window.shape[1])
                    expected[n, c, 2 * i + row, 2 * j + column] = values[n, c, i, j]
    assert torch.equal(unpool(values, indices, (5, 7)), expected)


def features(generator: torch.Generator, coarsest=(6, 8)) -> dict[str, torch.Tensor]:
    height, width = coarsest
    return {"level5": torch.randn(2, CHANNELS["level5"], height, width, generator=generator),
            "level4": torch.randn(2, CHANNELS["level4"], 2 * height, 2 * width, generator=generator),
            "level3": torch.randn(2, CHANNELS["level3"], 4 * height, 4 * width, generator=generator)}


@pytest.mark.parametrize("kind", ["segnet", "deconvnet"])
def test_only_deconvnet_sees_the_whole_coarsest_map_at_every_output_pixel(kind):
    """DeconvNet keeps VGG's fully connected fc6 (a convolution as large as the map): a change at one corner of
    level 5 reaches every output pixel. SegNet has no fully connected layer: the far side of the output is blind
    to it."""
    torch.manual_seed(0)
    head = UnpoolingHead(kind, CHANNELS, num_classes=5, hidden=16, coarsest=(6, 8)).eval()
    inputs = features(torch.Generator().manual_seed(1))
    changed = dict(inputs, level5=inputs["level5"].clone())
    changed["level5"][:, :, 0, 0] += 5
    with torch.no_grad():
        before, after = head(inputs), head(changed)
    assert before.shape == (2, 5, 24, 32)  # at level 3's size
    moved = (before - after).abs().amax((0, 1)) > 1e-6  # (24, 32): the output pixels the change reached
    far = moved[16:, 20:]  # a corner of the output well beyond a few 3x3 layers of level 5's corner
    if kind == "deconvnet":
        assert far.all()
        assert head.top[0].weight.shape[-2:] == (6, 8)  # fc6 covers the whole 6x8 map
    else:
        assert not far.any() and moved[0, 0]


def test_an_unpooling_head_reads_its_switches_from_levels_4_and_3():
    torch.manual_seed(0)
    head = UnpoolingHead("segnet", CHANNELS, num_classes=5, hidden=16).eval()
    inputs = features(torch.Generator().manual_seed(2))
    for level in ("level4", "level3"):  # negating a level's map moves its switches (the other level is unchanged)
        with torch.no_grad():
            assert not torch.allclose(head(inputs), head(dict(inputs, **{level: -inputs[level]})))
    with pytest.raises(ValueError, match="unpooling head"):
        UnpoolingHead("fcn8s", CHANNELS, num_classes=5, hidden=16)
    with pytest.raises(ValueError, match="build_head"):
        frozen.Head("segnet", CHANNELS, 5, 16)


class Sized(SimpleNamespace):
    """A stand-in FeatureCache: features, masks, and its length."""

    def __len__(self):
        return len(self.masks)


def cache(count: int, label: int) -> Sized:
    """`count` frames of 8x12 random level-3 maps, every label `label`."""
    generator = torch.Generator().manual_seed(count)
    return Sized(features={"level3": torch.randn(count, 4, 8, 12, generator=generator).half()},
                 masks=torch.full((count, 32, 48), label, dtype=torch.uint8), channels={"level3": 4},
                 image_size=(32, 48))


def test_stages_train_in_their_order_for_their_steps_and_one_stage_is_the_epochs_of_a_head(monkeypatch):
    drawn = []
    recorded = frozen.features_of

    def features_of(cache, indices, levels):
        drawn.append((int(cache.masks[0, 0, 0]), indices.tolist()))
        return recorded(cache, indices, levels)

    monkeypatch.setattr(frozen, "features_of", features_of)
    first, second = cache(16, 1), cache(3, 2)
    config = dataclasses.replace(frozen.HeadConfig(), batch_size=8, epochs=2, hidden=4)
    frozen.train_head_in_stages("linear3", [(first, 5), (second, 3)], config, seed=0)
    assert [source for source, _ in drawn] == [1] * 5 + [2] * 3
    assert sorted(sum((indices for _, indices in drawn[:2]), [])) == list(range(16))  # a whole epoch of 16
    assert all(sorted(indices) == [0, 1, 2] for _, indices in drawn[5:])  # 3 frames: each step a whole epoch
    drawn.clear()
    frozen.train_head("linear3", first, config, seed=0)  # 2 epochs of 2 batches, every frame once per epoch
    assert len(drawn) == 4 and all(sorted(drawn[2 * e][1] + drawn[2 * e + 1][1]) == list(range(16)) for e in (0, 1))
    drawn.clear()
    frozen.train_head_in_stages("linear3", [(first, 5), (second, 3)], config, seed=0)
    in_turn = list(drawn)
    drawn.clear()
    frozen.train_head_in_stages("linear3", [(first, 5), (second, 3)], config, seed=0, interleaved=True)
    assert [source for source, _ in drawn] == [1, 2, 1, 2, 1, 2, 1, 1]  # taking turns, the longer stage's rest last
    assert sorted(drawn) == sorted(in_turn) and drawn != in_turn  # the very same batches, in another order


class Identity(torch.nn.Module):
    """A head whose scores are its level-3 input."""
    levels = ("level3",)

    def forward(self, features):
        return features["level3"]


def test_instance_wise_inference_combines_each_proposal_in_its_window_by_max_and_by_sum():
    from segedu.lab.claims import instance_wise

    def maps(count: int, probabilities: list[float]) -> torch.Tensor:  # logits whose softmax is `probabilities`
        return torch.tensor(probabilities).clamp_min(1e-9).log().view(1, -1, 1, 1).expand(count, -1, 4, 4).clone()

    frames = Sized(features={"level3": maps(2, [0.5, 0.3, 0.1, 0.1])}, masks=torch.zeros(2, 8, 8))
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[2:6, 4:8] = True  # the proposal's window in frame 1

    def combined(probabilities: list[float]) -> dict[str, torch.Tensor]:
        proposals = {"cache": SimpleNamespace(features={"level3": maps(1, probabilities)}), "frames": torch.tensor([1]),
                     "windows": [(2, 4, 4, 4)]}
        return instance_wise(Identity(), frames, proposals, size=(8, 8))

    sure = combined([0.0, 0.9, 0.05, 0.05])  # a proposal sure of class 1
    assert set(sure) == {"whole frame", "proposals, max", "proposals, sum"}
    assert (sure["whole frame"] == 0).all()
    for name in ("proposals, max", "proposals, sum"):
        assert (sure[name][0] == 0).all()  # frame 0 has no proposal: the whole frame alone
        assert (sure[name][1][inside] == 1).all() and (sure[name][1][~inside] == 0).all()
    unsure = combined([0.0, 0.4, 0.3, 0.3])
    assert (unsure["proposals, max"][1] == 0).all()  # the largest probability at each pixel is the frame's 0.5
    assert (unsure["proposals, sum"][1][inside] == 1).all()  # summed, class 1 has 0.3 + 0.4 against class 0's 0.5
    assert (unsure["proposals, sum"][1][~inside] == 0).all()


def test_a_cache_of_given_images_holds_what_the_encoder_computes_for_them():
    from segedu.data import build_dataset

    data = build_dataset("streets", "train", image_size=(64, 96), subset=4)
    images, masks = (torch.stack(parts) for parts in zip(*[data[index] for index in range(4)]))
    given = frozen.FeatureCache.of_images(images, masks, name="four frames", batch_size=3)
    loaded = frozen.FeatureCache("streets", "train", image_size=(64, 96), subset=4)
    assert given.image_size == (64, 96) and len(given) == 4 and given.data == "four frames"
    assert torch.equal(given.masks, loaded.masks) and torch.equal(given.images, loaded.images)
    for level in ("level3", "level4", "level5"):
        torch.testing.assert_close(given.features[level], loaded.features[level], atol=2e-3, rtol=2e-3)
