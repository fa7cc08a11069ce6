"""Notebook 11 (transfer learning), its regimes: a linear classifier on one frozen level at a time, every level at
the same resolution (the fixed feature extractor), and which regime for which data (frozen, fine-tuned, early
layers, from scratch). The notebook's choice of input size and of backbone: `transfer_input_size`,
`transfer_backbones`."""

from __future__ import annotations

import torch

from .framework import Outcome, Registry
from .lab import Lab
from ..statistics import slice_blocks
from .preregistration import RULES
from .verdict import combined, judged, paired, pooled_score, ranking, shown

claims = Registry()

TRANSFER_ADVICE = {  # (data, amount) -> [(the regime the lecture recommends, a regime it advises against)]
    ("similar", "small"): [("frozen", "fine_tune")],
    ("similar", "large"): [("fine_tune", "frozen")],
    ("dissimilar", "small"): [("early", "frozen"), ("early", "fine_tune")],
    ("dissimilar", "large"): [("fine_tune", "scratch")],
}


@claims.claim("linear_probe_depth", "early layers hold low-level features, late layers high-level ones; a linear "
              "classifier (softmax) on a frozen encoder's features is the fixed feature extractor",
              "11_transfer_learning", "Transfer learning: the fixed feature extractor", "test mIoU of a 1x1 (linear) "
              "classifier on one frozen level, levels 3, 4 and 5 all read at output stride 8 (one 23x30 grid at "
              "180x240), 10 seeds pooled", "probe5 - probe4 and probe4 - probe3, two-level 95% intervals: both above "
              "0 holds, either below +1 point contradicts",
              note=("Read at one resolution, level 4 is still the best for a linear classifier: level 5 trails it by 5.6 "
                   "points in every run, so the old stride-32 result was not a matter of resolution. The last "
                   "stage's features are the most specific to ImageNet's task (Yosinski et al. 2014 find the top "
                   "layers the least transferable); 'late layers are high-level' holds from level 3 to 4 (+13.7), "
                   "not to the last one."))
def linear_probe_depth(lab: Lab) -> Outcome:
    """The lecture's fixed feature extractor with a linear classifier, one level at a time: deeper levels carry the
    high-level (semantic) information, so a linear probe scores higher the deeper its level.

    What a level knows is measured apart from where it knows it: read from the stride-32 encoder, levels 3, 4 and 5
    sit at strides 8, 16 and 32, and a 1x1 classifier on level 5's 6x8 map cannot draw what its resolution lost, so
    its score would mix the level's knowledge with its map's size. The probes `frozen.PROBES` read every level from
    the dilated encoder instead (output stride 8, DeepLab's atrous trick, Chen et al. 2017, section 3.1): each level
    computes the stride-32 encoder's own features on the 23x30 grid of level 3 (`tests/test_dilation.py`), so the
    three probes see maps of one size and differ only in depth (`Lab.stride8_levels`). Each neighbouring difference
    is judged by `preregistration.RULES` on its two-level interval (seeds, then blocks of test frames); the claim by
    `combined`. The linear probe of representations is Alain and Bengio's (2016); Zeiler and Fergus (2014, table 7)
    probe frozen layers the same way for classification."""
    return ranking(lab, ("probe5", "probe4", "probe3"), "miou",
                   "test mIoU of a linear classifier on one frozen level, all at output stride 8",
                   RULES["linear_probe_depth"])


@claims.claim("transfer_learning", "freeze the encoder for little data like ImageNet, fine-tune for much; for little "
              "data unlike it, use the early layers' features; for much data unlike it, fine-tune rather than train "
              "from scratch", "11_transfer_learning", "Transfer learning: which regime?",
              "test mIoU of the regimes the advice weighs in each cell of a 2x2 (CamVid / ISBI 2012 x small / "
              "large), equal steps, 5 seeds",
              "each recommended regime minus the one advised against, two-level 95% intervals: all above 0 holds, "
              "any below +1 point contradicts",
              note="Four of the rule's five comparisons hold, each in every seed: fine-tuning beats freezing with "
                   "367 frames (+3.2), the early layers beat the whole frozen encoder (+5.9) and fine-tuning (+10.6) "
                   "on 2 slices of electron microscopy, and fine-tuning beats training from scratch on 25 slices "
                   "(+29.8). The fifth fails: with 16 CamVid frames, fine-tuning at a tenth of the learning rate still "
                   "beats the frozen encoder, by 1.1 [0.0, 2.3] points in every seed, where the lecture expects it "
                   "to overfit (a likely reason, not tested: 250 steps at a tenth of the rate move the encoder "
                   "little). "
                   "From scratch the network is still degenerate after 250 steps (40.1 mIoU, the score of 'cell' "
                   "everywhere): the +29.8 says ImageNet weights let it learn in this budget at all.")
