"""Notebooks 01-05, the building blocks: exact identities and counts, no data, seconds each (`--fast` runs them):
1x1 convolutions (01), transposed convolutions (02), unpooling and SegNet's switches (03), and atrous and
depthwise separable convolutions (05)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .framework import Outcome, Registry
from .lab import Lab

claims = Registry()


@claims.claim("one_by_one_per_pixel", "a 1x1 convolution is a fully connected layer applied at every pixel",
              "01_one_by_one_convolution", "1x1 convolution", "largest difference, same weights", "below 1e-5",
              fast=True)
def one_by_one_is_per_pixel(lab: Lab) -> Outcome:
    """A 1x1 convolution is a fully connected layer applied to every pixel's channel vector."""
    torch.manual_seed(0)
    convolution = nn.Conv2d(64, 10, 1)
    linear = nn.Linear(64, 10)
    linear.load_state_dict({"weight": convolution.weight[:, :, 0, 0], "bias": convolution.bias})
    features = torch.randn(2, 64, 12, 16)
    with torch.no_grad():
        difference = (convolution(features) - linear(features.movedim(1, -1)).movedim(-1, 1)).abs().max().item()
    return Outcome(difference < 1e-5, f"nn.Conv2d(64, 10, 1) against nn.Linear(64, 10) on every pixel of a 12x16 map, "
                                      f"the same weights: largest difference {difference:.1e}",
                   difference, None, "", {"largest_difference": difference})


@claims.claim("bilinear_transposed_convolution", "a transposed convolution initialized with bilinear weights "
              "upsamples bilinearly, and can then learn", "02_transposed_convolution", "Bilinear initialization",
              "largest difference to F.interpolate away from the border", "below 1e-5", fast=True)
def bilinear_transposed_convolution(lab: Lab) -> Outcome:
    """FCN initializes its learned upsampling with bilinear weights: a stride-2 transposed convolution then is
    bilinear interpolation."""
    from ...layers import bilinear_kernel

    upsample = nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1, bias=False)
    with torch.no_grad():
        upsample.weight.copy_(bilinear_kernel(3, 3, 4))
        image = torch.rand(1, 3, 24, 32)
        ours = upsample(image)
        theirs = F.interpolate(image, scale_factor=2, mode="bilinear", align_corners=False)
    inner = (ours - theirs)[..., 2:-2, 2:-2].abs().max().item()  # the borders differ: zero padding vs clamping
    return Outcome(inner < 1e-5, f"ConvTranspose2d(4, stride 2) with FCN's bilinear weights against F.interpolate "
                                 f"(bilinear, 2x): largest difference {inner:.1e} away from the 2-pixel border",
                   inner, None, "", {"largest_difference": inner})


@claims.claim("transposed_is_adjoint", "a transposed convolution is the convolution's transpose: it runs the "
              "convolution backwards, from the output grid to the input grid", "02_transposed_convolution",
              "Transposed convolution", "<conv(x), y> against <x, conv_transpose(y)>, same weights",
              "equal within 1e-5 (relative)", fast=True)
def transposed_is_adjoint(lab: Lab) -> Outcome:
    """A transposed convolution is the adjoint (the gradient's operation) of the convolution with the same weights:
    <conv(x), y> = <x, conv_transpose(y)> for all x, y."""
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3)
    x, y = torch.randn(1, 4, 9, 9), torch.randn(1, 6, 4, 4)
    left = (F.conv2d(x, weight, stride=2) * y).sum().item()
    right = (x * F.conv_transpose2d(y, weight, stride=2)).sum().item()
    relative = abs(left - right) / abs(left)
    return Outcome(relative < 1e-5, f"stride 2, 3x3, 4 -> 6 channels: <conv(x), y> = {left:.4f}, <x, conv_transpose(y)> "
                                    f"= {right:.4f} (relative difference {relative:.1e})", relative, None, "",
                   {"left": left, "right": right})


@claims.claim("segnet_switches", "SegNet stores only the max-pooling indices, far less memory than feature maps",
              "03_unpooling", "Memory of the switches", "bytes of feature maps vs 2-bit switches", "at least 16x less",
              fast=True)
def segnet_switches(lab: Lab) -> Outcome:
    import torchvision

    encoder = torchvision.models.vgg16_bn(weights=None).features.to("meta")
    features = switches = 0
    x = torch.empty(1, 3, 360, 480, device="meta")
    for layer in encoder:
        if isinstance(layer, nn.MaxPool2d):
            features += 4 * x.numel()  # what FCN/U-Net-style skips keep: float32 feature maps
            switches += F.max_pool2d(x, 2).numel() * 2 / 8  # SegNet: 2 bits per 2x2 window
        x = layer(x)
    ratio = features / switches
    return Outcome(ratio >= 16, f"VGG16's five poolings at 360x480: feature maps {features / 2 ** 20:.1f} MB vs "
                                f"2-bit switches {switches / 2 ** 20:.2f} MB ({ratio:.0f}x less)",
                   ratio, None, "x", {"feature_megabytes": features / 2 ** 20, "switch_megabytes": switches / 2 ** 20})


