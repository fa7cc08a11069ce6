"""Controlled experiments on a 2-core CPU: decoder heads trained on a frozen pretrained encoder's features.

To compare FCN-32s, 16s and 8s, or a plain head, pyramid pooling and ASPP, everything but the part under study must
be equal: the same encoder, data, steps and seeds. Freezing the pretrained EfficientNet-Lite0 (ImageNet weights,
`segedu.efficientnet_lite`) makes that cheap: its features for every CamVid frame are computed once
(`FeatureCache`: 367 training frames at 180x240 in seconds), and each head then trains in seconds on them. The
heads differ only where the lecture says they do:

    fcn32s / fcn16s / fcn8s   per level a 3x3 ConvBNReLU and a 1x1 score, upsampled bilinearly to the finest
                              level and summed (Long et al. 2015, figure 3: FCN-16s adds pool4's scores, FCN-8s
                              also pool3's); encoder at output stride 32; levels 5 / 5+4 / 5+4+3
    concat8s                  the same three levels, each reduced by a 3x3 ConvBNReLU, upsampled and
                              *concatenated*, then one 1x1 score: the same function class as fcn8s (a 1x1
                              convolution of a concatenation is the sum of per-level 1x1 scores; tested)
    concat_fusion /           U-Net's skips against summed features, with a nonlinear decoder after the fusion
    sum_fusion                (Ronneberger et al. 2015): each level reduced by a 1x1 ConvBNReLU, upsampled to
                              level 3, then concatenated (32 channels each) or summed (67 channels: the two heads
                              have the same number of parameters, within 1%), then a 3x3 ConvBNReLU and a 1x1 score
    plain / pyramid / aspp    on the dilated encoder (output stride 8): one 3x3 ConvBNReLU, or PSPNet's pyramid
                              pooling before it (Zhao et al. 2017), or DeepLab v3's ASPP (Chen et al. 2017)
    early                     FCN's summed scores on the low-level features only (levels 3 and 2, strides 8
                              and 4): the transfer regime for little data unlike ImageNet (`segedu.lab.endtoend`)
    linear3 / linear4 /       the lecture's "linear classifier on frozen features": one 1x1 convolution (a linear
    linear5                   softmax classifier at every pixel) on one level alone, a probe of what that level knows
    probe3 / probe4 /         the same linear classifiers on the dilated encoder (output stride 8), where levels 3, 4
    probe5                    and 5 all lie on one 23x30 grid at 180x240: the dilated levels compute the stride-32
                              features on a denser grid (`tests/test_dilation.py`), so the three probes differ in
                              the level they read and not in the resolution of their map (`PROBES`)
    hypercolumn               the hypercolumn features of Hariharan et al. 2015 (levels 3, 4 and 5, upsampled to
                              level 3 and concatenated) under one whole-frame linear classifier; the paper classifies
                              pixels inside detection boxes with a coarse grid of location-specific classifiers
                              (`segedu.lab.box_hypercolumns`). As bilinear
                              upsampling and a 1x1 convolution are both linear, this equals the sum of per-level
                              linear scores upsampled, FCN-8s without its 3x3 layers (tested)
    largefov                  DeepLab-LargeFOV's classifier (Chen et al. 2015): a 3x3 convolution with dilation
                              12, then 1x1; the CRF's input
    segnet / deconvnet        SegNet's and DeconvNet's decoders (unpooling with switches taken from levels 4 and 3,
                              then convolutions, or DeconvNet's fc6/fc7 bottleneck and deconvolutions), on the same
                              three levels as fcn8s (`segedu.lab.unpooling`)

Departures: no data augmentation (the features are cached), the encoder is never fine-tuned, and FCN's learned 2x
upsampling is bilinear. Settings are fixed in `HeadConfig` before any result was looked at.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..backbones import build_backbone
from ..engine import segmentation_objective, train_steps
from ..language import tr
from ..layers import ASPP, ConvBNReLU, PyramidPooling, resize_bilinear
from .settings import LabSettings
from .unpooling import LEVELS as UNPOOLING_LEVELS, UNPOOLING_HEADS, UnpoolingHead

__all__ = ["DEFAULT_BACKBONE", "HeadConfig", "FeatureCache", "feature_cache_folder", "Head", "HEADS", "PROBES",
           "build_head", "features_of", "train_head", "train_head_in_stages", "head_logits", "predict_head"]

HEADS = ("fcn32s", "fcn16s", "fcn8s", "concat8s", "plain", "pyramid", "aspp", "largefov", "early", "linear3", "linear4",
         "linear5", "hypercolumn", "concat_fusion", "sum_fusion", "probe3", "probe4", "probe5", "segnet", "deconvnet")
FCN_LEVELS = {"fcn32s": ("level5",), "fcn16s": ("level5", "level4"), "fcn8s": ("level5", "level4", "level3"),
              "concat8s": ("level5", "level4", "level3"), "early": ("level3", "level2"), "linear3": ("level3",),
              "linear4": ("level4",), "linear5": ("level5",), "hypercolumn": ("level5", "level4", "level3"),
              "concat_fusion": ("level5", "level4", "level3"), "sum_fusion": ("level5", "level4", "level3"),
              "probe3": ("level3",), "probe4": ("level4",), "probe5": ("level5",),
              "segnet": UNPOOLING_LEVELS, "deconvnet": UNPOOLING_LEVELS}  # the heads on the stride-32 levels
DEFAULT_BACKBONE = "efficientnet_lite0"  # the frozen ImageNet encoder of every claim and notebook
PROBES = ("probe3", "probe4", "probe5")  # linear probes read at output stride 8: levels 3-5 on one grid
FUSION_CHANNELS = {"concat_fusion": 32, "sum_fusion": 67}  # per level; equal parameters on EfficientNet-Lite0


@dataclasses.dataclass(frozen=True)
class HeadConfig(LabSettings):
    """The training of every head; fixed before looking at any result (changing it means re-running every claim)."""

    seeds: tuple[int, ...] = tuple(range(10))  # heads are cheap: ten training runs per arm
    image_size: tuple[int, int] = (180, 240)
    epochs: int = 12
    band_width: int = 3  # pixels: the boundary band of the trimap accuracy


def feature_cache_folder() -> Path:
    """Where `FeatureCache.shared` keeps its files: ``$SEGEDU_CACHE/features``, else
    ``$XDG_CACHE_HOME/segedu/features``, else ``~/.cache/segedu/features``."""
    if os.environ.get("SEGEDU_CACHE"):
        return Path(os.environ["SEGEDU_CACHE"]) / "features"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "segedu" / "features"


@contextlib.contextmanager
def _computed_once(path: Path):
    """Hold an exclusive lock on `path`'s ``.lock`` file (POSIX `fcntl.flock`): two notebooks or test workers that
    want the same cache compute it once, the second loading what the first wrote. Where no lock can be taken (no
    fcntl, a folder this account cannot write), nothing waits; the writes stay atomic either way."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 (closed below)
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


