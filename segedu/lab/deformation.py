"""U-Net's elastic deformation (Ronneberger et al. 2015, section 3.1), on batches of tensors: re-exported from the
library, `segedu.data.elastic`, which holds the functions, their documentation (the paper's recipe and where we
depart from it) and the same deformation as a torchvision v2 transform (`ElasticDeformation`) for the data pipeline.

The lab's training loop moves each sample of a batch by its own field:

    generator = torch.Generator().manual_seed(seed + 1_000_000)  # its own, not the batch order's
    images, masks, weights = elastic_deformation(images, masks, weights, generator=generator)
"""

from __future__ import annotations

from ..data.elastic import (DISPLACEMENT_PIXELS, GRID, coarse_displacements, displacement_field,
                            elastic_deformation, warp)

__all__ = ["GRID", "DISPLACEMENT_PIXELS", "coarse_displacements", "displacement_field", "warp",
           "elastic_deformation"]
