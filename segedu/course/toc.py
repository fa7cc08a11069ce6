"""The course's table of contents: one entry per lecture notebook, in order (the README, notebook 00 and the
static site all print this table; tests/course/test_toc.py keeps them equal to it and to notebooks/).

`cpu_seconds` is measured: the whole notebook executed by `make notebooks` (nbclient, the fast profile, the data
present) on the 2-core reference machine, kernel start-up included. `gpu_seconds` is the same in the full profile on one GPU; None
until it has been measured (no GPU was available to this work yet).
"""

from __future__ import annotations

import dataclasses

__all__ = ["Lesson", "COURSE", "markdown_table"]


@dataclasses.dataclass(frozen=True)
class Lesson:
    notebook: str                     # file name in notebooks/
    title: str                        # short title, as in the notebook's first heading after "NN · "
    teaches: str
    prerequisites: tuple[str, ...]    # notebook numbers, or something to know beforehand
    cpu_seconds: float
    gpu_seconds: float | None = None

    @property
    def number(self) -> str:
        return self.notebook[:2]


COURSE: tuple[Lesson, ...] = (
    Lesson("00_segmentation_basics.ipynb", "segmentation basics",
           "semantic vs instance vs panoptic; panoptic quality; Mask R-CNN small (a box, RoIAlign, a mask per box); masks, "
           "palettes, overlays; pixel accuracy, IoU, mIoU, confusion matrix, ignore index; CamVid's class imbalance; memory and time against input size", ("PyTorch tensors",), 16),
    Lesson("01_one_by_one_convolution.ipynb", "1x1 convolution",
           "why fully connected layers fix the input size; 1x1 convolution = per-pixel linear layer; convolutionalize "
           "a trained classifier into a dense heat map", ("00",), 20),
    Lesson("02_transposed_convolution.ipynb", "transposed convolution",
           "scatter-add, zero insertion and the transposed matrix, proven equal; output size and `output_padding`; "
           "checkerboard artifacts; FCN's bilinear initialization", ("01",), 6),
    Lesson("03_unpooling.ipynb", "unpooling",
           "max pooling with switches, max-unpooling; SegNet's memory argument measured on VGG16; four upsamplers "
           "side by side", ("02",), 7),
    Lesson("04_skip_connections.ipynb", "skip connections",
           "three FCN heads trained; the skips near boundaries, sum vs concatenation and hypercolumns measured in the "
           "learner's own run (heads on cached ImageNet features, 3 seeds); the odd-size problem and three fixes",
           ("02", "03"), 65),
    Lesson("05_atrous_convolution.ipynb", "atrous convolution",
           "dilation; receptive field measured by autograd vs the formula; gridding; output stride of a dilated "
           "ResNet; depthwise separable convolution", ("02",), 7),
    Lesson("06_pyramid_pooling.ipynb", "pyramid pooling",
           "adaptive pooling; PSPNet's pyramid pooling module; ASPP; degenerate atrous rates and collapsing bins on "
           "small maps", ("05",), 6),
    Lesson("07_fcn.ipynb", "FCN",
           "the paper's FCN-32s/16s/8s (134M parameters, fc6 as a 7x7 convolution, fixed bilinear final upsampling); "
           "the skips' worth in the learner's own run (heads on cached ImageNet features, 3 seeds); receptive "
           "fields computed; torchvision's ResNet FCN", ("01", "02", "04"), 33),
    Lesson("08_segnet_deconvnet.ipynb", "SegNet and DeconvNet",
           "decoders that unpool with the encoder's switches; what the decoder receives; batch norm after every layer; both "
           "trained on CamVid (the shipped checkpoints); SegNet against FCN and DeconvNet's ensemble in the learner's own "
           "run (3 seeds); DeconvNet's coarse-to-fine decoder; two-stage training and overfitting",
           ("03", "07"), 52),
    Lesson("09_unet_isbi.ipynb", "U-Net on ISBI 2012",
           "elastic deformation; the border weight map (equation 2); valid convolutions and overlap-tile; a trained "
           "U-Net scored on held-out slices; the paper's training choices trained; U-Net as an image generator; deep "
           "contextual networks", ("04",), 32),
    Lesson("10_pspnet_deeplab.ipynb", "PSPNet and DeepLab",
           "DeepLab v1/v2/v3/v3+ and PSPNet trained on CamVid; context modules compared with everything else equal; the "
           "dense CRF at 360x480, tuned on validation frames, before and after", ("05", "06"), 45),
    Lesson("11_transfer_learning.ipynb", "transfer learning",
           "from scratch vs frozen encoder vs fine-tuning at two training-set sizes; the lecture's 2x2 tested; a linear "
           "probe per level in the learner's own run (3 seeds); backbone cost table, truncated ResNets included; input "
           "size vs accuracy and latency", ("10",), 80),
    Lesson("12_model_zoo.ipynb", "model zoo",
           "all fourteen models: parameters, FLOPs, latency, activation memory; every architecture drawn from its "
           "trace; the shipped CamVid models' speed against accuracy",
           ("07", "08", "09", "10", "11"), 17),
)


def _seconds(value: float | None) -> str:
    return "not yet measured" if value is None else f"{value:.0f} s"


def markdown_table(*, link_prefix: str = "", link_suffix: str = ".ipynb") -> str:
    """The table of contents as Markdown; links are `link_prefix + name + link_suffix` (README: "notebooks/")."""
    lines = ["| # | notebook | what it teaches | prerequisites | CPU, fast profile | GPU, full profile |",
             "|---|---|---|---|---|---|"]
    for lesson in COURSE:
        link = f"{link_prefix}{lesson.notebook.removesuffix('.ipynb')}{link_suffix}"
        lines.append(f"| {lesson.number} | [{lesson.title}]({link}) | {lesson.teaches} | "
                     f"{', '.join(lesson.prerequisites)} | {_seconds(lesson.cpu_seconds)} | "
                     f"{_seconds(lesson.gpu_seconds)} |")
    return "\n".join(lines)
