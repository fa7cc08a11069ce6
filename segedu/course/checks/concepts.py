"""Concept checks, one per notebook: the learner predicts before running the cells that show the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ...measure import measured_receptive_field
from ..messages import tr
from .harness import CheckInterrupted, ExerciseFailed, _describe, _exit_call


# ---- concept checks: predict before you run ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Concept:
    """A question the learner answers before running the cells that show the answer.

    Multiple choice: `answer` is the right letter and `explanations` says, for every letter, why it is right or
    wrong. A prediction: `answer` computes the true number (measured with torch, not typed in) and `tolerance` says
    how close counts; `explanations` has "right" and "wrong"."""

    answer: str | Callable[[], float]
    explanations: dict[str, str]
    tolerance: float = 0.0


def _pooled_rank_on_3x3() -> float:
    basis = torch.eye(9, dtype=torch.float64).view(9, 1, 3, 3)
    return int(torch.linalg.matrix_rank(F.adaptive_avg_pool2d(basis, 6).flatten(1)))


def _valid_unet_output_side() -> float:
    from ...models import build_model

    with torch.device("meta"):
        paper = build_model("unet", num_classes=2, in_channels=1, padding=False)
        return paper.core(torch.empty(1, 1, 572, 572)).shape[-1]


def _activation_growth_when_doubling() -> float:
    """Activation bytes autograd keeps for a U-Net's backward at 128x128, over those at 64x64 (weights left out)."""
    from ...measure import saved_activation_bytes
    from ...models import build_model

    torch.manual_seed(0)
    model = build_model("unet", num_classes=3, width=0.125).train()
    small, large = (saved_activation_bytes(model, torch.randn(1, 3, side, side), weights=False) for side in (64, 128))
    return large / small


CONCEPTS: dict[str, Concept] = {
    "majority_class": Concept("a", {
        "a": "pixel accuracy counts pixels, so the class that covers most of them dominates it; a model that "
             "predicts only road on a frame that is 60% road scores 60% pixel accuracy",
        "b": "mean IoU averages over classes: every class the model never predicts scores IoU 0, so predicting one "
             "class gives a low mean IoU however large that class is",
        "c": "only one of the two rewards it: mean IoU gives every class the same weight",
        "d": "one of them does reward it: which one counts pixels rather than classes?"}),
    "fc6_as_convolution": Concept("b", {
        "a": "a 1x1 convolution would only see one position of pool5; fc6 reads the whole 7x7 window",
        "b": "fc6 reads 512 x 7 x 7 = 25088 numbers: as a 7x7 convolution over 512 channels it holds exactly the same "
             "4096 x 25088 weights, reshaped, and slides over larger maps",
        "c": "reshaping moves weights, it does not copy them: the count stays 4096 x 512 x 7 x 7",
        "d": "a 3x3 kernel over 512 channels would hold 4608 inputs per output, not the 25088 fc6 reads"}),
    "overlaps_add": Concept("a", {
        "a": "with a kernel twice the stride every inner pixel lies under two paintings along each axis, 2 x 2 = 4 "
             "in all: even overlap, no checkerboard (a 3x3 kernel with stride 2 paints 1, 2 and 4, as above)",
        "b": "2s and 4s alternate where the kernel size is not a multiple of the stride (3 and 2 above); a 4x4 "
             "kernel with stride 2 covers every inner pixel the same number of times",
        "c": "the sum is not normalized: nothing divides by the number of paintings that overlap",
        "d": "a kernel wider than the stride paints over the zeros inserted between input pixels"}),
    "unpooled_nonzero": Concept("a", {
        "a": "each 2x2 window gets back one value, at the position of its maximum; the other three stay zero: at most "
             "one value in four is non-zero (fewer where a maximum was itself 0)",
        "b": "only one position per 2x2 window receives a value, not two",
        "c": "unpooling does not interpolate: the positions that were not the maximum are left at zero",
        "d": "three of the four positions of every window stay zero"}),
    "fused_channels": Concept("a", {
        "a": "FCN adds K-channel score maps, so the sum has K = 11 channels; U-Net stacks the 64 + 64 feature "
             "channels, 128 in all, and lets the next convolution mix them",
        "b": "adding two 11-channel maps gives 11 channels, not 22; concatenating two 64-channel maps gives 128",
        "c": "concatenation stacks channels: 64 + 64 = 128, not 64",
        "d": "the sum keeps the channel count: 11, not 22"}),
    "dilated_field": Concept(lambda: measured_receptive_field([3, 3, 3], [1, 1, 1], [1, 2, 4]), {
        "right": "each 3x3 layer with dilation d adds 2d pixels: 1 + 2 + 4 + 8 = 15, the field of seven plain 3x3 "
                 "layers from 27 weights per channel pair",
        "wrong": "a 3x3 kernel with dilation d spans 2d + 1 pixels, so it widens the field by 2d; start from 1 and add "
                 "each layer's 2d"}),
    "pyramid_on_3x3": Concept(_pooled_rank_on_3x3, {
        "right": "a 3x3 map holds 9 numbers per channel; 36 bins computed from them can hold no more than 9 "
                 "independent values: each cell repeats a neighbour",
        "wrong": "count what goes in: a 3x3 map has 9 values per channel, and averaging cannot create new ones"}),
    "fcn_parameters": Concept("b", {
        "a": "VGG16's 13 convolutions hold about 14.7M parameters, a ninth of the total",
        "b": "fc6 turned into a 7x7 convolution over 512 channels with 4096 outputs holds 102.8M of the 134M",
        "c": "fc7 is a 1x1 convolution from 4096 to 4096 channels: 16.8M, the second largest",
        "d": "the 2x upsamplings hold a few thousand parameters and the final one is fixed (a buffer, not a parameter)"}),
    "segnet_decoder_input": Concept("b", {
        "a": "passing the feature maps is U-Net's (and FCN's) way; SegNet's point is to avoid storing them",
        "b": "SegNet passes only the positions of the maxima (the pooling indices, 2 bits per 2x2 window) and "
             "learns its decoder's filters to densify the sparse unpooled maps",
        "c": "without anything from the encoder the decoder could not put boundaries back where they were; SegNet "
             "passes the pooling indices",
        "d": "class scores are what FCN's skips pass (from pool3 and pool4); SegNet's decoder gets the indices"}),
    "valid_unet_output": Concept(_valid_unet_output_side, {
        "right": "every unpadded 3x3 convolution trims 2 pixels, every pooling halves and every up-convolution "
                 "doubles: 572 in, 388 out, as in the paper's figure 1",
        "wrong": "follow the tile down and up: each unpadded 3x3 convolution trims 2 pixels (two per level), each "
                 "pooling halves, each up-convolution doubles"}),
    "aspp_large_rate": Concept("a", {
        "a": "with rate 24 on a 12x16 map, the 8 outer taps of the centre pixels land in the zero padding: only the "
             "centre tap sees data, which is a 1x1 convolution",
        "b": "global pooling averages the whole map; a convolution whose outer taps see padding still reads only the "
             "centre pixel",
        "c": "the outer taps are 24 pixels away, outside a 12x16 map: they read zeros",
        "d": "a dilated 3x3 kernel still has 9 weights; rate 24 spreads them 24 pixels apart, into the padding"}),
    "little_similar_data": Concept("b", {
        "a": "with little data a network trained from scratch overfits, and it throws away what ImageNet taught",
        "b": "the lecture's rule: similar data, little of it: keep the pretrained encoder fixed and train the "
             "decoder; fine-tuning everything on a small set risks overfitting",
        "c": "a high learning rate on all layers destroys the pretrained features, worst of all with little data",
        "d": "early layers only is the lecture's advice for small data that is unlike the pretraining data"}),
    "memory_doubling": Concept(_activation_growth_when_doubling, {
        "right": "activations are stored per pixel: twice the height and twice the width is four times the pixels, "
                 "so about four times the memory",
        "wrong": "count pixels: doubling both sides multiplies the pixels, and with them every stored activation map"},
        tolerance=0.5),
}


