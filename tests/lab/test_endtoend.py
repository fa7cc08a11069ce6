"""segedu.lab.endtoend: tiling, the merged- and split-cell counts, the class-balance map, the transfer regimes, the
paired training loop, bias-corrected momentum, and U-Net's elastic deformation (segedu.lab.deformation)."""

import numpy as np
import pytest
import torch

from segedu.lab import deformation
from segedu.lab.endtoend import (DEFORMATION_SEED, REGIMES, EncoderHead, Frames, TrainingConfig, class_balance_map,
                                 merged_cells, momentum_sgd, predict, regime_model, separation_counts, split_cells,
                                 tile, tile_scores, train)
from segedu.losses import border_weight_map, connected_components
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


def test_split_cells_counts_membranes_predicted_across_a_cell():
    truth = _cells(4, 8)  # three cells side by side: columns 0-3, 5-7, 9-11
    assert split_cells(truth[None], truth[None]).tolist() == [[0, 3]]  # perfect: nothing split
    assert split_cells(_cells(2, 4, 8)[None], truth[None]).tolist() == [[1, 3]]  # the first cell cut in two
    assert split_cells(_cells(1, 2, 4, 6, 8)[None], truth[None]).tolist() == [[2, 3]]  # the first in 3, the second in 2
    across = truth.clone()
    across[6, :] = 0  # a membrane predicted across all three cells, row 6: each in an upper and a lower half
    assert split_cells(across[None], truth[None]).tolist() == [[3, 3]]
    assert split_cells(_cells(8)[None], truth[None]).tolist() == [[0, 3]]  # a missed membrane merges, splits nothing
    assert split_cells(_cells(5, 8)[None], truth[None]).tolist() == [[0, 3]]  # a membrane one pixel off: no split
    everything_membrane = torch.zeros(12, 12, dtype=torch.long)
    assert split_cells(everything_membrane[None], truth[None]).tolist() == [[0, 3]]  # no region: nothing split
    assert split_cells(truth[None], everything_membrane[None]).tolist() == [[0, 0]]  # no cell: nothing to split
    speck = truth.clone()
    speck[0:2, 4] = 1  # a gap in the first membrane: one region over the first two cells, a merge and no split
    assert split_cells(speck[None], truth[None]).tolist() == [[0, 3]]
    assert merged_cells(speck[None], truth[None]).tolist() == [[2, 3]]
    counts = separation_counts(torch.stack([across, _cells(8)]), torch.stack([truth, truth]))
    assert counts["split"].tolist() == [[3, 3], [0, 3]] and counts["merged"].tolist() == [[0, 3], [2, 3]]


def test_the_class_balance_map_is_the_border_map_without_its_border_term():
    generator = torch.Generator().manual_seed(0)
    masks = [_cells(4, 8), _cells(), torch.zeros(12, 12, dtype=torch.long),
             (torch.rand(24, 24, generator=generator) < 0.6).long()]
    with_void = _cells(4, 8)
    with_void[:3, :3] = 255
    for mask in masks + [with_void]:
        balance = class_balance_map(mask)
        assert torch.allclose(balance, border_weight_map(mask, w0=0.0))
        valid = mask != 255
        assert balance[valid].mean().item() == pytest.approx(1.0) and (balance[~valid] == 0).all()
    # the full map adds the border term on the membranes between cells, nowhere less than class balance
    full, balance = border_weight_map(_cells(4, 8)), class_balance_map(_cells(4, 8))
    assert (full >= balance - 1e-6).all() and (full - balance)[:, 4].min() > 1.0


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


@pytest.mark.parametrize("regime", ["frozen", "early"])
def test_a_fixed_encoder_encodes_each_image_once_and_gives_the_same_logits(regime):
    torch.manual_seed(0)
    plain, _ = regime_model(regime, num_classes=3)
    remembered = {}
    torch.manual_seed(0)  # the same head
    first, _ = regime_model(regime, num_classes=3, remembered=remembered)
    torch.manual_seed(1)
    second, _ = regime_model(regime, num_classes=3, remembered=remembered)  # another run sharing the dict
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    encoded = []
    for model in (first, second):
        model.backbone.register_forward_hook(lambda module, inputs, output: encoded.append(len(inputs[0])))
    assert not first.backbone.training  # from the start: features are never remembered from batch statistics
    plain.eval(), first.eval()  # the heads' batch norms too, to compare logits
    with torch.no_grad():
        assert torch.allclose(first(images[:2]), plain(images[:2]), atol=1e-5)
        mixed = torch.stack([images[1], images[2], images[0], images[3].flip(-1), images[2]])  # known and new, mixed
        assert torch.allclose(first(mixed), plain(mixed), atol=1e-5)
    first.train()
    first(mixed[:3]).sum().backward()  # the head trains on remembered features
    assert all(parameter.grad is not None for parameter in first.head.parameters())
    second(images)
    assert encoded == [2, 2, 1]  # two images, then the two new ones of five (one twice), then image 3 unflipped
    assert len(remembered) == 5


