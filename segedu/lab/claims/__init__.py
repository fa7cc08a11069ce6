"""The lecture's claims, each an experiment with a quantity, an effect, an interval and a verdict.

    python -m segedu claims                   # every claim; writes runs/claims/claims.md and claims.json
    python -m segedu claims --only fcn_skips_miou --seed 0
    python -m segedu claims --fast            # only the claims that take seconds (the test suite runs these)

A `Claim` names the lecture's statement, the notebook and section that teach it, what is measured and the
assertion. Its experiment returns an `Outcome`: `holds`, the effect with its 95% interval where there is one, and a
line of the numbers. The command exits with status 1 when a claim it ran does not hold: a claim is never tuned
until it passes; its settings (`segedu.lab.frozen.HeadConfig`, the seeds) were fixed before any result was seen.

The package, read in this order: `framework` (what a claim is, and how a module registers one beside its
experiment), `lab` (the cached features and trained networks the claims share), `verdict` (how every trained claim
pools its seeds and reaches its verdict), one module per notebook for the experiments it prints (`building_blocks`
for notebooks 01-05, `skip_connections`, `fcn` and `fcn_enlarged` for 07, `segnet_deconvnet` and
`deconvnet_proposals` for 08, `unet` and `pix2pix_data` for 09, `context` for 06 and 10, `transfer`,
`transfer_input_size` and `transfer_backbones` for 11), `registry` (every claim, in the report's order), `report` (running and the
committed report the notebooks print), `korean` (the report's Korean page) and `cli` (the command).
"""

from __future__ import annotations

from .building_blocks import (bilinear_transposed_convolution, dilation_field, one_by_one_is_per_pixel,
                              output_stride_cost, segnet_switches, separable_cost, transposed_is_adjoint,
                              unpooling_keeps_positions)
from .cli import DESCRIPTION, HELP, add_arguments, main
from .context import (context_aspp, context_large_regions, context_pyramid, crf_on_largefov, pspnet_auxiliary_loss,
                      pyramid_bins_collapse, separable_aspp_cost, unet_pspnet_small_objects)
from .deconvnet_proposals import deconvnet_misalignment
from .fcn import (fcn_object_sizes, fcn_skips_boundary, fcn_skips_miou, fcn_skips_thin, fully_connected_as_convolution,
                  object_statistics)
from .fcn_enlarged import fcn_field_enlarged, fcn_field_shrunk, fcn_field_trained_sizes
from .framework import Claim, Outcome
from .lab import Lab
from .pix2pix_data import pix2pix_painted_data, pix2pix_scarce_data
from .registry import CLAIMS, NOTES, PENDING, UNMEASURED
from .report import committed_report, machine, run_claims, show, write_report
from .segnet_deconvnet import (deconvnet_easy_first, deconvnet_fcn_ensemble, deconvnet_instance_wise, deconvnet_two_stage,
                               instance_wise, segnet_parameters, segnet_vs_fcn, test_proposals)
from .skip_connections import hypercolumn_levels, skip_concat_vs_sum
from .transfer import linear_probe_depth, transfer_learning
from .transfer_backbones import backbones_accuracy, truncated_resnets
from .transfer_input_size import input_size_cost, input_size_small_objects, input_size_trained
from .unet import border_weights, unet_elastic_few_slices, unet_momentum_one_tile, unet_weight_map_training

__all__ = [
    # what a claim is, the registry and the shared lab
    "Claim", "Outcome", "CLAIMS", "UNMEASURED", "NOTES", "PENDING", "Lab",
    # running, reporting, the command
    "run_claims", "machine", "write_report", "committed_report", "show", "HELP", "DESCRIPTION", "add_arguments",
    "main",
    # the helpers the notebooks and tests use
    "object_statistics", "test_proposals", "instance_wise",
    # the experiments, by notebook
    "one_by_one_is_per_pixel", "bilinear_transposed_convolution", "transposed_is_adjoint", "segnet_switches",
    "unpooling_keeps_positions", "separable_cost", "dilation_field", "output_stride_cost",
    "hypercolumn_levels", "skip_concat_vs_sum",
    "fcn_skips_miou", "fcn_skips_boundary", "fcn_skips_thin", "fcn_object_sizes", "fcn_field_enlarged",
    "fcn_field_trained_sizes", "fcn_field_shrunk", "fully_connected_as_convolution",
    "segnet_vs_fcn", "segnet_parameters", "deconvnet_fcn_ensemble", "deconvnet_instance_wise", "deconvnet_two_stage",
    "deconvnet_easy_first", "deconvnet_misalignment",
    "unet_weight_map_training", "unet_elastic_few_slices", "unet_momentum_one_tile", "border_weights",
    "pix2pix_painted_data", "pix2pix_scarce_data",
    "context_pyramid", "context_aspp", "context_large_regions", "crf_on_largefov", "separable_aspp_cost",
    "pyramid_bins_collapse", "pspnet_auxiliary_loss", "unet_pspnet_small_objects",
    "linear_probe_depth", "transfer_learning", "input_size_trained", "input_size_small_objects", "input_size_cost",
    "backbones_accuracy", "truncated_resnets",
]