def check_concept(name: str, function: Callable) -> None:
    """function() -> the learner's answer to concept check `name`: a letter, or a number for a prediction."""
    concept = CONCEPTS[name]
    if not callable(function):
        raise ExerciseFailed(tr("{name}: expected a function that returns your answer, got {got}", name=name,
                                got=_describe(function)))
    try:
        given = function()
    except NotImplementedError:
        raise ExerciseFailed(tr("{name} is not implemented yet: replace `raise NotImplementedError` with `return` and "
                                "your answer", name=name)) from None
    except SystemExit as error:
        raise ExerciseFailed(tr("{name}: your function called {call}; a check needs it to return your answer",
                                name=name, call=_exit_call(error.code))) from None
    except KeyboardInterrupt:
        raise CheckInterrupted(tr("{where}: interrupted while running your function; the check stopped",
                                  where=name)) from None
    if isinstance(concept.answer, str):
        letters = sorted(concept.explanations)
        choice = given.strip().lower().strip("()") if isinstance(given, str) else None
        if choice not in concept.explanations:
            raise ExerciseFailed(tr("{name}: answer with one letter, {letters}; got {got}", name=name,
                                    letters=", ".join(letters), got=repr(given)))
        if choice != concept.answer:
            raise ExerciseFailed(tr("{name}: not ({choice}). {explanation}. Think again and answer once more.",
                                    name=name, choice=choice, explanation=tr(concept.explanations[choice])))
        print(tr("✓ ({choice}): {explanation}", choice=choice, explanation=tr(concept.explanations[choice])))
        return
    truth = float(concept.answer())
    if isinstance(given, bool) or not isinstance(given, (int, float)):
        raise ExerciseFailed(tr("{name}: answer with a number, got {got}", name=name, got=_describe(given)))
    if abs(given - truth) > concept.tolerance + 1e-9:
        raise ExerciseFailed(tr("{name}: not {given}. {explanation}.", name=name, given=f"{given:g}",
                                explanation=tr(concept.explanations["wrong"])))
    print(tr("✓ {answer}: {explanation}", answer=f"{truth:.3g}", explanation=tr(concept.explanations["right"])))
