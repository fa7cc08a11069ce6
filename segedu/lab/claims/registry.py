"""Every claim of every module, in the order of the report.

Each module registers its claims beside their experiments (`framework.Registry`); `REPORT_ORDER` fixes the rows of
the committed report (`segedu/lab/results/claims.md`) and of `--list`: the order they have had since each claim was
added, a new claim going at the end. A measured claim missing from it, or a name in it that no module registers,
stops the import.
"""

from __future__ import annotations

from . import (building_blocks, context, deconvnet_proposals, fcn, fcn_enlarged, pix2pix_data, segnet_deconvnet,
               skip_connections, transfer, transfer_backbones, transfer_input_size, unet)
from .framework import Claim

__all__ = ["CLAIMS", "UNMEASURED", "NOTES", "PENDING", "REPORT_ORDER"]

MODULES = (fcn, fcn_enlarged, skip_connections, context, segnet_deconvnet, deconvnet_proposals, unet, pix2pix_data,
           transfer, transfer_input_size, transfer_backbones, building_blocks)

REPORT_ORDER = (
    "fcn_skips_miou", "fcn_skips_boundary", "fcn_skips_thin", "fcn_object_sizes", "linear_probe_depth",
    "hypercolumn_levels", "context_pyramid", "context_aspp", "context_large_regions", "crf_largefov",
    "input_size_trained", "input_size_small_objects", "transfer_learning", "segnet_vs_fcn",
    "unet_weight_map_training", "unet_elastic_few_slices", "unet_momentum_one_tile", "backbones_accuracy",
    "truncated_resnets",
    "separable_cost", "dilation_field", "output_stride_cost", "segnet_switches", "input_size_cost",
    "skip_concat_vs_sum", "one_by_one_per_pixel", "fully_connected_as_convolution",
    "bilinear_transposed_convolution", "transposed_is_adjoint", "unpooling_keeps_positions", "segnet_parameters",
    "separable_aspp_cost", "border_weights", "pyramid_bins_collapse", "deconvnet_fcn_ensemble",
    "deconvnet_instance_wise", "deconvnet_two_stage", "pspnet_auxiliary_loss", "unet_pspnet_small_objects",
    "deconvnet_easy_first", "deconvnet_misalignment", "fcn_field_enlarged",
    "fcn_field_trained_sizes", "fcn_field_shrunk", "pix2pix_painted_data", "pix2pix_scarce_data",
)


def _in_report_order() -> tuple[Claim, ...]:
    measured = {claim.name: claim for module in MODULES for claim in module.claims.measured}
    if set(measured) != set(REPORT_ORDER) or len(REPORT_ORDER) != len(set(REPORT_ORDER)):
        raise RuntimeError(f"REPORT_ORDER and the registered claims differ: not in the order "
                           f"{sorted(set(measured) - set(REPORT_ORDER))}, not registered "
                           f"{sorted(set(REPORT_ORDER) - set(measured))}")
    return tuple(measured[name] for name in REPORT_ORDER)


CLAIMS: tuple[Claim, ...] = _in_report_order()

UNMEASURED: tuple[Claim, ...] = tuple(  # the PENDING claims whose experiments exist: run them with --only NAME
    claim for module in MODULES for claim in module.claims.unmeasured)

# claims built and tested but not measured yet: {name: (statement, notebook, why)}
PENDING: dict[str, tuple[str, str, str]] = {
    claim.name: (claim.statement, claim.notebook, module.claims.pending[claim.name])
    for module in MODULES for claim in module.claims.unmeasured}

# what limits a measured result, written after reading it: commentary, never a change to the experiment
NOTES: dict[str, str] = {
    name: note for module in MODULES for name, note in module.claims.notes.items()}
