"""The shared experiments: cached features, heads trained once per seed, their test scores.

Trained claims compare decoder heads on a frozen pretrained encoder's cached CamVid features (`segedu.lab.frozen`):
the same frames, encoder, steps and seeds for every head. A `Lab` computes each of these once, on first use, for
every claim that needs it; the end-to-end claims keep their trained networks in it too (`Lab.shared`), and with
a `models` folder on disk (`Lab.trained`: heads, U-Nets and pix2pix's painters), so an interrupted run resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import cached_property
from pathlib import Path
from typing import Callable, TypeVar

import torch
from torch import nn

from ...metrics import predicted_classes
from .verdict import pooled

__all__ = ["Lab", "LABEL_SIZE", "settings_of", "tensor_digest"]

LABEL_SIZE = (360, 480)  # CamVid's own resolution: where predictions made at every input size are scored

T = TypeVar("T")


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of the tensors' shapes, types and values: what a kept network learned from, in its key (`Lab.trained`),
    so other data or other encoder weights under the same names train again."""
    digest = hashlib.sha256()
    for tensor in tensors:
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype};".encode())
        digest.update((flat.to(torch.uint8) if flat.dtype == torch.bool else flat).view(torch.uint8).numpy())
    return digest.hexdigest()


def settings_of(config) -> dict:
    """A dataclass of settings as a dict without its seeds: what a kept network's key holds beside its own seed."""
    return {key: value for key, value in dataclasses.asdict(config).items() if key != "seeds"}


