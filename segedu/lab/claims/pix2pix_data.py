"""Notebook 09 (U-Net beyond segmentation): pix2pix's painted EM tiles as the data medical imaging lacks, tested
twice: as the only training data of a head on frozen features (`pix2pix_painted_data`), and added to a few real
slices for a U-Net trained from scratch, which is short of data (`pix2pix_scarce_data`).

The lecture says U-Net is used "to generate the data that medical imaging lacks" and "in GANs such as pix2pix".
Data is for training, so the test trains a segmenter on painted data alone and scores it on real slices: each
painter (`segedu.lab.pix2pix`: U-Net trained as pix2pix's generator, L1 plus the PatchGAN's loss, or the same U-Net
trained with L1 alone) paints the 25 training slices' label maps; a membrane head on the frozen encoder learns
from those paintings only and is scored on the 5 held-out real slices. The training run is the unit: one run of a
seed trains a painter of each kind and a head on each painter's tiles, all with that seed. Settings fixed before
the run: the seeds (the `Lab`'s end-to-end seeds, 0-4 unless the run sets others), `pix2pix.STEPS`, `HEAD_EPOCHS`,
the tiles of `pix2pix.label_and_image_tiles`. Also reported, not judged: heads trained on the real tiles and on
each class painted its mean grey, and each painting's texture."""

from __future__ import annotations

import dataclasses

import torch

from .framework import Outcome, Registry
from .lab import Lab, tensor_digest
from .preregistration import RULES
from .unet import held_out_miou, registered_rule, unet_runs
from .verdict import judged, paired, pooled_score, shown

claims = Registry()

HEAD_EPOCHS = 8  # the head's passes over the 100 painted tiles (~1.5 s a head)


def kept_painter(lab: Lab, labels: torch.Tensor, images: torch.Tensor, *, adversarial: bool, seed: int):
    """`pix2pix.train_painter(labels, images, ...)`, kept in the lab's `models` folder like its other networks
    (`Lab.trained`, keyed by the tiles it learns from, its steps and kind), so an interrupted claim resumes."""
    from .. import pix2pix

    tiles = tensor_digest(labels, images)
    kind = "pix2pix" if adversarial else "l1"
    return lab.trained(f"painter-{kind}-{tiles[:12]}", seed, lambda: pix2pix.build_painter(seed=seed),
                       lambda _: pix2pix.train_painter(labels, images, adversarial=adversarial, seed=seed),
                       settings={"steps": pix2pix.STEPS, "adversarial": adversarial, "tiles": tiles})


@claims.claim("pix2pix_painted_data", "U-Net trained as pix2pix's generator paints EM tiles that a segmenter learns "
              "from better than from the same U-Net's paintings with an L1 loss alone", "09_unet_isbi",
              "7. Beyond segmentation: the same U-Net as an image generator",
              "held-out mIoU on ISBI 2012's 5 real held-out slices of a membrane head on the frozen encoder trained "
              "only on tiles painted from the 25 training slices' label maps: by U-Net trained as pix2pix's "
              "generator (L1 + PatchGAN) against the same U-Net trained with L1 alone, 3000 steps each, 5 seeds",
              "pix2pix - L1 alone, two-level 95% interval: above 0 holds, below +1 point contradicts",
              note="Every seed favours pix2pix's tiles (+2.2 to +7.2 points): its paintings keep 86% of the real "
                   "texture inside cells, L1's 56%, and a segmenter learns the membranes better from them. Painted "
                   "tiles still teach less than real ones (-4.8 points). A proxy for the lecture's use, generating "
                   "the data that is lacking: here the paintings replace real tiles of label maps the painters were "
                   "trained on, and the head on frozen features is not short of data; that use (paintings of new "
                   "label maps added to a few real slices, a network that overfits them) is not tested. Its kind "
                   "and statement were narrowed to this after a review, once the run was done; the experiment, "
                   "quantity and rule are the ones committed before it.")