@claims.claim("unpooling_keeps_positions", "max-unpooling with the switches puts each maximum back where it came "
              "from", "03_unpooling", "Unpooling", "share of values restored, and their positions", "25%, each exact",
              fast=True)
def unpooling_keeps_positions(lab: Lab) -> Outcome:
    """SegNet: max-unpooling puts each maximum back where it came from and zeros elsewhere."""
    torch.manual_seed(0)
    features = torch.randn(1, 8, 16, 16)
    pooled, indices = F.max_pool2d(features, 2, return_indices=True)
    unpooled = F.max_unpool2d(pooled, indices, 2)
    kept = unpooled != 0
    exact = bool(torch.equal(unpooled[kept], features[kept]))
    share = kept.float().mean().item()
    return Outcome(exact and abs(share - 0.25) < 1e-6,
                   f"2x2 max pooling then unpooling with the switches: {100 * share:.0f}% of the values come back, each "
                   f"at the position of its maximum ({'exactly' if exact else 'NOT'} the input's value)",
                   share, None, "", {"share_kept": share})


@claims.claim("separable_cost", "depthwise separable convolution needs about k^2 times fewer computations",
              "05_atrous_convolution", "Depthwise separable convolution", "parameters and multiply-adds, ratio",
              "both ratios at least 8 for a 3x3, 256-channel layer", fast=True)
def separable_cost(lab: Lab) -> Outcome:
    from ...layers import DepthwiseSeparableConv2d
    from ...measure import count_flops, num_parameters

    standard = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    separable = DepthwiseSeparableConv2d(256, 256, 3).eval()
    features = torch.randn(1, 256, 32, 32)
    parameters = num_parameters(standard) / num_parameters(separable)
    flops = count_flops(standard, features) / count_flops(separable, features)
    return Outcome(parameters >= 8 and flops >= 8,
                   f"3x3, 256 -> 256 channels: {parameters:.1f}x fewer parameters and {flops:.1f}x fewer "
                   f"multiply-adds (the formula: 1 / (1/256 + 1/9) = {1 / (1 / 256 + 1 / 9):.1f}x)",
                   flops, None, "x", {"parameters_ratio": parameters, "flops_ratio": flops})


@claims.claim("dilation_field", "atrous convolution enlarges the field of view without adding parameters",
              "05_atrous_convolution", "Receptive field", "receptive field with the same weights",
              "dilations 1, 2, 4 see farther than 1, 1, 1", fast=True)
def dilation_field(lab: Lab) -> Outcome:
    from ...measure import measured_receptive_field

    plain = measured_receptive_field([3] * 3, [1] * 3, [1] * 3)
    dilated = measured_receptive_field([3] * 3, [1] * 3, [1, 2, 4])
    return Outcome(dilated > plain, f"three 3x3 convolutions, 27 weights per channel pair either way: receptive "
                                    f"field {plain} px, or {dilated} px with dilations 1, 2, 4 (measured by gradient)",
                   dilated / plain, None, "x", {"plain": plain, "dilated": dilated})


@claims.claim("output_stride_cost", "a dense (output stride 8) encoder keeps its weights but costs computation",
              "05_atrous_convolution", "Output stride", "parameters and multiply-adds, stride 8 vs 32",
              "equal parameters, more than 2x the multiply-adds", fast=True)
def output_stride_cost(lab: Lab) -> Outcome:
    import torchvision

    from ...measure import count_flops, num_parameters

    rows = {}
    for stride, dilate in ((32, [False, False, False]), (8, [False, True, True])):
        backbone = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=dilate)
        encoder = nn.Sequential(*list(backbone.children())[:-2]).to("meta")
        rows[stride] = (num_parameters(encoder), count_flops(encoder, torch.empty(1, 3, 360, 480, device="meta")))
    ratio = rows[8][1] / rows[32][1]
    return Outcome(rows[8][0] == rows[32][0] and ratio > 2,
                   f"ResNet-50 at 360x480: output stride 8 by dilation keeps the {rows[8][0]:,} parameters and costs "
                   f"{ratio:.1f}x the multiply-adds of output stride 32 ({rows[8][1] / 1e9:.0f} vs "
                   f"{rows[32][1] / 1e9:.0f} GFLOPs)", ratio, None, "x",
                   {"parameters": rows[8][0], "gflops": {str(k): v[1] / 1e9 for k, v in rows.items()}})
