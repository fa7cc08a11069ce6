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
``auxiliary_head`` (PSPNet has one, section 4; FCN-ResNet optionally).

**Transfer learning.** ``freeze_encoder()`` stops the encoder's gradients and keeps its batch-norm statistics
fixed (it stays in eval mode while the rest trains); ``unfreeze_encoder()`` undoes both.

**Rebuilding.** Every model records the keyword arguments it was built with in ``build_spec``, so a checkpoint
rebuilds the same model whether it was made by `build_model` or by calling the class.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import measure
from ..errors import InputError
from ..language import said_later, tr

__all__ = ["SegmentationModel", "OnLevel", "pad_to_multiple", "resize", "fit_to_size", "option_problem", "check_options"]


def _outside_dispatch_modes():
    """A context leaving the caller's TorchDispatchModes (FlopCounterMode, ...) for its duration, where torch has it."""
    try:
        from torch.utils._python_dispatch import _disable_current_modes
    except ImportError:  # pragma: no cover - older or newer torch without it: run inside them
        return contextlib.nullcontext()
    return _disable_current_modes()


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# what each option of the course's models takes: (test, the requirement in words)
OPTION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "width": (lambda v: _real(v) and v > 0, said_later("a finite number above 0 (the channel multiplier)")),
    "dropout": (lambda v: _real(v) and 0 <= v <= 1, said_later("a probability from 0 to 1")),
    "depth": (lambda v: _whole(v) and v >= 1, said_later("a whole number of at least 1")),
    "fc6_dilation": (lambda v: _whole(v) and v >= 1, said_later("a whole number of at least 1")),
    "output_stride": (lambda v: _whole(v) and v in (8, 16, 32), said_later("8, 16 or 32")),
    "stride": (lambda v: _whole(v) and v in (8, 16, 32), said_later("8, 16 or 32")),
    "bins": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(_whole(b) and b >= 1 for b in v),
             said_later("a non-empty tuple of whole numbers of at least 1, e.g. (1, 2, 3, 6)")),
    "rates": (lambda v: isinstance(v, (tuple, list)) and len(v) > 0 and all(_whole(r) and r >= 1 for r in v),
              said_later("a non-empty tuple of whole numbers of at least 1, e.g. (6, 12, 18, 24)")),
    **{key: (lambda v: isinstance(v, bool), said_later("True or False"))
       for key in ("pretrained", "auxiliary", "batch_norm", "padding")},
    **{key: (lambda v: isinstance(v, str), said_later("a name (a string)")) for key in ("backbone", "bottleneck")},
}


def option_problem(key: str, value: Any) -> str | None:
    """What is wrong with model option `key` = `value`, in words ("must be ..., got ..."), or None if nothing is (or
    `key` is not one of the course's options, which the model itself then checks)."""
    if key not in OPTION_RULES:
        return None
    test, requirement = OPTION_RULES[key]
    try:
        fine = bool(test(value))
    except TypeError:  # e.g. a NaN check on something that is not a number
        fine = False
    return None if fine else tr("must be {requirement}, got {value!r}", requirement=tr(requirement), value=value)


