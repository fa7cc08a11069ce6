"""Exercise checks: the learner's function against the PyTorch reference on random cases.

Each `check_<exercise>(function)` calls the learner's function on a few seeded random cases,
compares the result with PyTorch (or with segedu's tested implementation where PyTorch has no
function for it), prints one line on success, and otherwise raises ExerciseFailed with a specific
message: which case, expected vs actual type, shape or dtype, the first mismatching position, and a
hint. A function that raises or returns the wrong type gets a message, never a crashed kernel.
In Jupyter the message is shown without the long traceback (IPython's `_render_traceback_`).

The cases include the traps learners fall into: an ignore index other than 255, a class that is predicted but never
true, a class that never occurs, class pairs that never occur (bincount without minlength), ties in max pooling.

A notebook imports this package (`from segedu.course import checks`) and calls `checks.check_<exercise>(function)`;
every name is re-exported here from its module:

- `harness`: `compare` and `ExerciseFailed`, which every check runs through (inputs changed in place, the time
  limit, the learner's own line in a traceback, hints that escalate);
- `metrics`, `one_by_one_convolution`, `upsampling`, `unpooling`, `skip_connections`, `atrous_convolution`,
  `pyramid_pooling`, `weighted_loss`, `dense_crf`, `transfer_learning`, `model_costs`: the exercises, by what they
  check;
- `concepts`: `Concept`, `CONCEPTS` and `check_concept`, the questions answered before running the cells.
"""

from __future__ import annotations

import sys
import types

from . import harness
from .atrous_convolution import check_aspp_branches, check_depthwise_separable_conv, check_receptive_field
from .concepts import CONCEPTS, Concept, check_concept
from .dense_crf import check_mean_field_step
from .harness import CheckInterrupted, ExerciseFailed, compare
from .metrics import check_confusion_matrix, check_mean_iou, check_pixel_accuracy
from .model_costs import check_conv_multiply_adds, check_conv_parameters
from .one_by_one_convolution import check_linear_to_conv, check_pointwise_conv
from .pyramid_pooling import check_adaptive_avg_pool2d, check_pyramid_pool
from .skip_connections import check_center_crop, check_fcn8s_fuse
from .transfer_learning import check_discriminative_groups, check_trainable_parameters
from .unpooling import check_max_pool2d_with_indices, check_max_unpool2d, check_segnet_decoder_block, check_switch_memory
from .upsampling import (check_bilinear_kernel, check_conv_transpose2d, check_convolution_matrix,
                         check_transposed_output_size, check_upsample_scores)
from .weighted_loss import check_border_weight_map, check_weighted_cross_entropy

__all__ = ["ExerciseFailed", "compare", "check_pixel_accuracy", "check_confusion_matrix", "check_mean_iou",
           "check_linear_to_conv", "check_pointwise_conv", "check_conv_transpose2d", "check_transposed_output_size",
           "check_convolution_matrix", "check_max_pool2d_with_indices", "check_max_unpool2d", "check_center_crop",
           "check_fcn8s_fuse", "check_receptive_field", "check_depthwise_separable_conv", "check_adaptive_avg_pool2d",
           "check_pyramid_pool", "Concept", "CONCEPTS", "check_concept",
           "check_bilinear_kernel", "check_upsample_scores", "check_segnet_decoder_block", "check_switch_memory",
           "check_border_weight_map", "check_weighted_cross_entropy", "check_aspp_branches", "check_mean_field_step",
           "check_trainable_parameters", "check_discriminative_groups", "check_conv_parameters",
           "check_conv_multiply_adds", "CheckInterrupted"]

_FAILURES = harness._FAILURES  # the same dict: the failures per exercise that the hints escalate with


class _Checks(types.ModuleType):
    """This package, with `TIME_LIMIT` and `MEMORY_LIMIT` read from and written to the harness: `checks.TIME_LIMIT = 60`
    in a notebook (or monkeypatched in a test) still gives every check's calls that long, as when the checks were one
    module."""

    @property
    def TIME_LIMIT(self) -> float:
        return harness.TIME_LIMIT

    @TIME_LIMIT.setter
    def TIME_LIMIT(self, seconds: float) -> None:
        harness.TIME_LIMIT = seconds

    @property
    def MEMORY_LIMIT(self) -> int | None:
        return harness.MEMORY_LIMIT

    @MEMORY_LIMIT.setter
    def MEMORY_LIMIT(self, limit: int | None) -> None:  # bytes one call may add; None: half of what is free; 0: none
        harness.MEMORY_LIMIT = limit


sys.modules[__name__].__class__ = _Checks