class Lab:
    """Everything the trained claims share, computed on first use: CamVid's features through the frozen encoder at
    output strides 32 and 8 (`stride32`, `stride8`, `stride8_levels`), and each head's per-frame test scores for
    each seed. Heads on cached features train with `HeadConfig.seeds` (10), networks trained end to end with
    `TrainingConfig.seeds` (5); `seeds` sets both. `class_weighting` (a power, 1 for SegNet's median-frequency
    balancing) weights the loss of every head the lab trains by `class_weights` (the stride-32 training frames'
    labels); None, the claims' own runs, leaves it unweighted. `small_frames`: the training frames of the
    little-data claims (DeconvNet's two stages); None, the claims' own `segnet_deconvnet.SMALL_FRAMES`.
    `backbone`: the frozen ImageNet encoder whose features every head reads (`frozen.FeatureCache`), EfficientNet-Lite0
    unless another is named (docs/known-issues.md compares Lite0, Lite1 and Lite2 this way)."""

    def __init__(self, *, seeds: tuple[int, ...] | None = None, data: str = "camvid", training=None,
                 models: Path | str | None = None, epochs: int | None = None, subset: dict[str, int] | None = None,
                 class_weighting: float | None = None, small_frames: int | None = None,
                 backbone: str | None = None):
        from ..endtoend import TrainingConfig
        from ..frozen import HeadConfig

        self.config = HeadConfig() if seeds is None else dataclasses.replace(HeadConfig(), seeds=tuple(seeds))
        if epochs is not None:
            self.config = dataclasses.replace(self.config, epochs=epochs)
        self.subset = dict(subset or {})  # {split: frames}, evenly spaced; features then kept on disk (`shared`)
        self.training = (training or TrainingConfig())
        if seeds is not None:
            self.training = dataclasses.replace(self.training, seeds=tuple(seeds))
        self.data = data
        from ..frozen import DEFAULT_BACKBONE

        self.backbone = backbone or DEFAULT_BACKBONE
        self.class_weighting = class_weighting
        self.small_frames = small_frames
        self._scores: dict[tuple, object] = {}
        self._bands: dict[tuple[int, int], tuple[object, torch.Tensor]] = {}  # (id(cache), width): (cache, band)
        self._heads: dict[tuple[str, int], nn.Module] = {}
        self._features: dict[tuple, object] = {}  # (split, size, output stride, levels): FeatureCache (`features`)
        self._shared: dict[str, object] = {}  # what several claims share, by name (`shared`)
        self.models = Path(models) if models is not None else None  # trained networks kept here (`trained`)
        self.loaded: dict[str, str] = {}  # {file: SHA-256} of every kept network `trained` loaded, for provenance

    @classmethod
    def for_learner(cls, data: str, profile: str, *, seeds: tuple[int, ...] = (0, 1, 2),
                    class_weighting: float | None = None, backbone: str | None = None) -> "Lab":
        """The claims' experiment at a notebook's scale: three seeds; in the fast profile 4 epochs on 120 training
        and 100 test frames (the features notebook 07 caches too), in the full profile 12 epochs on every frame.
        The little-data claims keep a regime where each frame is seen many times: the claims' 32 frames in 552
        batches of 8 (138 times each); in the fast profile 4 frames in its 60 steps, each step all 4 (60 times; 32
        frames would be seen 15 times, too few to overfit)."""
        if profile == "fast":
            return cls(data=data, seeds=seeds, epochs=4, subset={"train": 120, "val": 60, "test": 100},
                       class_weighting=class_weighting, small_frames=4, backbone=backbone)
        return cls(data=data, seeds=seeds, class_weighting=class_weighting, backbone=backbone)

    @cached_property
    def class_weights(self) -> torch.Tensor | None:
        """(K,) float32: median-frequency weights (`segedu.recipes.median_frequency_weights`, SegNet's balancing)
        of the training frames' labels at the heads' label size, raised to `class_weighting`; None when unweighted."""
        if self.class_weighting is None:
            return None
        from ...recipes import median_frequency_weights

        masks = self.stride32["train"].masks
        weights = median_frequency_weights([(None, mask) for mask in masks], 11, power=self.class_weighting)
        return torch.tensor(weights, dtype=torch.float32)

    def shared(self, name: str, compute: Callable[[], T]) -> T:
        """What several claims share, `compute()` on the first call for `name` and kept: e.g. DeconvNet and FCN-8s
        trained once per seed and shared by the DeconvNet claims (`segnet_deconvnet.staged_deconvnets`)."""
        if name not in self._shared:
            self._shared[name] = compute()
        return self._shared[name]

    def trained(self, name: str, seed: int, build, fit, *, settings: dict | None = None) -> nn.Module:
        """The network `name` trained with `seed`: `fit(build())`, or, when `models` names a folder that holds it
        trained with the same `settings` (default: this lab's end-to-end training configuration), `build()` with the
        kept weights (`{name}-seed{seed}.pt`, written atomically, read with `weights_only=True` after a CRC check).
        A file kept under other settings is trained again and replaced. So a long claim interrupted, or split over
        processes, does not train twice."""
        from ...checkpoint import load_checkpoint, save_checkpoint

        settings = settings_of(self.training) if settings is None else settings
        recipe = {"name": name, "seed": seed, "training": settings}  # the other seeds run do not change this one
        path = None if self.models is None else self.models / f"{name}-seed{seed}.pt"
        if path is not None and path.is_file():
            from ..provenance import file_sha256

            state = load_checkpoint(path)
            if state.get("recipe") == recipe:
                model = build()
                model.load_state_dict(state["model"])
                self.loaded[str(path)] = file_sha256(path)
                return model.eval()
        model = fit(build()).eval()
        if path is not None:
            save_checkpoint(path, {"model": model.state_dict(), "recipe": recipe})
        return model

    def features(self, split: str, *, size: tuple[int, int] | None = None, output_stride: int = 32,
                 levels: tuple[str, ...] = ("level3", "level4", "level5")):
        """The frames of `split` resized to `size` (default: the heads' image size) through the frozen encoder at
        `output_stride`, keeping `levels`: a `frozen.FeatureCache`, computed once per lab."""
        from ..frozen import FeatureCache

        size = tuple(size or self.config.image_size)
        key = (split, size, output_stride, tuple(levels))
        if key not in self._features:
            if self.subset:  # a learner's run: the frames chosen, computed once per machine and shared by notebooks
                self._features[key] = FeatureCache.shared(self.data, split, image_size=size,
                                                          output_stride=output_stride, levels=levels,
                                                          subset=self.subset.get(split), backbone=self.backbone)
            else:
                self._features[key] = FeatureCache(self.data, split, image_size=size, output_stride=output_stride,
                                                   levels=levels, backbone=self.backbone)
        return self._features[key]

    @cached_property
    def stride32(self):
        return {split: self.features(split) for split in ("train", "test")}

    @cached_property
    def stride8(self):
        return {split: self.features(split, output_stride=8, levels=("level5",)) for split in ("train", "val", "test")}

    @cached_property
    def stride8_levels(self):
        """Levels 3, 4 and 5 of the dilated encoder (output stride 8), all on one 23x30 grid at 180x240: the linear
        probes `frozen.PROBES` read them at equal resolution. (367 + 233) frames x (40 + 112 + 320) channels x 23x30
        in float16: 373 MiB."""
        return {split: self.features(split, output_stride=8) for split in ("train", "test")}

    def caches(self, kind: str):
        """The train and test features head `kind` reads: the probes' equal-resolution cache, the stride-32 levels
        for the FCN-style heads (`frozen.FCN_LEVELS`), else the dilated encoder's level 5."""
        from ..frozen import FCN_LEVELS, PROBES

        if kind in PROBES:
            return self.stride8_levels
        return self.stride32 if kind in FCN_LEVELS else self.stride8

    def head(self, kind: str, seed: int) -> nn.Module:
        if (kind, seed) not in self._heads:
            self._heads[kind, seed] = self.trained_head(kind, seed, self.caches(kind)["train"])
        return self._heads[kind, seed]

    def trained_head(self, kind: str, seed: int, train) -> nn.Module:
        """Head `kind` trained with `seed` on the cached features `train` (`frozen.train_head`, this lab's
        `HeadConfig`), kept in `models` as `trained` keeps networks, under the head's settings and the digest of
        the features and labels it read: a claims run interrupted trains again only the heads that `head` and
        `scores_at_size` had not finished."""
        from ..frozen import DEFAULT_BACKBONE, build_head, train_head

        settings = None  # nothing kept, nothing to key: a learner's notebook does not hash its caches
        if self.models is not None:
            if not hasattr(train, "digest"):  # the features and labels a head learns from, hashed once per cache
                train.digest = tensor_digest(train.masks, *(train.features[level] for level in sorted(train.features)))
            settings = {"head": settings_of(self.config), "features": train.digest}
        name = f"head-{kind}-{train.data}-{train.image_size[0]}x{train.image_size[1]}-os{train.output_stride}"
        if self.backbone != DEFAULT_BACKBONE:  # Lite0's kept heads keep their names
            name += f"-{self.backbone}"
        if self.class_weighting is not None:  # a file of its own; unweighted heads keep their names and keys
            name += f"-weighted{self.class_weighting:g}"
            settings = None if settings is None else {**settings, "class_weighting": self.class_weighting}
        return self.trained(name, seed, lambda: build_head(kind, train, hidden=self.config.hidden),
                            lambda _: train_head(kind, train, self.config, seed=seed, class_weights=self.class_weights),
                            settings=settings)

    def scores(self, kind: str, seed: int):
        """Per-frame test counts (`segedu.lab.scoring.Scores`) of head `kind` trained with `seed`."""
        from ..frozen import predict_head
        from ..scoring import score_frames

        if (kind, seed) not in self._scores:
            test = self.caches(kind)["test"]
            predictions = predicted_classes(predict_head(self.head(kind, seed), test))
            self._scores[kind, seed] = score_frames(predictions, test.masks.long(), band_width=self.config.band_width,
                                                    band=self.band(test))
        return self._scores[kind, seed]

    def band(self, test) -> torch.Tensor:
        """(F, H, W) bool: the boundary band of the masks of `test` (a cache), computed once: every head scored on
        those frames shares it."""
        from ...metrics import boundary_band

        key = (id(test), self.config.band_width)  # the cache is kept with its band: its id is not reused meanwhile
        if key not in self._bands:
            self._bands[key] = (test, boundary_band(test.masks.long(), width=self.config.band_width))
        return self._bands[key][1]

    def at_size(self, size: tuple[int, int]):
        """Train and test features at output stride 32 for frames resized to `size` (the configured size is
        `stride32` itself)."""
        if tuple(size) == tuple(self.config.image_size):
            return self.stride32
        return {split: self.features(split, size=size) for split in ("train", "test")}  # each kept by `features`

    def scores_at_size(self, kind: str, seed: int, size: tuple[int, int]):
        """Per-frame test counts of head `kind` trained (seed `seed`) on frames at `size`, its predictions
        upsampled to and scored against the labels at LABEL_SIZE, so every size is judged on the same pixels."""
        from ..frozen import predict_head
        from ..scoring import score_frames

        key = (kind, seed, tuple(size))
        if key not in self._scores:
            caches = self.at_size(size)
            head = self.trained_head(kind, seed, caches["train"])
            labelled = self.at_size(LABEL_SIZE)["test"]
            predictions = torch.cat([predicted_classes(chunk) for chunk in
                                     predict_head(head, caches["test"], size=LABEL_SIZE).split(32)])
            self._scores[key] = score_frames(predictions, labelled.masks.long(), band_width=self.config.band_width,
                                             band=self.band(labelled))
        return self._scores[key]

    def runs(self, kind: str) -> list:
        """The per-frame test counts of head `kind`, one per seed, in the seeds' order."""
        return [self.scores(kind, seed) for seed in self.config.seeds]

    def test_blocks(self) -> torch.Tensor:
        """(F,) the block of each test frame for the bootstrap: ten consecutive frames of one drive
        (`segedu.lab.statistics.sequence_blocks`), from the names of the test split's frames."""
        if "test_blocks" not in self._shared:
            from ...data import build_dataset
            from ..statistics import sequence_blocks

            dataset = build_dataset(self.data, "test", image_size=self.config.image_size,
                                    subset=self.subset.get("test"))  # the same frames as the test features
            pairs = getattr(dataset, "pairs", None)
            names = [image.name for image, _ in pairs] if pairs else [f"frames_{i}" for i in range(len(dataset))]
            self._shared["test_blocks"] = sequence_blocks(names)
        return self._shared["test_blocks"]

    def pooled(self, kind: str):
        """The counts of every seed added: the seeds' average model, scored once."""
        return pooled(self.runs(kind))