def pix2pix_painted_data(lab: Lab) -> Outcome:
    """pix2pix (Isola et al. 2017, section 4.2 and table 1: L1 + cGAN against L1 alone, judged by how well a
    segmenter reads the generated images, FCN-score) on ISBI 2012. For each seed: `pix2pix.train_painter` with and
    without the adversarial loss (the same initial weights and batches), each painting the training label maps;
    `pix2pix.painted_data_runs` trains a head on each painting (and on the real tiles and on the class-mean
    painting, for reference) and scores it on the real held-out tiles. pix2pix - L1 alone in mIoU is judged by
    `preregistration.RULES` on its two-level interval (seeds, then the held-out slices). Departures: the paper's
    FCN-score runs a segmenter trained on real photos over the generated ones; here the segmenter is trained on the
    generated tiles and tested on real ones. It is a proxy for the lecture's use, generating the data that is
    lacking: the paintings replace real tiles of the same label maps, which the painters were trained on, where
    that use adds paintings of new label maps to a few real slices (and the head on frozen features is not short of
    data: docs/known-issues.md)."""
    from .. import pix2pix

    rule = RULES["pix2pix_painted_data"]
    labels, images = pix2pix.label_and_image_tiles("isbi2012", "train")
    held_labels, held_images = pix2pix.label_and_image_tiles("isbi2012", "val")
    class_grey = [images[labels == label].mean() for label in (0, 1)]
    runs: dict[str, list] = {}
    texture: dict[str, list[float]] = {"L1 alone": [], "pix2pix": []}
    seeds = lab.training.seeds  # 0-4 by default (END_TO_END_SEEDS), seed 0 the shipped painters'
    for seed in seeds:
        training = {"real": images, "mean grey": torch.where(labels == 1, class_grey[1], class_grey[0])}
        for name, adversarial in (("L1 alone", False), ("pix2pix", True)):
            painter = kept_painter(lab, labels, images, adversarial=adversarial, seed=seed)
            training[name] = pix2pix.paint(painter, labels)
            held_painting = pix2pix.paint(painter, held_labels)
            texture[name].append(pix2pix.painting_scores(held_painting, held_labels, held_images)["texture"])
        for name, scores in pix2pix.painted_data_runs(training, labels, held_images, held_labels, seeds=(seed,),
                                                      epochs=HEAD_EPOCHS).items():
            runs.setdefault(name, []).extend(scores)
    blocks = torch.arange(len(held_labels)) // (len(held_labels) // 5)  # the tiles of each held-out slice together
    lead = judged(paired(runs["pix2pix"], runs["L1 alone"], blocks=blocks), rule)
    to_real = paired(runs["pix2pix"], runs["real"], blocks=blocks)
    value = {name: pooled_score(scores) for name, scores in runs.items()}
    spread = {name: sum(values) / len(values) for name, values in texture.items()}
    return Outcome(lead["verdict"],
                   "held-out mIoU of heads trained on each kind of tile, " + f"{len(seeds)} seeds pooled: "
                   + ", ".join(f"{name} {100 * v:.1f}" for name, v in value.items()) + ". "
                   + shown("pix2pix - L1 alone", lead) + "; " + shown("pix2pix - real", to_real)
                   + f" points, 95% two-level bootstrap (seeds, then the {lead['blocks']} held-out slices of "
                     f"{lead['frames']} tiles). Texture inside cells (the painting's spread of grey over the real "
                     f"one's, held-out tiles): L1 alone {spread['L1 alone']:.2f}, pix2pix {spread['pix2pix']:.2f}",
                   lead["effect"], tuple(lead["interval"]), "points",
                   {"miou": value, "step": lead, "to_real": to_real, "texture": spread}, seeds)


SCARCE = {"few": "5 real slices", "painted": "+ pix2pix paintings", "grey": "+ mean grey paintings",
          "real": "+ real images"}  # the arms of `pix2pix_scarce_data`


@claims.claim("pix2pix_scarce_data", "paintings by U-Net trained as pix2pix's generator help where data is scarce: "
              "added to a few real slices, they make a U-Net trained from scratch segment better",
              "09_unet_isbi", "7. Beyond segmentation: the same U-Net as an image generator",
              "held-out mIoU on ISBI 2012's 5 held-out slices of U-Net (width 0.25) trained from scratch for 300 steps "
              "on the tiles of 5 real training slices, alone and with pix2pix's paintings of the other 20 training "
              "slices' label maps (the painter trained on the 5 slices only), 5 seeds",
              "with paintings - 5 real slices alone, two-level 95% interval: above 0 holds, below +1 point "
              "contradicts",
              note="No sign of help: the paintings are ahead in two runs of five (+1.2, +3.2 points) and behind in "
                   "three (down to -7.2). U-Nets trained from scratch on 5 slices differ a lot from run to run, so the "
                   "interval is wide: inconclusive. What holds in every run is the distance to real data: the real "
                   "images of the same 20 label maps add 11.5 points more than their paintings [+6.7, +16.8]. The "
                   "statement's \"make up for scarce data\" was narrowed to \"help\" after a review, during the run "
                   "and before its result; the experiment and rule are the ones committed before it.")
