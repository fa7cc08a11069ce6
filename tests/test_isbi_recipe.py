"""The pieces of the ``isbi-cpu`` recipe: U-Net's path down to stride 2 on a backbone, a data set read several times
an epoch (`data.Repeated`), predictions averaged over the symmetries of the square (`predict(rotations=True)`), the
membrane scorer, and `train --recipe isbi-cpu` end to end on the synthetic membranes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segedu.data import Repeated, build_dataset
from segedu.engine import predict
from segedu.losses import BorderWeightedLoss
from segedu.models import build_model
from segedu.recipes import RECIPES, score_membranes


def test_four_decoder_widths_continue_the_path_to_level1():
    torch.manual_seed(0)
    model = build_model("unet", num_classes=2, in_channels=1, backbone="efficientnet_lite0",
                        decoder_widths=(32, 24, 16, 8)).eval()
    kept = {}
    model.encoder.register_forward_hook(lambda module, inputs, output: kept.update(output))
    with torch.no_grad():
        assert model(torch.rand(1, 1, 64, 96)).shape == (1, 2, 64, 96)
    features = {level: value.clone().requires_grad_(True) for level, value in kept.items()}
    decoded = model.decoder(features)
    assert decoded.shape == (1, 8, 32, 48)  # stride 2: half the input's side, the last width's channels
    decoded.sum().backward()
    assert features["level1"].grad.abs().sum() > 0, "the fourth step ignores level 1"


def test_a_fifth_width_ends_the_path_at_the_input_with_the_image_as_its_skip():
    torch.manual_seed(0)
    model = build_model("unet", num_classes=2, in_channels=1, backbone="efficientnet_lite0",
                        decoder_widths=(32, 24, 16, 8, 4)).eval()
    with torch.no_grad():
        features = model.encoder(torch.rand(1, 1, 64, 96))
    assert features["level0"].shape == (1, 1, 64, 96)
    features = {level: value.clone().requires_grad_(True) for level, value in features.items()}
    decoded = model.decoder(features)
    assert decoded.shape == (1, 4, 64, 96)  # full resolution, the fifth width's channels
    decoded.sum().backward()
    assert features["level0"].grad.abs().sum() > 0, "the fifth step ignores the input"
    plain = build_model("unet", num_classes=2, in_channels=1, backbone="efficientnet_lite0")
    assert "level0" not in plain.encoder(torch.rand(1, 1, 64, 64))


def test_decoder_widths_are_refused_where_they_mean_nothing():
    with pytest.raises(ValueError, match="three .* four .* or five"):
        build_model("unet", num_classes=2, backbone="efficientnet_lite0", decoder_widths=(32, 16))
    with pytest.raises(ValueError, match="backbone"):
        build_model("unet", num_classes=2, decoder_widths=(32, 24, 16, 8))


def test_dropout_at_the_end_of_the_contracting_path_drops_levels_5_and_4_in_training_only():
    """U-Net's drop-out layers (section 3.1): in training, zeroing a random part of levels 5 and 4 changes the
    output from pass to pass, and each of the two levels is dropped (its features' gradient has zeros where its
    values do not); in evaluation the model is the same network without them."""
    torch.manual_seed(0)
    options = dict(num_classes=2, in_channels=1, backbone="efficientnet_lite0", decoder_widths=(32, 24, 16, 8, 4))
    model = build_model("unet", dropout=0.5, **options)
    with torch.no_grad():
        features = model.encoder(torch.rand(2, 1, 64, 96))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model.decoder(features), model.decoder(features))
    features = {level: value.clone().requires_grad_(True) for level, value in features.items()}
    model.decoder(features).sum().backward()
    for level in ("level5", "level4"):
        assert (features[level].grad == 0).float().mean() > 0.3, f"{level} is not dropped"
    assert (features["level3"].grad == 0).float().mean() < 0.3, "level 3 is dropped too"
    plain = build_model("unet", **options)
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    with torch.no_grad():
        images = torch.rand(1, 1, 64, 96)
        assert torch.equal(model(images), plain(images))
    with pytest.raises(ValueError, match="dropout"):
        build_model("unet", dropout=1.5, **options)
    with pytest.raises(ValueError, match="backbone"):
        build_model("unet", num_classes=2, dropout=0.5)


def test_repeated_reads_its_data_set_over_and_keeps_its_description():
    data = build_dataset("membranes", "train", image_size=(32, 32), subset=3)
    repeated = Repeated(data, 4)
    assert len(repeated) == 12
    assert torch.equal(repeated[7][1], data[1][1]) and torch.equal(repeated[-1][1], data[2][1])
    assert repeated.class_names == data.class_names and repeated.in_channels == 1 and repeated.num_classes == 2
    assert torch.equal(repeated.load_mask(5), data.load_mask(2))
    with pytest.raises(IndexError):
        repeated[12]
    with pytest.raises(ValueError, match="times"):
        Repeated(data, 0)


class Asymmetric(torch.nn.Module):
    """A network that is not equivariant to turns or flips: a 3x3 convolution with an asymmetric kernel."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(0)))

    def forward(self, images):
        return self.conv(images)


