"""The course's table of contents: one entry per lecture notebook, in order (the README, notebook 00 and the
static site all print this table; tests/course/test_toc.py keeps them equal to it and to notebooks/).

`study_minutes` is the learner's time, an estimate (`estimated_minutes`): reading the prose at 120 words a minute
(technical text with formulas, often in a second language) and the code at 15 lines a minute, 8 minutes per
exercise, 2 per concept check and 3 per interactive explorer, rounded to 5 minutes; tests/course/test_toc.py keeps
it within 5 minutes of the estimate of the notebook as it is. `cpu_seconds` is measured: the whole notebook
executed by `make notebooks` (nbclient, the fast profile, the data present) on a 2-core machine (docs/performance.md
says which), kernel start-up included. `gpu_seconds` is the same in the full profile on one GPU; None until it has been
measured (no GPU was available to this work yet).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

__all__ = ["Lesson", "COURSE", "markdown_table", "estimated_minutes"]

WORDS_PER_MINUTE = 120
CODE_LINES_PER_MINUTE = 15
MINUTES_PER_EXERCISE, MINUTES_PER_CONCEPT_CHECK, MINUTES_PER_EXPLORER = 8, 2, 3
# a code cell that shows an explorer
EXPLORER_CALL = re.compile(r"widgets\.\w+(Viewer|Explorer|Stepper)\(|photo_widget\(")


@dataclasses.dataclass(frozen=True)
class Lesson:
    notebook: str                     # file name in notebooks/
    title: str                        # short title, as in the notebook's first heading after "NN · "
    teaches: str
    prerequisites: tuple[str, ...]    # notebook numbers, or something to know beforehand
    study_minutes: int                # the learner's time to work through it (an estimate, see the module's doc)
    cpu_seconds: float                # its cells run, measured
    gpu_seconds: float | None = None

    @property
    def number(self) -> str:
        return self.notebook[:2]


COURSE: tuple[Lesson, ...] = (
    Lesson("00_segmentation_basics.ipynb", "segmentation basics",
           "semantic vs instance vs panoptic; panoptic quality; Mask R-CNN small (a box, RoIAlign, a mask per box); masks, "
           "palettes, overlays; pixel accuracy, IoU, mIoU, confusion matrix, ignore index; CamVid's class imbalance; memory and time against input size; seeds, intervals and verdicts", ("PyTorch tensors",), 75, 49),
    Lesson("01_one_by_one_convolution.ipynb", "1x1 convolution",
           "why fully connected layers fix the input size; 1x1 convolution = per-pixel linear layer; convolutionalize "
           "a trained classifier into a dense heat map", ("00",), 40, 20),
    Lesson("02_transposed_convolution.ipynb", "transposed convolution",
           "scatter-add, zero insertion and the transposed matrix, proven equal; output size and `output_padding`; "
           "checkerboard artifacts (1D, 2D, stacked, learned, in gradients) and resize-convolution; FCN's bilinear "
           "initialization, trained", ("01",), 60, 12),
    Lesson("03_unpooling.ipynb", "unpooling",
           "max pooling with switches, max-unpooling; SegNet's memory argument measured on VGG16; four upsamplers "
           "side by side", ("02",), 35, 6),
    Lesson("04_skip_connections.ipynb", "skip connections",
           "three FCN heads trained; the skips near boundaries, sum vs concatenation and hypercolumns measured in the "
           "learner's own run (heads on cached ImageNet features, 3 seeds); the odd-size problem and three fixes",
           ("02", "03"), 55, 53),
    Lesson("05_atrous_convolution.ipynb", "atrous convolution",
           "dilation; receptive field by autograd vs the formula; effective stride, padding and centre (FCN's crops); "
           "several paths; the effective field; gridding; backbones' fields and output strides; depthwise separable "
           "convolution", ("02",), 55, 11),
    Lesson("06_pyramid_pooling.ipynb", "pyramid pooling",
           "adaptive pooling; PSPNet's pyramid pooling module; ASPP; degenerate atrous rates and collapsing bins on "
           "small maps", ("05",), 35, 5),
    Lesson("07_fcn.ipynb", "FCN",
           "the paper's FCN-32s/16s/8s (134M parameters, fc6 as a 7x7 convolution, fixed bilinear final upsampling); "
           "the skips' worth in the learner's own run (heads on cached ImageNet features, 3 seeds); receptive "
           "fields computed; object sizes against the effective field (3 seeds); FCN-8s on cars enlarged past "
           "its field and shrunk below it; torchvision's ResNet FCN", ("01", "02", "04", "05"), 70, 57),
    Lesson("08_segnet_deconvnet.ipynb", "SegNet and DeconvNet",
           "decoders that unpool with the encoder's switches; what the decoder receives; batch norm after every layer; both "
           "trained on CamVid (the shipped checkpoints); SegNet against FCN and DeconvNet's ensemble in the learner's own "
           "run (3 seeds); DeconvNet's coarse-to-fine decoder; two-stage training and overfitting",
           ("03", "07"), 65, 60),
    Lesson("09_unet_isbi.ipynb", "U-Net on ISBI 2012",
           "elastic deformation; the border weight map (equation 2); valid convolutions and overlap-tile; a trained "
           "U-Net scored on held-out slices; the weight map's two parts in the learner's own run (3 seeds); the paper's "
           "other training choices trained; U-Net as pix2pix's generator, its paintings as training data; deep "
           "contextual networks", ("04",), 60, 49),
    Lesson("10_pspnet_deeplab.ipynb", "PSPNet and DeepLab",
           "DeepLab v1/v2/v3/v3+ and PSPNet trained on CamVid; context modules compared with everything else equal; the "
           "dense CRF at 360x480, tuned on validation frames, before and after", ("05", "06"), 55, 78),
    Lesson("11_transfer_learning.ipynb", "transfer learning",
           "from scratch vs frozen encoder vs fine-tuning at two training-set sizes (3 seeds); the lecture's 2x2 "
           "rule; a linear probe per level (3 seeds); backbone cost table, truncated ResNets included; heads trained at "
           "two input sizes (3 seeds); 600 against 400 px for small objects (claims report); a trained model fed four "
           "sizes", ("10",), 50, 73),
    Lesson("12_model_zoo.ipynb", "model zoo",
           "all fourteen models: parameters, FLOPs, latency, activation memory; every architecture drawn from its "
           "trace; the shipped CamVid models' speed against accuracy; U-Net and PSPNet on small objects and on large "
           "regions",
           ("07", "08", "09", "10", "11"), 45, 65),
)


def _seconds(value: float | None) -> str:
    return "not yet measured" if value is None else f"{value:.0f} s"


def markdown_table(*, link_prefix: str = "", link_suffix: str = ".ipynb") -> str:
    """The table of contents as Markdown; links are `link_prefix + name + link_suffix` (README: "notebooks/")."""
    lines = ["| # | notebook | what it teaches | prerequisites | your time | CPU, fast profile | "
             "GPU, full profile |",
             "|---|---|---|---|---|---|---|"]
    for lesson in COURSE:
        link = f"{link_prefix}{lesson.notebook.removesuffix('.ipynb')}{link_suffix}"
        lines.append(f"| {lesson.number} | [{lesson.title}]({link}) | {lesson.teaches} | "
                     f"{', '.join(lesson.prerequisites)} | {lesson.study_minutes} min | "
                     f"{_seconds(lesson.cpu_seconds)} | {_seconds(lesson.gpu_seconds)} |")
    return "\n".join(lines)


def estimated_minutes(path: str | Path) -> float:
    """A learner's time to work through the notebook at `path`, in minutes, unrounded (see the module's doc): its
    prose (Markdown, the Colab badges and notebook 00's table of contents left out), its code lines (comments and
    the hosted set-up cell left out), its exercises, concept checks and explorers."""
    words = code_lines = exercises = concept_checks = explorers = 0
    for cell in json.loads(Path(path).read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            if "colab-badge" not in source:
                words += len(re.findall(r"[^\W_]+", re.sub(r"^\|.*\|$", "", source, flags=re.MULTILINE)))
            continue
        if "from segedu.course import hosted" in source:
            continue
        code_lines += sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))
        if "### BEGIN SOLUTION" in source:
            concept = "def concept_answer" in source
            concept_checks, exercises = concept_checks + concept, exercises + (not concept)
        explorers += bool(EXPLORER_CALL.search(source))
    return (words / WORDS_PER_MINUTE + code_lines / CODE_LINES_PER_MINUTE + exercises * MINUTES_PER_EXERCISE
            + concept_checks * MINUTES_PER_CONCEPT_CHECK + explorers * MINUTES_PER_EXPLORER)
