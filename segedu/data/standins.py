"""Synthetic stand-ins for CamVid and ISBI 2012, used when the real data is not on this machine.

A fresh clone with no data and no network still runs every notebook: where CamVid or ISBI 2012 is
missing, `segedu.data.choose` says so in one line and hands back the name of a stand-in that keeps
the real data set's contract, so every later cell runs unchanged:

- `SyntheticStreets` ("streets"): street scenes drawn from primitives with CamVid's 11 classes, palette,
  frame size (360x480) and split sizes (367 / 101 / 233). A road in perspective, pavements, buildings
  under a sky, trees, a fence, thin poles carrying signs, cars, pedestrians and cyclists whose size
  shrinks towards the horizon, and a few unlabelled (void) patches. Class colours are drawn around the
  mean colours measured on CamVid's training frames, with texture and noise, so colour alone is a
  weak cue and the thin classes are as thin as CamVid's.
- `SyntheticMembranes` ("membranes"): 512x512 greyscale slices of ISBI 2012's two classes: Voronoi cells
  whose dark boundaries are the membranes, with dark organelles inside the cells (labelled cell),
  blur and noise; 30 labelled slices split as `ISBI2012` splits them, plus 30 unlabelled "test" slices.

Numbers measured on a stand-in are about the stand-in: they are never comparable with published CamVid or
ISBI figures, and every notebook that uses one says so next to them. Each sample is generated from
(seed, split, index) alone, so it is the same on every machine.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .base import IGNORE_INDEX, SegmentationDataset, Transforms, evenly_spaced
from .classes import CAMVID_CLASSES, CAMVID_PALETTE, ISBI_CLASSES, ISBI_PALETTE
from ..language import tr

__all__ = ["SyntheticStreets", "SyntheticMembranes"]


# Mean RGB of each CamVid class over every 20th training frame (19 frames): Sky, Building, Pole, Road, Pavement,
# Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist. CamVid's colours are washed out: grey, low in saturation.
_CAMVID_MEAN_RGB = ((0.89, 0.93, 0.93), (0.35, 0.35, 0.35), (0.37, 0.38, 0.40), (0.32, 0.33, 0.34),
                    (0.24, 0.25, 0.25), (0.39, 0.40, 0.41), (0.28, 0.28, 0.30), (0.20, 0.20, 0.19),
                    (0.24, 0.25, 0.27), (0.18, 0.17, 0.18), (0.16, 0.15, 0.16))
SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)


class _Region:
    """Pixels of a drawn shape: the boolean map `inside` (h, w) of the window whose top-left pixel is (top, left)."""

    def __init__(self, top: int, left: int, inside: torch.Tensor):
        self.top, self.left, self.inside = top, left, inside

    def __or__(self, other: _Region) -> _Region:
        if other.inside.numel() == 0:
            return self
        if self.inside.numel() == 0:
            return other
        top, left = min(self.top, other.top), min(self.left, other.left)
        bottom = max(self.top + self.inside.shape[0], other.top + other.inside.shape[0])
        right = max(self.left + self.inside.shape[1], other.left + other.inside.shape[1])
        inside = torch.zeros(bottom - top, right - left, dtype=torch.bool)
        for part in (self, other):
            height, width = part.inside.shape
            inside[part.top - top: part.top - top + height, part.left - left: part.left - left + width] |= part.inside
        return _Region(top, left, inside)


class _Canvas:
    """An image (3, H, W) and its label map (H, W) painted together, back to front; shapes are drawn in their
    bounding windows only, so a frame costs a few milliseconds."""

    def __init__(self, height: int, width: int, generator: torch.Generator):
        self.height, self.width, self.generator = height, width, generator
        self.image = torch.zeros(3, height, width)
        self.mask = torch.zeros(height, width, dtype=torch.int64)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand(1, generator=self.generator).item()

    def colour(self, label: int, spread: float = 0.08) -> torch.Tensor:
        """A colour near the class's CamVid mean: (3, 1, 1)."""
        base = torch.tensor(_CAMVID_MEAN_RGB[label]) if label != IGNORE_INDEX else torch.rand(3, generator=self.generator)
        shift = spread * torch.randn(1, generator=self.generator) + 0.5 * spread * torch.randn(3, generator=self.generator)
        return (base + shift).clamp(0.02, 0.98).view(3, 1, 1)

    def grid(self, top: float, bottom: float, left: float, right: float):
        """The window [top, bottom) x [left, right) clipped to the frame: (top, left, y (h, 1), x (1, w))."""
        top, left = min(max(0, math.floor(top)), self.height), min(max(0, math.floor(left)), self.width)
        bottom, right = min(self.height, math.ceil(bottom)), min(self.width, math.ceil(right))
        y = torch.arange(top, max(top, bottom), dtype=torch.float32)[:, None]
        x = torch.arange(left, max(left, right), dtype=torch.float32)[None, :]
        return top, left, y, x

    def box(self, top: float, bottom: float, left: float, right: float) -> _Region:
        row, column, y, x = self.grid(top, bottom, left, right)
        return _Region(row, column, torch.ones(y.shape[0], x.shape[1], dtype=torch.bool))

    def ellipse(self, centre_y: float, centre_x: float, radius_y: float, radius_x: float, *,
                hole: float = 0.0) -> _Region:
        """An ellipse; with `hole` in (0, 1), a ring whose inner radii are that fraction of the outer ones."""
        row, column, y, x = self.grid(centre_y - radius_y, centre_y + radius_y + 1, centre_x - radius_x,
                                      centre_x + radius_x + 1)
        distance = ((y - centre_y) / radius_y) ** 2 + ((x - centre_x) / radius_x) ** 2
        return _Region(row, column, (distance < 1) & (distance >= hole * hole))

    def frame(self, inside: torch.Tensor) -> _Region:
        return _Region(0, 0, inside)

    def coordinates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column of every pixel: y (H, 1), x (1, W)."""
        return self.grid(0, self.height, 0, self.width)[2:]

    def paint(self, region: _Region, label: int, *, stripes: float = 0.0) -> None:
        """Fill `region` with a colour of `label` (optionally striped) and set its labels."""
        height, width = region.inside.shape
        if height == 0 or width == 0:
            return
        rows, columns = slice(region.top, region.top + height), slice(region.left, region.left + width)
        colour = self.colour(label).expand(3, height, width)
        if stripes:
            angle = self.uniform(0, math.pi)
            y = torch.arange(region.top, region.top + height, dtype=torch.float32)[:, None]
            x = torch.arange(region.left, region.left + width, dtype=torch.float32)[None, :]
            colour = colour * (1 + 0.12 * torch.sin((x * math.cos(angle) + y * math.sin(angle)) / stripes
                                                     + self.uniform(0, 6.3)))
        self.image[:, rows, columns] = torch.where(region.inside, colour, self.image[:, rows, columns])
        self.mask[rows, columns] = torch.where(region.inside, label, self.mask[rows, columns])


def render_street(generator: torch.Generator, height: int = 360, width: int = 480) -> tuple[torch.Tensor, torch.Tensor]:
    """One street scene: image float32 (3, H, W) in [0, 1], mask int64 (H, W) with CamVid's labels 0..10 and 255."""
    canvas = _Canvas(height, width, generator)
    unit = height / 360  # every size below is given for a 360-pixel-high frame
    horizon = canvas.uniform(0.40, 0.52) * height
    vanish_x = canvas.uniform(0.3, 0.7) * width
    canvas.paint(canvas.box(0, height, 0, width), SKY)
    # Buildings: a row of blocks, tops at random heights, windows as stripes.
    left = -canvas.uniform(0, 40) * unit
    while left < width:
        block = canvas.uniform(50, 160) * unit
        top = canvas.uniform(0.0, 0.75) * horizon
        canvas.paint(canvas.box(top, horizon + 30 * unit, left, left + block), BUILDING, stripes=canvas.uniform(1.5, 4))
        left += block
    # Trees: crowns of overlapping blobs on a trunk, in front of the buildings.
    for _ in range(int(canvas.uniform(0, 4))):
        centre_x, centre_y = canvas.uniform(0, width), canvas.uniform(0.3, 0.9) * horizon
        radius = canvas.uniform(25, 70) * unit
        tree = canvas.box(centre_y, horizon + 20 * unit, centre_x - 4 * unit, centre_x + 4 * unit)  # the trunk
        for _ in range(5):
            tree = tree | canvas.ellipse(centre_y + canvas.uniform(-0.5, 0.5) * radius,
                                         centre_x + canvas.uniform(-0.6, 0.6) * radius,
                                         radius * canvas.uniform(0.5, 0.9), radius * canvas.uniform(0.5, 0.9))
        canvas.paint(tree, TREE, stripes=canvas.uniform(0.8, 2))
    # Ground: pavement below the horizon, the road a trapezoid opening towards the viewer, a dashed centre line.
    ground = horizon + 20 * unit
    canvas.paint(canvas.box(ground, height, 0, width), PAVEMENT, stripes=canvas.uniform(3, 8))
    y, x = canvas.coordinates()
    opening = canvas.uniform(0.45, 0.7)

    def road_half_width(row):  # half the road's width at image row `row` (a float or a (H, 1) tensor)
        return (0.08 + opening * ((row - horizon) / (height - horizon))) * width

    half_road = road_half_width(y).clamp(min=0)  # (H, 1)
    below = y >= ground
    canvas.paint(canvas.frame(below & ((x - vanish_x).abs() < half_road)), ROAD)
    depth = ((y - horizon) / (height - horizon)).clamp(min=0)
    marking = below & ((x - vanish_x).abs() < 2 + 3 * depth) & (torch.sin(y / (6 * unit)) > 0.3)
    canvas.image = torch.where(marking, torch.full((3, 1, 1), 0.85), canvas.image)  # lane marks stay "road"
    # A fence along one pavement.
    if canvas.uniform(0, 1) < 0.6:
        side = 1 if canvas.uniform(0, 1) < 0.5 else -1
        beyond = side * (x - vanish_x) > half_road + 20 * unit
        canvas.paint(canvas.frame(beyond & (y >= horizon - 10 * unit) & (y < horizon + 45 * unit)), FENCE, stripes=1.0)
    # Poles (some carrying a sign), pedestrians and cyclists on the pavements, cars on the road; the far ones first.
    things = []
    for kind, low, high in ((POLE, 1, 5), (PEDESTRIAN, 0, 5), (BICYCLIST, 0, 2), (CAR, 1, 5)):
        things += [(canvas.uniform(ground + 5 * unit, height - 5 * unit), kind) for _ in range(int(canvas.uniform(low, high)))]
    for row, kind in sorted(things):
        size = max((row - horizon) / (height - horizon), 0.05) * unit  # apparent size: 1 at the bottom of the frame
        if kind == CAR:
            centre = vanish_x + canvas.uniform(-0.9, 0.9) * road_half_width(row)
            car_width, car_height = 170 * size, 75 * size
            cabin = canvas.box(row - 1.5 * car_height, row - car_height + 1, centre - car_width / 3, centre + car_width / 3)
            canvas.paint(canvas.box(row - car_height, row, centre - car_width / 2, centre + car_width / 2) | cabin, CAR)
            rows = slice(cabin.top, cabin.top + cabin.inside.shape[0])
            columns = slice(cabin.left, cabin.left + cabin.inside.shape[1])
            canvas.image[:, rows, columns] *= 0.5  # dark windows, still "car"
            continue
        side = 1 if canvas.uniform(0, 1) < 0.5 else -1
        centre = vanish_x + side * (road_half_width(row) + canvas.uniform(10, 120) * size)
        if kind == POLE:
            pole_height, half_width = canvas.uniform(200, 330) * size, max(1.0, 3 * size)
            top = row - pole_height
            canvas.paint(canvas.box(top, row, centre - half_width, centre + half_width), POLE)
            if canvas.uniform(0, 1) < 0.6:
                sign = 18 * size
                canvas.paint(canvas.ellipse(top, centre, sign, sign) if canvas.uniform(0, 1) < 0.5
                             else canvas.box(top - sign, top + sign, centre - sign, centre + sign), SIGN)
            continue
        person = 130 * size
        figure = (canvas.ellipse(row - 0.45 * person, centre, 0.4 * person, 0.12 * person)  # body
                  | canvas.ellipse(row - 0.92 * person, centre, 0.08 * person, 0.07 * person))  # head
        if kind == BICYCLIST:
            for offset in (-0.3, 0.3):
                figure = figure | canvas.ellipse(row - 0.17 * person, centre + offset * person, 0.17 * person,
                                                 0.17 * person, hole=0.7)
        canvas.paint(figure, kind)
    # Void: an unlabelled patch or two, as CamVid leaves some pixels unlabelled.
    for _ in range(int(canvas.uniform(0, 5))):
        row, column, radius = canvas.uniform(0, height), canvas.uniform(0, width), canvas.uniform(8, 30) * unit
        canvas.paint(canvas.ellipse(row, column, radius, radius * canvas.uniform(0.5, 2)), IGNORE_INDEX)
    image = canvas.image * (1 + 0.25 * (canvas.uniform(0, 1) - 0.5))  # exposure
    image = image + 0.03 * torch.randn(3, height, width, generator=generator)
    return image.clamp_(0, 1), canvas.mask


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(H, W) -> (H, W), separable Gaussian with reflected borders."""
    radius = max(1, int(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma) ** 2)
    taps = taps / taps.sum()
    out = F.pad(image[None, None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, taps.view(1, 1, 1, -1))
    return F.conv2d(out, taps.view(1, 1, -1, 1))[0, 0]


def render_membranes(generator: torch.Generator, size: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """One EM-like slice: image float32 (1, size, size) in [0, 1], mask int64 (size, size): 0 membrane, 1 cell."""
    cells = int(60 + 40 * torch.rand(1, generator=generator).item())
    side = math.ceil(math.sqrt(cells))
    grid = (torch.arange(side * side, dtype=torch.float32) + 0.5)
    seeds = torch.stack([(grid // side) / side, (grid % side) / side], 1)  # jittered grid: cells of similar size
    seeds = (seeds + (torch.rand(side * side, 2, generator=generator) - 0.5) * 0.9 / side) * size  # (K, 2) in pixels
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    # Wavy coordinates make the boundaries curved, as membranes are.
    phase = 6.3 * torch.rand(2, generator=generator)
    warped_y = y + 6 * torch.sin(x / 23 + phase[0])
    warped_x = x + 6 * torch.sin(y / 29 + phase[1])
    points = torch.stack([warped_y.flatten(), warped_x.flatten()], 1)  # (H*W, 2)
    distances = torch.cdist(points, seeds)  # (H*W, K)
    nearest = distances.topk(2, dim=1, largest=False).values  # (H*W, 2)
    thickness = 2.5 + 2.0 * torch.rand(1, generator=generator).item()
    membrane = (nearest[:, 1] - nearest[:, 0] < thickness).view(size, size)
    mask = (~membrane).long()  # 0 membrane, 1 cell
    image = torch.full((size, size), 0.72) + 0.06 * _gaussian_blur(torch.randn(size, size, generator=generator), 4)
    owner = distances.argmin(1).view(size, size)
    image = image + 0.08 * (torch.rand(seeds.shape[0], generator=generator) - 0.5)[owner]  # each cell its own shade
    for _ in range(int(20 + 20 * torch.rand(1, generator=generator).item())):  # organelles: dark, but "cell"
        cy, cx = (torch.rand(2, generator=generator) * size).tolist()
        ry, rx = (4 + 10 * torch.rand(2, generator=generator)).tolist()
        blob = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1
        image = torch.where(blob & ~membrane, image - 0.25 * torch.rand(1, generator=generator).item() - 0.1, image)
    image = torch.where(membrane, torch.full_like(image, 0.22), image)
    image = _gaussian_blur(image, 1.2) + 0.05 * torch.randn(size, size, generator=generator)
    return image.clamp_(0, 1)[None], mask


class _Synthetic(SegmentationDataset):
    """Samples generated by `render` from (seed, split, index); subclasses set the splits and the renderer.

    `split_numbers` maps a split to (number of its first sample, length); samples with the same number are the same
    sample in every split, so splits that share numbers overlap (ISBI's "trainval") and others never do.
    """

    split_numbers: dict[str, tuple[int, int]] = {}

    def __init__(self, split: str, *, seed: int, transforms: Transforms | None, subset: int | None):
        if split not in self.split_numbers:
            raise ValueError(tr("{self_type} split must be one of {split_numbers}, got {split!r}",
                                self_type=type(self).__name__, split_numbers=tuple(self.split_numbers),
                                split=split))
        super().__init__(transforms=transforms)
        self.split, self.seed = split, seed
        first, length = self.split_numbers[split]
        self.numbers = [first + i for i in evenly_spaced(length, subset)]

    def __len__(self) -> int:
        return len(self.numbers)

    def render(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def load(self, index: int) -> tuple[np.ndarray, torch.Tensor, str]:
        if not 0 <= index < len(self):
            raise IndexError(tr("{self_type} index {index} out of range for length {length}",
                                self_type=type(self).__name__, index=index, length=len(self)))
        number = self.numbers[index]
        image, mask = self.render(torch.Generator().manual_seed(self.seed * 10_000_019 + number))
        image_uint8 = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()  # (H, W, C)
        return image_uint8, mask, f"{type(self).__name__} {self.split} sample {number}"

    def validate(self) -> None:
        """Generated labels are valid by construction."""


class SyntheticStreets(_Synthetic):
    """CamVid's stand-in: synthetic street scenes, image float32 (3, 360, 480), mask int64 (360, 480).

    Same classes, palette, splits and split sizes as `CamVid` (367 / 101 / 233), so code written for CamVid
    runs on it unchanged. Not CamVid: never compare its numbers with published CamVid figures.
    """

    class_names = CAMVID_CLASSES
    palette = CAMVID_PALETTE
    splits = ("train", "val", "test")
    split_numbers = {"train": (0, 367), "val": (1_000_000, 101), "test": (2_000_000, 233)}
    stands_in_for = "camvid"

    def __init__(self, split: str = "train", *, seed: int = 0, transforms: Transforms | None = None,
                 subset: int | None = None, height: int = 360, width: int = 480):
        super().__init__(split, seed=seed, transforms=transforms, subset=subset)
        self.height, self.width = height, width

    def render(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return render_street(generator, self.height, self.width)


class SyntheticMembranes(_Synthetic):
    """ISBI 2012's stand-in: synthetic EM-like slices, image float32 (1, 512, 512), mask int64: 0 membrane, 1 cell.

    Splits as `ISBI2012`'s: "train" slices 0..24, "val" 25..29, "trainval" 0..29, and "test" 30 further
    slices whose masks are entirely the ignore index (ISBI's test labels were never released).
    """

    class_names = ISBI_CLASSES
    palette = ISBI_PALETTE
    in_channels = 1
    splits = ("train", "val", "trainval", "test")
    split_numbers = {"train": (0, 25), "val": (25, 5), "trainval": (0, 30), "test": (1_000_000, 30)}
    stands_in_for = "isbi2012"

    def __init__(self, split: str = "train", *, seed: int = 0, transforms: Transforms | None = None,
                 subset: int | None = None, size: int = 512):
        super().__init__(split, seed=seed, transforms=transforms, subset=subset)
        self.size = size

    def render(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = render_membranes(generator, self.size)
        if self.split == "test":
            mask = torch.full_like(mask, IGNORE_INDEX)
        return image, mask