def check_options(model: str, options: dict[str, Any]) -> None:
    """Refuse (InputError) the first option in `options` a model cannot be built with, naming `model` and the option:
    ``width=0`` would build a model of 4-channel layers in silence, ``width="oops"`` fail deep in a layer."""
    for key, value in options.items():
        problem = option_problem(key, value)
        if problem:
            raise InputError(tr("model {model!r}: option {key} {problem}", model=model, key=key, problem=problem))



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
                raise TypeError(tr("{class_name} takes keyword arguments only (got {number_of_args} positional)",
                                   class_name=cls.__name__, number_of_args=len(args)))
            if type(self) is cls:  # the outermost constructor: refuse width=0 and the like before building anything
                check_options(cls.__name__, {k: v for k, v in options.items() if k not in ("num_classes", "in_channels")})
            constructor(self, **options)
            if type(self) is cls:
                self.build_spec = {"class": cls.__name__, "name": self.name, "num_classes": self.num_classes,
                                   "in_channels": self.in_channels,
                                   "options": {k: v for k, v in options.items() if k not in ("num_classes", "in_channels")}}

        cls.__init__ = recording_init

    def __init__(self, *, num_classes: int, in_channels: int):
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(tr("num_classes must be a positive integer, got {num_classes!r}", num_classes=num_classes))
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(tr("in_channels must be a positive integer, got {in_channels!r}", in_channels=in_channels))
        self.num_classes, self.in_channels = num_classes, in_channels
        self.encoder: nn.Module = nn.Identity()
        self.decoder: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        self.auxiliary_head: nn.Module | None = None
        self.encoder_frozen = False

    def check_input(self, images: torch.Tensor) -> None:
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != self.in_channels:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(tr("{self_type} expects images of shape (N, {in_channels}, H, W), got "
                                "{shape}",
                                self_type=type(self).__name__, in_channels=self.in_channels, shape=shape))
        if min(images.shape[-2:]) < self.minimum_size:
            raise ValueError(tr("{self_type} needs images of at least {minimum_size}x{minimum_size} "
                                "pixels, got {images_shape}x{images_shape_2}",
                                self_type=type(self).__name__, minimum_size=self.minimum_size,
                                images_shape=images.shape[-2], images_shape_2=images.shape[-1]))
        if self.training and images.shape[0] == 1 and not self.__dict__.get("_probing", False):
            self._check_batch_of_one(int(images.shape[-2]), int(images.shape[-1]))

    def _label(self) -> str:
        """The class's name, with the registry's when it differs: "UNet", "FCNResNet (fcn)", "FCN (fcn8s)"."""
        label = type(self).__name__
        return label if label.lower() == str(self.name).lower() else f"{label} ({self.name})"

    def _trains_on_one(self, height: int, width: int) -> bool | None:
        """Whether one (height x width) image goes through this model in training mode: tried on the meta device (shapes
        only, no memory, no arithmetic, the real weights and statistics untouched). False when batch norm would see one
        value per channel, None when the meta device cannot tell."""
        tensors = {name: torch.empty_like(tensor, device="meta")
                   for named in (self.named_parameters(), self.named_buffers()) for name, tensor in named}
        images = torch.empty(1, self.in_channels, height, width, device="meta")
        self.__dict__["_probing"] = True
        try:  # outside any dispatch mode a caller runs (a FLOP counter must not count the probe)
            with _outside_dispatch_modes(), torch.no_grad():
                torch.func.functional_call(self, tensors, (images,),
                                           {"auxiliary": True} if self.auxiliary_head is not None else {})
        except ValueError as error:
            return False if "more than 1 value per channel" in str(error) else None
        except Exception:  # noqa: BLE001: an operation the meta device lacks; the real forward will speak for itself
            return None
        finally:
            self.__dict__["_probing"] = False
        return True

    def smallest_trainable_size(self, *, largest: int = 4096) -> int | None:
        """The smallest side S such that one SxS image trains (batch norm sees more than one value per channel in every
        layer), found by trying sides on the meta device in the current train/eval modes; None if no side up to
        `largest` does (a batch norm after global pooling, as PSPNet's 1x1 bin: only batches of 2 or more train)."""
        low, side = 0, max(1, self.minimum_size)  # low: the largest side known to fail
        while side <= largest and not self._trains_on_one(side, side):
            low, side = side, side * 2
        if side > largest:
            return None
        while side - low > 1:  # the sizes reaching each layer grow with the input: bisect between low and side
            middle = (low + side) // 2
            low, side = (low, middle) if self._trains_on_one(middle, middle) else (middle, side)
        return max(side, self.minimum_size)

    @torch.compiler.disable
    def _check_batch_of_one(self, height: int, width: int) -> None:
        """Training on a batch of one image: refuse (InputError) a size at which a batch norm layer would see a single
        value per channel (torch's "Expected more than 1 value per channel when training"), naming the model, the size
        and the smallest size that trains. Answers are kept per size and train/eval modes, so a loop pays once."""
        modes = tuple(module.training for module in self.modules())
        cache = self.__dict__.setdefault("_batch_of_one", {})
        if (height, width, modes) not in cache:
            cache[height, width, modes] = self._trains_on_one(height, width) is not False
        if cache[height, width, modes]:
            return
        if modes not in cache:
            cache[modes] = self.smallest_trainable_size()
        smallest = cache[modes]
        if smallest is None:
            raise InputError(tr("{self_label} cannot train on a batch of one image, at any size ({height}x{width} "
                                "given): one of its batch norm layers follows a global pooling and would see a "
                                "single value per channel; train with batches of at least 2 images (or call .eval() "
                                "to predict)",
                                self_label=self._label(), height=height, width=width))
        raise InputError(tr("{self_label} cannot train on a batch of one {height}x{width} image: one of its batch "
                            "norm layers would see a single value per channel; the smallest input it trains on with "
                            "a batch of one is {smallest}x{smallest} pixels (or train with batches of at least 2 "
                            "images)",
                            self_label=self._label(), height=height, width=width, smallest=smallest))

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

    def freeze_encoder(self, through: str | None = None) -> SegmentationModel:
        """Transfer learning: the encoder keeps its weights (no gradients) and its batch-norm statistics (eval mode).
        `through` (e.g. "level3") freezes only the encoder's levels up to that one, the generic early features,
        and leaves the later levels to be fine-tuned; the frozen levels then need no backward pass at all."""
        self.unfreeze_encoder()
        frozen = self.encoder if through is None else nn.ModuleList(self._levels_through(through))
        frozen.requires_grad_(False)
        self.encoder_frozen = through or True
        frozen.eval()
        self.__dict__["_frozen_part"] = frozen
        return self

    def _levels_through(self, through: str) -> list[nn.Module]:
        """The encoder's levels from the first up to `through` (an encoder with named `levels`, as `Backbone`)."""
        levels = getattr(self.encoder, "levels", None)
        if not isinstance(levels, nn.ModuleDict) or through not in levels:
            known = ", ".join(levels) if isinstance(levels, nn.ModuleDict) else "none: it has no named levels"
            raise ValueError(tr("{self_label}: cannot freeze the encoder through {through!r}; its levels are {known}",
                                self_label=self._label(), through=through, known=known))
        names = list(levels)
        return [levels[name] for name in names[:names.index(through) + 1]]

    def unfreeze_encoder(self) -> SegmentationModel:
        """Fine-tuning: the encoder trains again, batch norm included."""
        self.encoder.requires_grad_(True)
        self.encoder_frozen = False
        self.__dict__.pop("_frozen_part", None)
        self.encoder.train(self.training)
        return self

    def train(self, mode: bool = True) -> SegmentationModel:
        super().train(mode)
        if self.encoder_frozen:
            self.__dict__.get("_frozen_part", self.encoder).eval()
        return self

    def num_parameters(self) -> int:
        return measure.num_parameters(self)
