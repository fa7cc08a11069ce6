"""The shipped checkpoints: small, loadable with weights_only, and as good as the metrics they record."""

from __future__ import annotations

import pytest
import torch

from segedu.checkpoint import load_checkpoint
from segedu.data import build_dataset
from segedu.engine import evaluate
from segedu.pretrained import CHECKPOINTS, checkpoint_path, load_pretrained


@pytest.mark.parametrize("name", CHECKPOINTS)
def test_checkpoint_is_small_and_loads_without_pickled_code(name):
    path = checkpoint_path(name)
    assert path.stat().st_size <= 10 * 2 ** 20, f"{path} is {path.stat().st_size / 2 ** 20:.1f} MB"
    state = load_checkpoint(path)  # torch.load(weights_only=True)
    assert state["metrics"] and state["data"]["image_size"]
    model, info = load_pretrained(name)
    assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
    channels, classes = state["model_spec"]["in_channels"], state["model_spec"]["num_classes"]
    with torch.no_grad():  # offline: a head's encoder comes from its installed package, nothing is downloaded
        assert model(torch.rand(1, channels, 64, 96)).shape == (1, classes, 64, 96)


def test_all_shipped_weights_together_stay_under_60_megabytes():
    """Every file the package ships, the Mask R-CNN (`segedu.instance.load_shipped`) included: at most 10 MiB each,
    60 MB (decimal) together."""
    files = sorted(checkpoint_path(next(iter(CHECKPOINTS))).parent.glob("*.pt"))
    assert {checkpoint_path(name) for name in CHECKPOINTS} < set(files)  # the Mask R-CNN is not in CHECKPOINTS
    for path in files:
        assert path.stat().st_size <= 10 * 2 ** 20, f"{path} is {path.stat().st_size / 2 ** 20:.1f} MiB"
    total = sum(path.stat().st_size for path in files)
    assert total <= 60 * 10 ** 6, f"the shipped checkpoints hold {total / 10 ** 6:.1f} MB"


def test_the_isbi_recipes_unet_reproduces_its_recorded_dice_and_rand_score(data_root):
    """`train --recipe isbi-cpu`, scored as `recipes.ship` recorded it: the five held-out slices whole, mirrored at
    their borders, the 8 symmetries averaged, in float32; Dice recomputed here from the confusion matrix."""
    from segedu.recipes import RECIPES, score_membranes
    from segedu.runtime import Runtime

    model, info = load_pretrained("unet_lite0_isbi2012")
    held_out = build_dataset("isbi2012", "val", image_size=None, root=data_root)
    scores = score_membranes(model, held_out, rotations=RECIPES["isbi-cpu"].test_time_rotations,
                             runtime=Runtime.resolve("cpu", bf16=False, channels_last=False))
    assert len(held_out) == 5
    assert 100 * scores["dice"] == pytest.approx(100 * info["metrics"]["dice"], abs=0.1)
    assert scores["rand"] == pytest.approx(info["metrics"]["rand"], abs=2e-3)
    assert scores["dice"] > 0.85


def test_the_painters_reproduce_their_recorded_scores_and_pix2pix_paints_the_texture_l1_smooths(data_root,
                                                                                               monkeypatch):
    """Notebook 09's two painters (`python -m segedu.lab.pix2pix`): the held-out label maps painted again and scored
    against the real tiles reproduce what each checkpoint recorded, and pix2pix's paintings keep far more of the
    real texture inside cells than L1 alone's, which notebook 09's lesson rests on."""
    from segedu.lab import pix2pix

    monkeypatch.setenv("SEGEDU_DATA", str(data_root))
    labels, images = pix2pix.label_and_image_tiles("isbi2012", "val")
    assert len(labels) == 20
    texture = {}
    for name in ("l1_painter_isbi2012", "pix2pix_isbi2012"):
        model, info = load_pretrained(name)
        scores = pix2pix.painting_scores(pix2pix.paint(model, labels), labels, images)
        for measure in ("l1", "texture", "detail"):
            assert scores[measure] == pytest.approx(info["metrics"][measure], abs=1e-4)
        assert info["metrics"]["split"] == "isbi2012 val tiles"
        texture[name] = scores["texture"]
    assert texture["pix2pix_isbi2012"] > texture["l1_painter_isbi2012"] + 0.15


SCORED_ON_CAMVID_TEST = [name for name in CHECKPOINTS
                         if str(load_checkpoint(checkpoint_path(name))["metrics"].get("split", "")).startswith("camvid test")]


@pytest.mark.parametrize("name", SCORED_ON_CAMVID_TEST)
def test_each_camvid_model_reproduces_its_recorded_miou_on_16_test_frames_within_a_tenth_of_a_point(name, data_root):
    """The flagship (`train --recipe camvid-cpu`) and each architecture's head (`--recipe camvid-heads`), scored as
    `recipes.ship` recorded it on the first 16 test frames: at the labels' resolution, in float32 so that a processor
    with or without bf16 gives the same figure. (All 233 frames for every model took 8 of CI's minutes; the course's
    own model is scored on all of them below.)"""
    from segedu.runtime import Runtime

    model, info = load_pretrained(name)
    frames = build_dataset("camvid", "test", image_size=None, subset=16, root=data_root)
    matrix = evaluate(model, frames, batch_size=4, input_size=tuple(info["data"]["image_size"]),
                      runtime=Runtime.resolve("cpu", bf16=False, channels_last=False))
    assert 100 * matrix.miou() == pytest.approx(100 * info["metrics"]["test_subset16_miou"], abs=0.1)
    counts = matrix.matrix.sum(1)
    assert matrix.miou() > 4 * (counts.max() / counts.sum()).item() / 11  # it segments: far above "all road"


def test_the_course_camvid_model_reproduces_its_recorded_miou_and_every_class_on_the_whole_test_split(data_root):
    """`segedu.pretrained.CAMVID_MODEL` (notebooks 00, 10 and 12 use it), scored as `recipes.ship` recorded it: all
    233 test frames at the labels' resolution, in float32."""
    from segedu.pretrained import CAMVID_MODEL
    from segedu.runtime import Runtime

    model, info = load_pretrained(CAMVID_MODEL)
    frames = build_dataset("camvid", "test", image_size=None, root=data_root)
    matrix = evaluate(model, frames, batch_size=4, input_size=tuple(info["data"]["image_size"]),
                      runtime=Runtime.resolve("cpu", bf16=False, channels_last=False))
    assert len(frames) == 233
    assert 100 * matrix.miou() == pytest.approx(100 * info["metrics"]["miou"], abs=0.1)
    assert [round(v, 3) for v in matrix.iou().tolist()] == pytest.approx(info["metrics"]["iou"], abs=2e-3)
    counts = matrix.matrix.sum(1)
    assert matrix.miou() > 8 * (counts.max() / counts.sum()).item() / 11  # it segments: far above "all road"


def test_the_course_camvid_model_is_scored_on_the_whole_test_split():
    from segedu.pretrained import CAMVID_MODEL

    assert CAMVID_MODEL in SCORED_ON_CAMVID_TEST


def test_unknown_checkpoint_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown pretrained checkpoint 'vgg'"):
        load_pretrained("vgg")
