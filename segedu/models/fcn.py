"""Fully convolutional networks (Long, Shelhamer, Darrell, CVPR 2015; figure 3 and section 4).

A classifier made fully convolutional: VGG16's fully connected fc6 and fc7 become a 7x7 and a 1x1
convolution holding the same weights (`convolutionalize`, notebook 01), a 1x1 "score" convolution
gives class scores at stride 32, and transposed convolutions upsample them to the image (notebook 02).
FCN-32s upsamples the stride-32 scores directly; FCN-16s first adds scores predicted from pool4
(stride 16), FCN-8s also from pool3 (stride 8) (notebook 04). As in the paper, the 2x upsamplings are
learned and start as bilinear interpolation, the final 32x/16x/8x upsampling is fixed bilinear (a buffer,
not a parameter), and the skip scores start at zero, so FCN-16s begins exactly as FCN-32s. With VGG16
and 21 classes FCN-8s holds 134.4M parameters (published: 134M, table 1).

Departures: the paper pads the first convolution by 100 pixels and crops the upsampled scores by
hand-computed offsets; here the input is reflection-padded to a multiple of 32, fc6 pads by 3 so the
score map is exactly 1/32 of it, and every upsampling is exact, so no offsets are needed. The paper's
"at-once" scaling of the pool3/pool4 features is not used (we train each net in one stage from zero
skip scores). `backbone=` other than VGG16 has no fully connected layers to convolutionalize: fc6/fc7's role, a
nonlinear classifier over a neighbourhood at stride 32, is taken by one 3x3 ConvBNReLU of 512 channels (random,
trained with the decoder; `encoder.levels` are the backbone's, so `freeze_encoder("level5")` freezes the
pretrained part alone). `FCNResNet` (model name "fcn") carries the simpler head torchvision puts on a
dilated ResNet.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..backbones import build_backbone
from ..layers import ConvBNReLU, bilinear_kernel, scaled
from .base import OnLevel, SegmentationModel
from ..language import tr

__all__ = ["FCN", "FCNResNet", "convolutionalize", "fcn32s", "fcn16s", "fcn8s", "fcn"]


def convolutionalize(linear: nn.Linear, in_channels: int) -> nn.Conv2d:
    """The convolution that computes `linear` at every position of an (N, in_channels, k, k) window.

    A Linear layer on a flattened (C, k, k) map has weight (out, C k k); reshaped to (out, C, k, k) it is a
    k x k convolution, which slides the same classifier over a larger map (FCN section 3.1).
    """
    window = linear.in_features // in_channels
    kernel_size = round(window ** 0.5)
    if in_channels * kernel_size ** 2 != linear.in_features:
        raise ValueError(tr("a Linear with {linear_in_features} inputs is not a square window over {in_channels} "
                            "channels",
                            linear_in_features=linear.in_features, in_channels=in_channels))
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size, padding=kernel_size // 2)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size))
        conv.bias.copy_(linear.bias)
    return conv


class LearnedUpsampling(nn.ConvTranspose2d):
    """2x transposed convolution over the class scores, initialized to bilinear interpolation: (N, K, h, w) -> (N, K, 2h, 2w)."""

    def __init__(self, num_classes: int):
        super().__init__(num_classes, num_classes, kernel_size=4, stride=2, padding=1, bias=False)
        with torch.no_grad():
            self.weight.copy_(bilinear_kernel(num_classes, num_classes, 4))


class FixedBilinearUpsampling(nn.Module):
    """The final upsampling of FCN: a transposed convolution frozen to bilinear weights (a buffer, not a parameter).

    (N, K, h, w) -> (N, K, factor h, factor w), each class upsampled on its own (groups = K).
    """

    def __init__(self, num_classes: int, factor: int):
        super().__init__()
        self.factor = factor
        self.register_buffer("weight", bilinear_kernel(1, 1, 2 * factor).expand(num_classes, 1, -1, -1).clone(),
                             persistent=False)

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(scores, self.weight.to(scores.dtype), stride=self.factor, padding=self.factor // 2,
                                  groups=scores.shape[1])


class FCNEncoder(nn.Module):
    """The classification net made fully convolutional: the backbone's levels, then (VGG16) fc6 as a 7x7 and fc7
    as a 1x1 convolution. (N, C, H, W) -> {"level1", ..., "level5", "fc7"}; `channels` names each output's width."""

    def __init__(self, *, backbone: str, in_channels: int, width: float, pretrained: bool, dropout: float):
        super().__init__()
        self.backbone = build_backbone(backbone, in_channels=in_channels, width=width, pretrained=pretrained)
        channels = self.backbone.channels["level5"]
        if backbone.startswith("vgg16"):
            hidden = scaled(4096, width)
            self.classifier = nn.Sequential(nn.Conv2d(channels, hidden, 7, padding=3), nn.ReLU(inplace=True),
                                            nn.Dropout(dropout), nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True),
                                            nn.Dropout(dropout))
            if pretrained:
                vgg = (torchvision.models.vgg16_bn if backbone == "vgg16_bn" else torchvision.models.vgg16)(weights="DEFAULT")
                self.classifier[0] = convolutionalize(vgg.classifier[0], channels)
                self.classifier[3] = convolutionalize(vgg.classifier[3], 4096)
            channels = hidden
        else:  # other backbones have no fully connected layers to convolutionalize: a small nonlinear classifier
            hidden = scaled(512, width)
            self.classifier = nn.Sequential(ConvBNReLU(channels, hidden), nn.Dropout(dropout))
            channels = hidden
        self.channels = {**self.backbone.channels, "fc7": channels}

    @property
    def levels(self) -> nn.ModuleDict:
        """The backbone's five levels (what `SegmentationModel.freeze_encoder(through=...)` freezes)."""
        return self.backbone.levels

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(images)
        return {**features, "fc7": self.classifier(features["level5"])}  # fc7: (N, 4096, H/32, W/32)


