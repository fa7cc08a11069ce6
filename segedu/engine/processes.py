"""What lets `fit` stop and resume exactly, alone or under torchrun: the stop request (SIGINT, SIGTERM), the
sampler that skips the finished part of an epoch, an epoch's partial state, and the process group."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import threading
from typing import Any

import torch
from torch.utils.data import Dataset, Subset


class _StopRequest:
    """SIGINT (Ctrl-C, a notebook's interrupt) and SIGTERM during `fit` only raise a flag; the loop stops at the next
    point where its state is whole (between two steps, or after an epoch), saves it, and returns. A second Ctrl-C
    while the first is pending interrupts at once, as Python would (nothing of the unfinished epoch is saved then;
    checkpoints are still written atomically). Installed in the main thread only.

    Under torchrun every process has one, and `bool(stop)` is a collective over `distributed`: true on every process
    when any of them was signalled (torchrun forwards a Ctrl-C or SIGTERM to all its workers, but not at the same
    instant), so all stop after the same step, and none waits forever in the next step's gradient all-reduce."""

    def __init__(self, distributed: _Distributed | None = None):
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._distributed = distributed

    def __bool__(self) -> bool:
        if self._distributed is None or self._distributed.world_size == 1:
            return self.signal_name is not None
        if self._distributed.any(self.signal_name is not None) and self.signal_name is None:
            self.signal_name = "a signal to another process"
        return self.signal_name is not None

    def _handle(self, number, frame):
        if self.signal_name is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signal_name = signal.Signals(number).name

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class _SkippingSampler(torch.utils.data.Sampler):
    """The training sampler, but the first `skip` indices of the next epoch are passed over without loading them:
    a run stopped after k steps continues with batch k of the same shuffled order."""

    def __init__(self, sampler):
        self.sampler, self.skip = sampler, 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self) -> int:
        return len(self.sampler) - self.skip


@dataclasses.dataclass
class _Partial:
    """An epoch stopped between two steps: how far it got and its running sums, to continue it exactly."""

    step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    seen: int = 0
    waited: float = 0.0
    seconds: float = 0.0


class _Stopped(Exception):
    """Raised by the epoch loop when a stop was requested (or Ctrl-C arrived while a batch was loading): `partial`
    is the epoch's progress, `rng` the random generators' state before the next batch; None when the state is not
    whole (interrupted in the middle of a step)."""

    def __init__(self, partial: _Partial | None, rng: dict[str, Any] | None, reason: str):
        super().__init__(reason)
        self.partial, self.rng, self.reason = partial, rng, reason


class _Distributed:
    """Rank, world size and device of this process; starts the process group when run under torchrun."""

    def __init__(self, device: torch.device):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = device
        self.started_here = False
        self._host_group = None
        if self.world_size > 1:
            if device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not torch.distributed.is_initialized():
                torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
                self.started_here = True
            # small agreements (stop or not, the random generators' states) go over gloo on the host, so checking
            # for a stop after every step never waits for the GPU
            self._host_group = torch.distributed.new_group(backend="gloo")

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on any (a collective: every process must call it)."""
        if self.world_size == 1:
            return flag
        value = torch.tensor([int(flag)])
        torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.MAX, group=self._host_group)
        return bool(value.item())

    def gather(self, value: Any) -> list[Any] | None:
        """Every process's `value`, in rank order, on the main process (None elsewhere); a collective."""
        if self.world_size == 1:
            return [value]
        gathered = [None] * self.world_size if self.main else None
        torch.distributed.gather_object(value, gathered, dst=0, group=self._host_group)
        return gathered

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, dataset: Dataset) -> Dataset:
        """Every world_size-th sample starting at rank: exact evaluation with no padded duplicates."""
        return Subset(dataset, range(self.rank, len(dataset), self.world_size)) if self.world_size > 1 else dataset

    def close(self) -> None:
        if self.started_here:
            torch.distributed.destroy_process_group()
