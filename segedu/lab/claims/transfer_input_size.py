"""Notebook 11 (transfer learning), which input size: heads trained at three sizes and scored on the same pixels,
and what a larger input costs."""

from __future__ import annotations

import torch

from ...data.classes import CAMVID_THIN
from .framework import Outcome, Registry
from .lab import Lab
from .preregistration import RULES
from .verdict import combined, interval, judged, measured, paired, pooled_score

claims = Registry()

INPUT_SIZES = ((90, 120), (180, 240), (360, 480))  # the input-size claim: a quarter, half and all of CamVid's pixels


@claims.claim("input_size_trained", "the input size matters as much as the model: a larger input sees more detail "
              "and needs more memory in training and in inference", "11_transfer_learning", "Which input size?",
              "test mIoU scored at 360x480 for heads trained at 90x120, 180x240, 360x480, 10 seeds pooled; activation "
              "memory per image (parameters left out)", "each step up in size, two-level 95% intervals: all above 0 "
              "holds, any below +1 point contradicts; activation memory less than 3x per doubling of the side "
              "contradicts")
def input_size_trained(lab: Lab) -> Outcome:
    """The lecture (000, "Input Size 선정"): choosing the input size matters as much as choosing the model; a larger
    input needs more memory in training and in inference. FCN-8s heads are trained on the frozen encoder's features
    of the same 367 frames resized to 90x120, 180x240 and 360x480 (same epochs, steps and seeds), and every
    prediction is upsampled to 360x480 and scored against the same labels. Cost: the whole network (EfficientNet-Lite0
    encoder and FCN-8s decoder, `build_model("fcn8s", backbone="efficientnet_lite0")`) per image at each size:
    the activations a training step keeps (`segedu.measure.measure`: the parameters autograd also keeps are left
    out, as they do not grow with the input), and CPU latency. Each step up in size is judged by
    `preregistration.RULES` on the two-level interval of its mIoU gain (seeds, then blocks of test frames), the
    claim by `combined`; the memory is an exact condition: activations growing less than 3x per doubling of the side
    contradict the claim."""
    from ...measure import measure
    from ...models import build_model

    sizes = INPUT_SIZES
    runs = {size: [lab.scores_at_size("fcn8s", seed, size) for seed in lab.config.seeds] for size in sizes}
    name = lambda size: f"{size[0]}x{size[1]}"  # noqa: E731
    thin_miou = measured("miou", CAMVID_THIN)
    miou = {name(size): pooled_score(runs[size]) for size in sizes}
    thin = {name(size): pooled_score(runs[size], *thin_miou) for size in sizes}
    blocks, rule = lab.test_blocks(), RULES["input_size_trained"]  # every size scores the whole test split
    steps = {}
    for smaller, larger in zip(sizes, sizes[1:]):
        difference = judged(paired(runs[larger], runs[smaller], blocks=blocks), rule)
        thin_difference = interval(runs[larger], runs[smaller], *thin_miou, blocks=blocks)
        steps[f"{name(larger)} - {name(smaller)}"] = dict(
            difference, thin_effect=thin_difference.effect, thin_interval=[thin_difference.low, thin_difference.high])
    torch.manual_seed(0)
    network = build_model("fcn8s", num_classes=11, backbone="efficientnet_lite0")
    costs = {name(size): measure(network, size, batch_size=2, repeats=3) for size in sizes}
    memory = {key: cost.activation_megabytes / 2 for key, cost in costs.items()}  # the parameters left out
    latency = {key: cost.milliseconds / 2 for key, cost in costs.items()}
    growth = [memory[name(larger)] / memory[name(smaller)] for smaller, larger in zip(sizes, sizes[1:])]
    verdict = combined([s["verdict"] for s in steps.values()]) if min(growth) >= 3 else "contradicted"
    first = steps[f"{name(sizes[-1])} - {name(sizes[-2])}"]
    shown = "; ".join(f"{key}: mIoU {100 * miou[key]:.1f}, thin classes {100 * thin[key]:.1f}, "
                      f"{memory[key]:.0f} MB, {latency[key]:.0f} ms" for key in miou)
    differences = "; ".join(f"{step}: mIoU {100 * s['effect']:+.1f} [{100 * s['interval'][0]:+.1f}, "
                            f"{100 * s['interval'][1]:+.1f}] (per seed " + "/".join(f"{100 * d:+.1f}" for d in
                                                                                     s["per_seed"])
                            + f"), thin {100 * s['thin_effect']:+.1f} [{100 * s['thin_interval'][0]:+.1f}, "
                            f"{100 * s['thin_interval'][1]:+.1f}]" for step, s in steps.items())
    return Outcome(verdict, f"FCN-8s heads on the frozen encoder trained at each size, scored at 360x480 "
                            f"({len(lab.config.seeds)} seeds pooled; memory: activations a training step keeps per "
                            f"image, parameters left out; latency: CPU inference per image): {shown}. {differences} "
                            f"points, 95% two-level bootstrap (seeds, then {first['blocks']} blocks of "
                            f"{first['frames']} test frames)",
                   first["effect"], tuple(first["interval"]), "points",
                   {"miou": miou, "thin_miou": thin, "steps": steps, "activation_megabytes": memory,
                    "latency_milliseconds": latency, "memory_growth": growth}, lab.config.seeds)


@claims.claim("input_size_cost", "a larger input costs computation in proportion to its pixels",
              "11_transfer_learning", "Input size", "multiply-adds at 360x480 vs 180x240",
              "between 3.5x and 4.5x for 4x the pixels", fast=True)
def input_size_cost(lab: Lab) -> Outcome:
    from ...measure import count_flops
    from ...models import build_model

    with torch.device("meta"):
        model = build_model("deeplabv3plus", num_classes=11, backbone="efficientnet_lite0").eval()
        flops = {size: count_flops(model, torch.empty(1, 3, *size)) for size in ((180, 240), (360, 480))}
    ratio = flops[(360, 480)] / flops[(180, 240)]
    return Outcome(3.5 <= ratio <= 4.5, f"DeepLab v3+ (EfficientNet-Lite0): 4x the pixels, {ratio:.2f}x the "
                                        f"multiply-adds ({flops[(180, 240)] / 1e9:.1f} -> {flops[(360, 480)] / 1e9:.1f} "
                                        f"GFLOPs)", ratio, None, "x",
                   {"gflops": {f"{h}x{w}": v / 1e9 for (h, w), v in flops.items()}})
