"""U-Net's elastic deformation as a torchvision v2 transform (`segedu.data.elastic.ElasticDeformation`) and the ISBI
2012 training recipe built on it (`segedu.data.transforms.isbi_train_transforms`).

Most checks read the deformation off the output itself: an image whose pixels hold their own (row, column)
coordinates, moved bilinearly, holds after the transform the point each output pixel was read from."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from segedu.data.elastic import ElasticDeformation, coarse_displacements, displacement_field
from segedu.data.transforms import isbi_train_transforms


def coordinates(height: int, width: int, dtype=torch.float64) -> tv_tensors.Image:
    """(2, H, W): channel 0 each pixel's row, channel 1 its column."""
    rows, columns = torch.meshgrid(torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij")
    return tv_tensors.Image(torch.stack([rows, columns]))


def block_labels(height: int, width: int, block: int = 8) -> torch.Tensor:
    """(H, W) int64: a different label on every block x block square, row-major."""
    rows, columns = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return (rows // block) * (width // block) + columns // block


def keys_squared_weights(size: int, grid: int = 3) -> np.ndarray:
    """Per pixel of a `size` axis, the sum of the squared weights bicubic interpolation (Keys, a = -0.75, edge values
    repeated, align_corners) gives the `grid` values: a displacement's variance there is 100 px^2 times that."""
    def kernel(t, a=-0.75):
        t = abs(t)
        return (a + 2) * t**3 - (a + 3) * t**2 + 1 if t <= 1 else (a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a if t < 2
                                                                   else 0.0)
    weights = np.zeros((size, grid))
    for pixel in range(size):
        source = pixel * (grid - 1) / (size - 1)
        floor = int(np.floor(source))
        for tap in range(-1, 3):
            weights[pixel, min(max(floor + tap, 0), grid - 1)] += kernel(source - floor - tap)
    return (weights ** 2).sum(1)


def test_image_and_mask_are_moved_by_the_same_field():
    """The mask is a quantized copy of the coordinate image (one label per 8x8 block): after the transform, the
    label the mask holds at each pixel is the block of the point the image says that pixel was read from, rounded
    to the nearest pixel (ties, where rounding could go either way, left out)."""
    height, width = 64, 96  # not square: rows and columns must not be swapped
    image, mask = coordinates(height, width), tv_tensors.Mask(block_labels(height, width))
    transform = ElasticDeformation(generator=torch.Generator().manual_seed(0))
    for _ in range(10):
        out_image, out_mask = transform(image, mask)
        assert isinstance(out_image, tv_tensors.Image) and isinstance(out_mask, tv_tensors.Mask)
        assert out_image.dtype == torch.float64 and out_mask.dtype == torch.int64
        source = out_image.as_subclass(torch.Tensor)
        assert (source[0] - image[0]).abs().max() > 3, "10 px displacements move the tile"
        clear = ((source - source.floor() - 0.5).abs() > 1e-3).all(0)
        nearest = source.round().long()
        expected = (nearest[0] // 8) * (width // 8) + nearest[1] // 8
        assert clear.float().mean() > 0.99
        assert torch.equal(out_mask.as_subclass(torch.Tensor)[clear], expected[clear])


def test_the_displacements_have_the_papers_scale():
    """Grid values ~ N(0, 10 px); in between, a pixel's displacement is a weighted sum of them, of variance 100 px^2
    times the sum of its squared bicubic weights (separable, so over a rectangle the mean variance is 100 x the row
    mean x the column mean): about 7.7 px per axis over a 128x128 tile. The measured displacement is where the
    coordinate image says each pixel was read from, minus where it is, drawn from torch's default generator. On the
    tile's interior (40 px from the border, 4 standard deviations) no pixel reads the mirrored tile and the RMS must
    match the expected one (2000 draws: sampling error about 1%); over the whole tile the pixels near the border
    that read the mirrored tile fold their displacement, which biases the RMS slightly down."""
    size, margin, draws = 128, 40, 2000
    weights = keys_squared_weights(size)
    whole = 10 * np.sqrt(weights.mean() ** 2)
    interior = 10 * np.sqrt(weights[margin:-margin].mean() ** 2)
    assert 7.5 < whole < 8.0 and 8.0 < interior < 10.0
    image, mask = coordinates(size, size), tv_tensors.Mask(torch.zeros(size, size, dtype=torch.int64))
    transform = ElasticDeformation()
    squares, inner_squares = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for _ in range(draws):
            moved, _ = transform(image, mask)
            displacement = (moved - image).as_subclass(torch.Tensor)
            squares += displacement.pow(2).mean((1, 2))
            inner_squares += displacement[:, margin:-margin, margin:-margin].pow(2).mean((1, 2))
    rms, inner_rms = (squares / draws).sqrt(), (inner_squares / draws).sqrt()  # per axis: rows, columns
    assert inner_rms.tolist() == pytest.approx([interior, interior], rel=0.05)
    assert rms.tolist() == pytest.approx([whole, whole], rel=0.05)
    assert (rms < inner_rms).all()  # around the centre grid point the tile moves more than on average


def test_masks_keep_their_labels_and_the_ignore_index():
    mask = torch.zeros(64, 64, dtype=torch.uint8)
    mask[24:40, 8:30], mask[40:, 30:] = 3, 7
    mask[:20] = 255  # a void band along the top, 2 standard deviations deep: it survives (3000 draws: always)
    image = tv_tensors.Image(torch.randint(0, 256, (1, 64, 64), dtype=torch.uint8))
    transform = ElasticDeformation(generator=torch.Generator().manual_seed(1))
    for dtype in (torch.uint8, torch.int64):
        for _ in range(20):
            _, out = transform(image, tv_tensors.Mask(mask.to(dtype)))
            assert out.dtype == dtype and out.shape == mask.shape
            labels = set(out.unique().tolist())
            assert labels <= {0, 3, 7, 255} and 255 in labels


def test_image_dtypes_are_kept():
    """uint8 in, uint8 out: the float result rounded (and clamped); float in, float out, within the input's range."""
    generator = torch.Generator().manual_seed(2)
    pixels = torch.randint(0, 256, (3, 40, 40), generator=generator, dtype=torch.uint8)
    mask = tv_tensors.Mask(torch.zeros(40, 40, dtype=torch.int64))
    as_uint8, _ = ElasticDeformation(generator=torch.Generator().manual_seed(3))(tv_tensors.Image(pixels), mask)
    as_float, _ = ElasticDeformation(generator=torch.Generator().manual_seed(3))(
        tv_tensors.Image(pixels.float() / 255), mask)
    assert as_uint8.dtype == torch.uint8 and as_float.dtype == torch.float32
    assert (as_uint8.float() - as_float * 255).abs().max() <= 0.5 + 1e-3  # the same field, rounded
    assert not torch.equal(as_uint8, pixels)
    assert 0 <= as_float.min() and as_float.max() <= 1


def test_draws_come_from_the_given_generator_or_torchs_default_one():
    image, mask = coordinates(32, 32), tv_tensors.Mask(torch.zeros(32, 32, dtype=torch.int64))
    state = torch.get_rng_state()
    first = ElasticDeformation(generator=torch.Generator().manual_seed(4))(image, mask)[0]
    again = ElasticDeformation(generator=torch.Generator().manual_seed(4))(image, mask)[0]
    assert torch.equal(first, again) and torch.equal(torch.get_rng_state(), state)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        a, b = ElasticDeformation()(image, mask)[0], ElasticDeformation()(image, mask)[0]
        torch.manual_seed(5)
        assert torch.equal(ElasticDeformation()(image, mask)[0], a) and not torch.equal(a, b)


def test_p_and_bad_inputs():
    image, mask = coordinates(16, 16), tv_tensors.Mask(torch.zeros(16, 16, dtype=torch.int64))
    out_image, out_mask = ElasticDeformation(p=0.0)(image, mask)
    assert torch.equal(out_image, image) and torch.equal(out_mask, mask)
    transform = ElasticDeformation(p=0.5, generator=torch.Generator().manual_seed(6))
    moved = sum(not torch.equal(transform(image, mask)[0], image) for _ in range(200))
    assert 70 < moved < 130
    with pytest.raises(ValueError, match="one size"):
        ElasticDeformation()(image, tv_tensors.Mask(torch.zeros(16, 15, dtype=torch.int64)))
    with pytest.raises(TypeError, match="images and masks only"):
        ElasticDeformation()(image, tv_tensors.BoundingBoxes([[0, 0, 4, 4]], format="XYXY", canvas_size=(16, 16)))
    with pytest.raises(ValueError):
        ElasticDeformation(p=1.5)


def test_the_isbi_recipe_on_a_slice_shaped_sample():
    generator = torch.Generator().manual_seed(7)
    cells = torch.randint(0, 2, (16, 16), generator=generator).repeat_interleave(32, 0).repeat_interleave(32, 1)
    image = tv_tensors.Image((cells * 180 + 40).to(torch.uint8)[None])  # (1, 512, 512) uint8
    mask = tv_tensors.Mask(cells.clone())
    mask[:8] = 255
    transform = isbi_train_transforms(256)
    assert transform(image, mask)[0].shape == (1, 256, 256)
    with torch.random.fork_rng():
        torch.manual_seed(8)
        for _ in range(5):
            out_image, out_mask = transform(image, mask)
            assert out_image.dtype == torch.float32 and out_image.shape == (1, 256, 256)
            assert out_mask.dtype == torch.int64 and out_mask.shape == (256, 256)
            assert 0 <= out_image.min() and out_image.max() <= 1
            assert set(out_mask.unique().tolist()) <= {0, 1, 255}
            valid = out_mask != 255
            if out_mask[valid].unique().numel() == 2:  # still aligned: brighter where the mask says cell
                cell, membrane = out_image[0][valid & (out_mask == 1)], out_image[0][valid & (out_mask == 0)]
                assert cell.mean() > membrane.mean() + 0.2
    pickle.loads(pickle.dumps(transform))  # DataLoader workers started by spawn get a copy


def test_the_isbi_rotation_is_an_exact_quarter_turn_of_image_and_mask():
    steps = [step for step in isbi_train_transforms(16).transforms if isinstance(step, v2.RandomChoice)]
    assert len(steps) == 1
    quarter_turn = steps[0]
    values = torch.randperm(64 * 64).reshape(64, 64)  # large enough that 1 degree off moves its corners
    image, mask = tv_tensors.Image(values[None].to(torch.float32)), tv_tensors.Mask(values.clone())
    seen = set()
    with torch.random.fork_rng():
        torch.manual_seed(9)
        for _ in range(40):
            out_image, out_mask = quarter_turn(image, mask)
            turns = [k for k in range(4) if torch.equal(out_mask, torch.rot90(values, k, (0, 1)))]
            assert len(turns) == 1, "a permutation of pixels: one of the four exact quarter turns"
            assert torch.equal(out_image[0], out_mask.float())  # the image turned by the same one
            seen.add(turns[0])
    assert seen == {0, 1, 2, 3}


def test_a_span_warps_a_tile_as_a_window_of_the_papers_tile():
    """With `span` the 3x3 grid spans a span x span square, not the tile: the displacements keep their size (grid
    values ~ N(0, 10 px)) but change over a distance span / tile times longer, so neighbouring pixels move apart
    about tile / span as much (bicubic interpolation between grid points (side - 1) / 2 apart; 127 / 571 = 0.22 for
    a 128 px tile in the paper's 572 px one), measured in the tile's interior, where no pixel reads the mirrored
    tile (there the measured displacement folds). The field is a window of the span's field for the same grid
    draw, at a random offset from the transform's generator (a span one pixel wider than the tile: offsets 0 and 1
    on each axis, both drawn); for the same grid draw, a span equal to the tile gives the plain transform's field."""
    size, draws = 128, 300
    image, mask = coordinates(size, size), tv_tensors.Mask(torch.zeros(size, size, dtype=torch.int64))
    plain, same = (ElasticDeformation(span=span, generator=torch.Generator().manual_seed(3)) for span in (None, size))
    assert torch.equal(plain(image, mask)[0], same(image, mask)[0])
    wider = ElasticDeformation(span=size + 1, generator=torch.Generator().manual_seed(5))
    offsets = set()
    for _ in range(40):
        before = wider.generator.get_state()
        field = wider.make_params([image])["field"]                       # (1, 2, size, size)
        canvas = displacement_field(coarse_displacements(1, torch.Generator().set_state(before)), (size + 1, size + 1))
        windows = [(top, left) for top in (0, 1) for left in (0, 1)
                   if torch.equal(field, canvas[..., top:top + size, left:left + size])]
        assert len(windows) == 1
        offsets.add(windows[0])
    assert offsets == {(0, 0), (0, 1), (1, 0), (1, 1)}
    again = ElasticDeformation(span=size + 1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(again.make_params([image])["field"],
                       ElasticDeformation(span=size + 1, generator=torch.Generator().manual_seed(5)).make_params(
                           [image])["field"])

    def strain_and_rms(transform):
        steps, squares = 0.0, 0.0
        for _ in range(draws):
            displacement = (transform(image, mask)[0] - image).as_subclass(torch.Tensor)  # (2, H, W) px
            displacement = displacement[:, 40:-40, 40:-40]  # the interior: no pixel reads the mirrored tile there
            steps += float(displacement.diff(dim=1).abs().mean() + displacement.diff(dim=2).abs().mean()) / 2
            squares += float(displacement.pow(2).mean())
        return steps / draws, (squares / draws) ** 0.5

    tile_strain, tile_rms = strain_and_rms(ElasticDeformation(generator=torch.Generator().manual_seed(4)))
    paper_strain, paper_rms = strain_and_rms(ElasticDeformation(span=572, generator=torch.Generator().manual_seed(4)))
    assert 0.15 < paper_strain / tile_strain < 0.3
    assert 6.5 < tile_rms < 10.5 and 6.5 < paper_rms < 10.5  # the same 10 px grid values, N(0, 10 px)
    with pytest.raises(ValueError, match="span=100"):
        ElasticDeformation(span=100, p=0.0)(image, mask)  # refused even where it would not deform
    for bad in (0, 1.5, -572):
        with pytest.raises(ValueError, match="span"):
            ElasticDeformation(span=bad)
    slice_image = tv_tensors.Image(torch.zeros(1, 512, 512, dtype=torch.uint8))
    out_image, out_mask = isbi_train_transforms(256, elastic_span=572)(slice_image,
                                                                         tv_tensors.Mask(torch.zeros(512, 512).long()))
    assert out_image.shape == (1, 256, 256) and out_mask.shape == (256, 256)