class FCNDecoder(nn.Module):
    """Class scores at stride 32 (score_fr on fc7); FCN-16s adds pool4's scores after a learned 2x upsampling,
    FCN-8s then pool3's. {"fc7", "level4", "level3"} -> (N, K, H/stride, W/stride)."""

    def __init__(self, channels: dict[str, int], num_classes: int, stride: int):
        super().__init__()
        self.score = nn.Conv2d(channels["fc7"], num_classes, 1)  # score_fr
        self.skips = nn.ModuleDict()  # score_pool4, score_pool3: zero at the start (the paper's initialization)
        self.upsample2 = nn.ModuleList()
        for level in ["level4", "level3"][: {32: 0, 16: 1, 8: 2}[stride]]:
            self.skips[level] = nn.Conv2d(channels[level], num_classes, 1)
            nn.init.zeros_(self.skips[level].weight)
            nn.init.zeros_(self.skips[level].bias)
            self.upsample2.append(LearnedUpsampling(num_classes))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        scores = self.score(features["fc7"])  # (N, K, H/32, W/32)
        for (level, skip), upsample in zip(self.skips.items(), self.upsample2):
            scores = upsample(scores) + skip(features[level])  # (N, K, H/16, W/16), then H/8
        return scores


class FCN(SegmentationModel):
    """FCN-32s, -16s or -8s: encoder (VGG16 with fc6/fc7 as convolutions) -> decoder (scores fused over the
    skips) -> head (fixed bilinear upsampling by the stride). (N, in_channels, H, W) -> (N, num_classes, H, W)."""

    multiple = 32
    def __init__(self, *, num_classes: int, in_channels: int = 3, stride: int = 8, backbone: str = "vgg16",
                 width: float = 1.0, pretrained: bool = False, dropout: float = 0.5):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        if stride not in (32, 16, 8):
            raise ValueError(tr("FCN stride must be 32, 16 or 8, got {stride}", stride=stride))
        self.name, self.stride = f"fcn{stride}s", stride
        self.encoder = FCNEncoder(backbone=backbone, in_channels=in_channels, width=width, pretrained=pretrained,
                                  dropout=dropout)
        self.decoder = FCNDecoder(self.encoder.channels, num_classes, stride)
        self.head = FixedBilinearUpsampling(num_classes, stride)  # (N, K, H/stride, W/stride) -> (N, K, H, W)


class FCNResNet(SegmentationModel):
    """An FCN on a dilated ResNet (output stride 8), as torchvision's fcn_resnet50: encoder (the backbone) ->
    decoder (3x3 ConvBNReLU to C/4 and dropout, on level5) -> head (1x1 to the classes), upsampled bilinearly;
    `auxiliary` adds the same head on level4."""

    name = "fcn"
    def __init__(self, *, num_classes: int, in_channels: int = 3, backbone: str = "resnet50", output_stride: int = 8,
                 width: float = 1.0, pretrained: bool = False, auxiliary: bool = False):
        super().__init__(num_classes=num_classes, in_channels=in_channels)
        self.encoder = build_backbone(backbone, in_channels=in_channels, output_stride=output_stride, width=width,
                                      pretrained=pretrained)
        channels = self.encoder.channels["level5"]
        self.decoder = OnLevel("level5", ConvBNReLU(channels, channels // 4), nn.Dropout(0.1))
        self.head = nn.Conv2d(channels // 4, num_classes, 1)
        if auxiliary:
            channels = self.encoder.channels["level4"]
            self.auxiliary_head = nn.Sequential(ConvBNReLU(channels, channels // 4), nn.Dropout(0.1),
                                                nn.Conv2d(channels // 4, num_classes, 1))


def fcn32s(**options) -> FCN:
    """FCN-32s: scores at stride 32, upsampled 32x. Options: those of `FCN` but `stride`."""
    return FCN(stride=32, **options)


def fcn16s(**options) -> FCN:
    """FCN-16s: FCN-32s plus scores from pool4. Options: those of `FCN` but `stride`."""
    return FCN(stride=16, **options)


def fcn8s(**options) -> FCN:
    """FCN-8s: FCN-16s plus scores from pool3. Options: those of `FCN` but `stride`."""
    return FCN(stride=8, **options)


def fcn(**options) -> FCNResNet:
    """FCN head on a dilated ResNet (or any backbone), as torchvision's fcn_resnet50. Options: those of `FCNResNet`."""
    return FCNResNet(**options)
