"""segedu.panoptic: panoptic quality against torchmetrics, and by hand on a picture one can count."""

import pytest
import torch

from segedu.panoptic import panoptic_quality

torchmetrics = pytest.importorskip("torchmetrics.detection")


def _random_maps(generator, *, size=24, void=False):
    """A panoptic map of rectangles: stuff classes 0 and 1 as background halves, things 2 and 3 as boxes."""
    maps = torch.zeros(size, size, 2, dtype=torch.long)
    maps[:, size // 2:, 0] = 1
    for instance in range(1, int(torch.randint(1, 6, (1,), generator=generator)) + 1):
        y, x = torch.randint(0, size - 6, (2,), generator=generator).tolist()
        h, w = torch.randint(3, 10, (2,), generator=generator).tolist()
        maps[y:y + h, x:x + w, 0] = int(torch.randint(2, 4, (1,), generator=generator))
        maps[y:y + h, x:x + w, 1] = instance
    if void:
        y, x = torch.randint(0, size - 4, (2,), generator=generator).tolist()
        maps[y:y + 4, x:x + 4] = torch.tensor([255, 0])
    return maps


@pytest.mark.parametrize("seed", range(6))
def test_equals_torchmetrics(seed):
    generator = torch.Generator().manual_seed(seed)
    targets = torch.stack([_random_maps(generator, void=seed % 2 == 1) for _ in range(3)])
    predictions = torch.stack([_random_maps(generator) for _ in range(3)])
    predictions[0] = targets[0].clamp_max(3)  # one frame nearly right: matches happen
    predictions[0][predictions[0][..., 0] == 255] = torch.tensor([0, 0])
    ours = panoptic_quality(predictions, targets, things={2, 3}, stuffs={0, 1})
    reference = torchmetrics.PanopticQuality(things={2, 3}, stuffs={0, 1}, return_sq_and_rq=True)
    pq, sq, rq = reference(predictions, targets).tolist()
    assert ours["pq"] == pytest.approx(pq, abs=1e-6)
    assert ours["sq"] == pytest.approx(sq, abs=1e-6)
    assert ours["rq"] == pytest.approx(rq, abs=1e-6)


def test_counts_a_picture_by_hand():
    target = torch.zeros(1, 10, 10, 2, dtype=torch.long)  # stuff 0 everywhere
    target[0, 0:4, 0:4] = torch.tensor([1, 1])  # two things of class 1
    target[0, 6:10, 6:10] = torch.tensor([1, 2])
    prediction = target.clone()
    prediction[0, 6:10, 6:10] = torch.tensor([0, 0])  # the second thing missed (FN) and given to the stuff
    prediction[0, 0:4, 0:2] = torch.tensor([1, 7])  # the first thing split in two halves: IoU 0.5 is no match
    result = panoptic_quality(prediction, target, things={1}, stuffs={0})
    # class 1: no match, 2 predicted segments unmatched (FP), 2 true ones missed (FN): PQ 0
    # class 0: one match, IoU 68 / 84
    assert result["per_class"][1] == (0.0, 0.0, 0.0)
    assert result["per_class"][0] == pytest.approx((68 / 84, 68 / 84, 1.0))
    assert result["pq"] == pytest.approx(68 / 84 / 2)
    perfect = panoptic_quality(target, target, things={1}, stuffs={0})
    assert perfect["pq"] == perfect["sq"] == perfect["rq"] == 1.0


def test_refuses_what_it_cannot_score():
    maps = torch.zeros(1, 4, 4, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\(N, H, W, 2\)"):
        panoptic_quality(maps[..., 0], maps[..., 0], things={1}, stuffs={0})
    with pytest.raises(ValueError, match="both things and stuffs"):
        panoptic_quality(maps, maps, things={0}, stuffs={0})
    wrong = maps.clone()
    wrong[0, 0, 0, 0] = 5
    with pytest.raises(ValueError, match=r"predictions hold classes \[5\]"):
        panoptic_quality(wrong, maps, things={1}, stuffs={0})


def test_shapes_know_their_instances_and_stay_the_same_scenes():
    from segedu.data.shapes import render_scene

    for seed in range(5):
        image, mask = render_scene(torch.Generator().manual_seed(seed), 48)
        again, same_mask, ids = render_scene(torch.Generator().manual_seed(seed), 48, instances=True)
        assert torch.equal(image, again) and torch.equal(mask, same_mask)  # the option draws nothing more
        assert torch.equal(ids > 0, mask > 0)  # every shape pixel belongs to one instance, the background to none
        for instance in ids.unique()[1:]:
            assert len(mask[ids == instance].unique()) == 1  # an instance has one class
        score = panoptic_quality(torch.stack([mask, ids], -1)[None], torch.stack([mask, ids], -1)[None],
                                 things={1, 2, 3, 4}, stuffs={0})
        assert score["pq"] == 1.0
