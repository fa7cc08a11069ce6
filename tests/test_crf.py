"""The dense CRF against a brute-force loop over every pair of pixels, and what it does to a noisy labelling."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from segedu.crf import CRFConfig, DenseCRF, dense_crf


def brute_force_mean_field(image: torch.Tensor, logits: torch.Tensor, config: CRFConfig) -> torch.Tensor:
    """Krähenbühl and Koltun's mean field with Potts compatibility, written pair by pair from the energy."""
    classes, height, width = logits.shape
    pixels = [(y, x) for y in range(height) for x in range(width)]
    colours = image.double() * 255
    bilateral = torch.zeros(len(pixels), len(pixels), dtype=torch.float64)
    spatial = torch.zeros_like(bilateral)
    for i, (yi, xi) in enumerate(pixels):
        for j, (yj, xj) in enumerate(pixels):
            position = (yi - yj) ** 2 + (xi - xj) ** 2
            colour = ((colours[:, yi, xi] - colours[:, yj, xj]) ** 2).sum().item()
            bilateral[i, j] = math.exp(-position / (2 * config.bilateral_sigma_xy ** 2)
                                       - colour / (2 * config.bilateral_sigma_rgb ** 2))
            spatial[i, j] = math.exp(-position / (2 * config.spatial_sigma ** 2))
    kernel = torch.zeros_like(bilateral)
    for weight, matrix in ((config.bilateral_weight, bilateral), (config.spatial_weight, spatial)):
        norm = matrix.sum(1).rsqrt()  # symmetric normalization, self included in the sums
        kernel += weight * norm[:, None] * matrix * norm[None, :] * (1 - torch.eye(len(pixels), dtype=torch.float64))
    unary = torch.log_softmax(logits.double().flatten(1).T, dim=1)  # (N, K) log P
    probabilities = unary.exp()
    for _ in range(config.iterations):
        # energy of label l at i: -log P_i(l) + sum_j k_ij [l != x_j]  ->  Q_i(l) ~ P_i(l) exp(sum_j k_ij Q_j(l))
        probabilities = torch.softmax(unary + kernel @ probabilities, dim=1)
    return probabilities.T.reshape(classes, height, width)


@pytest.mark.parametrize("cache_bytes, chunk_size", [(2 ** 30, 2048), (0, 7)])
def test_mean_field_equals_the_brute_force_computation(cache_bytes, chunk_size):
    torch.manual_seed(0)
    image, logits = torch.rand(3, 5, 6), torch.randn(4, 5, 6) * 2
    config = CRFConfig(iterations=4, bilateral_weight=2.0, bilateral_sigma_xy=3.0, bilateral_sigma_rgb=40.0,
                       spatial_weight=1.5, spatial_sigma=1.2, cache_bytes=cache_bytes, chunk_size=chunk_size,
                       method="exact")
    ours = DenseCRF(image, config)(logits)
    expected = brute_force_mean_field(image, logits, config)
    assert torch.allclose(ours.double(), expected, atol=1e-5)
    assert not torch.allclose(ours, torch.softmax(logits, 0), atol=1e-2)  # the CRF did change something


@pytest.mark.parametrize("method", ["exact", "lattice"])
def test_labels_snap_to_a_colour_edge_with_either_method(method):
    """Two colours split at column 10; the unaries are right but noisy. The CRF removes the noise."""
    torch.manual_seed(1)
    image = torch.zeros(3, 16, 20)
    image[:, :, 10:] = 1.0
    truth = (torch.arange(20) >= 10).long().expand(16, 20)
    logits = torch.stack([(truth == 0).float(), (truth == 1).float()]) * 1.0 + torch.randn(2, 16, 20) * 1.2
    refined = dense_crf(image[None], logits[None], CRFConfig(bilateral_sigma_xy=10.0, method=method))[0]
    assert (logits.argmax(0) == truth).float().mean() < 0.9 and (refined.argmax(0) == truth).float().mean() > 0.99


@pytest.mark.slow
def test_the_lattice_agrees_with_the_exact_crf_on_camvid(data_root):
    """The shipped DeepLab v3+'s logits on 4 CamVid test frames at 90x120 (a size the exact CRF handles), the paper's
    kernels scaled to the size, 5 iterations. The exact CRF changes 15% of the labels; the lattice agrees with it on at
    least 98% of the pixels and makes at least 90% of its changes (measured with the DeepLab v3+ shipped 2026-12:
    98.8% and 93%)."""
    import segedu
    from segedu.data import build_dataset
    from segedu.pretrained import load_pretrained

    model, info = load_pretrained("deeplabv3plus_camvid")
    frames = build_dataset("camvid", "test", image_size=(90, 120), subset=4)
    images = torch.stack([frames[i][0] for i in range(len(frames))])
    logits = segedu.predict(model, images, input_size=tuple(info["data"]["image_size"]))
    config = CRFConfig(iterations=5).scaled_to(90 / 360)
    exact = dense_crf(images, logits, dataclasses.replace(config, method="exact")).argmax(1)
    lattice = dense_crf(images, logits, config).argmax(1)
    changed = exact != logits.argmax(1)
    assert changed.float().mean() > 0.05  # the CRF does something here
    assert (lattice == exact).float().mean() >= 0.98
    assert (lattice[changed] == exact[changed]).float().mean() >= 0.9


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="must share N, H and W"):
        dense_crf(torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 9))
    with pytest.raises(ValueError, match=r"one RGB image of shape \(3, H, W\)"):
        DenseCRF(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match=r"built for a 8x8 image; logits must be \(K, 8, 8\), got \(2, 8, 9\)"):
        DenseCRF(torch.rand(3, 8, 8))(torch.rand(2, 8, 9))


def test_frames_of_one_size_share_the_spatial_lattice_and_get_the_same_numbers():
    """The spatial kernel's lattice is kept between frames of one size: the second frame's result is the one a CRF
    building everything afresh gets, and a config with another spatial width gets its own lattice."""
    import segedu.crf as crf

    generator = torch.Generator().manual_seed(3)
    images = torch.rand(3, 3, 20, 28, generator=generator)
    logits = torch.randn(3, 4, 20, 28, generator=generator)
    narrow, wide = CRFConfig(spatial_sigma=2.0), CRFConfig(spatial_sigma=6.0)
    crf._SPATIAL_LATTICES.clear()
    afresh = []
    for image, scores in zip(images, logits):
        for config in (narrow, wide):
            crf._SPATIAL_LATTICES.clear()
            afresh.append(DenseCRF(image, config)(scores))
    kept = [DenseCRF(image, config)(scores) for image, scores in zip(images, logits) for config in (narrow, wide)]
    assert len(crf._SPATIAL_LATTICES) == 2
    for ours, theirs in zip(kept, afresh):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert not torch.equal(kept[0], kept[1])  # the two widths refine differently


def test_a_lattice_kept_from_a_call_under_inference_mode_holds_normal_tensors():
    """Kept for later calls, it must not be made of inference tensors, which no later call outside inference mode
    could let autograd record (the first CRF of a notebook often runs under torch.inference_mode())."""
    import segedu.crf as crf

    crf._SPATIAL_LATTICES.clear()
    image = torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        dense_crf(image[None], torch.zeros(1, 3, 12, 16))
    (lattice, norm), = crf._SPATIAL_LATTICES.values()
    assert not norm.is_inference() and not lattice.weights.is_inference()
