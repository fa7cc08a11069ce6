"""The settings of the lab's trainings, one typed dataclass family.

Every experiment fixes its settings before it runs (changing one means re-running the claims that use it). What
all of them share is here; `segedu.lab.frozen.HeadConfig` (heads on cached features) and
`segedu.lab.endtoend.TrainingConfig` (networks trained end to end) add their own. Both train with
`segedu.engine.train_steps`, the library's training step; the library's own runs use `segedu.engine.TrainConfig`.
"""

from __future__ import annotations

import dataclasses

__all__ = ["LabSettings"]


@dataclasses.dataclass(frozen=True)
class LabSettings:
    """What every training of the lab shares: AdamW's batch, rate and decay, the heads' width, and the seeds."""

    batch_size: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 64  # channels of each head's 3x3 layer
    seeds: tuple[int, ...] = (0, 1, 2)  # HeadConfig and TrainingConfig set their own
