"""The run folder: the one owner of its format. Paths, column lists, the per-epoch statistics, the typed manifest,
evaluation record and checkpoint, sample paths, and the run's status, recorded by one context manager. Everything
that reads or writes a run goes through here.

    results/runs/<run id>/
        manifest.json          provenance and status (Manifest; its scoring: EvaluationRecord)
        metrics.csv            one row per epoch (metric_columns; training's own columns: EPOCH_STATISTICS)
        writeup_log.csv        the single-batch values the original prints (LOG_COLUMNS)
        timings.csv            seconds per epoch (TIMING_COLUMNS)
        samples/epoch-NNNN.png, samples/writeup-epoch-NNNN.png
        checkpoints/last.pt    models, optimizers, RNG states and the three tables (Checkpoint): the run's ground truth
        eval.json              `study eval` of an unfinished run: its scores, kept out of the tables
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pandas as pd

from harness.errors import StudyError
from harness.panel import WRITEUP_PREFIX, WRITEUP_SCORES, member_columns
from harness.storage import exchange_paths, load_checkpoint, read_json, save_checkpoint, write_csv, write_json

if TYPE_CHECKING:
    import torch

# How an epoch's value of a training statistic is made. A step statistic is computed by every training step
# (steps.train_step returns STAT_NAMES) and summed over the epoch on the device, then:
PER_D_UPDATE = "mean over the steps that updated D"  # NaN in an epoch without one
PER_STEP = "mean over the steps"
COUNTED = "number of steps where it holds"  # a step's value is 1 or 0
STEP_SOURCES = (PER_D_UPDATE, PER_STEP, COUNTED)
# The others are made from those, or counted by the epoch loop:
LAST_STEP = "the epoch's last step, as the original prints it"  # of the step statistic named in ``of``
MEAN_OF = "mean of other columns"  # those named in ``of``
LOOP = "counted by the epoch loop"


@dataclass(frozen=True)
class EpochStatistic:
    """One column of metrics.csv that training writes, and how its epoch value is made (``made``, above)."""

    name: str
    made: str
    of: tuple[str, ...] = ()


# The one definition of training's per-epoch statistics, in metrics.csv's column order: the step's statistics
# (STAT_NAMES), the epoch row (epoch_statistics) and the CSV columns (METRIC_COLUMNS) all come from it. The d_loss
# terms count only steps where D updated; d_loss_stale is the D loss as last computed, counted on every step (stale
# between D updates), as infogan logs it.
EPOCH_STATISTICS = (
    EpochStatistic("epoch", LOOP),
    EpochStatistic("d_loss", PER_D_UPDATE),
    EpochStatistic("g_loss", PER_STEP),
    EpochStatistic("d_real", PER_STEP),  # D's mean probability that a real image is real
    EpochStatistic("d_fake", PER_STEP),  # ... that a generated image is real
    EpochStatistic("d_accuracy", MEAN_OF, ("d_real_acc", "d_fake_acc")),
    EpochStatistic("d_real_acc", PER_STEP),
    EpochStatistic("d_fake_acc", PER_STEP),
    EpochStatistic("d_loss_real", PER_D_UPDATE),
    EpochStatistic("d_loss_fake", PER_D_UPDATE),
    EpochStatistic("d_loss_stale", PER_STEP),
    EpochStatistic("d_loss_last", LAST_STEP, ("d_loss",)),
    EpochStatistic("g_loss_last", LAST_STEP, ("g_loss",)),
    EpochStatistic("steps", LOOP),
    EpochStatistic("d_updates", COUNTED),
    EpochStatistic("images", LOOP),
)
STAT_NAMES = tuple(s.name for s in EPOCH_STATISTICS if s.made in STEP_SOURCES)  # what a step returns, in this order
METRIC_COLUMNS = [s.name for s in EPOCH_STATISTICS]
PRINTED = ("d_loss", "g_loss", "d_real", "d_fake")  # the step statistics the originals print
EVAL_COLUMNS = ["fid", "kid", "kid_std", "inception_score", "precision", "recall", "density", "coverage",
                "classes_covered", "class_tv", "confidence", *[f"class_{c}" for c in range(10)], "nn_median",
                "nn_median_heldout", "nn_median_train", "self_nn_ratio", "eval_n_fake", "eval_n_real",
                *member_columns()]
# the digit scores of samples drawn the way the write-up drew its pictures, where a claim needs them
WRITEUP_COLUMNS = [WRITEUP_PREFIX + score for score in WRITEUP_SCORES] + member_columns(WRITEUP_PREFIX)
LOG_COLUMNS = ["epoch", "step", *PRINTED]
TIMING_COLUMNS = ["epoch", "seconds", "images_per_s", "eval_seconds"]

RUNNING, INTERRUPTED, FAILED, COMPLETE = "running", "interrupted", "failed", "complete"


def metric_columns(writeup_columns: Sequence[str]) -> list[str]:
    """metrics.csv's header: the driver's statistics, the write-up's own derived columns, then the scores."""
    return METRIC_COLUMNS + list(writeup_columns) + EVAL_COLUMNS + WRITEUP_COLUMNS