class FeatureCache:
    """Every frame of one split through the frozen pretrained encoder, once.

    features[level]: (F, C, h, w) float16; masks: (F, H, W) uint8 at `image_size`; images: (F, 3, H, W) uint8.
    `FeatureCache.shared(...)` computes a split once per machine and keeps it on disk for every notebook.
    `backbone`: the ImageNet encoder, EfficientNet-Lite0 unless another of `segedu.backbones` is named (Lite1 and
    Lite2 have their ImageNet weights offline too).
    """

    def __init__(self, data: str, split: str, *, image_size: tuple[int, int], output_stride: int = 32,
                 levels: tuple[str, ...] = ("level3", "level4", "level5"), subset: int | None = None,
                 batch_size: int = 16, progress: bool = False, encoder: nn.Module | None = None,
                 backbone: str = DEFAULT_BACKBONE):
        from ..data import build_dataset

        frames = build_dataset(data, split, image_size=image_size, subset=subset)
        batches = ((torch.stack([image for image, _ in batch]), torch.stack([mask for _, mask in batch]))
                   for batch in ([frames[index] for index in range(start, min(start + batch_size, len(frames)))]
                                 for start in range(0, len(frames), batch_size)))
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=math.ceil(len(frames) / batch_size), unit="batch",
                           desc=tr("{data} {split}: the frozen encoder's features, once on this machine", data=data,
                                   split=split))
        if encoder is None:
            encoder = build_backbone(backbone, pretrained=True, output_stride=output_stride)
        self._encode(batches, data=data, split=split, image_size=image_size, output_stride=output_stride,
                     levels=levels, encoder=encoder)
        self.backbone = backbone

    @classmethod
    def shared(cls, data: str, split: str, *, image_size: tuple[int, int], output_stride: int = 32,
               levels: tuple[str, ...] = ("level3", "level4", "level5"), subset: int | None = None,
               folder: Path | str | None = None, progress: bool = True,
               backbone: str = DEFAULT_BACKBONE) -> "FeatureCache":
        """The cache of `data`'s `split`, computed on first use (with a progress bar) and kept in `folder`
        (`feature_cache_folder()`), so every notebook on this machine loads it in a second. The file's name holds
        every setting, the data's folder and the encoder weights' digest: other data or weights compute a new one.
        Fewer levels than a kept file holds are read from it (the encoder computes every level anyway, so they are
        the same numbers): notebook 12's level 5 comes from the levels 3-5 that notebook 07 cached.
        A damaged or foreign file is computed again and replaced (written atomically: `checkpoint.save_checkpoint`)."""
        from ..checkpoint import save_checkpoint
        from ..data import data_root

        encoder = build_backbone(backbone, pretrained=True, output_stride=output_stride)
        weights = hashlib.sha256()
        for key, value in encoder.state_dict().items():
            weights.update(key.encode() + value.detach().float().numpy().tobytes())
        where = hashlib.sha256(f"{Path(data_root()).resolve()}|{weights.hexdigest()}".encode()).hexdigest()[:16]
        encoder_name = "" if backbone == DEFAULT_BACKBONE else f"{backbone}-"  # Lite0's files keep their names
        # {prefix}{levels joined by "+"}{suffix}
        prefix = f"{data}-{split}-{image_size[0]}x{image_size[1]}-{encoder_name}os{output_stride}-"
        suffix = f"-{subset or 'all'}-{where}.pt"
        folder = Path(folder or feature_cache_folder())
        path = folder / f"{prefix}{'+'.join(levels)}{suffix}"
        with _computed_once(path):  # a second process asking for the same file waits, then loads it
            wider = [found for found in sorted(folder.glob(f"{prefix}*{suffix}"))
                     if set(levels) < set(found.name[len(prefix):-len(suffix)].split("+"))]
            for kept in ([path] if path.exists() else []) + wider:
                cache = cls._stored(kept, levels, backbone)
                if cache is not None:
                    return cache
            cache = cls(data, split, image_size=image_size, output_stride=output_stride, levels=levels,
                        subset=subset, progress=progress, encoder=encoder, backbone=backbone)  # weights named the file
            save_checkpoint(path, {"data": cache.data, "split": cache.split, "image_size": list(cache.image_size),
                                   "output_stride": cache.output_stride, "features": cache.features,
                                   "images": cache.images, "masks": cache.masks})
            return cache

    @classmethod
    def _stored(cls, path: Path, levels: tuple[str, ...], backbone: str) -> "FeatureCache | None":
        """The cache kept in `path` with only `levels`; None when the file is damaged, foreign or lacks a level."""
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
            cache = cls.__new__(cls)
            for key in ("data", "split", "output_stride", "images", "masks"):
                setattr(cache, key, stored[key])
            cache.features = {level: stored["features"][level] for level in levels}
            cache.image_size, cache.seconds, cache.backbone = tuple(stored["image_size"]), 0.0, backbone
            cache.channels = {level: tensor.shape[1] for level, tensor in cache.features.items()}
        except Exception:  # noqa: BLE001 (a damaged file is computed again)
            return None
        return cache if len(cache.masks) == len(cache.images) > 0 else None

    @classmethod
    def of_images(cls, images: torch.Tensor, masks: torch.Tensor, *, name: str, output_stride: int = 32,
                  levels: tuple[str, ...] = ("level3", "level4", "level5"), batch_size: int = 16,
                  backbone: str = DEFAULT_BACKBONE) -> "FeatureCache":
        """The cache of given frames: images (N, 3, H, W) float in [0, 1], masks (N, H, W); `name` says what they
        are (e.g. DeconvNet's object crops, `unpooling`)."""
        cache = cls.__new__(cls)
        cache._encode(zip(images.split(batch_size), masks.split(batch_size)), data=name, split="given",
                      image_size=tuple(images.shape[-2:]), output_stride=output_stride, levels=levels,
                      encoder=build_backbone(backbone, pretrained=True, output_stride=output_stride))
        cache.backbone = backbone
        return cache

    def _encode(self, batches, *, data: str, split: str, image_size: tuple[int, int], output_stride: int,
                levels: tuple[str, ...], encoder: nn.Module) -> None:
        """Fill the cache from (images (B, 3, H, W) in [0, 1], masks (B, H, W)) batches, through `encoder` (the
        pretrained encoder at `output_stride`)."""
        started = time.perf_counter()
        encoder = encoder.eval()
        images, masks, outputs = [], [], {level: [] for level in levels}
        with torch.inference_mode():
            for pictures, labels in batches:
                features = encoder(pictures)
                for level in levels:
                    outputs[level].append(features[level].half())
                images.append((pictures * 255).round().to(torch.uint8))
                masks.append(labels.to(torch.uint8))
        self.data, self.split, self.image_size, self.output_stride = data, split, tuple(image_size), output_stride
        self.features = {level: torch.cat(chunks) for level, chunks in outputs.items()}
        self.channels = {level: tensor.shape[1] for level, tensor in self.features.items()}
        self.images, self.masks = torch.cat(images), torch.cat(masks)
        self.seconds = time.perf_counter() - started

    def __len__(self) -> int:
        return len(self.masks)


