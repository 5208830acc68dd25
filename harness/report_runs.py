"""Which runs one report covers: the runs of one run set that the filters keep, grouped into arms, each read against
the calibration ladder of the evaluator that scored it, and the `study run` options that train more of them.

A report covers one run set (one data and schedule) and lists the others, so two run sets never share a table.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from harness.arms import Arm
from harness.errors import StudyError
from harness.evaluator import EvaluatorInfo, evaluator_dir
from harness.evaluator_cache import RECORD
from harness.panel import CROSS_CHECK_ARCHITECTURE, PANEL_SEEDS, PRIMARY_SEED
from harness.report_render import fmt
from harness.runs import Run, load_runs, row_named
from harness.scoring import read_calibration
from harness.seeding import SEED_CONTRACT
from harness.storage import read_json
from harness.variant import Variant

FLOOR, CEILING = "real", "uniform noise"  # calibration rows: real vs real, and noise images
# (column, label): final-epoch values the summary shows; nn_ratio is derived (see metric_value)
SUMMARY_METRICS = [("fid", "FID"), ("kid", "KID"), ("inception_score", "IS"), ("precision", "precision"),
                   ("recall", "recall"), ("density", "density"), ("coverage", "coverage"),
                   ("classes_covered", "classes covered"), ("class_tv", "class TV"),
                   ("nn_ratio", "nn / held-out nn"), ("d_accuracy", "D accuracy")]
DERIVED = {"nn_ratio": lambda row: row["nn_median"] / row["nn_median_heldout"]}
LadderKey = tuple[str, str, int, str, int]  # dataset, evaluator partition, evaluator seed, its SHA-256, n


@dataclass(frozen=True)
class Selection:
    """Which runs a report covers (`study report --run-set/--dataset/--epochs`); None keeps every value."""

    run_set: str | None = None  # the name of a run set (runs.Run.run_set), or a part of it
    dataset: str | None = None
    epochs: int | None = None
    seed_contract: int = SEED_CONTRACT  # runs of one seed contract only: another's seed S drew other numbers

    def keeps(self, run: Run) -> bool:
        return (self.run_set is None or self.run_set == run.run_set or self.run_set in run.run_set) and \
            (self.dataset is None or self.dataset == run.manifest.data.dataset) and \
            (self.epochs is None or self.epochs == run.epochs)


EVERY_RUN = Selection()


@dataclass(frozen=True)
class Ladder:
    """The calibration FIDs of one evaluator at one n: what a run's FID at that n is read against."""

    n: int
    rows: list[dict]

    @property
    def fids(self) -> dict[str, float]:
        """The ladder's FIDs (the controls are not rungs of it)."""
        return self.scores("fid")

    def scores(self, score: str) -> dict[str, float]:
        """One score of every rung of the ladder."""
        return {row["name"]: float(row[score]) for row in self.rows if row["kind"] == "ladder"}

    @property
    def controls(self) -> list[dict]:
        return [row for row in self.rows if row["kind"] == "control"]

    @property
    def real(self) -> dict:
        return row_named(self.rows, FLOOR)

    def place(self, value: float, score: str = "fid") -> str:
        """Where a FID (or another score of the ladder's rows, e.g. KID) sits on the ladder, in words."""
        rungs = self.scores(score)
        ordered = sorted(rungs.items(), key=lambda item: item[1])
        below = [item for item in ordered if item[1] <= value]
        above = [item for item in ordered if item[1] > value]
        if not below:
            return f"below the real-data floor of {fmt(ordered[0][1])}"
        if not above:
            return f"above the uniform-noise ceiling of {fmt(rungs.get(CEILING, ordered[-1][1]))}"
        return f"between {below[-1][0]} at {fmt(below[-1][1])} and {above[0][0]} at {fmt(above[0][1])}"


@dataclass(frozen=True)
class CrossCheck:
    """The ladder and controls at one n as the second architecture scored them (harness/evaluator.py)."""

    info: EvaluatorInfo
    ladder: Ladder


def metric_value(row: pd.Series, column: str) -> float:
    try:
        value = DERIVED[column](row) if column in DERIVED else row[column]
    except KeyError:  # a column this run's metrics.csv lacks (scoring off, or an older version)
        return math.nan
    return float(value)