def test_frozen_and_early_runs_can_share_a_dict():
    remembered, images = {}, torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    frozen, _ = regime_model("frozen", num_classes=3, remembered=remembered)
    torch.manual_seed(0)
    early, _ = regime_model("early", num_classes=3, remembered=remembered)
    torch.manual_seed(0)
    plain_early, _ = regime_model("early", num_classes=3)
    with torch.no_grad():
        frozen(images)
        # the early run gets its own levels, not the frozen run's
        assert torch.allclose(early.eval()(images), plain_early.eval()(images), atol=1e-5)
    assert len(remembered) == 4


def test_a_remembered_encoder_encodes_again_under_autocast_and_passes_an_empty_batch():
    remembered, images = {}, torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    model, _ = regime_model("frozen", num_classes=3, remembered=remembered)
    model.eval()
    encoded = []
    model.backbone.register_forward_hook(lambda module, inputs, output: encoded.append(len(inputs[0])))
    with torch.no_grad():
        model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(images)  # other arithmetic: other features, not the fp32 ones
        assert model(images[:0]).shape == (0, 3, 64, 64)
    assert encoded == [2, 2, 0] and len(remembered) == 4


def test_only_a_fixed_encoder_remembers():
    remembered = {}
    model, _ = regime_model("fine_tune", num_classes=3, remembered=remembered)
    model(torch.rand(2, 3, 64, 64))
    assert model.remembered is None and remembered == {}  # a trained encoder's features change at every step
    with pytest.raises(ValueError, match="only a frozen backbone"):
        EncoderHead(model.backbone, model.head, frozen=False, remembered={})


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


def _recorded_batches(monkeypatch, frames, config, **options):
    """Every step's batch indices and the batch-order generator's state after it, over a whole training."""
    seen, original = [], Frames.batch

    def spy(self, indices, generator, **batch_options):
        batch = original(self, indices, generator, **batch_options)
        seen.append((indices.tolist(), generator.get_state()))
        return batch

    monkeypatch.setattr(Frames, "batch", spy)
    torch.manual_seed(0)
    train(build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2), None, frames, config, seed=3,
          **options)
    monkeypatch.setattr(Frames, "batch", original)
    return seen


@pytest.mark.parametrize("arm, other", [({"elastic": True}, {}), ({"weighted": True}, {}),
                                        ({"momentum": 0.99}, {"momentum": 0.9})], ids=["elastic", "weights",
                                                                                     "momentum"])
def test_two_arms_draw_the_same_batches_and_flips_at_every_step(monkeypatch, arm, other):
    """12 steps of 4 of 6 frames: 8 epochs, batches across the epochs' ends. The generator's state after each batch
    is the same in both arms, so every draw from it, the order and the flips, was too: the elastic arm's
    deformations come from a generator of their own (with the batch order's generator shared, this fails at the
    first step, and the indices differ from the second on)."""
    frames, config = _toy_frames(), TrainingConfig(steps=12, batch_size=4)
    first, second = (_recorded_batches(monkeypatch, frames, config, **options) for options in (arm, other))
    assert len(first) == len(second) == 12
    for (indices, state), (other_indices, other_state) in zip(first, second):
        assert indices == other_indices and torch.equal(state, other_state)


