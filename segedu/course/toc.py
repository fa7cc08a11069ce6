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
           "semantic, instance and panoptic outputs; masks and overlays; pixel accuracy, IoU, mIoU, "
           "confusion matrix; class imbalance; memory against input size; seeds, intervals and verdicts",
           ("PyTorch tensors",), 75, 49),
    Lesson("01_one_by_one_convolution.ipynb", "1x1 convolution",
           "why fully connected layers fix the input size; 1x1 convolution as a per-pixel linear layer; a "
           "classifier turned into a heat map", ("00",), 40, 20),
    Lesson("02_transposed_convolution.ipynb", "transposed convolution",
           "three views of transposed convolution, proven equal; output size and `output_padding`; "
           "checkerboard artifacts and resize-convolution; FCN's bilinear initialization", ("01",), 60, 12),
    Lesson("03_unpooling.ipynb", "unpooling",
           "max pooling with switches, max-unpooling; SegNet's memory argument measured on VGG16; four upsamplers "
           "side by side", ("02",), 35, 6),
    Lesson("04_skip_connections.ipynb", "skip connections",
           "FCN's skips near boundaries, sum vs concatenation, hypercolumns (your runs, 3 seeds); the "
           "odd-size problem", ("02", "03"), 55, 53),
    Lesson("05_atrous_convolution.ipynb", "atrous convolution",
           "dilation; receptive fields by the formula and by autograd, their centres and FCN's crops; the "
           "effective field; gridding; depthwise separable convolution", ("02",), 55, 11),
    Lesson("06_pyramid_pooling.ipynb", "pyramid pooling",
           "adaptive pooling; PSPNet's pyramid pooling module; ASPP; degenerate atrous rates and collapsing bins on "
           "small maps", ("05",), 35, 5),
    Lesson("07_fcn.ipynb", "FCN",
           "FCN-32s/16s/8s as the paper builds them; the skips' worth in your runs (3 seeds); receptive "
           "fields against object sizes; torchvision's ResNet FCN", ("01", "02", "04", "05"), 70, 57),
    Lesson("08_segnet_deconvnet.ipynb", "SegNet and DeconvNet",
           "decoders that unpool with the encoder's switches; batch norm; SegNet against FCN and DeconvNet's "
           "ensemble (3 seeds); two-stage training and overfitting", ("03", "07"), 65, 60),
    Lesson("09_unet_isbi.ipynb", "U-Net on ISBI 2012",
           "elastic deformation; the border weight map; overlap-tile; a trained U-Net on held-out slices; "
           "the weight map's two parts and momentum 0.99 (3 seeds each); U-Net as pix2pix's generator", ("04",), 65,
           81),
    Lesson("10_pspnet_deeplab.ipynb", "PSPNet and DeepLab",
           "DeepLab v1/v2/v3/v3+ and PSPNet on CamVid; context modules compared with all else equal (3 "
           "seeds); the dense CRF, before and after", ("05", "06"), 55, 78),
    Lesson("11_transfer_learning.ipynb", "transfer learning",
           "from scratch, frozen or fine-tuned (3 seeds); a linear probe per level; backbones' costs, "
           "truncated ResNets; input size and small objects", ("10",), 50, 80),
    Lesson("12_model_zoo.ipynb", "model zoo",
           "all fourteen models' parameters, FLOPs, latency and memory, each drawn from its trace; speed "
           "against accuracy; U-Net and PSPNet on small and large objects", ("07", "08", "09", "10", "11"), 45, 65),
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
