"""segedu.lab.endtoend: tiling, the merged-cell count, the transfer regimes and the paired training loop."""

import pytest
import torch

from segedu.lab.endtoend import (REGIMES, Frames, TrainingConfig, merged_cells, predict, regime_model, tile, tile_scores,
                             train)
from segedu.losses import connected_components
from segedu.models import build_model


def test_tile_cuts_row_by_row():
    maps = torch.arange(2 * 3 * 4 * 6).view(2, 3, 4, 6)
    tiles = tile(maps, 2)  # each map: 2 rows x 3 columns of 2x2 tiles
    assert tiles.shape == (12, 3, 2, 2)
    assert torch.equal(tiles[0], maps[0, :, 0:2, 0:2])
    assert torch.equal(tiles[2], maps[0, :, 0:2, 4:6])  # the first row's last column
    assert torch.equal(tiles[3], maps[0, :, 2:4, 0:2])  # the second row
    assert torch.equal(tiles[6], maps[1, :, 0:2, 0:2])  # the second map
    assert torch.equal(tile(maps[:, 0], 2)[4], maps[0, 0, 2:4, 2:4])  # masks without a channel axis
    with pytest.raises(ValueError, match="4x6 map does not divide into 3x3"):
        tile(maps, 3)


def test_connected_components_without_background_start_at_one():
    assert connected_components(torch.ones(3, 3, dtype=torch.bool)).unique().tolist() == [1]
    two = torch.zeros(4, 4, dtype=torch.bool)
    two[0, 0] = two[3, 3] = True
    assert sorted(connected_components(two).unique().tolist()) == [0, 1, 2]


def _cells(*columns_of_membrane, size=12):
    mask = torch.ones(size, size, dtype=torch.long)
    for column in columns_of_membrane:
        mask[:, column] = 0
    return mask


def test_merged_cells_counts_missed_membranes():
    truth = _cells(4, 8)  # three cells side by side
    assert merged_cells(truth[None], truth[None]).tolist() == [[0, 3]]  # perfect: nothing merged
    assert merged_cells(_cells(8)[None], truth[None]).tolist() == [[2, 3]]  # the first membrane missed
    assert merged_cells(_cells()[None], truth[None]).tolist() == [[3, 3]]  # no membrane found at all
    assert merged_cells(_cells(2, 4, 8)[None], truth[None]).tolist() == [[0, 3]]  # an extra split is no merge
    everything_membrane = torch.zeros(12, 12, dtype=torch.long)
    assert merged_cells(everything_membrane[None], truth[None]).tolist() == [[0, 3]]  # no region: nothing merged
    assert merged_cells(truth[None], everything_membrane[None]).tolist() == [[0, 0]]


def test_tile_scores_count_every_pixel_once():
    predictions = torch.randint(0, 2, (2, 8, 8))
    masks = torch.randint(0, 2, (2, 8, 8))
    scores = tile_scores(predictions, masks, size=4, num_classes=2)
    assert scores.confusions.shape == (8, 2, 2)
    whole = torch.zeros(2, 2, dtype=torch.long)
    whole.index_put_((masks.flatten(), predictions.flatten()), torch.ones(128, dtype=torch.long), accumulate=True)
    assert torch.equal(scores.confusions.sum(0), whole)


@pytest.mark.parametrize("regime", REGIMES)
def test_regimes_train_what_the_lecture_says(regime):
    model, groups = regime_model(regime, num_classes=3)
    trained = {id(p) for group in groups for p in group["params"]}
    encoder = list(model.backbone.parameters())
    head = list(model.head.parameters())
    assert all(id(p) in trained for p in head)
    assert all(id(p) in trained for p in encoder) == (regime in ("fine_tune", "scratch"))
    assert all(not p.requires_grad for p in encoder) == (regime in ("frozen", "early"))
    if regime == "fine_tune":
        assert groups[1]["lr"] == pytest.approx(groups[0]["lr"] * TrainingConfig().fine_tune_factor)
    if regime == "early":
        assert set(model.backbone.levels) == {"level1", "level2", "level3"}  # no high-level features
        assert model.head.levels == ("level3", "level2")
    model.train()
    assert model.backbone.training == (regime in ("fine_tune", "scratch"))  # frozen batch norm stays in eval
    assert model(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64)


def test_pretrained_regimes_share_the_imagenet_weights():
    frozen, _ = regime_model("frozen", num_classes=3)
    fine, _ = regime_model("fine_tune", num_classes=3)
    scratch, _ = regime_model("scratch", num_classes=3)
    first = lambda model: next(model.backbone.parameters())  # noqa: E731
    assert torch.equal(first(frozen), first(fine))
    assert not torch.equal(first(frozen), first(scratch))
    with pytest.raises(ValueError, match="unknown regime 'linear'"):
        regime_model("linear", num_classes=3)


def _toy_frames(count=6, size=32):
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(count, 1, size, size, generator=generator)
    masks = (images[:, 0] > 0.5).long()
    return Frames(images, masks, torch.ones(count, size, size))


def test_training_is_paired_and_reproducible():
    frames, config = _toy_frames(), TrainingConfig(steps=4, batch_size=2)

    def run(seed, **options):
        torch.manual_seed(0)
        model = build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2)
        train(model, None, frames, config, seed=seed, **options)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    # weights of 1 everywhere are the plain loss: the weighted arm differs only by its map
    assert torch.allclose(run(0, weighted=True), run(0), atol=1e-6)
    assert not torch.equal(run(0, elastic=True), run(0))
    with pytest.raises(ValueError, match="needs frames with weight maps"):
        train(build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2), None,
              Frames(frames.images, frames.masks), config, seed=0, weighted=True)