class Head(nn.Module):
    """One of `HEADS` on cached features: {level: (N, C, h, w)} -> logits (N, K, h_finest, w_finest)."""

    def __init__(self, kind: str, channels: dict[str, int], num_classes: int, hidden: int):
        super().__init__()
        if kind not in HEADS:
            raise ValueError(f"unknown head {kind!r}; choose one of {', '.join(HEADS)}")
        if kind in UNPOOLING_HEADS:
            raise ValueError(f"head {kind!r} is an unpooling decoder: build it with build_head")
        self.kind = kind
        self.score = None
        self.fuse = "concat"  # how `score` takes the levels' maps: concatenated, or summed (sum_fusion)
        if kind in FCN_LEVELS:
            self.levels = FCN_LEVELS[kind]
            if kind.startswith(("linear", "probe")):  # a linear classifier: (N, C, h, w) -> (N, K, h, w), nothing else
                self.branches = nn.ModuleDict({self.levels[0]: nn.Conv2d(channels[self.levels[0]], num_classes, 1)})
            elif kind == "hypercolumn":  # the raw features concatenated; one linear classifier after
                self.branches = nn.ModuleDict({level: nn.Identity() for level in self.levels})
                self.score = nn.Conv2d(sum(channels[level] for level in self.levels), num_classes, 1)
            elif kind in FUSION_CHANNELS:  # features fused (concatenated or summed), then a nonlinear decoder
                width = FUSION_CHANNELS[kind]
                self.branches = nn.ModuleDict({level: ConvBNReLU(channels[level], width, kernel_size=1)
                                               for level in self.levels})
                fused = width * len(self.levels) if kind == "concat_fusion" else width
                self.score = nn.Sequential(ConvBNReLU(fused, hidden), nn.Conv2d(hidden, num_classes, 1))
                self.fuse = "sum" if kind == "sum_fusion" else "concat"
            elif kind == "concat8s":  # each level reduced to `hidden` channels; one score after the concatenation
                self.branches = nn.ModuleDict({level: ConvBNReLU(channels[level], hidden) for level in self.levels})
                self.score = nn.Conv2d(hidden * len(self.levels), num_classes, 1)
            else:
                self.branches = nn.ModuleDict({level: nn.Sequential(ConvBNReLU(channels[level], hidden),
                                                                    nn.Conv2d(hidden, num_classes, 1))
                                               for level in self.levels})
            return
        self.levels = ("level5",)
        width = channels["level5"]
        if kind == "largefov":  # fc6 (3x3, dilation 12) and fc7 of DeepLab-LargeFOV, narrowed to `hidden`
            body: list[nn.Module] = [nn.Conv2d(width, hidden, 3, padding=12, dilation=12), nn.ReLU(inplace=True)]
        elif kind == "plain":
            body = [ConvBNReLU(width, hidden)]
        elif kind == "pyramid":
            pyramid = PyramidPooling(width, branch_channels=hidden // 4)
            body = [pyramid, ConvBNReLU(pyramid.out_channels, hidden)]
        else:  # aspp: DeepLab v3's rates for output stride 8 halved, as the 23x30 map is smaller than its 65x65
            body = [ASPP(width, hidden, rates=(6, 12, 18), dropout=0.0), ConvBNReLU(hidden, hidden)]
        self.branches = nn.ModuleDict({"level5": nn.Sequential(*body, nn.Conv2d(hidden, num_classes, 1))})

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        finest = features[self.levels[-1]].shape[-2:]
        maps = [resize_bilinear(self.branches[level](features[level]), finest)
                for level in self.levels]  # coarsest first, each upsampled to the finest level
        if self.score is not None:  # (N, width * levels, h, w) or, summed, (N, width, h, w) -> scores
            return self.score(torch.stack(maps).sum(0) if self.fuse == "sum" else torch.cat(maps, 1))
        return torch.stack(maps).sum(0)  # FCN: the levels' score maps summed


def build_head(kind: str, cache: FeatureCache, *, num_classes: int = 11, hidden: int = 64) -> nn.Module:
    """Head `kind` for the levels of `cache`: a `Head`, or SegNet's and DeconvNet's `unpooling.UnpoolingHead`."""
    if kind in UNPOOLING_HEADS:
        return UnpoolingHead(kind, cache.channels, num_classes, hidden,
                             coarsest=tuple(cache.features["level5"].shape[-2:]))
    return Head(kind, cache.channels, num_classes, hidden)


def features_of(cache: FeatureCache, indices: torch.Tensor, levels) -> dict[str, torch.Tensor]:
    """{level: (B, C, h, w) float32}: the cached features of the frames `indices`."""
    return {level: cache.features[level][indices].float() for level in levels}


def train_head(kind: str, train: FeatureCache, config: HeadConfig, *, seed: int, num_classes: int = 11,
               class_weights: torch.Tensor | None = None) -> nn.Module:
    """Train one head with AdamW and cross-entropy at the label size (void ignored), `config.epochs` epochs of
    `train`; the same order of batches for every head with the same seed. `class_weights` (K,): the loss of each
    pixel weighted by its true class's weight (e.g. median-frequency balancing, SegNet's); default, unweighted."""
    return train_head_in_stages(kind, [(train, config.epochs * math.ceil(len(train) / config.batch_size))], config,
                                seed=seed, num_classes=num_classes, class_weights=class_weights)


def train_head_in_stages(kind: str, stages: list[tuple[FeatureCache, int]], config: HeadConfig, *, seed: int,
                         num_classes: int = 11, class_weights: torch.Tensor | None = None,
                         interleaved: bool = False) -> nn.Module:
    """Train one head on each (cache, steps) of `stages` in turn, one optimizer throughout (DeconvNet's two
    stages: object crops, then whole frames). Each stage draws its batches epoch by epoch in a seeded order and
    stops after its steps; every cache holds the same levels at the same image size. `interleaved`: the very same
    batches, the stages taking turns batch by batch instead (the order is all that differs)."""
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
    if weight is not None and weight.shape != (num_classes,):
        raise ValueError(f"class_weights must hold one weight per class ({num_classes}), got shape "
                         f"{tuple(weight.shape)}")
    torch.manual_seed(seed)
    head = build_head(kind, stages[0][0], num_classes=num_classes, hidden=config.hidden)
    optimizer = torch.optim.AdamW(head.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=True)  # one kernel for every parameter: a quarter of a decoder's step otherwise
    generator = torch.Generator().manual_seed(seed)

    def drawn(cache: FeatureCache, steps: int) -> list[tuple[FeatureCache, torch.Tensor]]:  # epoch after epoch
        indices: list[torch.Tensor] = []
        while len(indices) < steps:
            indices += torch.randperm(len(cache), generator=generator).split(config.batch_size)[:steps - len(indices)]
        return [(cache, batch) for batch in indices]

    plans = [drawn(cache, steps) for cache, steps in stages]
    order = itertools.chain.from_iterable(itertools.zip_longest(*plans) if interleaved else plans)

    def batches():  # (features of the batch's frames, their masks)
        for cache, indices in filter(None, order):
            yield features_of(cache, indices, head.levels), cache.masks[indices].long()

    def loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:  # scored at the label size
        logits = resize_bilinear(logits, masks.shape[-2:])  # F.interpolate's numbers, twice as fast
        return F.cross_entropy(logits, masks, weight=weight, ignore_index=255)

    return train_steps(head, optimizer, batches(), segmentation_objective(loss))


@torch.inference_mode()
def head_logits(head: Head, cache: FeatureCache, *, size: tuple[int, int] | None = None, batch_size: int = 32,
                pool: int = 1):
    """(indices (B,), logits (B, K, H, W)) for every `batch_size` cached frames in turn, upsampled to `size`
    (default: the cache's image size): for callers that score a chunk at a time instead of keeping every logit.
    With `pool` > 1 the head's scores are first averaged over `pool` x `pool` cells of its map (the last row and
    column of cells averaging what is left), as if its output stride were `pool` times coarser."""
    size = size or cache.image_size
    for indices in torch.arange(len(cache)).split(batch_size):
        logits = head(features_of(cache, indices, head.levels))
        if pool > 1:
            logits = F.avg_pool2d(logits, pool, ceil_mode=True)
        yield indices, resize_bilinear(logits, size)


def predict_head(head: Head, cache: FeatureCache, *, size: tuple[int, int] | None = None,
                 batch_size: int = 32, pool: int = 1) -> torch.Tensor:
    """Logits (F, K, H, W) for every cached frame, upsampled to `size` (default: the cache's image size); `pool` as
    `head_logits`."""
    return torch.cat([logits for _, logits in head_logits(head, cache, size=size, batch_size=batch_size, pool=pool)])
