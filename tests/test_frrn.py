"""FRRN: the two streams, one unit by hand, and the published size."""

import torch
import torch.nn.functional as F

from segedu.models import build_model
from segedu.models.frrn import FRRU


def test_frrn_a_has_the_published_size():
    with torch.device("meta"):
        model = build_model("frrn", num_classes=11)
    assert round(model.num_parameters() / 1e6, 1) == 17.7  # Pohlen et al. 2017, table 1: FRRN A, 17.7M


def test_the_residual_stream_keeps_full_resolution_all_the_way():
    model = build_model("frrn", num_classes=3, width=0.125).eval()
    images = torch.rand(1, 3, 64, 80)
    pooling, residual = model.encoder(images)
    assert residual.shape[-2:] == (64, 80) and pooling.shape[-2:] == (4, 5)  # full size; 1/16
    assert model(torch.rand(1, 3, 45, 70)).shape == (1, 3, 45, 70)  # any size: padded to 16 and cropped


def test_one_frru_by_hand():
    torch.manual_seed(0)
    unit = FRRU(8, 12, 4, scale=4).eval()
    pooling, residual = torch.rand(2, 8, 6, 5), torch.rand(2, 4, 24, 20)
    new_pooling, new_residual = unit((pooling, residual))
    joined = torch.cat([pooling, F.max_pool2d(residual, 4)], 1)  # the residual stream pooled to the unit's scale
    expected_pooling = unit.body(joined)
    back = F.interpolate(F.conv2d(expected_pooling, unit.back.weight, unit.back.bias), scale_factor=4,
                         mode="bilinear", align_corners=False)
    assert torch.allclose(new_pooling, expected_pooling)
    assert torch.allclose(new_residual, residual + back, atol=1e-6)  # the residual stream only ever adds
