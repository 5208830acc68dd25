"""Reading finished runs back for the report: manifest, per-epoch metrics, the write-up's log, and the run's arm."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from harness.arms import Arm
from harness.errors import StudyError
from harness.panel import PANEL_SEEDS, PRIMARY_SEED, judged_by
from harness.run_folder import COMPLETE, Manifest, RunFolder, run_folders
from harness.seeding import SEED_CONTRACT

COLLAPSE_CLASSES = 5  # digit-like samples covering fewer classes than this are collapsed
UNDERTRAINED_FRACTION = 0.5  # FID at least this share of the uniform-noise FID: samples are not digits yet
REPEATED_SPREAD = 0.25  # samples' nearest-other-sample distance below this share of the real digits': repeats
ON_DIGITS_COVERAGE = 0.02  # coverage at least this share of real digits': the samples lie among real digits
SATURATED_PRECISION, EMPTY_DENSITY = 0.95, 0.05  # precision this high while density is this low says nothing
CEILING_ROW = "uniform noise"


def row_named(calibration: list[dict], name: str) -> dict:
    return next(row for row in calibration if row["name"] == name)


def saturated_precision(scores: Mapping[str, float]) -> bool:
    """Precision near 1 while density is near 0: the samples sit in the inflated neighbourhood of a few outlying
    real points, so precision says nothing about quality."""
    return scores.get("precision", math.nan) >= SATURATED_PRECISION and \
        scores.get("density", math.nan) < EMPTY_DENSITY


def on_the_digits(scores: Mapping[str, float], calibration: list[dict]) -> bool:
    """Whether the samples lie among real digits (not noise): they cover some real digits' neighbourhoods. Coverage,
    not precision: the evaluators' features put uniform noise inside outlying real digits' neighbourhoods (precision
    near 1), but noise covers almost none of them (0.2-0.4% of real digits' coverage at n = 3,000 on the published
    study's panel) where real digits of one class cover a tenth (11%: "all 1s")."""
    return scores.get("coverage", math.nan) >= ON_DIGITS_COVERAGE * row_named(calibration, "real")["coverage"]


def failure_label(scores: Mapping[str, float], calibration: list[dict] | None) -> str | None:
    """Why a scored sample set counts as failed, or None. Collapse comes first, since a collapsed set is also far
    from the data and would otherwise read as undertrained: the samples repeat (one digit, a memorised handful,
    a constant image), or digit-like samples cover fewer than COLLAPSE_CLASSES classes. Few classes alone is not
    collapse: noise is classified into few classes too, so without calibration rows (no real-digit coverage to
    compare with) a set of few classes is called collapsed with that caveat. Then undertrained: FID at least half
    the uniform-noise FID at the same n."""
    spread = scores.get("self_nn_ratio", math.nan)
    if spread < REPEATED_SPREAD:
        return f"collapse: samples repeat (nearest other sample at {spread:.0%} of real digits' distance)"
    classes = scores.get("classes_covered", math.nan)
    if classes < COLLAPSE_CLASSES and (calibration is None or on_the_digits(scores, calibration)):
        return f"collapse: {int(classes)} classes covered" + ("" if calibration else " (no calibration to tell it "
                                                                                     "from noise)")
    fid = scores.get("fid", math.nan)
    if calibration is not None:
        ceiling = float(row_named(calibration, CEILING_ROW)["fid"])
        if fid >= UNDERTRAINED_FRACTION * ceiling:
            return f"undertrained: FID {fid:.0f}, uniform noise scores {ceiling:.0f}"
    return None


@dataclass(frozen=True)
class Run:
    folder: RunFolder
    manifest: Manifest
    metrics: pd.DataFrame
    log: pd.DataFrame
    evaluator_seed: int = PRIMARY_SEED  # the panel member whose scores ``metrics`` holds under the plain names
    unfinished: bool = False  # still training or stopped: its tables end at its last completed epoch

    def judged_by(self, seed: int) -> "Run":
        """The run as panel member ``seed`` scored it."""
        return dataclasses.replace(self, metrics=judged_by(self.metrics, seed), evaluator_seed=seed)

    @property
    def evaluator_sha256(self) -> str | None:
        """The SHA-256 of the evaluator whose scores ``metrics`` holds (None: not scored, or not by that member)."""
        evaluation = self.manifest.evaluation
        index = PANEL_SEEDS.index(self.evaluator_seed)
        return evaluation.panel[index] if evaluation is not None and index < len(evaluation.panel) else None

    @property
    def calibration_key(self) -> tuple[str, str, int, str, int] | None:
        """(dataset, evaluator partition, evaluator seed, evaluator SHA-256, n) of the calibration rows the run is
        read against (scoring.read_calibration's arguments after the results folder); None: not scored."""
        evaluation, sha256 = self.manifest.evaluation, self.evaluator_sha256
        if evaluation is None or sha256 is None:
            return None
        return self.manifest.data.dataset, evaluation.partition, self.evaluator_seed, sha256, evaluation.n_fake

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    @property
    def variant(self) -> str:
        return self.manifest.variant

    @property
    def seed(self) -> int:
        return self.manifest.seed

    @property
    def run_set(self) -> str:
        """The name of the set of runs it is compared within: its data and what an epoch means, e.g. 'mnist test
        (512 images), step-matched'. A report covers one run set."""
        return f"{self.manifest.data.description}, {self.manifest.schedule_description}"

    @property
    def epochs(self) -> int:
        return self.manifest.epochs_done

    @property
    def arm(self) -> Arm:
        """An unfinished run belongs to the arm of the length it was asked for, beside seeds that got further."""
        epochs = self.manifest.epochs_requested if self.unfinished else self.epochs
        return Arm(self.variant, tuple(self.manifest.fixes), tuple(self.manifest.alternatives), self.run_set,
                   epochs)

    @property
    def final(self) -> pd.Series:
        return self.metrics.iloc[-1]

    def failure(self, calibration: list[dict] | None = None) -> str | None:
        """Why a complete run counts as failed, or None: NaN losses, else its final samples' failure label (the
        one place that decides, ``failure_label``) against the calibration rows of its evaluator and n."""
        if self.metrics[["d_loss", "g_loss"]].isna().any(axis=None):
            return "NaN losses"
        return failure_label({key: float(value) for key, value in self.final.items()}, calibration)


@dataclass(frozen=True)
class LeftOut:
    """A run folder left out of every aggregate, and why; variant is None where the manifest cannot be read."""

    run_id: str
    reason: str
    variant: str | None


def load_runs(results: Path, unfinished: bool = False,
              seed_contract: int = SEED_CONTRACT) -> tuple[list[Run], list[LeftOut]]:
    """Complete runs of ``seed_contract``, and every folder left out of the aggregates. With ``unfinished`` (the
    interim report), runs still training or stopped come too, read up to their last completed epoch."""
    folders = run_folders(results)
    if not folders:
        raise StudyError(f"no runs under {results / 'runs'}; train some first, e.g. `study run --all --seeds 2 "
                         f"--epochs 2 --split test --limit 512`, or pass --results")
    complete, excluded = [], []
    for folder in folders:
        if folder.path.is_symlink():  # the run it points to is read from its own folder
            excluded.append(LeftOut(folder.run_id, f"a symbolic link to {folder.path.resolve()}, not a run folder",
                                    None))
            continue
        try:
            manifest = folder.read_manifest()
        except StudyError as error:
            excluded.append(LeftOut(folder.run_id, f"no readable manifest.json ({error})", None))
            continue
        if manifest.run_id != folder.run_id:  # e.g. `cp -r run run.bak`: the same run, not another seed
            excluded.append(LeftOut(folder.run_id, f"a copy of run {manifest.run_id} (its manifest names that run); "
                                                   f"move it out of {folder.path.parent}", manifest.variant))
            continue
        if manifest.seed_contract != seed_contract:
            excluded.append(LeftOut(folder.run_id, other_contract_words(manifest.seed_contract, seed_contract),
                                    manifest.variant))
            continue
        in_progress = manifest.status != COMPLETE
        if in_progress and not (unfinished and manifest.epochs_done):
            reason = manifest.error or f"{manifest.epochs_done} of {manifest.epochs_requested} epochs done"
            excluded.append(LeftOut(folder.run_id, f"status {manifest.status}: {reason}", manifest.variant))
            continue
        try:
            metrics, log = folder.read_metrics(), folder.read_log()
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            excluded.append(LeftOut(folder.run_id, f"damaged tables ({type(error).__name__}: {error})",
                                    manifest.variant))
            continue
        if in_progress:  # a run being trained writes its tables just before its manifest: read what both hold
            metrics, log = completed_epochs(metrics, manifest.epochs_done), completed_epochs(log, manifest.epochs_done)
        if "epoch" not in metrics or list(metrics["epoch"]) != list(range(1, manifest.epochs_done + 1)):
            excluded.append(LeftOut(folder.run_id, f"metrics.csv does not hold epochs 1-{manifest.epochs_done} "
                                                   f"(re-run the same `study run` command to repair it from the "
                                                   f"checkpoint)", manifest.variant))
            continue
        complete.append(Run(folder, manifest, metrics, log, unfinished=in_progress))
    return complete, excluded


def other_contract_words(trained: int, reported: int) -> str:
    """Why a run of seed contract ``trained`` is left out of a report of contract ``reported``, and the way in."""
    way_in = (f"`study report --seed-contract {trained}` reports it" if trained != SEED_CONTRACT
              else "`study report` without --seed-contract reports it")
    if trained != SEED_CONTRACT:
        way_in += ", `study run --force` retrains it"
    return f"trained under seed contract {trained}, not {reported} (its seed drew other numbers); {way_in}"


def completed_epochs(table: pd.DataFrame, epochs: int) -> pd.DataFrame:
    """The rows of epochs 1..``epochs`` (an empty table, or one without epochs, as it is)."""
    if "epoch" not in table:
        return table
    return table[table["epoch"] <= epochs].reset_index(drop=True)


def runs_scored_with(results: Path, evaluator_sha256: str) -> list[str]:
    """The runs under ``results`` this evaluator scored, as the primary or another member of their panel (readable
    manifests only)."""
    scored = []
    for folder in run_folders(results):
        try:
            evaluation = folder.read_manifest().evaluation
        except StudyError:
            continue
        if evaluation is not None and evaluator_sha256 in evaluation.panel:
            scored.append(folder.run_id)
    return scored
