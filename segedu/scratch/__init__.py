"""From-scratch teaching versions of the operations segmentation networks are built from.

`functional` mirrors torch.nn.functional (same names, same signatures); `nn` wraps them as modules
with torch.nn's constructor arguments and parameter shapes, so a state dict loads both ways.
They are written to be read: loops over kernel taps and plain indexing, never clever. The tests
check values and gradients against PyTorch over a grid of shapes, strides, paddings and dilations.
"""

from . import functional, nn

__all__ = ["functional", "nn"]
