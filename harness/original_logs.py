"""The write-up authors' own logged runs held against the suite's seed spread.

Each author's log is one real run of the recipe (on a GPU, unseeded, on MNIST's 60,000 training images). For every
value it logged, at an epoch (and for a printed single-batch value, at a batch index) the suite's runs also reach,
this places the author's number among the seeds of the faithful reproduction: inside their range or not, and its
position (the share of seeds below it: 0.5 is the middle). It looks like one more seed where it lies inside the
seeds' range at most of the points compared and above (or below) every seed at no more than twice the share of
points where one more seed would be: 1 in n + 1 beside n seeds, since a further seed is equally likely to take any
rank among them.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from harness.runs import Run
from harness.variant import OriginalLog

LOGS_PACKAGE, LOGS_FOLDER = "variants", "original_logs"


def read_original_log(log: OriginalLog) -> pd.DataFrame:
    with resources.files(LOGS_PACKAGE).joinpath(LOGS_FOLDER, log.file).open() as handle:
        return pd.read_csv(handle)


@dataclass(frozen=True)
class Placement:
    """One logged value of the author's run beside the seeds' values of the same column at the same point."""

    column: str  # the suite's column
    epoch: int
    step: int | None  # the printed batch, for single-batch values
    author: float
    seeds: tuple[float, ...]

    @property
    def inside(self) -> bool:
        return min(self.seeds) <= self.author <= max(self.seeds)

    @property
    def position(self) -> float:
        """The share of seeds below the author's value (ties count half)."""
        below = sum(s < self.author for s in self.seeds) + 0.5 * sum(s == self.author for s in self.seeds)
        return below / len(self.seeds)


def seed_value(run: Run, log: OriginalLog, column: str, epoch: int, step: int | None) -> float:
    table = run.metrics if log.table == "metrics" else run.log
    if table.empty or column not in table:
        return math.nan
    rows = table[table["epoch"] == epoch]
    if step is not None:
        rows = rows[rows["step"] == step]
    return float(rows[column].iloc[0]) if len(rows) else math.nan


def place(log: OriginalLog, runs: list[Run]) -> tuple[list[Placement], int]:
    """Every logged value the runs can be held against, and how many logged values they cannot (not reached)."""
    placements, unmatched = [], 0
    for row in read_original_log(log).itertuples(index=False):
        epoch = int(row.epoch)
        step = int(row.batch) if log.table == "writeup_log" else None
        for logged, column in log.columns.items():
            seeds = [seed_value(run, log, column, epoch, step) for run in runs]
            finite = tuple(v for v in seeds if not math.isnan(v))
            if finite:
                placements.append(Placement(column, epoch, step, float(getattr(row, logged)), finite))
            else:
                unmatched += 1
    return placements, unmatched


@dataclass(frozen=True)
class ColumnSummary:
    column: str
    points: int
    inside: int  # points where the author's value lies within the seeds' range
    above: int  # ... above every seed
    below: int  # ... below every seed
    median_position: float
    first_epoch: int
    last_epoch: int
    one_side: float  # points where one more seed would lie above (equally, below) every seed: sum of 1 / (n + 1)

    @property
    def typical(self) -> bool:
        """The author's run looks like one more seed: inside the seeds' range at most points, and not above (or
        below) every seed much more often than a further seed would be."""
        return self.inside >= self.points / 2 and max(self.above, self.below) <= 2 * self.one_side


def summarise(placements: list[Placement]) -> list[ColumnSummary]:
    summaries = []
    for column in dict.fromkeys(p.column for p in placements):
        mine = [p for p in placements if p.column == column]
        summaries.append(ColumnSummary(
            column, len(mine), sum(p.inside for p in mine), sum(p.author > max(p.seeds) for p in mine),
            sum(p.author < min(p.seeds) for p in mine), statistics.median(p.position for p in mine),
            min(p.epoch for p in mine), max(p.epoch for p in mine), sum(1 / (len(p.seeds) + 1) for p in mine)))
    return summaries


def sentence(log: OriginalLog, arm: str, seeds: int, placements: list[Placement], unmatched: int) -> str:
    """Where the author's run falls in the seed distribution, one clause per logged column."""
    if not placements:
        return (f"{log.run}: none of its {unmatched} logged values is at an epoch (or printed batch) that the "
                f"{arm} runs reach, so it cannot be placed.")
    what = "printed batches" if log.table == "writeup_log" else "epochs"
    clauses = [f"{s.column} inside the seeds' range at {s.inside} of {s.points} {what} (epochs {s.first_epoch}-"
               f"{s.last_epoch}; above every seed at {s.above}, below every seed at {s.below}; median position "
               f"{s.median_position:.2f}): {'like one more seed' if s.typical else 'not like one more seed'}"
               for s in summarise(placements)]
    missing = f" {unmatched} logged values have no seed value at their epoch or batch (the runs are shorter, or " \
              f"print other batches)." if unmatched else ""
    return f"{log.run}, against {seeds} seeds of {arm}: " + "; ".join(clauses) + "." + missing