def step_means(sums: Sequence[float], steps: int) -> dict[str, float]:
    """The mean step statistics of ``steps`` steps from their sums (STAT_NAMES order): what a progress bar shows."""
    summed = dict(zip(STAT_NAMES, sums))
    updates = summed["d_updates"]
    return {s.name: (summed[s.name] / updates if updates else math.nan) if s.made == PER_D_UPDATE
            else summed[s.name] / steps for s in EPOCH_STATISTICS if s.made in (PER_D_UPDATE, PER_STEP)}


def printed_step(values: Sequence[float]) -> dict[str, float]:
    """One step's statistics (STAT_NAMES order) as the original prints them: its D loss only if D updated then."""
    stats = dict(zip(STAT_NAMES, values))
    return {name: math.nan if name == "d_loss" and not stats["d_updates"] else stats[name] for name in PRINTED}


def epoch_statistics(sums: Sequence[float], last: Sequence[float], counted: dict[str, int]) -> dict[str, Any]:
    """An epoch's training columns of metrics.csv, in their order: from its step statistics summed over the epoch
    (``sums``) and its last step's (``last``), both in STAT_NAMES order, and the loop's counts (``counted``: the
    LOOP columns)."""
    summed = dict(zip(STAT_NAMES, sums))
    made = step_means(sums, counted["steps"]) | {s.name: int(summed[s.name]) for s in EPOCH_STATISTICS
                                                 if s.made == COUNTED}
    final = printed_step(last)
    row: dict[str, Any] = {}
    for stat in EPOCH_STATISTICS:
        if stat.made == LOOP:
            row[stat.name] = counted[stat.name]
        elif stat.made == LAST_STEP:
            row[stat.name] = final[stat.of[0]]
        elif stat.made == MEAN_OF:
            row[stat.name] = sum(made[name] for name in stat.of) / len(stat.of)
        else:
            row[stat.name] = made[stat.name]
    return row


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
    sha256: str = ""  # of the images trained on, checked on resume; "" in runs of an older version

    @property
    def description(self) -> str:
        """The data in words, e.g. 'mnist test (512 images)': half of a run set's name (runs.Run.run_set)."""
        return f"{self.dataset} {self.split} ({self.images} images)"


@dataclass(frozen=True)
class EvaluationRecord:
    """The manifest's ``evaluation``: the evaluators that scored the run, the partition of the images they were
    built under (evaluator.PARTITION_OF_SPLIT), and how many images each score used. A run trained with scoring off
    has none."""

    evaluator_sha256: str  # the primary evaluator's
    partition: str  # train-split | test-thirds
    heldout_accuracy: float  # the primary evaluator's, on the reference images
    n_fake: int
    n_real: int
    panel_sha256: list[str] = field(default_factory=list)  # every member's, primary first; [] before the panel
    panel_heldout_accuracy: list[float] = field(default_factory=list)
    reference_overlap: int = 0  # training images that are also reference images
    eval_every: int | None = None  # how often training scored; None: scored by `study eval` only

    @property
    def panel(self) -> list[str]:
        """Every member's SHA-256, primary first (a run scored before the panel names its one evaluator)."""
        return self.panel_sha256 or [self.evaluator_sha256]

    @classmethod
    def from_dict(cls, value: object, where: Path) -> "EvaluationRecord":
        """The entry read back; a damaged one is a StudyError naming what is wrong."""
        if not isinstance(value, dict):
            raise StudyError(f"{where}: 'evaluation' must be a JSON object")
        if "partition" not in value:  # manifests written before the rename say "protocol"
            value = {("partition" if key == "protocol" else key): item for key, item in value.items()}
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in value and
                   f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise StudyError(f"{where}: 'evaluation' lacks {', '.join(missing)}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in names})


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
    evaluation: EvaluationRecord | None = None  # None: trained with scoring off
    started_at: str = ""
    resumed_at: list[str] = field(default_factory=list)
    ended_at: str | None = None
    error: str | None = None
    alternatives: list[str] = field(default_factory=list)  # alternative readings of the write-up applied
    schedule: str = "epochs"  # epochs: an epoch is one pass over the images; steps: the original's steps
    steps_per_epoch: int | None = None
    seed_contract: int = 0  # harness.seeding.SEED_CONTRACT when trained; manifests from before it have none: 0

    @property
    def schedule_description(self) -> str:
        """What an epoch means in this run, in words: the other half of a run set's name (runs.Run.run_set)."""
        return "step-matched" if self.schedule == "steps" else "equal epochs"

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
                          limit=data.get("limit"), root=data.get("root", ""), files=list(data.get("files", [])),
                          sha256=data.get("sha256", ""))
        if not isinstance(value["epochs_done"], int) or not isinstance(value["seed"], int):
            raise StudyError(f"{where}: epochs_done and seed must be integers")
        problem = _field_problem(value)
        if problem:
            raise StudyError(f"{where}: {problem}")
        evaluation = value.get("evaluation")
        if evaluation is not None:
            evaluation = EvaluationRecord.from_dict(evaluation, where)
        if "schedule" not in value:  # manifests written before the rename say "protocol"
            value = {("schedule" if key == "protocol" else key): item for key, item in value.items()}
        return cls(**{k: v for k, v in value.items() if k in names and k not in ("data", "evaluation")}, data=data,
                   evaluation=evaluation)


