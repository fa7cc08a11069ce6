"""The contract of every segedu model, and the sentence it is: encoder -> decoder -> head.

    class SegNet(SegmentationModel):
        name, multiple = "segnet", 32
        def __init__(self, *, num_classes, in_channels=3, width=1.0, pretrained=False):
            super().__init__(num_classes=num_classes, in_channels=in_channels)
            self.encoder = IndexedVGGEncoder(...)    # images -> what the decoder reads
            self.decoder = UnpoolingDecoder(...)     # -> (N, C, h, w) features
            self.head = nn.Conv2d(C, num_classes, 3, padding=1)   # -> (N, K, h, w) class scores

`SegmentationModel.forward` is the same for every model (as torchvision's ``_SimpleSegmentationModel`` and
segmentation_models.pytorch's ``SegmentationModel``): it checks the input, pads it (reflection) to a multiple of
`multiple` so strided encoders meet every size, runs the three parts, and brings the scores back to the input's
(H, W): cropped when they are at the padded size, upsampled bilinearly and cropped when they are coarser. A model
file keeps only its paper's parts.

**Output, one type.** ``model(images)`` returns the logits, a tensor (N, num_classes, H, W), in training and in
evaluation alike. ``model(images, auxiliary=True)`` returns ``(logits, auxiliary_logits)``: what `segedu.engine.fit`
asks for while training, to add the auxiliary loss; ``auxiliary_logits`` is None for models without an
``auxiliary_head`` (PSPNet has one, section 3.3; FCN-ResNet optionally).

**Transfer learning.** ``freeze_encoder()`` stops the encoder's gradients and keeps its batch-norm statistics
fixed (it stays in eval mode while the rest trains); ``unfreeze_encoder()`` undoes both.

**Rebuilding.** Every model records the keyword arguments it was built with in ``build_spec``, so a checkpoint
rebuilds the same model whether it was made by `build_model` or by calling the class.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import measure

__all__ = ["SegmentationModel", "OnLevel", "pad_to_multiple", "resize", "fit_to_size"]



def pad_to_multiple(images: torch.Tensor, multiple: int, *, mode: str = "reflect") -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) at the bottom and right so H and W become multiples of `multiple`; return the original (H, W)."""
    height, width = images.shape[-2:]
    pad_bottom, pad_right = -height % multiple, -width % multiple
    if pad_bottom or pad_right:
        # reflection needs the pad to be smaller than the side; fall back to replication for tiny inputs
        usable = mode if pad_bottom < height and pad_right < width else "replicate"
        images = F.pad(images, (0, pad_right, 0, pad_bottom), mode=usable)
    return images, (height, width)


def resize(logits: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize of (N, K, h, w) logits to (N, K, *size); a no-op when the size already matches."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


def fit_to_size(scores: torch.Tensor, padded: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Scores (N, K, h, w) computed on a (padded) input -> (N, K, *size): upsampled bilinearly to the padded size
    when coarser, then cropped to the original size."""
    return resize(scores, padded)[..., : size[0], : size[1]]


class OnLevel(nn.Sequential):
    """Layers applied to one named level of an encoder's output: {"level5": (N, C, h, w), ...} -> layers(level)."""

    def __init__(self, level: str, *layers: nn.Module):
        super().__init__(*layers)
        self.level = level

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return super().forward(features[self.level])


class SegmentationModel(nn.Module):
    """Base class: a subclass sets `name` (and `multiple` when its decoder needs exact multiples), builds
    `encoder`, `decoder` and `head` (and optionally `auxiliary_head`, reading `auxiliary_level` of the encoder's
    output), and calls nothing else: `forward` is this class's.

    Args (every subclass, keyword-only):
        num_classes: K, the channels of the logits.
        in_channels: C of the input images (N, C, H, W), values in [0, 1].
    """

    name: str = "model"
    multiple: int = 1               # inputs are padded to a multiple of this; 1: any size goes through as it is
    auxiliary_level: str = "level4"  # what the auxiliary head reads from the encoder's output
    minimum_size: int = 1           # the smallest height and width the model takes

    def __init_subclass__(cls, **kwargs):
        """Record the keyword arguments of the outermost constructor in ``build_spec`` (what rebuilds the model)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        constructor = cls.__init__

        @functools.wraps(constructor)
        def recording_init(self, *args, **options):
            if args:
                raise TypeError(f"{cls.__name__} takes keyword arguments only (got {len(args)} positional)")
            constructor(self, **options)
            if type(self) is cls:
                self.build_spec = {"class": cls.__name__, "name": self.name, "num_classes": self.num_classes,
                                   "in_channels": self.in_channels,
                                   "options": {k: v for k, v in options.items() if k not in ("num_classes", "in_channels")}}

        cls.__init__ = recording_init

    def __init__(self, *, num_classes: int, in_channels: int):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels!r}")
        self.num_classes, self.in_channels = num_classes, in_channels
        self.encoder: nn.Module = nn.Identity()
        self.decoder: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        self.auxiliary_head: nn.Module | None = None
        self.encoder_frozen = False

    def check_input(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != self.in_channels:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"{type(self).__name__} expects images of shape (N, {self.in_channels}, H, W), got {shape}")
        if min(images.shape[-2:]) < self.minimum_size:
            raise ValueError(f"{type(self).__name__} needs images of at least {self.minimum_size}x{self.minimum_size} "
                             f"pixels, got {images.shape[-2]}x{images.shape[-1]}")

    def core(self, images: torch.Tensor) -> torch.Tensor:
        """The sentence on an input whose size the encoder takes as it is: head(decoder(encoder(images)))."""
        return self.head(self.decoder(self.encoder(images)))

    def forward(self, images: torch.Tensor, *, auxiliary: bool = False) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """(N, in_channels, H, W) -> logits (N, num_classes, H, W); with `auxiliary`, (logits, auxiliary logits or None)."""
        self.check_input(images)
        padded, size = pad_to_multiple(images, self.multiple)
        features = self.encoder(padded)
        logits = fit_to_size(self.head(self.decoder(features)), padded.shape[-2:], size)
        if not auxiliary:
            return logits
        if self.auxiliary_head is None:
            return logits, None
        auxiliary_input = features[self.auxiliary_level] if isinstance(features, dict) else features
        return logits, fit_to_size(self.auxiliary_head(auxiliary_input), padded.shape[-2:], size)

    def freeze_encoder(self) -> SegmentationModel:
        """Transfer learning: the encoder keeps its weights (no gradients) and its batch-norm statistics (eval mode)."""
        self.encoder.requires_grad_(False)
        self.encoder_frozen = True
        self.encoder.eval()
        return self

    def unfreeze_encoder(self) -> SegmentationModel:
        """Fine-tuning: the encoder trains again, batch norm included."""
        self.encoder.requires_grad_(True)
        self.encoder_frozen = False
        self.encoder.train(self.training)
        return self

    def train(self, mode: bool = True) -> SegmentationModel:
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def num_parameters(self) -> int:
        return measure.num_parameters(self)
