"""Small trained checkpoints that ship with the course, so a learner without a GPU can look inside genuinely
trained networks. Each file is a segedu checkpoint (float16 weights, the build spec, the data description and the
metrics measured when it was exported), read with ``torch.load(weights_only=True)``. docs/claims.md gives the
command that trained each one.

    model, info = load_pretrained("unet_camvid")   # model in eval mode, float32
    info["metrics"], info["data"]["image_size"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from ..language import tr

__all__ = ["CAMVID_MODEL", "CHECKPOINTS", "checkpoint_path", "load_pretrained"]

FOLDER = Path(__file__).parent
CAMVID_MODEL = "unet_camvid"  # the course's CamVid model: swap the checkpoint here
CHECKPOINTS = {
    "unet_lite0_isbi2012": "U-Net's skips down to full resolution on the ImageNet EfficientNet-Lite0, trained on ISBI 2012 "
                           "slices 0-24 with the paper's tiles, deformation and border weights "
                           "(`python -m segedu train --recipe isbi-cpu`)",
    "unet_camvid": "U-Net's skips on the ImageNet EfficientNet-Lite0, trained on CamVid train at 360x480 "
                   "(`python -m segedu train --recipe camvid-cpu`): the course's CamVid model",
    # each architecture's own part (decoder and head) on the frozen ImageNet EfficientNet-Lite0, CamVid at 360x480
    # (`python -m segedu train --recipe camvid-heads --model NAME`); stored without the encoder, which comes from its
    # package and is checked by its SHA-256
    "fcn32s_camvid": "FCN-32s's scores at stride 32 on the frozen ImageNet EfficientNet-Lite0, CamVid",
    "fcn16s_camvid": "FCN-16s (scores from strides 32 and 16, summed) on the frozen ImageNet EfficientNet-Lite0, CamVid",
    "fcn8s_camvid": "FCN-8s (scores from strides 32, 16 and 8, summed) on the frozen ImageNet EfficientNet-Lite0, CamVid",
    "deeplabv1_camvid": "DeepLab v1's LargeFOV classifier on the frozen ImageNet EfficientNet-Lite0 at output stride 8, "
                        "CamVid",
    "deeplabv2_camvid": "DeepLab v2's ASPP (four atrous branches' scores, summed) on the frozen ImageNet "
                        "EfficientNet-Lite0 at output stride 8, CamVid",
    "pspnet_camvid": "PSPNet's pyramid pooling on the frozen ImageNet EfficientNet-Lite0 at output stride 8, CamVid",
    "deeplabv3_camvid": "DeepLab v3's ASPP on the frozen ImageNet EfficientNet-Lite0 at output stride 16, CamVid",
    # SegNet and DeconvNet need their own max-pooling encoder (no ImageNet VGG offline): quarter width, from scratch
    "segnet_camvid": "SegNet (VGG16-BN at quarter width, unpooling with its switches) trained from scratch on CamVid "
                     "at 360x480 (`python -m segedu train --recipe camvid-segnet`)",
    "deconvnet_camvid": "DeconvNet (VGG16-BN at quarter width, fc6/fc7 of 128 channels, unpooling and transposed "
                        "convolutions) trained from scratch on whole CamVid frames at 360x480 "
                        "(`python -m segedu train --recipe camvid-deconvnet`)",
    "deeplabv3plus_camvid": "DeepLab v3+'s ASPP and decoder on the frozen ImageNet EfficientNet-Lite0 at output stride "
                            "16, CamVid",
    # U-Net as an image generator (notebook 09): label map in, EM tile out, trained with and without pix2pix's
    # discriminator (`python -m segedu.lab.pix2pix --out segedu/pretrained`)
    "pix2pix_isbi2012": "U-Net (width 0.125, one grey channel out) trained as pix2pix's generator, L1 plus the 70x70 "
                        "PatchGAN's loss, to paint ISBI 2012 label maps as EM tiles",
    "l1_painter_isbi2012": "the same U-Net trained alike with L1 alone, to paint ISBI 2012 label maps as EM tiles",
}


def checkpoint_path(name: str) -> Path:
    if name not in CHECKPOINTS:
        raise ValueError(tr("unknown pretrained checkpoint {name!r}; choose one of: {join_checkpoints}",
                            name=name, join_checkpoints=', '.join(CHECKPOINTS)))
    return FOLDER / f"{name}.pt"


def load_pretrained(name: str) -> tuple[nn.Module, dict[str, Any]]:
    """The shipped model `name` in eval mode (float32) and its checkpoint dict (metrics, data, model_spec)."""
    from ..checkpoint import load_model

    model, state = load_model(checkpoint_path(name))
    return model.float().eval(), state