def test_the_elastic_arm_moves_its_batches_by_its_own_seeded_draws():
    blocks = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)).round()
    images = blocks.repeat_interleave(8, -1).repeat_interleave(8, -2)  # (2, 1, 48, 48) squares of 0 and 1
    frames = Frames(images, images[:, 0].long(), images[:, 0] + 1)
    indices = torch.tensor([0, 1])
    plain = frames.batch(indices, torch.Generator().manual_seed(3))
    warped = frames.batch(indices, torch.Generator().manual_seed(3), deformation=torch.Generator().manual_seed(5))
    again = frames.batch(indices, torch.Generator().manual_seed(3), deformation=torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(warped, again))
    assert ((warped[0][:, 0] > 0.5) != (plain[0][:, 0] > 0.5)).any()  # something moved
    assert ((warped[0][:, 0] > 0.5) == warped[1].bool()).float().mean() > 0.97  # the mask moved with the image
    assert torch.allclose(warped[2], warped[0][:, 0] + 1, atol=1e-5)  # and the weight map with them
    state = torch.get_rng_state()
    frames.batch(indices, torch.Generator().manual_seed(0), deformation=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left as it was
    assert DEFORMATION_SEED > 1000  # seed s's deformations are no other seed's batch order


def _keys_bicubic_matrix(size: int, grid: int = 3) -> np.ndarray:
    """(size, grid) weights of bicubic interpolation from `grid` points spanning `size` pixels corner to corner,
    written from Keys (1981): the cubic convolution kernel with a = -0.75 (PyTorch's), the grid's edge values
    repeated beyond it. Row i gives pixel i's field as weights over the grid values."""
    def kernel(x, a=-0.75):
        x = abs(x)
        return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1 if x <= 1 else (a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
                                                                       if x < 2 else 0.0)

    matrix = np.zeros((size, grid))
    for pixel in range(size):
        source = pixel * (grid - 1) / (size - 1)
        floor = int(np.floor(source))
        for tap in range(-1, 3):
            matrix[pixel, min(max(floor + tap, 0), grid - 1)] += kernel(source - floor - tap)
    return matrix


def test_the_displacement_field_is_the_bicubic_interpolation_of_the_3x3_grid():
    coarse = deformation.coarse_displacements(4, torch.Generator().manual_seed(0)).double()
    assert coarse.shape == (4, 2, 3, 3)
    field = deformation.displacement_field(coarse, (129, 129))  # grid points on pixels 0, 64 and 128
    assert field.shape == (4, 2, 129, 129)
    assert torch.allclose(field[:, :, ::64, ::64], coarse, atol=1e-10)  # align_corners=True keeps the grid values
    rows, columns = _keys_bicubic_matrix(96), _keys_bicubic_matrix(128)
    expected = torch.from_numpy(rows) @ coarse @ torch.from_numpy(columns).T  # separable: (96, 3)(3, 3)(3, 128)
    assert torch.allclose(deformation.displacement_field(coarse, (96, 128)), expected, atol=1e-9)


def test_the_displacements_have_the_papers_scale():
    """Grid values ~ N(0, 10 px). Between grid points a pixel's displacement is a weighted sum of them, sum_k a_k g_k,
    of variance 100 sum_k a_k^2 < 100, so the RMS over the tile is below 10 px: with the independent weights above,
    100 x mean over rows of sum a^2 x mean over columns of sum a^2, about 7.7 px per axis. Measured on 2000 fields
    (4000 per axis: the RMS's sampling error is about 1%)."""
    size, count = 64, 2000
    generator = torch.Generator().manual_seed(0)
    coarse = deformation.coarse_displacements(count, generator)
    assert coarse.std().item() == pytest.approx(10.0, rel=0.02)
    field = deformation.displacement_field(coarse, (size, size))
    squared_weights = (_keys_bicubic_matrix(size) ** 2).sum(1).mean()
    expected = 10 * float(np.sqrt(squared_weights * squared_weights))
    assert 7.5 < expected < 8.0
    assert field.pow(2).mean().sqrt().item() == pytest.approx(expected, rel=0.04)  # per axis
    length = field.pow(2).sum(1).mean().sqrt().item()  # the displacement vector's length
    assert length == pytest.approx(np.sqrt(2) * expected, rel=0.04)


def test_a_zero_displacement_is_the_identity_and_a_constant_one_a_shift():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(3, 2, 20, 24, generator=generator)
    masks = torch.randint(0, 3, (3, 20, 24), generator=generator)
    weights = torch.rand(3, 20, 24, generator=generator)
    moved = deformation.elastic_deformation(images, masks, weights, generator=generator, standard_deviation=0.0)
    assert torch.allclose(moved[0], images, atol=1e-5) and torch.equal(moved[1], masks)
    assert torch.allclose(moved[2], weights, atol=1e-5)
    field = torch.zeros(3, 2, 20, 24)
    field[:, 1] = 3.0  # every pixel reads the one 3 columns to its right
    shifted = deformation.warp(images, field, mode="bilinear")
    assert torch.allclose(shifted[..., :-3], images[..., 3:], atol=1e-5)
    # past the edge, the tile mirrored about its last pixel: column 23 + 3 reads column 23 - 3
    assert torch.allclose(shifted[..., -1], images[..., -4], atol=1e-5)
    field = torch.zeros(3, 2, 20, 24)
    field[:, 0] = -2.0  # every pixel reads the one 2 rows above it
    assert torch.allclose(deformation.warp(images, field, mode="nearest")[..., 2:, :], images[..., :-2, :])


def test_a_deformed_mask_stays_a_label_map_and_moves_with_its_image():
    generator = torch.Generator().manual_seed(1)
    blocks = torch.randint(0, 3, (16, 8, 8), generator=generator)
    masks = blocks.repeat_interleave(8, -1).repeat_interleave(8, -2)  # (16, 64, 64) squares of labels
    masks[:, :4, :] = 255  # and a void band
    images = masks[:, None].float()
    state = torch.get_rng_state()
    moved_images, moved_masks, moved_weights = deformation.elastic_deformation(images, masks, generator=generator)
    assert torch.equal(torch.get_rng_state(), state)  # only the given generator is drawn from
    assert moved_weights is None and moved_masks.dtype == masks.dtype and moved_masks.shape == masks.shape
    assert set(moved_masks.unique().tolist()) <= {0, 1, 2, 255}
    assert (moved_masks != masks).float().mean() > 0.1  # 10 px displacements move many labels
    same = (moved_images[:, 0] - moved_masks.float()).abs() < 0.5  # the image, bilinear, agrees off the edges
    assert same.float().mean() > 0.9


def test_predict_returns_class_indices():
    model = build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2)
    predictions = predict(model, torch.rand(3, 1, 32, 32), batch_size=2)
    assert predictions.shape == (3, 32, 32) and predictions.dtype == torch.long


