"""Reading finished runs back for the report: manifest, per-epoch metrics, the write-up's log, and the run's arm."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.arms import Arm
from harness.errors import StudyError
from harness.run_folder import COMPLETE, Manifest, RunFolder, run_folders
from harness.seeding import SEED_CONTRACT

COLLAPSE_CLASSES = 5  # a run whose final samples cover fewer classes counts as failed (mode collapse)
UNDERTRAINED_FRACTION = 0.5  # FID at least this share of the uniform-noise FID: samples are not digits yet


@dataclass(frozen=True)
class Run:
    folder: RunFolder
    manifest: Manifest
    metrics: pd.DataFrame
    log: pd.DataFrame

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
    def protocol(self) -> str:
        """The data and what an epoch means: runs are compared only within one protocol."""
        return f"{self.manifest.data.protocol}, {self.manifest.training_protocol}"

    @property
    def epochs(self) -> int:
        return self.manifest.epochs_done

    @property
    def arm(self) -> Arm:
        return Arm(self.variant, tuple(self.manifest.fixes), tuple(self.manifest.alternatives), self.protocol,
                   self.epochs)

    @property
    def final(self) -> pd.Series:
        return self.metrics.iloc[-1]

    def failure(self, noise_ceiling: float | None = None) -> str | None:
        """Why a complete run counts as failed, or None. The one place that decides: NaN losses; undertrained
        (samples no more digit-like than noise: FID at least half the uniform-noise FID at the run's n); or
        collapsed (digit-like samples that cover fewer than COLLAPSE_CLASSES classes). Undertrained comes first:
        noise is classified into few classes too, and that is not mode collapse. Without the ceiling (no
        calibration) the two cannot be told apart."""
        final = self.final
        if self.metrics[["d_loss", "g_loss"]].isna().any(axis=None):
            return "NaN losses"
        fid = final.get("fid", math.nan)
        if noise_ceiling is not None and fid >= UNDERTRAINED_FRACTION * noise_ceiling:
            return f"undertrained: FID {fid:.0f}, uniform noise scores {noise_ceiling:.0f}"
        if "classes_covered" in final and not math.isnan(final["classes_covered"]) \
                and final["classes_covered"] < COLLAPSE_CLASSES:
            return f"collapse: {int(final['classes_covered'])} classes covered"
        return None


@dataclass(frozen=True)
class LeftOut:
    """A run folder left out of every aggregate, and why; variant is None where the manifest cannot be read."""

    run_id: str
    reason: str
    variant: str | None


def load_runs(results: Path) -> tuple[list[Run], list[LeftOut]]:
    """Complete runs, and every folder left out of the aggregates."""
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
        if manifest.seed_contract != SEED_CONTRACT:
            excluded.append(LeftOut(folder.run_id, f"trained under seed contract {manifest.seed_contract}, not "
                                                   f"{SEED_CONTRACT} (its seed drew other numbers); retrain it with "
                                                   f"--force", manifest.variant))
            continue
        if manifest.status != COMPLETE:
            reason = manifest.error or f"{manifest.epochs_done} of {manifest.epochs_requested} epochs done"
            excluded.append(LeftOut(folder.run_id, f"status {manifest.status}: {reason}", manifest.variant))
            continue
        try:
            metrics, log = folder.read_metrics(), folder.read_log()
        except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            excluded.append(LeftOut(folder.run_id, f"damaged tables ({type(error).__name__}: {error})",
                                    manifest.variant))
            continue
        if "epoch" not in metrics or list(metrics["epoch"]) != list(range(1, manifest.epochs_done + 1)):
            excluded.append(LeftOut(folder.run_id, f"metrics.csv does not hold epochs 1-{manifest.epochs_done} "
                                                   f"(re-run the same `study run` command to repair it from the "
                                                   f"checkpoint)", manifest.variant))
            continue
        complete.append(Run(folder, manifest, metrics, log))
    return complete, excluded


def runs_scored_with(results: Path, evaluator_sha256: str) -> list[str]:
    """The runs under ``results`` whose scores were computed in this evaluator (readable manifests only)."""
    scored = []
    for folder in run_folders(results):
        try:
            evaluation = folder.read_manifest().evaluation or {}
        except StudyError:
            continue
        if evaluation.get("evaluator_sha256") == evaluator_sha256:
            scored.append(folder.run_id)
    return scored