def test_rotations_average_the_softmax_over_the_eight_symmetries_of_the_square():
    model, images = Asymmetric().eval(), torch.rand(2, 1, 12, 12)
    expected = 0
    with torch.no_grad():
        for turns in range(4):
            for mirrored in (False, True):
                moved = torch.rot90(images.flip(-1) if mirrored else images, turns, (-2, -1))
                back = torch.rot90(model(moved).softmax(1), -turns, (-2, -1))
                expected = expected + (back.flip(-1) if mirrored else back) / 8
    averaged = predict(model, images, flip=True, rotations=True)
    assert torch.allclose(averaged.exp(), expected, atol=1e-5)
    assert not torch.allclose(predict(model, images).softmax(1), expected, atol=1e-3)  # the average matters here
    tall = torch.rand(1, 1, 8, 12)  # turns of a rectangle: each pass is turned back to (8, 12)
    assert predict(model, tall, rotations=True).shape == (1, 3, 8, 12)


class Oracle(torch.nn.Module):
    """Predicts the membranes of the synthetic slices from their intensity (they are drawn dark)."""

    def __init__(self, threshold):
        super().__init__()
        self.threshold = threshold

    def forward(self, images):
        cell = (images - self.threshold) * 50
        return torch.cat([-cell, cell], dim=1)


def test_the_membrane_scorer_gives_one_for_the_truth_and_less_for_a_worse_prediction():
    data = build_dataset("membranes", "val", image_size=None, subset=2)

    class Truth(torch.nn.Module):  # reads the mask of the slice it is given, whatever the padding
        def forward(self, images):
            masks = torch.stack([data[i][1] for i in range(len(data))]).float()
            masks = F.pad(masks, (32, 32, 32, 32), mode="reflect")[:images.shape[0]]
            return torch.stack([1 - masks, masks], 1) * 20 - 10

    class One(torch.utils.data.Dataset):
        def __init__(self, index):
            self.index = index

        def __len__(self):
            return 1

        def __getitem__(self, _):
            return data[self.index]

    perfect = score_membranes(Truth(), One(0))
    assert perfect["dice"] == pytest.approx(1.0) and perfect["rand"] == pytest.approx(1.0)
    assert perfect["info"] == pytest.approx(1.0)
    everything_cell = score_membranes(Oracle(-1.0), One(0))  # one giant cell: every true cell merged
    assert everything_cell["dice_per_class"][1] < 1 and everything_cell["rand_merge"] < 0.5
    assert everything_cell["rand_split"] == pytest.approx(1.0)


def test_the_isbi_recipe_trains_on_native_tiles_with_the_border_weights():
    recipe = RECIPES["isbi-cpu"]
    data = recipe.training_data("membranes", recipe.image_size, 2)
    assert len(data) == 2 * recipe.tiles_per_image
    image, mask = data[0]
    assert image.shape == (1, recipe.tile, recipe.tile) and mask.shape == (recipe.tile, recipe.tile)
    loss = recipe.loss_function()
    assert isinstance(loss, BorderWeightedLoss) and (loss.w0, loss.sigma) == (10.0, 5.0)  # the paper's
    assert recipe.model_options() == {"decoder_widths": (128, 64, 48, 32, 16)}
    assert RECIPES["camvid-cpu"].loss_function() is None


@pytest.mark.slow
def test_train_recipe_isbi_cpu_runs_scores_and_ships_on_the_stand_in(tmp_path):
    from segedu.__main__ import main
    from segedu.checkpoint import load_model
    from segedu.recipes import ship

    output = tmp_path / "run"
    assert main(["train", "--recipe", "isbi-cpu", "--data", "membranes", "--epochs", "1", "--subset", "1",
                 "--output", str(output), "--no-progress", "--no-channels-last", "--option", "decoder_widths=[16,8,8,8]",
                 "--backbone", "efficientnet_lite0"]) == 0
    metrics = ship(output / "last.pt", tmp_path / "shipped.pt", command="c", machine="m", data="membranes",
                   split="val", subset=1, recipe=RECIPES["isbi-cpu"])
    model, state = load_model(tmp_path / "shipped.pt")
    assert state["model_spec"]["options"]["decoder_widths"] in ([16, 8, 8, 8], (16, 8, 8, 8))
    for key in ("dice", "dice_per_class", "rand", "rand_split", "rand_merge", "info", "val_subset1_dice", "curve"):
        assert key in metrics, key
    assert 0 <= metrics["dice"] <= 1 and metrics["curve"][-1]["epoch"] == 1
    assert "symmetries" in metrics["split"]
