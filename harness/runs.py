"""Reading run folders back: manifest, per-epoch metrics, and which group ("arm") a run belongs to."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.errors import StudyError

COLLAPSE_CLASSES = 5  # a run whose final samples cover fewer classes counts as failed (mode collapse)


@dataclass(frozen=True)
class Run:
    run_dir: Path
    manifest: dict
    metrics: pd.DataFrame
    log: pd.DataFrame

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def variant(self) -> str:
        return self.manifest["variant"]

    @property
    def fixes(self) -> tuple[str, ...]:
        return tuple(self.manifest["fixes"])

    @property
    def seed(self) -> int:
        return self.manifest["seed"]

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def arm(self) -> str:
        """Variant and fixes, e.g. 'nll-softmax' or 'nll-softmax+g-backward'."""
        return "+".join((self.variant, *self.fixes))

    @property
    def protocol(self) -> str:
        """The data the run trained on: runs are compared only within one protocol."""
        data = self.manifest["data"]
        return f"{data['dataset']} {data['split']} ({data['images']} images)"

    @property
    def epochs(self) -> int:
        return int(self.manifest["epochs_done"])

    @property
    def final(self) -> pd.Series:
        return self.metrics.iloc[-1]

    def failure(self) -> str | None:
        """Why a complete run counts as failed: NaN losses, or collapse to fewer than 5 classes."""
        final = self.final
        if self.metrics[["d_loss", "g_loss"]].isna().any(axis=None):
            return "NaN losses"
        if "classes_covered" in final and not math.isnan(final["classes_covered"]) \
                and final["classes_covered"] < COLLAPSE_CLASSES:
            return f"collapse: {int(final['classes_covered'])} classes covered"
        return None


def load_runs(results: Path) -> tuple[list[Run], list[tuple[str, str]]]:
    """Complete runs, and (run id, reason) for every folder left out of the aggregates."""
    runs_dir = results / "runs"
    if not runs_dir.is_dir() or not any(runs_dir.iterdir()):
        raise StudyError(f"no runs under {runs_dir}; train some first, e.g. `study run --all --seeds 2 --epochs 2 "
                         f"--split test --limit 512`, or pass --results")
    complete, excluded = [], []
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text())
        except (OSError, json.JSONDecodeError):
            excluded.append((run_dir.name, "no readable manifest.json"))
            continue
        if manifest.get("status") != "complete":
            done = f"{manifest.get('epochs_done', 0)} of {manifest.get('epochs_requested')} epochs done"
            reason = manifest.get("error") or done
            excluded.append((run_dir.name, f"status {manifest.get('status')}: {reason}"))
            continue
        log_path = run_dir / "writeup_log.csv"
        log = pd.read_csv(log_path) if log_path.is_file() and log_path.stat().st_size else pd.DataFrame()
        complete.append(Run(run_dir, manifest, pd.read_csv(run_dir / "metrics.csv"), log))
    return complete, excluded