def test_bias_corrected_momentum_takes_the_effective_step_from_the_first_step():
    """A constant gradient g = 1: bias-corrected SGD moves by the effective step at every step, whatever the
    momentum; plain SGD at the same lr = step x (1 - beta) grows to it as 1 - beta^t, 0.99 reaching 63% after 100
    steps, which is the confound the correction removes."""
    def steps(momentum, corrected, count=300):
        parameter = torch.zeros(1, requires_grad=True)
        if corrected:
            optimizer, scheduler = momentum_sgd([{"params": [parameter]}], momentum, 0.1)
        else:
            optimizer, scheduler = torch.optim.SGD([parameter], lr=0.1 * (1 - momentum), momentum=momentum), None
        moves = []
        for _ in range(count):
            before = parameter.item()
            optimizer.zero_grad()
            parameter.sum().backward()  # d/dp p = 1
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            moves.append(before - parameter.item())
        return torch.tensor(moves, dtype=torch.float64)

    for momentum in (0.9, 0.99):
        assert torch.allclose(steps(momentum, True), torch.full((300,), 0.1, dtype=torch.float64), rtol=1e-4)
    plain = steps(0.99, False)
    assert plain[0] == pytest.approx(0.001, rel=1e-4) and plain[99] == pytest.approx(0.1 * (1 - 0.99 ** 100), rel=1e-3)
    assert steps(0.9, False)[99] == pytest.approx(0.1, rel=1e-3)  # 0.9 is full after ~30 steps
    with pytest.raises(ValueError, match="momentum must lie in"):
        momentum_sgd([{"params": [torch.zeros(1, requires_grad=True)]}], 1.0, 0.1)


def test_train_with_momentum_runs_bias_corrected_sgd_at_the_effective_step():
    frames, config = _toy_frames(), TrainingConfig(steps=5, batch_size=2, sgd_step=0.1)
    seen = []
    original = torch.optim.SGD.step

    def spy(self, *args, **kwargs):
        seen.append((self.defaults["momentum"], self.param_groups[0]["lr"]))
        return original(self, *args, **kwargs)

    torch.optim.SGD.step = spy
    try:
        for momentum in (0.9, 0.99):
            train(build_model("unet", num_classes=2, in_channels=1, width=0.125, depth=2), None, frames, config,
                  seed=0, momentum=momentum)
    finally:
        torch.optim.SGD.step = original
    for momentum in (0.9, 0.99):
        rates = [lr for beta, lr in seen if beta == momentum]
        expected = [0.1 * (1 - momentum) / (1 - momentum ** t) for t in range(1, 6)]  # lr / (1 - beta) = 0.1
        assert rates == pytest.approx(expected)
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
