"""What notebooks 07-12 repeat: CamVid at the profile's size, one training run scored on a held-out split,
and the published figure to print beside the learner's.

    train, test = camvid_splits(settings)
    result = train_and_score(build_model("fcn8s", num_classes=11, width=settings.width), train, test, config)
    print(published_line("fcn8s", result.miou))
"""

from __future__ import annotations

import dataclasses

from torch import nn
from torch.utils.data import Dataset

from ..data import build_dataset, is_standin
from ..engine import History, TrainConfig, fit
from ..profiles import Profile

__all__ = ["PUBLISHED", "Result", "camvid_splits", "train_and_score", "published_line"]

# name -> (figure, metric, data set and split, source). Only CamVid 11-class test and ISBI 2012 figures are
# directly comparable with the course's runs; the VOC ones say what the paper reached on its own benchmark.
PUBLISHED: dict[str, tuple[float, str, str, str]] = {
    "fcn32s": (59.4, "mIoU", "PASCAL VOC 2011 val", "Long et al. 2015, table 2"),
    "fcn16s": (62.4, "mIoU", "PASCAL VOC 2011 val", "Long et al. 2015, table 2"),
    "fcn8s": (62.7, "mIoU", "PASCAL VOC 2011 val", "Long et al. 2015, table 2"),
    "segnet": (46.3, "mIoU", "CamVid test, 11 classes (SegNet-Basic)", "Badrinarayanan et al. 2017"),
    "deconvnet": (69.6, "mIoU", "PASCAL VOC 2012 test", "Noh et al. 2015, table 1"),
    "unet": (0.90, "Dice", "the course's target on held-out ISBI 2012 slices, not a published figure",
             "Ronneberger et al. 2015 report Rand error 0.0382 and warping error 0.000353 on the ISBI 2012 "
             "leaderboard, table 1"),
    "pspnet": (82.6, "mIoU", "PASCAL VOC 2012 test, no COCO", "Zhao et al. 2017, table 6"),
    "deeplabv1": (67.6, "mIoU", "PASCAL VOC 2012 val, with CRF", "Chen et al. 2015, table 1"),
    "deeplabv2": (79.7, "mIoU", "PASCAL VOC 2012 test; ResNet-101, COCO pretraining, multi-scale inputs, CRF",
                  "Chen et al. 2018, TPAMI"),
    "deeplabv3": (85.7, "mIoU", "PASCAL VOC 2012 test, COCO pretraining", "Chen et al. 2017"),
    "deeplabv3plus": (89.0, "mIoU", "PASCAL VOC 2012 test, JFT pretraining", "Chen et al. 2018"),
    "fc-densenet103": (66.9, "mIoU", "CamVid test, 11 classes", "Jégou et al. 2017 (the course's target)"),
}

TARGETS_NOT_PUBLISHED = {"unet"}  # figures the course aims at that no paper reports: printed as "target"


@dataclasses.dataclass
class Result:
    """One training run: test mIoU and pixel accuracy (fractions), training seconds, and the History."""

    miou: float
    pixel_accuracy: float
    seconds: float
    history: History


def camvid_splits(settings: Profile, *, image_size: tuple[int, int] | None = None, train_subset: int | None = -1,
                  test_subset: int | None = -1, test_split: str = "test", data: str = "camvid") -> tuple[Dataset, Dataset]:
    """CamVid (augmented training split, `test_split`) at the profile's size and subsets (-1: the profile's).

    `data` is "camvid" or its stand-in "streets" (what `segedu.data.choose("camvid")` returned).
    """
    size = image_size or settings.camvid_size
    train = build_dataset(data, "train", image_size=size, augment=True,
                          subset=settings.train_subset if train_subset == -1 else train_subset)
    test = build_dataset(data, test_split, image_size=size,
                         subset=settings.eval_subset if test_subset == -1 else test_subset)
    return train.keep_decoded(), test.keep_decoded()  # every epoch reads them again; decode once


def train_and_score(model: nn.Module, train: Dataset, test: Dataset, config: TrainConfig, *,
                    callbacks=()) -> Result:
    """fit `model` on `train`, scoring it on `test` after every epoch; the last epoch's score is the result.

    The per-epoch scores feed live curves (`segedu.viz.LivePlot`); nothing is chosen by them (no early stopping, no
    best-epoch pick), so the final score is still a fair test score. `seconds` counts training epochs only.
    """
    history = fit(model, train, test, config, callbacks=callbacks)
    if not history.records:
        raise RuntimeError("training stopped before its first epoch finished; there is no score to report")
    last = history.records[-1]
    return Result(miou=last["val_miou"], pixel_accuracy=last["val_pixel_accuracy"],
                  seconds=sum(record["seconds"] for record in history.records), history=history)


def published_line(name: str, value: float, *, what: str = "you", data: str | None = None) -> str:
    """'fcn8s: you 31.4 mIoU | published 62.7 mIoU (PASCAL VOC 2011 val, Long et al. 2015, table 2)'.

    `data`: the data set `value` was measured on; a synthetic stand-in ("streets", "membranes") is named in the
    line, since its numbers cannot be compared with a published figure.
    """
    figure, metric, published_on, source = PUBLISHED[name]
    shown = f"{value:.3f}" if metric == "Dice" else f"{100 * value:.1f}"
    label = "target" if name in TARGETS_NOT_PUBLISHED else "published"
    on = f" on the synthetic stand-in {data!r} (not comparable)" if data is not None and is_standin(data) else ""
    stated = f"{figure:.2f}" if metric == "Dice" else f"{figure}"  # a Dice of 0.90 keeps its two digits
    return f"{name}: {what} {shown} {metric}{on} | {label} {stated} {metric} ({published_on}; {source})"
