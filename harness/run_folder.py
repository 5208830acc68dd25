"""The run folder: the one owner of its format. Paths, column lists, the typed manifest, sample paths, and the run's
status, recorded by one context manager. Everything that reads or writes a run goes through here.

    results/runs/<run id>/
        manifest.json          provenance and status (Manifest)
        metrics.csv            one row per epoch (metric_columns)
        writeup_log.csv        the single-batch values the original prints (LOG_COLUMNS)
        timings.csv            seconds per epoch (TIMING_COLUMNS)
        samples/epoch-NNNN.png, samples/writeup-epoch-NNNN.png
        checkpoints/last.pt    models, optimizers, RNG states and the three tables: the run's ground truth
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd

from harness.errors import StudyError
from harness.storage import read_json, write_csv, write_json

METRIC_COLUMNS = ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "d_accuracy", "d_real_acc", "d_fake_acc",
                  "d_loss_real", "d_loss_fake", "d_loss_last", "g_loss_last", "steps", "d_updates", "images"]
EVAL_COLUMNS = ["fid", "kid", "kid_std", "inception_score", "precision", "recall", "density", "coverage",
                "classes_covered", "class_tv", "confidence", *[f"class_{c}" for c in range(10)], "nn_median",
                "nn_median_heldout", "self_nn_ratio", "eval_n_fake", "eval_n_real",
                # the same scores of samples drawn the way the write-up drew its pictures, where a claim needs them
                "writeup_fid", "writeup_classes_covered", "writeup_confidence", "writeup_precision",
                "writeup_coverage", "writeup_self_nn_ratio"]
LOG_COLUMNS = ["epoch", "step", "d_loss", "g_loss", "d_real", "d_fake"]
TIMING_COLUMNS = ["epoch", "seconds", "images_per_s", "eval_seconds"]

RUNNING, INTERRUPTED, FAILED, COMPLETE = "running", "interrupted", "failed", "complete"


def metric_columns(writeup_columns: Sequence[str]) -> list[str]:
    """metrics.csv's header: the driver's statistics, the write-up's own derived columns, then the scores."""
    return METRIC_COLUMNS + list(writeup_columns) + EVAL_COLUMNS


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class DataRecord:
    """Which images a run trained on."""

    dataset: str
    split: str
    images: int
    limit: int | None
    root: str
    files: list[str] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        """The data the run trained on: runs are compared only within one protocol."""
        return f"{self.dataset} {self.split} ({self.images} images)"


