"""The dense CRF's seconds per frame, segedu's lattice against pydensecrf (the authors' C++) when it is installed:
``python -m segedu bench --crf``."""

from __future__ import annotations

import time

import torch

__all__ = ["crf_benchmark"]


def crf_benchmark(*, image_size: tuple[int, int] = (360, 480), frames: int = 4, iterations: int = 5,
                  repeats: int = 3, log=print) -> dict:
    """Seconds per frame of the dense CRF (`CRFConfig`'s defaults, the authors' released example: bilateral w 10,
    sigma_xy 80, sigma_rgb 13; spatial w 3, sigma 3) on the shipped DeepLab v3+'s logits for CamVid test frames (the stand-in's without the data):
    segedu's lattice against pydensecrf (the authors' C++) when it is installed, the median of `repeats` on the
    first frame, and the share of pixels whose labels agree on each of `frames` frames."""
    import numpy as np

    from ...crf import _SPATIAL_LATTICES, CRFConfig, DenseCRF
    from ...data import build_dataset, choose
    from ...engine import predict
    from ...pretrained import load_pretrained

    model, info = load_pretrained("deeplabv3plus_camvid")
    dataset = build_dataset(choose("camvid", say=lambda line: None), "test", image_size=image_size, subset=frames)
    inputs = []
    for index in range(len(dataset)):
        image_u8 = np.ascontiguousarray((dataset[index][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        image = torch.from_numpy(image_u8).permute(2, 0, 1).float() / 255
        logits = predict(model, image[None], input_size=tuple(info["data"]["image_size"]))[0]  # (11, H, W)
        inputs.append((image_u8, image, logits))
    config = CRFConfig(iterations=iterations, method="lattice")

    def ours(index: int) -> torch.Tensor:  # everything built afresh, as pydensecrf does: not the spatial lattice
        _SPATIAL_LATTICES.clear()           # a run of frames of one size shares (`segedu.crf`)
        return DenseCRF(inputs[index][1], config)(inputs[index][2])

    def theirs(index: int) -> np.ndarray:
        image_u8, _, logits = inputs[index]
        crf = densecrf.DenseCRF2D(image_size[1], image_size[0], logits.shape[0])
        crf.setUnaryEnergy(np.ascontiguousarray(-torch.log_softmax(logits, 0).flatten(1).numpy().astype(np.float32)))
        crf.addPairwiseGaussian(sxy=config.spatial_sigma, compat=config.spatial_weight)
        crf.addPairwiseBilateral(sxy=config.bilateral_sigma_xy, srgb=config.bilateral_sigma_rgb, rgbim=image_u8,
                                 compat=config.bilateral_weight)
        return np.array(crf.inference(iterations)).reshape(logits.shape)

    def median_seconds(run) -> float:
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            run(0)
            timings.append(time.perf_counter() - started)
        return sorted(timings)[len(timings) // 2]

    report = {"image_size": list(image_size), "frames": len(inputs), "iterations": iterations,
              "segedu_seconds": median_seconds(ours)}
    log(f"dense CRF, {image_size[0]}x{image_size[1]}, 11 classes, {iterations} iterations: segedu (lattice) "
        f"{report['segedu_seconds']:.3f} s per frame")
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError:
        log("pydensecrf is not installed (pip install pydensecrf2): segedu's figure alone")
        return report
    report["pydensecrf_seconds"] = median_seconds(theirs)
    report["ratio"] = report["segedu_seconds"] / report["pydensecrf_seconds"]
    report["label_agreement"] = [float((ours(i).argmax(0).numpy() == theirs(i).argmax(0)).mean())
                                 for i in range(len(inputs))]
    log(f"pydensecrf (the authors' C++) {report['pydensecrf_seconds']:.3f} s per frame; segedu / pydensecrf "
        f"{report['ratio']:.1f}x; labels agree on " + ", ".join(f"{100 * a:.2f}%" for a in report["label_agreement"])
        + f" of the pixels ({len(inputs)} frames, the shipped DeepLab v3+'s logits)")
    return report