def pix2pix_scarce_data(lab: Lab) -> Outcome:
    """The lecture's use of pix2pix, "generating the data that medical imaging lacks", as the GAN-augmentation studies
    test it (e.g. Bowles et al. 2018, "GAN Augmentation: Augmenting Training Data using Generative Adversarial
    Networks"): a segmenter short of data, trained with and without generated images added. Here U-Net (width
    `unet_width`) is trained from scratch for `unet_steps` steps on the 128x128 tiles of ISBI 2012's first
    `few_slices` (5) training slices, short of data (the elastic claim's setting; all 25 slices score far higher).
    For each seed, a painter (`pix2pix.train_painter`, L1 + PatchGAN, `pix2pix.STEPS` steps, that seed) learns from
    those 5 slices only and paints the label maps of the other 20 training slices, label maps it never saw. Four
    arms, the same initial weights and steps: the 5 real slices alone; with the 320 painted tiles added; with the
    same label maps painted each class its mean grey on the 5 slices (new label maps without a painter); with their
    real images (all 25 real slices, the ceiling). The last three draw the same batches; the first, a smaller set,
    cannot. Judged on with paintings - alone in held-out mIoU by `preregistration.RULES` on its two-level interval
    (seeds, then the held-out slices); paintings - mean grey and real - paintings are reported. Departures: the new
    label maps are real ones, from adjacent sections of the same stack (drawn by annotators on images only the
    ceiling arm sees), where a practitioner would deform or synthesize them, which favours the paintings; the painter
    works at the slices' full resolution, not the shipped painters' half, and paints with batch norm's running
    statistics (the paper uses the batch's); painted and real tiles are drawn alike, 4 painted to 1 real, so the real
    tiles are seen a fifth as often as in the arm without them (no oversampling of the real tiles)."""
    from .. import pix2pix
    from ..endtoend import Frames, isbi_tiles

    rule = registered_rule("pix2pix_scarce_data")
    config = lab.training
    every = isbi_tiles("train", size=config.tile)
    few = isbi_tiles("train", size=config.tile, slices=config.few_slices)
    labels, new_labels = few.masks[:, None].float(), every.masks[len(few):, None].float()
    class_grey = [few.images[labels == label].mean() for label in (0, 1)]
    grey = torch.where(new_labels == 1, class_grey[1], class_grey[0])
    texture: list[float] = []

    def arms(seed: int) -> dict[str, dict]:
        painter = kept_painter(lab, labels, few.images, adversarial=True, seed=seed)
        painted = pix2pix.paint(painter, new_labels)
        texture.append(pix2pix.painting_scores(painted, new_labels, every.images[len(few):])["texture"])
        return {SCARCE["few"]: {"frames": few, "other_batches": True},
                SCARCE["painted"]: {"frames": Frames(torch.cat([few.images, painted]), every.masks)},
                SCARCE["grey"]: {"frames": Frames(torch.cat([few.images, grey]), every.masks)},
                SCARCE["real"]: {"frames": every}}

    runs = unet_runs(lab, every, arms)
    outcome = held_out_miou(config, runs, SCARCE["painted"], SCARCE["few"], "with paintings - alone",
                            f"U-Net (width {config.unet_width:g}) from scratch, {config.unet_steps} steps on "
                            f"{config.few_slices} real slices' tiles, and on them with {len(new_labels)} tiles of "
                            f"new label maps", rule,
                            reported=((SCARCE["painted"], SCARCE["grey"]), (SCARCE["real"], SCARCE["painted"])))
    spread = sum(texture) / len(texture)
    return dataclasses.replace(outcome, summary=outcome.summary + f". The paintings keep {spread:.2f} of the real "
                               "texture inside cells (the spread of grey over the real tiles')",
                               numbers={**outcome.numbers, "texture": spread})
