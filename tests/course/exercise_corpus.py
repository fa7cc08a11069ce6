"""Plausible wrong learner solutions, at least three per exercise: every one must be caught by its check.

Each entry names the mistake it makes. They were written from the mistakes learners make (and the ones an
earlier read of the checks found passing with a tick): a hard-coded 255 instead of `ignore_index`, `bincount`
without `minlength`, a mean IoU that drops classes absent from the truth, the last maximum winning a tie, a
function that changes its input, a 2x upsampling that misses odd sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segedu.course import checks


# ---- 00 -----------------------------------------------------------------------------------------

def pixel_accuracy_hard_codes_255(predictions, targets, ignore_index=255):
    labelled = targets != 255
    return ((predictions == targets) & labelled).sum().float() / labelled.sum()


def pixel_accuracy_counts_ignored_pixels(predictions, targets, ignore_index=255):
    return (predictions == targets).float().mean()


def pixel_accuracy_returns_a_count(predictions, targets, ignore_index=255):
    labelled = targets != ignore_index
    return int(((predictions == targets) & labelled).sum())


def pixel_accuracy_changes_its_input(predictions, targets, ignore_index=255):
    labelled = targets != ignore_index
    targets[~labelled] = -12345  # "mark" the ignored pixels in place
    return ((predictions == targets) & labelled).sum().float() / labelled.sum()


def confusion_matrix_hard_codes_255(predictions, targets, num_classes, ignore_index=255):
    keep = targets != 255
    pairs = targets[keep] * num_classes + predictions[keep]
    return torch.bincount(pairs, minlength=num_classes ** 2).view(num_classes, num_classes)


def confusion_matrix_without_minlength(predictions, targets, num_classes, ignore_index=255):
    keep = targets != ignore_index
    counts = torch.bincount(targets[keep] * num_classes + predictions[keep])
    return counts.view(-1, num_classes) if counts.numel() % num_classes == 0 else counts


def confusion_matrix_transposed(predictions, targets, num_classes, ignore_index=255):
    keep = targets != ignore_index
    pairs = predictions[keep] * num_classes + targets[keep]  # rows = prediction
    return torch.bincount(pairs, minlength=num_classes ** 2).view(num_classes, num_classes)


def confusion_matrix_of_floats(predictions, targets, num_classes, ignore_index=255):
    keep = targets != ignore_index
    pairs = targets[keep] * num_classes + predictions[keep]
    return torch.bincount(pairs, minlength=num_classes ** 2).view(num_classes, num_classes).float()


def mean_iou_drops_classes_absent_from_truth(confusion):
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    present = confusion.sum(1) > 0  # only classes in the truth
    return (true_positive[present] / union[present]).mean()


def mean_iou_averages_every_class(confusion):
    confusion = confusion.double()
    true_positive = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    return (true_positive / union.clamp(min=1)).mean()


def mean_iou_is_precision(confusion):
    confusion = confusion.double()
    return torch.nanmean(confusion.diag() / confusion.sum(0))


# ---- 01 -----------------------------------------------------------------------------------------

def linear_to_conv_channels_last_order(linear, in_channels, kernel_size):
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size)
    with torch.no_grad():  # reads the flattened input as (k, k, C): not the order flatten() used
        conv.weight.copy_(linear.weight.view(linear.out_features, kernel_size, kernel_size, in_channels)
                          .permute(0, 3, 1, 2))
        conv.bias.copy_(linear.bias)
    return conv


def linear_to_conv_forgets_the_bias(linear, in_channels, kernel_size):
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size))
    return conv


def linear_to_conv_transposes_the_window(linear, in_channels, kernel_size):
    conv = nn.Conv2d(in_channels, linear.out_features, kernel_size)
    with torch.no_grad():
        conv.weight.copy_(linear.weight.view(linear.out_features, in_channels, kernel_size, kernel_size)
                          .transpose(-2, -1))
        conv.bias.copy_(linear.bias)
    return conv


def pointwise_conv_without_bias(input, weight, bias):
    return torch.einsum("nchw,oc->nohw", input, weight)


def pointwise_conv_bias_on_the_wrong_axis(input, weight, bias):
    return torch.einsum("nchw,oc->nohw", input, weight) + bias.view(1, -1, 1, 1).mean()


def pointwise_conv_sums_the_output_channels(input, weight, bias):
    return torch.einsum("nchw,oc->nchw", input, weight) + bias.mean()


# ---- 02 -----------------------------------------------------------------------------------------

def output_size_of_a_convolution(size, kernel_size, stride, padding, output_padding):
    return (size + 2 * padding - kernel_size) // stride + 1


def output_size_without_output_padding(size, kernel_size, stride, padding, output_padding):
    return (size - 1) * stride - 2 * padding + kernel_size


def output_size_crops_padding_once(size, kernel_size, stride, padding, output_padding):
    return (size - 1) * stride - padding + kernel_size + output_padding


def _zero_inserted(input, stride, kernel_size, padding, output_padding):
    n, c, h, w = input.shape
    spread = input.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    spread[..., ::stride, ::stride] = input
    edge = kernel_size - 1 - padding
    return F.pad(spread, (edge, edge + output_padding, edge, edge + output_padding))


def conv_transpose2d_without_the_flip(input, weight, stride=1, padding=0, output_padding=0):
    canvas = _zero_inserted(input, stride, weight.shape[-1], padding, output_padding)
    return F.conv2d(canvas, weight.transpose(0, 1))


def conv_transpose2d_pads_by_padding(input, weight, stride=1, padding=0, output_padding=0):
    n, c, h, w = input.shape
    spread = input.new_zeros(n, c, (h - 1) * stride + 1, (w - 1) * stride + 1)
    spread[..., ::stride, ::stride] = input
    canvas = F.pad(spread, (padding, padding + output_padding, padding, padding + output_padding))
    return F.conv2d(canvas, weight.flip(-2, -1).transpose(0, 1))


def conv_transpose2d_ignores_output_padding(input, weight, stride=1, padding=0, output_padding=0):
    canvas = _zero_inserted(input, stride, weight.shape[-1], padding, 0)
    return F.conv2d(canvas, weight.flip(-2, -1).transpose(0, 1))


def conv_matrix_transposed(weight, input_size, stride, padding):
    basis = torch.eye(input_size[0] * input_size[1]).view(-1, 1, *input_size)
    return F.conv2d(basis, weight, stride=stride, padding=padding).flatten(1)  # (HW, H'W'): C.T, not C


def conv_matrix_ignores_padding(weight, input_size, stride, padding):
    basis = torch.eye(input_size[0] * input_size[1]).view(-1, 1, *input_size)
    return F.conv2d(basis, weight, stride=stride).flatten(1).T


def conv_matrix_with_the_flipped_kernel(weight, input_size, stride, padding):
    basis = torch.eye(input_size[0] * input_size[1]).view(-1, 1, *input_size)
    return F.conv2d(basis, weight.flip(-2, -1), stride=stride, padding=padding).flatten(1).T


# ---- 03 -----------------------------------------------------------------------------------------

def _windows(input, kernel_size, stride):
    n, c, h, w = input.shape
    out_h, out_w = (h - kernel_size) // stride + 1, (w - kernel_size) // stride + 1
    return n, c, h, w, out_h, out_w


def max_pool_last_maximum_wins(input, kernel_size, stride):
    """The running-maximum loop with >=: on a tie the last position wins, PyTorch keeps the first."""
    n, c, h, w, out_h, out_w = _windows(input, kernel_size, stride)
    values = torch.full((n, c, out_h, out_w), float("-inf"))
    indices = torch.zeros((n, c, out_h, out_w), dtype=torch.int64)
    rows, columns = torch.arange(out_h) * stride, torch.arange(out_w) * stride
    for i in range(kernel_size):
        for j in range(kernel_size):
            tap = input[..., i::stride, j::stride][..., :out_h, :out_w]
            better = tap >= values
            values = torch.where(better, tap, values)
            positions = (rows[:, None] + i) * w + (columns[None, :] + j)
            indices = torch.where(better, positions.expand_as(indices), indices)
    return values, indices


def max_pool_indices_within_the_window(input, kernel_size, stride):
    windows = F.unfold(input.flatten(0, 1)[:, None], kernel_size, stride=stride)  # (NC, k*k, L)
    n, c, h, w, out_h, out_w = _windows(input, kernel_size, stride)
    values, where = windows.max(1)
    return values.view(n, c, out_h, out_w), where.view(n, c, out_h, out_w)


def max_pool_int32_indices(input, kernel_size, stride):
    values, indices = F.max_pool2d(input, kernel_size, stride, return_indices=True)
    return values, indices.int()


def max_unpool_swaps_rows_and_columns(input, indices, output_size):
    n, c = input.shape[:2]
    height, width = output_size
    rows, columns = indices % height, indices // height  # reads the index column-major
    output = input.new_zeros(n, c, height * width)
    return output.scatter(-1, (rows * width + columns).flatten(2).clamp(max=height * width - 1),
                          input.flatten(2)).view(n, c, height, width)


def max_unpool_assumes_twice_the_size(input, indices, output_size):
    n, c, h, w = input.shape
    output = input.new_zeros(n, c, 4 * h * w)
    return output.scatter(-1, indices.flatten(2).clamp(max=4 * h * w - 1), input.flatten(2)).view(n, c, 2 * h, 2 * w)


def max_unpool_adds_instead_of_zeros(input, indices, output_size):
    n, c = input.shape[:2]
    height, width = output_size
    output = input.new_ones(n, c, height * width)  # starts from ones: the empty positions are not 0
    return output.scatter(-1, indices.flatten(2), input.flatten(2)).view(n, c, height, width)


# ---- 04 -----------------------------------------------------------------------------------------

def center_crop_rounds_up(features, size):
    top, left = -(-(features.shape[-2] - size[0]) // 2), -(-(features.shape[-1] - size[1]) // 2)
    return features[..., top:top + size[0], left:left + size[1]]


def center_crop_top_left(features, size):
    return features[..., :size[0], :size[1]]


def center_crop_swaps_height_and_width(features, size):
    top, left = (features.shape[-2] - size[1]) // 2, (features.shape[-1] - size[0]) // 2
    return features[..., top:top + size[1], left:left + size[0]]


def fcn8s_fuse_with_scale_factor(score32, score16, score8, output_size):
    up = lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
    fused8 = score8 + up(score16 + up(score32))
    return F.interpolate(fused8, size=output_size, mode="bilinear", align_corners=False)


def fcn8s_fuse_nearest(score32, score16, score8, output_size):
    up = lambda x, size: F.interpolate(x, size=size, mode="nearest")  # noqa: E731
    fused8 = score8 + up(score16 + up(score32, score16.shape[-2:]), score8.shape[-2:])
    return up(fused8, output_size)


def fcn8s_fuse_skips_pool4(score32, score16, score8, output_size):
    up = lambda x, size: F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # noqa: E731
    return up(score8 + up(score32, score8.shape[-2:]), output_size)


# ---- 05 -----------------------------------------------------------------------------------------

def receptive_field_ignores_dilation(kernel_sizes, strides, dilations):
    field, jump = 1, 1
    for kernel, stride in zip(kernel_sizes, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def receptive_field_ignores_strides(kernel_sizes, strides, dilations):
    return 1 + sum(d * (k - 1) for k, d in zip(kernel_sizes, dilations))


def receptive_field_empties_its_lists(kernel_sizes, strides, dilations):
    """Right number, but it pops the caller's lists empty: the damage shows up cells later."""
    field, jump = 1, 1
    while kernel_sizes:
        kernel, stride, dilation = kernel_sizes.pop(0), strides.pop(0), dilations.pop(0)
        field += dilation * (kernel - 1) * jump
        jump *= stride
    return field