CHECKPOINT_KEYS = ("gan", "rng", "epoch", "metrics", "log", "timings", "pending_batches")  # and "run", its run id


@dataclass
class Checkpoint:
    """checkpoints/last.pt, typed: the run after its last completed epoch. Everything a resume continues from, and
    the truth its tables are written from. On disk it is a dict of CHECKPOINT_KEYS and "run" (to_dict)."""

    run_id: str
    epoch: int
    gan: dict  # models, optimizers and the variant's kept draws (steps.Gan.state_dict)
    rng: dict  # every RNG stream (seeding.capture_rng)
    metrics: list[dict]  # the rows of the three tables
    log: list[dict]
    timings: list[dict]
    pending_batches: torch.Tensor  # the rest of the pass an epoch ended inside (data.BatchOrder.pending)

    def to_dict(self) -> dict:
        return {"run": self.run_id, **{key: getattr(self, key) for key in CHECKPOINT_KEYS}}


VERSION_KEYS = ("python", "torch", "torchvision")  # what every report's provenance table shows


def _field_problem(value: dict) -> str | None:
    """What is wrong with the fields every reader relies on, or None."""
    for name in ("fixes", "alternatives"):
        if not isinstance(value.get(name, []), list) or not all(isinstance(v, str) for v in value.get(name, [])):
            return f"'{name}' must be a list of names"
    versions = value["versions"]
    if not isinstance(versions, dict) or not all(isinstance(versions.get(k), str) for k in VERSION_KEYS):
        return f"'versions' must name the {', '.join(VERSION_KEYS)} versions"
    return None