@dataclass
class Manifest:
    """manifest.json, typed. Written at the start of a run, after every epoch, and when its status changes."""

    run_id: str
    status: str
    variant: str
    fixes: list[str]
    seed: int
    epochs_requested: int
    epochs_done: int
    data: DataRecord
    device: str
    versions: dict[str, str]
    code_version: str
    writeup: str = ""
    quirks: list[dict] = field(default_factory=list)
    recipe: dict = field(default_factory=dict)
    device_type: str = "cpu"
    cpu_threads: int | None = None
    compiled: bool = False
    deterministic_algorithms: bool = True
    evaluation: dict | None = None  # evaluator identity, protocol and n; None: trained with scoring off
    started_at: str = ""
    resumed_at: list[str] = field(default_factory=list)
    ended_at: str | None = None
    error: str | None = None
    alternatives: list[str] = field(default_factory=list)  # alternative readings of the write-up applied
    protocol: str = "epochs"  # epochs: an epoch is one pass over the images; steps: the original's steps
    steps_per_epoch: int | None = None

    @property
    def training_protocol(self) -> str:
        """What an epoch means in this run, for every table that compares runs."""
        return "step-matched" if self.protocol == "steps" else "equal epochs"

    def to_dict(self) -> dict:
        value = dataclasses.asdict(self)
        if value["error"] is None:  # only failed runs carry an error
            del value["error"]
        return value

    @classmethod
    def from_dict(cls, value: object, where: Path) -> "Manifest":
        """A manifest read back; a damaged one is a StudyError naming what is wrong."""
        if not isinstance(value, dict):
            raise StudyError(f"{where} does not hold a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in value]
        if missing:
            raise StudyError(f"{where} lacks {', '.join(missing)}")
        data = value["data"]
        if not isinstance(data, dict) or not {"dataset", "split", "images"} <= set(data):
            raise StudyError(f"{where}: 'data' must name dataset, split and images")
        data = DataRecord(dataset=data["dataset"], split=data["split"], images=data["images"],
                          limit=data.get("limit"), root=data.get("root", ""), files=list(data.get("files", [])))
        if not isinstance(value["epochs_done"], int) or not isinstance(value["seed"], int):
            raise StudyError(f"{where}: epochs_done and seed must be integers")
        return cls(**{k: v for k, v in value.items() if k in names and k != "data"}, data=data)


class RunFolder:
    """One run's folder under results/runs/."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def of(cls, results: Path, run_id: str) -> "RunFolder":
        return cls(runs_root(results) / run_id)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def results(self) -> Path:
        return self.path.parent.parent

    manifest_path = property(lambda self: self.path / "manifest.json")
    metrics_path = property(lambda self: self.path / "metrics.csv")
    log_path = property(lambda self: self.path / "writeup_log.csv")
    timings_path = property(lambda self: self.path / "timings.csv")
    checkpoint_path = property(lambda self: self.path / "checkpoints" / "last.pt")
    samples_path = property(lambda self: self.path / "samples")

    def sample_path(self, epoch: int) -> Path:
        """The study's fixed-noise grid of an epoch."""
        return self.samples_path / f"epoch-{epoch:04d}.png"

    def writeup_sample_path(self, epoch: int) -> Path:
        """The picture the write-up itself draws at an epoch, where it draws one."""
        return self.samples_path / f"writeup-epoch-{epoch:04d}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        """(epoch, path) of every fixed-noise grid, in epoch order."""
        return sorted((int(p.stem.split("-")[1]), p) for p in self.samples_path.glob("epoch-*.png"))

    def has_manifest(self) -> bool:
        return self.manifest_path.exists()

    @property
    def lock_path(self) -> Path:
        # Beside the folder, not in it: --force moves the folder aside while the lock is held.
        return self.path.parent / f".{self.run_id}.lock"

    @contextlib.contextmanager
    def locked(self, purpose: str) -> Iterator[None]:
        """One writer per run: a second process that wants this run (to train or to score it) is refused at once.
        The operating system releases the lock when its holder exits in any way, kill -9 included, so a lock
        can never outlive its process."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(descriptor, 200).decode(errors="replace").split() or ["used", "?"]
                raise StudyError(f"run {self.run_id} is being {holder[0]} by another process (pid {holder[-1]}); "
                                 f"wait for it to end (or stop it), then re-run") from None
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{purpose} {os.getpid()}".encode(), 0)
            yield
        finally:
            os.close(descriptor)  # closing the descriptor releases the lock

    @contextlib.contextmanager
    def replacing(self) -> Iterator[Callable[[], None]]:
        """--force: the finished run is moved aside while the new one trains, restored if the new one ends before
        its first completed epoch, and deleted once the new one has one (call the yielded function then)."""
        aside = self.path.parent / f".{self.run_id}.replaced"
        if not self.path.exists():
            yield lambda: None
            return
        if aside.exists():  # left by an attempt that died without cleaning up: the older run is the one to keep
            shutil.rmtree(self.path)
        else:
            self.path.rename(aside)
        kept = [True]

        def drop_old() -> None:
            if kept[0]:
                shutil.rmtree(aside)
                kept[0] = False
        try:
            yield drop_old
        finally:
            if kept[0]:
                if self.path.exists():
                    shutil.rmtree(self.path)
                aside.rename(self.path)

    def check_path_room(self) -> None:
        """Every file a run writes must fit the filesystem's limits: refuse a results path that is too long before
        training, not at the first sample written."""
        deepest = self.samples_path / ".writeup-epoch-0000.png.XXXXXXXX.tmp"  # an atomic write's temporary file
        existing = next(p for p in (self.path, *self.path.parents) if p.exists())
        if len(str(deepest.absolute())) >= os.pathconf(existing, "PC_PATH_MAX") or \
                len(self.lock_path.name) + 8 > os.pathconf(existing, "PC_NAME_MAX"):
            raise StudyError(f"the path of run {self.run_id} under {self.results} is too long for this filesystem; "
                             f"pass a shorter --results")

    def tables_match(self, epochs_done: int) -> bool:
        """metrics.csv holds exactly epochs 1..epochs_done (what the checkpoint holds for a finished run)."""
        try:
            return list(pd.read_csv(self.metrics_path)["epoch"]) == list(range(1, epochs_done + 1))
        except (OSError, ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError):
            return False

    def read_manifest(self) -> Manifest:
        return Manifest.from_dict(read_json(self.manifest_path), self.manifest_path)

    def write_manifest(self, manifest: Manifest) -> None:
        write_json(self.manifest_path, manifest.to_dict())

    def write_tables(self, metrics: list[dict], columns: list[str], log: list[dict], timings: list[dict]) -> None:
        write_csv(self.metrics_path, metrics, columns)
        write_csv(self.log_path, log, LOG_COLUMNS)
        write_csv(self.timings_path, timings, TIMING_COLUMNS)

    def read_metrics(self) -> pd.DataFrame:
        return pd.read_csv(self.metrics_path)

    def read_log(self) -> pd.DataFrame:
        """The write-up's printed values; empty where the original prints none."""
        if self.log_path.is_file() and self.log_path.stat().st_size:
            return pd.read_csv(self.log_path)
        return pd.DataFrame()

    @contextlib.contextmanager
    def recording(self, manifest: Manifest) -> Iterator[Manifest]:
        """Marks the run running for the duration of the block, then complete, interrupted (Ctrl-C) or failed (with
        the error): the status on disk always says how the last attempt ended."""
        manifest.status = RUNNING
        self.write_manifest(manifest)
        try:
            yield manifest
        except KeyboardInterrupt:
            manifest.status = INTERRUPTED
            self.write_manifest(manifest)
            raise
        except BaseException as error:
            manifest.status, manifest.error = FAILED, f"{type(error).__name__}: {error}"
            self.write_manifest(manifest)
            raise
        manifest.status, manifest.ended_at = COMPLETE, now()
        self.write_manifest(manifest)


def runs_root(results: Path) -> Path:
    return results / "runs"


def run_folders(results: Path) -> list[RunFolder]:
    """Every run folder under results/runs/, in name order."""
    root = runs_root(results)
    if not root.is_dir():
        return []
    return [RunFolder(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]