def transfer_learning(lab: Lab) -> Outcome:
    """The lecture (000, "전이 학습과 미세 조정"): with little data like ImageNet, freeze the encoder (fine-tuning
    overfits); with much data like it, fine-tune; with little data unlike it, train on the early layers' low-level
    features only; with much data unlike it, fine-tune rather than train from scratch. A 2x2: CamVid (street
    photographs, like ImageNet) and ISBI 2012 (electron microscopy, unlike it), small (16 frames; 2 slices) and
    large (367 frames; 25 slices); in each cell the regimes the advice weighs there, on EfficientNet-Lite0 with
    FCN-8s's head (`endtoend.regime_model`), the same number of optimizer steps in every cell, five seeds. Scored on CamVid's 233 test frames (mIoU,
    11 classes) and ISBI's 5 held-out slices (mIoU of membrane and cell, per 128x128 tile). Each recommended regime
    minus the one the lecture advises against is judged by `preregistration.RULES` on its two-level interval
    (seeds, then blocks: ten seconds of one CamVid drive, or the tiles of one ISBI slice); the claim by
    `combined`."""
    from ..endtoend import REGIMES, camvid_frames, isbi_tiles, predict, regime_model, tile_scores, train
    from ..scoring import score_frames

    config = lab.training
    size = config.camvid_size
    data = {("similar", "small"): lambda: camvid_frames("train", size=size, subset=config.small_camvid),
            ("similar", "large"): lambda: camvid_frames("train", size=size),
            ("dissimilar", "small"): lambda: isbi_tiles("train", size=config.tile, slices=config.small_isbi,
                                                        channels=3),
            ("dissimilar", "large"): lambda: isbi_tiles("train", size=config.tile, channels=3)}
    tests = {"similar": camvid_frames("test", size=size),
             "dissimilar": isbi_tiles("val", size=512, channels=3)}  # whole 512x512 slices
    classes = {"similar": 11, "dissimilar": 2}
    runs: dict[tuple, list] = {}
    for cell, load in data.items():
        frames, test = load(), tests[cell[0]]
        compared = {regime for pair in TRANSFER_ADVICE[cell] for regime in pair}  # only the regimes the advice weighs
        for regime in [regime for regime in REGIMES if regime in compared]:
            runs[cell + (regime,)] = []
            for seed in config.seeds:
                torch.manual_seed(seed)
                model, groups = regime_model(regime, num_classes=classes[cell[0]], config=config)
                train(model, groups, frames, config, seed=seed)
                predictions = predict(model, test.images)
                scores = (score_frames(predictions, test.masks) if cell[0] == "similar" else
                          tile_scores(predictions, test.masks, size=config.tile, num_classes=2))
                runs[cell + (regime,)].append(scores)
    table = {f"{data_}/{amount}": {regime: pooled_score(runs[(data_, amount, regime)]) for regime in REGIMES
                                   if (data_, amount, regime) in runs} for data_, amount in data}
    held_out = tests["dissimilar"].masks  # (5, 512, 512) slices, cut slice by slice into config.tile tiles
    per_slice = (held_out.shape[-2] // config.tile) * (held_out.shape[-1] // config.tile)
    blocks = {"similar": lab.test_blocks(),  # the whole CamVid test split, in its order
              "dissimilar": slice_blocks(len(held_out) * per_slice, per_slice)}
    rule = RULES["transfer_learning"]
    steps = {f"{data_}/{amount}: {better} - {worse}": judged(paired(runs[(data_, amount, better)],
                                                                    runs[(data_, amount, worse)],
                                                                    blocks=blocks[data_]), rule)
             for (data_, amount), advice in TRANSFER_ADVICE.items() for better, worse in advice}
    first = next(iter(steps.values()))
    cells = "; ".join(f"{cell}: " + ", ".join(f"{regime} {100 * v:.1f}" for regime, v in row.items())
                      for cell, row in table.items())
    camvid = next(s for name, s in steps.items() if name.startswith("similar"))
    isbi = next(s for name, s in steps.items() if name.startswith("dissimilar"))
    return Outcome(combined([s["verdict"] for s in steps.values()]),
                   f"test mIoU (%, {len(config.seeds)} seeds pooled, {config.steps} steps of "
                   f"{config.batch_size} everywhere): {cells}. The lecture's advice, recommended - advised "
                   f"against: " + "; ".join(shown(name, s) for name, s in steps.items())
                   + f" points, 95% two-level bootstrap (seeds, then blocks: {camvid['blocks']} of CamVid's "
                     f"{camvid['frames']} test frames / the {isbi['blocks']} ISBI held-out slices of "
                     f"{isbi['frames']} tiles)",
                   first["effect"], tuple(first["interval"]), "points", {"miou": table, "steps": steps},
                   config.seeds)
