"""U-Net's expanding path on a pretrained encoder (Iglovikov and Shvets 2018, TernausNet; the default model of
segmentation_models.pytorch): the contracting path is an ImageNet network's five levels, so the decoder starts from
features that already know edges, textures and objects, and the skips bring back where they are.

    level5 (stride 32) -> upsample to level4's size, concatenate level4, 3x3 ConvBNReLU
                       -> upsample to level3's size, concatenate level3, 3x3 ConvBNReLU
                       -> upsample to level2's size, concatenate level2, 3x3 ConvBNReLU   (stride 4)
                      [-> upsample to level1's size, concatenate level1, 3x3 ConvBNReLU   (stride 2)]
                      [-> upsample to the input's size, concatenate the input, 3x3 ConvBNReLU   (stride 1)]

    {level: (N, C_level, H / stride, W / stride)} -> (N, widths[-1], H / 4, W / 4)   (H / 2, H with 4, 5 widths)

Three widths stop at stride 4 (CamVid: poles and signs are several pixels wide); a fourth width adds the step at
level 1, stride 2, and a fifth the step at full resolution, whose skip is the input image itself ("level0", the
encoder's `keep_input`), as U-Net's path ends at the input's resolution: for structures a few pixels wide, such as
ISBI 2012's membranes, where one pixel of misplaced boundary costs several points of Dice.

Departures from U-Net (Ronneberger et al. 2015): the upsampling is bilinear instead of a learned 2x2 transposed
convolution, one 3x3 convolution per step instead of two, and the path stops at stride 4 (the head's scores are
upsampled bilinearly 4x to the image, as DeepLab v3+'s decoder does; 2x with four widths, not at all with five); all three keep it fast on a CPU.
U-Net's "drop-out layers at the end of the contracting path" (section 3.1) are optional (`dropout`, default 0):
with a rate above 0, level 5 and level 4 are dropped out as they enter the expanding path, as the reference
implementation does after conv4 and conv5 (rate 0.5 there); in evaluation they pass unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import ConvBNReLU
from ..language import tr

__all__ = ["BackboneDecoder", "DECODER_WIDTHS"]

DECODER_WIDTHS = (128, 64, 48)  # channels after the steps at levels 4, 3 and 2
SKIPS = ("level4", "level3", "level2", "level1", "level0")


class BackboneDecoder(nn.Module):
    """U-Net's expanding path on an encoder's levels 5 to 2, or to 1 with four `widths`, or to the input with five
    (module docstring). channels: {level: C}."""

    def __init__(self, channels: dict[str, int], widths: tuple[int, ...] = DECODER_WIDTHS, *, dropout: float = 0.0):
        super().__init__()
        if not 0 <= dropout <= 1:  # as `models.base.OPTION_RULES` checks it before the model is built
            raise ValueError(tr("dropout: a probability from 0 to 1, got {dropout}", dropout=dropout))
        if len(widths) not in (3, 4, 5) or min(widths) < 1:
            raise ValueError(tr("decoder widths: three (down to stride 4), four (stride 2) or five (the input's "
                                "resolution) positive channel counts, got {widths}",
                                widths=tuple(widths)))
        self.skips = SKIPS[:len(widths)]
        incoming = [channels["level5"], *widths[:-1]]
        self.steps = nn.ModuleList(ConvBNReLU(previous + channels[level], width)
                                   for previous, level, width in zip(incoming, self.skips, widths))
        self.out_channels = widths[-1]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # on levels 5 and 4 (section 3.1)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        decoded = self.dropout(features["level5"])  # (N, C5, H/32, W/32)
        for step, level in zip(self.steps, self.skips):
            skip = self.dropout(features[level]) if level == "level4" else features[level]
            decoded = F.interpolate(decoded, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            decoded = step(torch.cat([decoded, skip], dim=1))  # (N, width, h_level, w_level)
        return decoded  # (N, widths[-1], H/4, W/4), or H/2, H with four, five widths