def receptive_field_updates_the_jump_first(kernel_sizes, strides, dilations):
    field, jump = 1, 1
    for kernel, stride, dilation in zip(kernel_sizes, strides, dilations):
        jump *= stride
        field += dilation * (kernel - 1) * jump
    return field


def separable_conv_pads_without_dilation(input, depthwise_weight, pointwise_weight, dilation):
    k = depthwise_weight.shape[-1]
    depthwise = F.conv2d(input, depthwise_weight, padding=k // 2, dilation=dilation, groups=input.shape[1])
    return F.conv2d(depthwise, pointwise_weight)


def separable_conv_ignores_dilation(input, depthwise_weight, pointwise_weight, dilation):
    k = depthwise_weight.shape[-1]
    depthwise = F.conv2d(input, depthwise_weight, padding=k // 2, groups=input.shape[1])
    return F.conv2d(depthwise, pointwise_weight)


def separable_conv_without_groups(input, depthwise_weight, pointwise_weight, dilation):
    k = depthwise_weight.shape[-1]
    depthwise = F.conv2d(input, depthwise_weight, padding=dilation * (k - 1) // 2, dilation=dilation)
    return F.conv2d(depthwise, pointwise_weight)


# ---- 06 -----------------------------------------------------------------------------------------

def adaptive_pool_floors_both_ends(input, bins):
    h, w = input.shape[-2:]
    rows = [slice(i * h // bins, max((i + 1) * h // bins, i * h // bins + 1)) for i in range(bins)]
    columns = [slice(j * w // bins, max((j + 1) * w // bins, j * w // bins + 1)) for j in range(bins)]
    return torch.stack([torch.stack([input[..., r, c].mean((-2, -1)) for c in columns], -1) for r in rows], -2)


def adaptive_pool_with_a_fixed_kernel(input, bins):
    h, w = input.shape[-2:]
    kernel = (max(h // bins, 1), max(w // bins, 1))
    return F.adaptive_avg_pool2d(F.avg_pool2d(input, kernel, stride=kernel), bins)


def adaptive_pool_takes_the_maximum(input, bins):
    return F.adaptive_max_pool2d(input, bins)


def pyramid_without_the_features(features, bins):
    size = features.shape[-2:]
    return torch.cat([F.interpolate(F.adaptive_avg_pool2d(features, b), size=size, mode="bilinear",
                                    align_corners=False) for b in bins], dim=1)


def pyramid_nearest(features, bins):
    size = features.shape[-2:]
    return torch.cat([features] + [F.interpolate(F.adaptive_avg_pool2d(features, b), size=size, mode="nearest")
                                   for b in bins], dim=1)


def pyramid_align_corners(features, bins):
    size = features.shape[-2:]
    return torch.cat([features] + [F.interpolate(F.adaptive_avg_pool2d(features, b), size=size, mode="bilinear",
                                                 align_corners=True) for b in bins], dim=1)


CORPUS = {
    "check_pixel_accuracy": (checks.check_pixel_accuracy, [
        pixel_accuracy_hard_codes_255, pixel_accuracy_counts_ignored_pixels, pixel_accuracy_returns_a_count,
        pixel_accuracy_changes_its_input]),
    "check_confusion_matrix": (checks.check_confusion_matrix, [
        confusion_matrix_hard_codes_255, confusion_matrix_without_minlength, confusion_matrix_transposed,
        confusion_matrix_of_floats]),
    "check_mean_iou": (checks.check_mean_iou, [
        mean_iou_drops_classes_absent_from_truth, mean_iou_averages_every_class, mean_iou_is_precision]),
    "check_linear_to_conv": (checks.check_linear_to_conv, [
        linear_to_conv_channels_last_order, linear_to_conv_forgets_the_bias, linear_to_conv_transposes_the_window]),
    "check_pointwise_conv": (checks.check_pointwise_conv, [
        pointwise_conv_without_bias, pointwise_conv_bias_on_the_wrong_axis, pointwise_conv_sums_the_output_channels]),
    "check_transposed_output_size": (checks.check_transposed_output_size, [
        output_size_of_a_convolution, output_size_without_output_padding, output_size_crops_padding_once]),
    "check_conv_transpose2d": (checks.check_conv_transpose2d, [
        conv_transpose2d_without_the_flip, conv_transpose2d_pads_by_padding, conv_transpose2d_ignores_output_padding]),
    "check_convolution_matrix": (checks.check_convolution_matrix, [
        conv_matrix_transposed, conv_matrix_ignores_padding, conv_matrix_with_the_flipped_kernel]),
    "check_max_pool2d_with_indices": (checks.check_max_pool2d_with_indices, [
        max_pool_last_maximum_wins, max_pool_indices_within_the_window, max_pool_int32_indices]),
    "check_max_unpool2d": (checks.check_max_unpool2d, [
        max_unpool_swaps_rows_and_columns, max_unpool_assumes_twice_the_size, max_unpool_adds_instead_of_zeros]),
    "check_center_crop": (checks.check_center_crop, [
        center_crop_rounds_up, center_crop_top_left, center_crop_swaps_height_and_width]),
    "check_fcn8s_fuse": (checks.check_fcn8s_fuse, [
        fcn8s_fuse_with_scale_factor, fcn8s_fuse_nearest, fcn8s_fuse_skips_pool4]),
    "check_receptive_field": (checks.check_receptive_field, [
        receptive_field_ignores_dilation, receptive_field_ignores_strides, receptive_field_empties_its_lists,
        receptive_field_updates_the_jump_first]),
    "check_depthwise_separable_conv": (checks.check_depthwise_separable_conv, [
        separable_conv_pads_without_dilation, separable_conv_ignores_dilation, separable_conv_without_groups]),
    "check_adaptive_avg_pool2d": (checks.check_adaptive_avg_pool2d, [
        adaptive_pool_floors_both_ends, adaptive_pool_with_a_fixed_kernel, adaptive_pool_takes_the_maximum]),
    "check_pyramid_pool": (checks.check_pyramid_pool, [
        pyramid_without_the_features, pyramid_nearest, pyramid_align_corners]),
}


# ---- 07 -----------------------------------------------------------------------------------------

def _tent(kernel_size, centre, factor):
    return 1 - (torch.arange(kernel_size, dtype=torch.float32) - centre).abs() / factor


def bilinear_kernel_on_every_channel_pair(channels, kernel_size):
    factor = (kernel_size + 1) // 2
    tent = _tent(kernel_size, factor - 1 if kernel_size % 2 else factor - 0.5, factor)
    return (tent[:, None] * tent[None, :]).expand(channels, channels, -1, -1).clone()  # class c also paints class d


def bilinear_kernel_centre_for_odd_sizes(channels, kernel_size):
    factor = (kernel_size + 1) // 2
    tent = _tent(kernel_size, factor - 1, factor)  # the odd-size centre used for even sizes too
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    for channel in range(channels):
        weight[channel, channel] = tent[:, None] * tent[None, :]
    return weight


def bilinear_kernel_divides_by_the_size(channels, kernel_size):
    factor = (kernel_size + 1) // 2
    tent = _tent(kernel_size, factor - 1 if kernel_size % 2 else factor - 0.5, kernel_size)
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    for channel in range(channels):
        weight[channel, channel] = tent[:, None] * tent[None, :]
    return weight


def upsample_scores_by_interpolation_with_corners(scores, factor):
    return F.interpolate(scores, scale_factor=factor, mode="bilinear", align_corners=True)


def upsample_scores_without_padding(scores, factor):
    from segedu.layers import bilinear_kernel

    weight = bilinear_kernel(1, 1, 2 * factor).expand(scores.shape[1], 1, -1, -1)
    output = F.conv_transpose2d(scores, weight, stride=factor, groups=scores.shape[1])
    return output[..., :factor * scores.shape[-2], :factor * scores.shape[-1]]  # cropped at the wrong corner


def upsample_scores_with_a_kernel_of_factor(scores, factor):
    from segedu.layers import bilinear_kernel

    weight = bilinear_kernel(1, 1, factor).expand(scores.shape[1], 1, -1, -1)
    return F.conv_transpose2d(scores, weight, stride=factor, groups=scores.shape[1])


# ---- 08 -----------------------------------------------------------------------------------------

def segnet_block_nearest_upsampling(features, indices, output_size, weight, bias):
    dense = F.interpolate(features, size=output_size, mode="nearest")  # forgets where the maxima were
    return F.relu(F.conv2d(dense, weight, bias, padding=1))


def segnet_block_without_padding(features, indices, output_size, weight, bias):
    sparse = F.max_unpool2d(features, indices, 2, output_size=output_size)
    return F.relu(F.conv2d(sparse, weight, bias))


def segnet_block_relu_before_the_convolution(features, indices, output_size, weight, bias):
    sparse = F.max_unpool2d(F.relu(features), indices, 2, output_size=output_size)
    return F.conv2d(sparse, weight, bias, padding=1)


def switch_memory_one_byte_per_switch(channels, height, width):
    return 4 * channels * height * width, channels * (height // 2) * (width // 2)


def switch_memory_a_switch_per_pixel(channels, height, width):
    return 4 * channels * height * width, channels * height * width * 2 / 8


def switch_memory_rounds_odd_sides_up(channels, height, width):
    return 4 * channels * height * width, channels * -(-height // 2) * -(-width // 2) * 2 / 8


# ---- 09 -----------------------------------------------------------------------------------------

def _border_terms(mask, w0, sigma, *, balance=True, nearest_only=False, sigma_squared=True):
    from segedu.losses import connected_components

    counts = torch.bincount(mask.flatten(), minlength=2).float()
    class_weights = torch.where(counts > 0, mask.numel() / (counts * (counts > 0).sum()), 0.0)
    weights = class_weights[mask] if balance else torch.ones(mask.shape)
    cells = connected_components(mask == 1)
    if int(cells.max()) >= 2:
        rows, columns = torch.meshgrid(torch.arange(mask.shape[0]), torch.arange(mask.shape[1]), indexing="ij")
        points = torch.stack([rows.flatten(), columns.flatten()], 1).float()
        distances = torch.stack([torch.cdist(points, points[cells.flatten() == cell]).amin(1)
                                 for cell in range(1, int(cells.max()) + 1)])
        d1, d2 = distances.topk(2, dim=0, largest=False).values
        total = 2 * d1 if nearest_only else d1 + d2
        spread = 2 * sigma ** 2 if sigma_squared else 2 * sigma
        weights = weights + w0 * torch.exp(-(total ** 2) / spread).view(mask.shape)
    return weights


def border_weights_without_class_balance(mask, w0, sigma):
    return _border_terms(mask, w0, sigma, balance=False)


def border_weights_from_the_nearest_cell_only(mask, w0, sigma):
    return _border_terms(mask, w0, sigma, nearest_only=True)


def border_weights_with_sigma_not_squared(mask, w0, sigma):
    return _border_terms(mask, w0, sigma, sigma_squared=False)


def weighted_cross_entropy_over_the_pixel_count(logits, masks, weights):
    losses = F.cross_entropy(logits, masks, ignore_index=255, reduction="none")
    return (losses * weights).mean()


def weighted_cross_entropy_counts_the_unlabelled_weights(logits, masks, weights):
    losses = F.cross_entropy(logits, masks, ignore_index=255, reduction="none")
    return (losses * weights).sum() / weights.sum()


def weighted_cross_entropy_forgets_the_weights(logits, masks, weights):
    return F.cross_entropy(logits, masks, ignore_index=255)


def weighted_cross_entropy_weights_the_logits(logits, masks, weights):
    return F.cross_entropy(logits * weights[:, None], masks, ignore_index=255)


# ---- 10 -----------------------------------------------------------------------------------------

def aspp_sums_the_branches(features, weights, rates):
    return sum(F.conv2d(features, weight, padding=rate, dilation=rate) for weight, rate in zip(weights, rates))


def aspp_without_dilation(features, weights, rates):
    return torch.cat([F.conv2d(features, weight, padding=1) for weight in weights], dim=1)


def aspp_pads_by_one(features, weights, rates):
    return torch.cat([F.conv2d(features, weight, padding=1, dilation=rate) for weight, rate in zip(weights, rates)], 1)


def mean_field_subtracts_the_messages(unary, probabilities, kernel, weight):
    return torch.softmax(unary - weight * kernel @ probabilities, dim=1)


def mean_field_includes_each_pixel_itself(unary, probabilities, kernel, weight):
    return torch.softmax(unary + weight * (kernel + torch.eye(len(kernel))) @ probabilities, dim=1)


def mean_field_normalizes_over_pixels(unary, probabilities, kernel, weight):
    return torch.softmax(unary + weight * kernel @ probabilities, dim=0)


def mean_field_recomputes_the_probabilities(unary, probabilities, kernel, weight):
    return torch.softmax(unary + weight * kernel @ unary.softmax(1), dim=1)  # ignores the Q it is given: no iteration


# ---- 11 -----------------------------------------------------------------------------------------

def trainable_returns_everything(model, regime):
    if regime == "frozen":
        model.encoder.requires_grad_(False)
    return list(model.parameters())  # the optimizer still gets the frozen encoder


def trainable_inverted(model, regime):
    if regime != "frozen":
        return list(model.parameters())
    for name, module in model.named_children():
        if name != "encoder":
            module.requires_grad_(False)
    return list(model.encoder.parameters())


def trainable_forgets_to_freeze(model, regime):
    if regime != "frozen":
        return list(model.parameters())
    encoder = {id(p) for p in model.encoder.parameters()}
    return [p for p in model.parameters() if id(p) not in encoder]  # right list, but the encoder still gets gradients


def groups_slow_down_the_decoder(model, lr, encoder_factor):
    encoder = {id(p) for p in model.encoder.parameters()}
    return [{"params": [p for p in model.parameters() if id(p) in encoder], "lr": lr},
            {"params": [p for p in model.parameters() if id(p) not in encoder], "lr": lr * encoder_factor}]


def groups_give_the_encoder_twice(model, lr, encoder_factor):
    return [{"params": list(model.encoder.parameters()), "lr": lr * encoder_factor},
            {"params": list(model.parameters()), "lr": lr}]


def groups_as_sets(model, lr, encoder_factor):
    encoder = set(model.encoder.parameters())  # right rates, but an optimizer refuses a set of parameters
    return [{"params": encoder, "lr": lr * encoder_factor},
            {"params": {p for p in model.parameters() if p not in encoder}, "lr": lr}]


def groups_scale_everything(model, lr, encoder_factor):
    return [{"params": list(model.parameters()), "lr": lr * encoder_factor}]


# ---- 12 -----------------------------------------------------------------------------------------

def conv_parameters_ignore_groups(in_channels, out_channels, kernel_size, groups, bias):
    return out_channels * in_channels * kernel_size ** 2 + (out_channels if bias else 0)


def conv_parameters_forget_the_bias(in_channels, out_channels, kernel_size, groups, bias):
    return out_channels * (in_channels // groups) * kernel_size ** 2


def conv_parameters_kernel_not_squared(in_channels, out_channels, kernel_size, groups, bias):
    return out_channels * (in_channels // groups) * kernel_size + (out_channels if bias else 0)


def multiply_adds_ignore_the_stride(in_channels, out_channels, kernel_size, height, width, stride, padding):
    out_height, out_width = height + 2 * padding - kernel_size + 1, width + 2 * padding - kernel_size + 1
    return out_channels * out_height * out_width * in_channels * kernel_size ** 2


def multiply_adds_per_input_pixel(in_channels, out_channels, kernel_size, height, width, stride, padding):
    return out_channels * height * width * in_channels * kernel_size ** 2


def multiply_adds_forget_the_input_channels(in_channels, out_channels, kernel_size, height, width, stride, padding):
    out_height = (height + 2 * padding - kernel_size) // stride + 1
    out_width = (width + 2 * padding - kernel_size) // stride + 1
    return out_channels * out_height * out_width * kernel_size ** 2


CORPUS.update({
    "check_bilinear_kernel": (checks.check_bilinear_kernel, [
        bilinear_kernel_on_every_channel_pair, bilinear_kernel_centre_for_odd_sizes,
        bilinear_kernel_divides_by_the_size]),
    "check_upsample_scores": (checks.check_upsample_scores, [
        upsample_scores_by_interpolation_with_corners, upsample_scores_without_padding,
        upsample_scores_with_a_kernel_of_factor]),
    "check_segnet_decoder_block": (checks.check_segnet_decoder_block, [
        segnet_block_nearest_upsampling, segnet_block_without_padding, segnet_block_relu_before_the_convolution]),
    "check_switch_memory": (checks.check_switch_memory, [
        switch_memory_one_byte_per_switch, switch_memory_a_switch_per_pixel, switch_memory_rounds_odd_sides_up]),
    "check_border_weight_map": (checks.check_border_weight_map, [
        border_weights_without_class_balance, border_weights_from_the_nearest_cell_only,
        border_weights_with_sigma_not_squared]),
    "check_weighted_cross_entropy": (checks.check_weighted_cross_entropy, [
        weighted_cross_entropy_over_the_pixel_count, weighted_cross_entropy_forgets_the_weights,
        weighted_cross_entropy_weights_the_logits, weighted_cross_entropy_counts_the_unlabelled_weights]),
    "check_aspp_branches": (checks.check_aspp_branches, [
        aspp_sums_the_branches, aspp_without_dilation, aspp_pads_by_one]),
    "check_mean_field_step": (checks.check_mean_field_step, [
        mean_field_subtracts_the_messages, mean_field_includes_each_pixel_itself, mean_field_normalizes_over_pixels,
        mean_field_recomputes_the_probabilities]),
    "check_trainable_parameters": (checks.check_trainable_parameters, [
        trainable_returns_everything, trainable_inverted, trainable_forgets_to_freeze]),
    "check_discriminative_groups": (checks.check_discriminative_groups, [
        groups_slow_down_the_decoder, groups_give_the_encoder_twice, groups_scale_everything, groups_as_sets]),
    "check_conv_parameters": (checks.check_conv_parameters, [
        conv_parameters_ignore_groups, conv_parameters_forget_the_bias, conv_parameters_kernel_not_squared]),
    "check_conv_multiply_adds": (checks.check_conv_multiply_adds, [
        multiply_adds_ignore_the_stride, multiply_adds_per_input_pixel, multiply_adds_forget_the_input_channels]),
})
