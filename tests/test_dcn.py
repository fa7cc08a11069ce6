"""Deep contextual networks: three depths' scores summed, each upsampled bilinearly at first, deeply supervised."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from segedu.models import build_model
from segedu.models.dcn import deep_supervision_loss


def _model():
    torch.manual_seed(0)
    return build_model("dcn", num_classes=3, in_channels=1, width=0.125).eval()


def test_the_output_is_the_sum_of_three_full_resolution_branches():
    model, images = _model(), torch.rand(2, 1, 70, 90)
    branches = model.branch_logits(images)
    assert branches.shape == (2, 3, 3, 70, 90)
    torch.testing.assert_close(model(images), branches.sum(1), atol=1e-5, rtol=1e-5)
    assert [branch.level for branch in model.decoder.branches] == ["level3", "level4", "level5"]


def test_each_branch_starts_as_bilinear_upsampling_of_its_scores():
    model = _model()
    features = {level: torch.randn(1, model.encoder.channels[level], 4, 5) for level in ("level3", "level4", "level5")}
    for branch, stride in zip(model.decoder.branches, (8, 16, 32)):
        with torch.no_grad():
            scores = branch.score(features[branch.level])
            ours = branch(features)
        reference = F.interpolate(scores, scale_factor=stride, mode="bilinear", align_corners=False)
        assert ours.shape == reference.shape == (1, 3, 4 * stride, 5 * stride)
        inner = slice(stride, -stride)  # away from the border, where the transposed convolution lacks neighbours
        torch.testing.assert_close(ours[..., inner, inner], reference[..., inner, inner], atol=1e-5, rtol=1e-4)


def test_deep_supervision_adds_each_branch_loss():
    model, images = _model(), torch.rand(2, 1, 64, 64)
    targets = torch.randint(0, 3, (2, 64, 64))
    targets[:, :4] = 255
    with torch.no_grad():
        branches = model.branch_logits(images)
        fused = F.cross_entropy(branches.sum(1), targets, ignore_index=255)
        each = [F.cross_entropy(branches[:, i], targets, ignore_index=255) for i in range(3)]
        torch.testing.assert_close(deep_supervision_loss(model, images, targets, branch_weight=0.0), fused)
        torch.testing.assert_close(deep_supervision_loss(model, images, targets, branch_weight=0.5),
                                   fused + 0.5 * sum(each))