def test_elastic_batches_warp_image_and_mask_together_and_keep_the_seed():
    blocks = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)).round()
    images = blocks.repeat_interleave(8, -1).repeat_interleave(8, -2)  # (2, 1, 48, 48) squares of 0 and 1
    frames = Frames(images, images[:, 0].long())
    warped, masks, _ = frames.batch(torch.tensor([0, 1]), torch.Generator().manual_seed(3), elastic=True)
    again, _, _ = frames.batch(torch.tensor([0, 1]), torch.Generator().manual_seed(3), elastic=True)
    assert torch.equal(warped, again)
    inside = masks != 255
    assert ((warped[:, 0] > 0.5) != (images[:, 0] > 0.5)).any()  # something moved
    assert ((warped[:, 0] > 0.5) == masks.bool())[inside].float().mean() > 0.97  # the mask moved with the image
    state = torch.get_rng_state()
    frames.batch(torch.tensor([0]), torch.Generator().manual_seed(0), elastic=True)
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left as it was


def test_predict_returns_class_indices():
    model = build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2)
    predictions = predict(model, torch.rand(3, 1, 32, 32), batch_size=2)
    assert predictions.shape == (3, 32, 32) and predictions.dtype == torch.long


def test_sgd_with_momentum_keeps_the_long_run_step():
    frames, config = _toy_frames(), TrainingConfig(steps=1, batch_size=2, sgd_step=0.1)
    seen = {}
    original = torch.optim.SGD.__init__

    def spy(self, groups, **options):
        seen["lr"] = [group["lr"] for group in groups]
        seen["momentum"] = options["momentum"]
        original(self, groups, **options)

    torch.optim.SGD.__init__ = spy
    try:
        for momentum in (0.9, 0.99):
            train(build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2), None, frames, config,
                  seed=0, momentum=momentum)
            assert seen["momentum"] == momentum
            assert seen["lr"][0] == pytest.approx(0.1 * (1 - momentum))  # lr / (1 - momentum) = 0.1 for both
    finally:
        torch.optim.SGD.__init__ = original
    with pytest.raises(ValueError, match="momentum must lie in"):
        train(build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2), None, frames, config, seed=0,
              momentum=1.0)


def test_object_crops_centre_each_object_and_keep_the_frame_shape():
    from segedu.lab.endtoend import Frames, object_crops

    images = torch.rand(1, 3, 96, 128)
    masks = torch.zeros(1, 96, 128, dtype=torch.long)
    masks[0, 60:76, 90:110] = 8  # a 16x20 car near the lower right
    masks[0, 10:12, 10:12] = 9  # a 4-pixel pedestrian: below the minimum, no crop
    crops = object_crops(Frames(images, masks), (48, 64), margin=1.5)
    assert crops.images.shape == (1, 3, 48, 64) and crops.masks.shape == (1, 48, 64)
    rows, columns = (crops.masks[0] == 8).nonzero(as_tuple=True)
    # the crop is 24 px high (1.5 x 16 = 24 = 96 / 4, above 1.5 x 20 x 96/128 = 22.5) and 32 wide, centred on the
    # car: the car fills the middle of the crop, 320 of its 768 pixels, scaled by 2
    assert abs((rows.float().mean() - 23.5).item()) < 1.5 and abs((columns.float().mean() - 31.5).item()) < 1.5
    assert abs((crops.masks[0] == 8).float().mean().item() - 320 / 768) < 0.02
    with pytest.raises(ValueError, match="no region"):
        object_crops(Frames(images, torch.zeros(1, 96, 128, dtype=torch.long)), (48, 64))


def test_the_auxiliary_weight_trains_the_auxiliary_head_and_at_zero_only_runs_it():
    generator = torch.Generator().manual_seed(0)
    frames = Frames(torch.rand(4, 3, 32, 32, generator=generator), torch.randint(0, 3, (4, 32, 32), generator=generator))
    config = TrainingConfig(steps=2, batch_size=2)

    def run(weight):
        torch.manual_seed(0)
        model = build_model("pspnet", num_classes=3, backbone="resnet18", width=0.125)
        initial = model.auxiliary_head[-1].weight.detach().clone()
        train(model, None, frames, config, seed=0, auxiliary_weight=weight)
        encoder = torch.cat([p.detach().flatten() for p in model.encoder.parameters()])
        return encoder, initial, model.auxiliary_head[-1].weight.detach()

    zero, again, some = run(0.0), run(0.0), run(0.4)
    assert torch.equal(zero[0], again[0]) and not torch.allclose(zero[0], some[0])  # its gradient reaches the encoder
    decayed = zero[1] * (1 - config.learning_rate * config.weight_decay) ** config.steps  # AdamW's decay, no gradient
    assert torch.allclose(zero[2], decayed, rtol=1e-6, atol=0)
    assert not torch.allclose(some[2], decayed, atol=1e-5)  # weighted, the auxiliary classifier learns
    with pytest.raises(ValueError, match="auxiliary head"):
        train(build_model("unet", num_classes=3, width=0.125, depth=2), None, frames, config, seed=0,
              auxiliary_weight=0.4)
