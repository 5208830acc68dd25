"""Arms: the groups a report compares. An arm is one variant with one set of fixes, in one run set (the same data and
schedule) for one number of epochs; its runs differ only in their seed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Arm:
    variant: str
    fixes: tuple[str, ...]  # sorted
    alternatives: tuple[str, ...]  # alternative readings of the write-up, sorted: still faithful, another reading
    run_set: str  # the runs' data and schedule (runs.Run.run_set), e.g. "mnist test (512 images), step-matched"
    epochs: int

    @property
    def name(self) -> str:
        """Variant, +fixes and ~alternatives, e.g. 'nll-softmax+g-backward~batch-1024'."""
        return self.variant + "".join(f"+{f}" for f in self.fixes) + "".join(f"~{a}" for a in self.alternatives)

    @property
    def is_faithful(self) -> bool:
        """No bug fixed: the write-up as written (under one of its readings)."""
        return not self.fixes

    @property
    def faithful(self) -> "Arm":
        """The same variant, reading, run set and length without fixes: what a fixed arm is compared against."""
        return Arm(self.variant, (), self.alternatives, self.run_set, self.epochs)

    def label(self, with_epochs: bool) -> str:
        """The arm's name, with its length where the same name was trained for several lengths."""
        return f"{self.name} ({self.epochs} epochs)" if with_epochs else self.name

    def sort_key(self, variant_order: Sequence[str]) -> tuple:
        """The variants in their fixed order, each followed by its fixed arms."""
        rank = variant_order.index(self.variant) if self.variant in variant_order else len(variant_order)
        return rank, len(self.alternatives), len(self.fixes), self.name, self.epochs