def _grid_epoch(path: Path) -> int | None:
    """The epoch in a sample grid's name (epoch-0005.png, writeup-epoch-0005.png); None for any other name."""
    number = path.stem.rsplit("-", 1)[-1]
    return int(number) if number.isdigit() else None


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
    eval_path = property(lambda self: self.path / "eval.json")

    def sample_path(self, epoch: int) -> Path:
        """The study's fixed-noise grid of an epoch."""
        return self.samples_path / f"epoch-{epoch:04d}.png"

    def writeup_sample_path(self, epoch: int) -> Path:
        """The picture the write-up itself draws at an epoch, where it draws one."""
        return self.samples_path / f"writeup-epoch-{epoch:04d}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        """(epoch, path) of every fixed-noise grid, in epoch order."""
        return sorted((int(p.stem.split("-")[1]), p) for p in self.samples_path.glob("epoch-*.png"))

    def drop_grids_except(self, epochs: set[int]) -> int:
        """Delete the fixed-noise grids and the write-up's own pictures of every epoch not in ``epochs``; how many
        files were deleted. Only files this suite wrote are touched: names as sample_path and writeup_sample_path
        give them."""
        dropped = [path for path in self.samples_path.glob("*epoch-*.png")
                   if (epoch := _grid_epoch(path)) is not None and epoch not in epochs
                   and path in (self.sample_path(epoch), self.writeup_sample_path(epoch))]
        for path in dropped:
            path.unlink()
        return len(dropped)

    def has_manifest(self) -> bool:
        return self.manifest_path.exists()

    @property
    def lock_path(self) -> Path:
        # Beside the folder, not in it: --force swaps the folder while the lock is held. Keyed by the real path, so
        # a symlink to the run (or a relative path) locks the same file.
        real = self.path.resolve()
        return real.parent / f".{real.name}.lock"

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

    def writer_pid(self) -> int | None:
        """The pid of the live process that last locked this run, or None. Read without taking the lock, so a
        trainer starting at this moment is never refused; a pid reused since can read as alive."""
        try:
            pid = int(self.lock_path.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)  # signal 0 only asks whether the process exists
        except ProcessLookupError:
            return None
        except PermissionError:  # another user's process: alive
            pass
        return pid

    def replacement(self) -> "RunFolder":
        """Where --force trains the new run, hidden from every listing, while the finished one stays in place and
        complete until the new one is complete and swapped in (swap_in)."""
        return RunFolder(self.path.parent / f".{self.run_id}.forced")

    @property
    def _swap_journal(self) -> Path:
        # The inode of the folder being swapped in: after a kill it tells whether the swap happened.
        return self.path.parent / f".{self.run_id}.swap"

    def swap_in(self, new: "RunFolder") -> None:
        """``new`` (a complete replacement()) takes this run's place in one step; then the old run is deleted. A
        kill at any point leaves one complete run in place, and settle_replacement() finishes the job."""
        write_json(self._swap_journal, os.stat(new.path).st_ino)
        if exchange_paths(new.path, self.path):
            old = new.path
        else:  # a filesystem without an atomic exchange: two renames, the journal covers the moment between
            old = self.path.parent / f".{self.run_id}.superseded"
            self.path.rename(old)
            new.path.rename(self.path)
        shutil.rmtree(old)
        self._swap_journal.unlink()

    def settle_replacement(self) -> None:
        """Finish what a killed --force left behind (call with the run locked): a swap half done is completed, a
        complete replacement that was not swapped in yet is swapped in, an unfinished one is deleted."""
        new, superseded = self.replacement(), self.path.parent / f".{self.run_id}.superseded"
        if self._swap_journal.exists():
            swapped_inode = read_json(self._swap_journal)
            if self.path.exists() and os.stat(self.path).st_ino == swapped_inode:  # swapped: drop the old run
                for old in (new.path, superseded):
                    if old.exists():
                        shutil.rmtree(old)
            elif not self.path.exists():  # cut between the two renames
                new.path.rename(self.path)
                shutil.rmtree(superseded)
            else:
                self.swap_in(new)
            self._swap_journal.unlink(missing_ok=True)
        elif new.path.exists():
            complete = new.has_manifest() and new.read_manifest().status == COMPLETE
            if complete:
                self.swap_in(new)
            else:
                shutil.rmtree(new.path)

    def check_path_room(self) -> None:
        """Every file a run writes must fit the filesystem's limits: refuse a results path that is too long before
        training, not at the first sample written."""
        # an atomic write's temporary file, in the longer path of a --force replacement
        deepest = self.replacement().samples_path / ".writeup-epoch-0000.png.XXXXXXXX.tmp"
        existing = next(p for p in (self.path, *self.path.parents) if p.exists())
        if len(str(deepest.absolute())) >= os.pathconf(existing, "PC_PATH_MAX") or \
                len(self.replacement().run_id) + 8 > os.pathconf(existing, "PC_NAME_MAX"):
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

    def read_checkpoint(self, run_id: str) -> Checkpoint:
        """The checkpoint of this very run. One of an older version names no run, so nothing shows it is run
        ``run_id``'s (another seed's would continue silently): it is refused, like one that lacks a key."""
        path = self.checkpoint_path
        state = load_checkpoint(path)
        missing = [key for key in CHECKPOINT_KEYS if key not in state] if isinstance(state, dict) \
            else list(CHECKPOINT_KEYS)
        if missing:
            raise StudyError(f"checkpoint {path} lacks {', '.join(missing)}; put back the run's own checkpoint or "
                             f"pass --force to retrain run {run_id}")
        if "run" not in state:
            raise StudyError(f"checkpoint {path} names no run (an older version of the suite wrote it), so it cannot "
                             f"be checked to be run {run_id}'s; retrain it with `study run --force`")
        if state["run"] != run_id:
            raise StudyError(f"checkpoint {path} is of run {state['run']}, not {run_id}; put back the run's own "
                             f"checkpoint or pass --force to retrain it")
        return Checkpoint(run_id, **{key: state[key] for key in CHECKPOINT_KEYS})

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        save_checkpoint(self.checkpoint_path, checkpoint.to_dict())

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


def enclosing_run(path: Path) -> Path | None:
    """The run folder ``path`` is in (or is), if any: results inside a run would be deleted with it by --force."""
    for folder in (path, *path.parents):
        if (folder / "manifest.json").is_file() and folder.parent.name == "runs":
            return folder
    return None


def refuse_results_inside_a_run(results: Path) -> None:
    """A results folder inside a run would be deleted with it by a --force of that run."""
    run = enclosing_run(results.resolve())
    if run is not None:
        raise StudyError(f"--results {results} is inside the run folder {run}; pass a --results outside every run")


def run_folders(results: Path) -> list[RunFolder]:
    """Every run folder under results/runs/, in name order."""
    root = runs_root(results)
    if not root.is_dir():
        return []
    return [RunFolder(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]

