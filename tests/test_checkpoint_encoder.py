"""A head trained on a frozen pretrained encoder is exported without the encoder (`export_checkpoint(...,
omit_pretrained_encoder=True)`): the encoder comes back from its package, checked by its SHA-256."""

from __future__ import annotations

import pytest
import torch

from segedu.checkpoint import encoder_digest, export_checkpoint, load_model, save_checkpoint
from segedu.errors import CheckpointError
from segedu.models import build_model


def trained_on_frozen_encoder(path, *, touch_encoder=False):
    torch.manual_seed(0)
    model = build_model("fcn8s", num_classes=3, backbone="efficientnet_lite0", pretrained=True)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not name.startswith("encoder.backbone."):  # FCN's fc6/fc7 stand-in and its decoder train
                parameter.add_(0.01 * torch.randn_like(parameter))  # the "training" of the head
        if touch_encoder:
            next(model.encoder.backbone.parameters()).add_(1e-3)
    save_checkpoint(path, {"model": model.state_dict(), "model_spec": model.build_spec, "data": {"image_size": [64, 64]},
                           "epoch": 1})
    return model.eval()


def test_the_export_leaves_the_pretrained_encoder_out_and_the_loaded_model_predicts_the_same(tmp_path):
    model = trained_on_frozen_encoder(tmp_path / "run.pt")
    full = export_checkpoint(tmp_path / "run.pt", tmp_path / "full.pt")
    slim = export_checkpoint(tmp_path / "run.pt", tmp_path / "slim.pt", omit_pretrained_encoder=True)
    assert slim.stat().st_size < full.stat().st_size / 3
    loaded, state = load_model(slim)
    assert not any(key.startswith("encoder.backbone.") for key in state["model"]) and len(state["encoder"]["sha256"]) == 64
    assert any(key.startswith("encoder.classifier.") for key in state["model"])  # trained, so kept
    assert encoder_digest(loaded) == encoder_digest(model)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        reference, _ = load_model(full)
        exact = model(images)
        slim_error = (loaded.float()(images) - exact).abs().max()
        full_error = (reference.float()(images) - exact).abs().max()
        assert slim_error < 5e-2 and slim_error <= full_error  # only the head in float16, the encoder exact


def test_a_changed_encoder_cannot_be_left_out(tmp_path):
    trained_on_frozen_encoder(tmp_path / "run.pt", touch_encoder=True)
    with pytest.raises(CheckpointError, match="not the package.s any more"):
        export_checkpoint(tmp_path / "run.pt", tmp_path / "slim.pt", omit_pretrained_encoder=True)
    assert not (tmp_path / "slim.pt").exists()


def test_other_installed_encoder_weights_are_refused_at_load(tmp_path):
    trained_on_frozen_encoder(tmp_path / "run.pt")
    slim = export_checkpoint(tmp_path / "run.pt", tmp_path / "slim.pt", omit_pretrained_encoder=True)
    from segedu.checkpoint import load_checkpoint

    state = load_checkpoint(slim)
    state["encoder"]["sha256"] = "0" * 64  # as if the package held other weights than at training
    save_checkpoint(tmp_path / "other.pt", {key: value for key, value in state.items() if key != "format"})
    with pytest.raises(CheckpointError, match="other pretrained encoder weights"):
        load_model(tmp_path / "other.pt")


def test_the_digest_sees_one_changed_number_of_the_backbone_and_nothing_else():
    model = build_model("fcn8s", num_classes=3, backbone="efficientnet_lite0", width=0.25)
    before = encoder_digest(model)
    with torch.no_grad():
        model.state_dict()[next(key for key in model.state_dict() if key.endswith("running_mean"))][0] += 1
    assert encoder_digest(model) != before
    changed = encoder_digest(model)
    with torch.no_grad():
        model.head.weight.add_(1) if hasattr(model.head, "weight") else next(model.decoder.parameters()).add_(1)
    assert encoder_digest(model) == changed  # the head is not the pretrained part


def test_a_new_run_can_start_from_a_head_stored_without_its_encoder(tmp_path):
    from segedu.engine.resume import _initial_weights

    model = trained_on_frozen_encoder(tmp_path / "run.pt")
    slim = export_checkpoint(tmp_path / "run.pt", tmp_path / "slim.pt", omit_pretrained_encoder=True)
    fresh = build_model("fcn8s", num_classes=3, backbone="efficientnet_lite0")  # random encoder and head
    assert _initial_weights(fresh, slim) == slim
    for (name, ours), theirs in zip(fresh.state_dict().items(), model.state_dict().values()):
        tolerance = 0 if name.startswith("encoder.backbone.") else 1e-2  # the head went through float16
        assert torch.allclose(ours.float(), theirs.float(), atol=tolerance), name