def final_values(runs: Iterable[Run], column: str) -> list[float]:
    return [metric_value(run.final, column) for run in runs]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class ReportRuns:
    """The runs one report covers, by arm, and what they were read against. ``unfinished``: runs still training are
    read too, up to their last completed epoch (the interim report); else complete runs only."""

    def __init__(self, results: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 selection: Selection, unfinished: bool = False):
        every, excluded = load_runs(results, unfinished, selection.seed_contract)
        self.seed_contract = selection.seed_contract
        runs = [r for r in every if (not wanted or r.variant in wanted) and selection.keeps(r)]
        if wanted:
            excluded = [e for e in excluded if e.variant is None or e.variant in wanted]
        self.results, self.variants, self.unfinished = results, variants, unfinished
        self.wanted = wanted or list(variants)
        counts = Counter(r.run_set for r in runs)
        self.run_set = max(sorted(counts), key=lambda p: counts[p]) if counts else ""  # ties: name order
        self.runs = [r for r in runs if r.run_set == self.run_set]
        self.excluded = excluded
        others = Counter(r.run_set for r in every if r.run_set != self.run_set)
        self.others = sorted(others.items())
        self.left_in_run_set = sum(r.run_set == self.run_set for r in every) - len(self.runs)
        self.arms = by_arm(self.runs)
        self.labels = arm_labels(list(self.arms))
        self.ladders = {key: self.read_ladder(*key) for key in {self.ladder_key(r.judged_by(seed))
                                                                for r in self.runs for seed in PANEL_SEEDS}
                        if key is not None}
        self.cross_checks = {key: self.read_cross_check(*key) for key in self.ladders if key[2] == PRIMARY_SEED}

    def ordered(self, arms: Iterable[Arm]) -> list[Arm]:
        return sorted(arms, key=lambda arm: arm.sort_key(list(self.variants)))

    def labelled(self) -> dict[str, list[Run]]:
        """Arms keyed by their labels, in order: what the figures draw."""
        return {self.labels[arm]: self.arms[arm] for arm in self.ordered(self.arms)}

    def faithful(self, variant: str) -> list[Arm]:
        """The variant's faithful arms (no bug fixed; any reading), in order: the arms its claims are judged on."""
        return [arm for arm in self.ordered(self.arms) if arm.is_faithful and arm.variant == variant]

    def recipe_epochs(self, arm: Arm) -> int:
        """The epochs of the arm's recipe (its own length for a variant not declared here)."""
        return self.variants[arm.variant].recipe.epochs if arm.variant in self.variants else arm.epochs

    # Calibration ------------------------------------------------------------------------------------------------
    @staticmethod
    def ladder_key(run: Run) -> LadderKey | None:
        """(dataset, evaluator partition, evaluator seed, evaluator SHA-256, n) of the calibration a run is read
        against."""
        return run.calibration_key

    def read_ladder(self, dataset: str, partition: str, seed: int, sha256: str, n: int) -> Ladder | None:
        rows = read_calibration(self.results, dataset, partition, seed, sha256, n)
        return Ladder(n, rows) if rows else None

    def read_cross_check(self, dataset: str, partition: str, seed: int, _: str, n: int) -> CrossCheck | None:
        """The second architecture's calibration at n beside the primary's ladder, or None (`study calibrate`
        not run for it)."""
        folder = evaluator_dir(self.results, dataset, partition, seed, CROSS_CHECK_ARCHITECTURE)
        try:
            info = EvaluatorInfo.from_dict(read_json(folder / RECORD))
        except (StudyError, TypeError):
            return None
        rows = read_calibration(self.results, dataset, partition, seed, info.sha256, n, CROSS_CHECK_ARCHITECTURE)
        return CrossCheck(info, Ladder(n, rows)) if rows else None

    def ladder(self, runs: list[Run]) -> Ladder | None:
        """The ladder the first of ``runs`` was scored against (the runs of one arm share one)."""
        key = self.ladder_key(runs[0])
        return self.ladders.get(key) if key else None

    def panel_views(self, group: list[Run]) -> dict[int, list[Run]]:
        """The runs as each member of the evaluator panel scored them (members that scored every run)."""
        views = {seed: [run.judged_by(seed) for run in group] for seed in PANEL_SEEDS}
        return {seed: runs for seed, runs in views.items() if all(run.evaluator_sha256 for run in runs)}

    def eval_ns(self) -> list[int]:
        return sorted({key[4] for key in (self.ladder_key(r) for r in self.runs) if key})

    # Commands that reproduce this set ---------------------------------------------------------------------------
    def run_flags(self) -> str:
        """The options of `study run` that train more runs into this set: its data, length and scoring n."""
        data = self.runs[0].manifest.data
        flags = [f"--dataset {data.dataset}", f"--split {data.split}"]
        if data.limit is not None:
            flags.append(f"--limit {data.limit}")
        if self.runs[0].manifest.schedule == "steps":  # one schedule per report
            flags.append("--schedule steps")
        epochs = {r.epochs for r in self.runs}
        at_recipe = all(r.variant in self.variants and r.epochs == self.variants[r.variant].recipe.epochs
                        for r in self.runs)
        if len(epochs) == 1 and not at_recipe:  # runs at their write-ups' own length need no --epochs
            flags.append(f"--epochs {epochs.pop()}")
        threads = {r.manifest.cpu_threads for r in self.runs if r.manifest.device_type == "cpu"}
        if len(threads) == 1 and None not in threads:  # CPU results depend on the thread count (older runs
            flags.append(f"--threads {threads.pop()}")  # may not record it)
        if len(self.eval_ns()) == 1:
            flags.append(f"--eval-samples {self.eval_ns()[0]}")
        flags += [f"--data-root {data.root}", f"--results {self.results}"]
        return " ".join(flags)

    def seed_flag(self) -> str:
        return f"--seeds {max(len(group) for group in self.arms.values())}"


def by_arm(runs: list[Run]) -> dict[Arm, list[Run]]:
    """Arm -> runs, seeds in order. Each variant keeps its own epoch count; runs of different lengths are different
    arms, never pooled."""
    groups: dict[Arm, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.arm.name, r.epochs, r.seed)):
        groups.setdefault(run.arm, []).append(run)
    return groups


def arm_labels(arms: list[Arm]) -> dict[Arm, str]:
    """Each arm's label: its name, with its length where the same name comes at several lengths."""
    lengths: dict[str, set[int]] = {}
    for arm in arms:
        lengths.setdefault(arm.name, set()).add(arm.epochs)
    return {arm: arm.label(with_epochs=len(lengths[arm.name]) > 1) for arm in arms}
