"""What a claim is: a `Claim` names the lecture's statement and the experiment that tests it; the experiment returns
an `Outcome`. A `Registry` collects the claims of one module, each registered where its experiment is defined,
with the note written after reading its result beside it:

    claims = Registry()

    @claims.claim("dilation_field", "atrous convolution enlarges the field of view without adding parameters",
                  "05_atrous_convolution", "Receptive field", "receptive field with the same weights",
                  "dilations 1, 2, 4 see farther than 1, 1, 1", fast=True)
    def dilation_field(lab: Lab) -> Outcome:
        ...

`segedu.lab.claims.registry` puts every module's claims together, in the order of the report.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .lab import Lab

__all__ = ["VERDICTS", "Outcome", "Claim", "Registry"]

VERDICTS = ("holds", "contradicted", "inconclusive")


@dataclasses.dataclass
class Outcome:
    """What an experiment measured: its `verdict` ("holds", "contradicted" or "inconclusive"; True and False, for
    exact identities and counts, mean the first two), the effect and its interval (None for exact counts), and
    `summary`, one line with the numbers; `numbers` keeps every figure for the JSON report and the notebooks."""

    verdict: str | bool
    summary: str
    effect: float | None = None
    interval: tuple[float, float] | None = None
    unit: str = ""
    numbers: dict = dataclasses.field(default_factory=dict)
    seeds: tuple[int, ...] = ()

    def __post_init__(self):
        if not isinstance(self.verdict, str):
            self.verdict = "holds" if bool(self.verdict) else "contradicted"
        if self.verdict not in VERDICTS:
            raise ValueError(f"a verdict is 'holds', 'contradicted' or 'inconclusive', got {self.verdict!r}")

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"


@dataclasses.dataclass(frozen=True)
class Claim:
    name: str
    statement: str  # the lecture's words, in English
    notebook: str
    section: str
    quantity: str
    assertion: str
    experiment: Callable[["Lab"], Outcome]
    fast: bool = False  # seconds, no data: runs in the test suite


class Registry:
    """The claims of one module in the order they are declared, their notes, and the claims not measured yet."""

    def __init__(self) -> None:
        self.measured: list[Claim] = []  # in the committed report
        self.unmeasured: list[Claim] = []  # built and tested, not measured yet: run them with --only NAME
        self.notes: dict[str, str] = {}  # what limits a measured result, written after reading it
        self.pending: dict[str, str] = {}  # name -> why an unmeasured claim is not measured yet

    def claim(self, name: str, statement: str, notebook: str, section: str, quantity: str, assertion: str, *,
              fast: bool = False, note: str | None = None,
              pending: str | None = None) -> Callable[[Callable[["Lab"], Outcome]], Callable[["Lab"], Outcome]]:
        """Register the decorated experiment as the claim `name`; the experiment itself is returned unchanged.

        `note`: commentary on the measured result, never a change to the experiment. `pending`: why the claim is
        not measured yet (it is then listed as such and runs only when named with --only)."""
        def register(experiment: Callable[["Lab"], Outcome]) -> Callable[["Lab"], Outcome]:
            claim = Claim(name, statement, notebook, section, quantity, assertion, experiment, fast)
            if pending is None:
                self.measured.append(claim)
            else:
                self.unmeasured.append(claim)
                self.pending[name] = pending
            if note is not None:
                self.notes[name] = note
            return experiment

        return register
