"""The training driver: one run = (variant, fixes, dataset, split, limit, seed), trained epoch by epoch, resumable.

Per-step statistics stay on the device and are read once per epoch (and when the progress bar refreshes). After
each epoch the run folder gets metrics.csv, writeup_log.csv, timings.csv, sample grids and a checkpoint holding the
models, optimizers, every RNG state and the tables, so an interrupted run resumes to the same bytes.
"""
from __future__ import annotations

import dataclasses
import math
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torchvision

from harness.data import DeviceImages, Split, epoch_order, load_split
from harness.errors import StudyError
from harness.evaluate import EVAL_COLUMNS, Reference, RunEvaluation
from harness.evaluator import ensure_evaluator, load_evaluator
from harness.sampling import fixed_noise, save_epoch_samples
from harness.seeding import capture_rng, device_description, make_deterministic, restore_rng, seed_everything
from harness.steps import STAT_NAMES, Gan, train_step
from harness.storage import (check_writable, code_version, load_checkpoint, read_json, save_checkpoint, write_csv,
                             write_json)
from harness.variant import Fixes, Variant
from variants import get_variant

METRIC_COLUMNS = ["epoch", "d_loss", "g_loss", "d_real", "d_fake", "d_accuracy", "d_real_acc", "d_fake_acc",
                  "d_loss_real", "d_loss_fake", "d_loss_last", "g_loss_last", "steps", "d_updates", "images"]
LOG_COLUMNS = ["epoch", "step", "d_loss", "g_loss", "d_real", "d_fake"]
TIMING_COLUMNS = ["epoch", "seconds", "images_per_s", "eval_seconds"]


@dataclass(frozen=True)
class RunSpec:
    variant: Variant
    fixes: Fixes
    seed: int
    epochs: int
    dataset: str
    split: str
    limit: int | None
    device: torch.device
    results: Path
    data_root: Path
    threads: int | None = None  # CPU intra-op threads; None keeps PyTorch's default (one per core)
    compile: bool = False  # torch.compile G and D: equal to eager to float32 rounding, not bit for bit
    eval_every: int = 0  # score G every this many epochs and at the last one; 0: never
    eval_samples: int = 10_000  # n generated and n real images per score (capped at the reference's size)

    @property
    def run_id(self) -> str:
        fixes = "".join(f"+{fix}" for fix in sorted(self.fixes))
        subset = f"-first{self.limit}" if self.limit is not None else ""
        return f"{self.variant.name}{fixes}__{self.dataset}-{self.split}{subset}__seed{self.seed}"

    @property
    def label(self) -> str:
        """Short enough for a progress bar: variant, fixes and seed."""
        return "+".join((self.variant.name, *sorted(self.fixes))) + f" seed {self.seed}"

    @property
    def run_dir(self) -> Path:
        return self.results / "runs" / self.run_id


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    run_dir: Path
    status: str  # complete | skipped
    epochs_done: int
    last_row: dict | None


class Progress(Protocol):
    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None: ...
    def begin_epoch(self, epoch: int) -> None: ...
    def step(self, done: int, live: Callable[[], dict[str, float]]) -> None: ...
    def evaluating(self, epoch: int) -> None: ...
    def end_epoch(self, row: dict) -> None: ...
    def end_run(self, outcome: RunOutcome) -> None: ...


class SilentProgress:
    def begin_run(self, label, epochs, first_epoch, steps): pass
    def begin_epoch(self, epoch): pass
    def step(self, done, live): pass
    def evaluating(self, epoch): pass
    def end_epoch(self, row): pass
    def end_run(self, outcome): pass


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _means(totals: list[float], steps: int) -> dict[str, float]:
    sums = dict(zip(STAT_NAMES, totals))
    updates = sums["d_updates"]
    per_update = {name: sums[name] / updates if updates else math.nan for name in ("d_loss", "d_loss_real",
                                                                                  "d_loss_fake")}
    per_step = {name: sums[name] / steps for name in ("g_loss", "d_real", "d_fake", "d_real_acc", "d_fake_acc")}
    return per_update | per_step


def _single_step(values: list[float]) -> dict[str, float]:
    """One step's values as the original prints them; its D loss exists only if D updated on that step."""
    stats = dict(zip(STAT_NAMES, values))
    return {"d_loss": stats["d_loss"] if stats["d_updates"] else math.nan, "g_loss": stats["g_loss"],
            "d_real": stats["d_real"], "d_fake": stats["d_fake"]}


def _epoch_row(variant: Variant, epoch: int, totals: list[float], last: list[float], steps: int,
               images: int) -> dict:
    row = {"epoch": epoch, **_means(totals, steps)}
    row["d_accuracy"] = (row["d_real_acc"] + row["d_fake_acc"]) / 2
    last_step = _single_step(last)
    row.update(d_loss_last=last_step["d_loss"], g_loss_last=last_step["g_loss"], steps=steps,
               d_updates=int(totals[STAT_NAMES.index("d_updates")]), images=images)
    row.update({name: compute(row) for name, compute in variant.writeup_columns.items()})
    return row


def epoch_steps(gan: Gan, data: DeviceImages) -> Iterator[tuple[int, torch.Tensor]]:
    """One epoch in the original DataLoader's batch order: (step, statistics) per step, nothing read back."""
    batches = epoch_order(len(data), gan.recipe.shuffle).to(gan.device).split(gan.recipe.batch_size)
    for step, indices in enumerate(batches):
        yield step, train_step(gan, data.batch(indices), step)


def run_epoch(gan: Gan, data: DeviceImages, epoch: int, progress: Progress) -> tuple[dict, list[dict], float]:
    started = time.perf_counter()
    steps = math.ceil(len(data) / gan.recipe.batch_size)
    logged_steps = set(gan.variant.log_every(steps))
    totals = torch.zeros(len(STAT_NAMES), device=gan.device)
    logged: dict[int, torch.Tensor] = {}
    stats = totals
    for step, stats in epoch_steps(gan, data):
        totals += stats
        if step in logged_steps:
            logged[step] = stats
        progress.step(step + 1, lambda done=step + 1: _means(totals.tolist(), done))
    row = _epoch_row(gan.variant, epoch, totals.tolist(), stats.tolist(), steps, len(data))
    log_rows = [{"epoch": epoch, "step": step, **_single_step(values.tolist())}
                for step, values in sorted(logged.items())]
    return row, log_rows, time.perf_counter() - started


def metric_columns(variant: Variant) -> list[str]:
    return METRIC_COLUMNS + list(variant.writeup_columns) + EVAL_COLUMNS


def prepare_evaluation(spec: RunSpec, split: Split) -> RunEvaluation | None:
    if not spec.eval_every:
        return None
    evaluator = ensure_evaluator(spec.results, spec.data_root, spec.dataset, spec.split)
    available = evaluator[1].reference_images
    reference = Reference.load(spec.results, spec.data_root, spec.dataset, min(spec.eval_samples, available),
                               evaluator)
    return RunEvaluation.prepare(reference, split.images, spec.split)


def evaluation_due(spec: RunSpec, epoch: int) -> bool:
    """Every eval_every epochs, at the last epoch, and at each epoch a claim of the write-up looks at."""
    return bool(spec.eval_every) and (epoch % spec.eval_every == 0 or epoch == spec.epochs
                                      or epoch in spec.variant.claim_epochs)


def _manifest(spec: RunSpec, gan: Gan, split: Split, previous: dict | None,
              evaluation: RunEvaluation | None) -> dict:
    quirks = [{"name": q.name, "status": q.status, "fix": q.fix, "fixed": q.fix in spec.fixes, "what": q.what}
              for q in spec.variant.quirks]
    return {
        "run_id": spec.run_id, "status": "running", "variant": spec.variant.name, "writeup": spec.variant.writeup,
        "fixes": sorted(spec.fixes), "quirks": quirks, "seed": spec.seed,
        "recipe": dataclasses.asdict(gan.recipe), "epochs_requested": spec.epochs,
        "epochs_done": previous["epochs_done"] if previous else 0,
        "data": {"dataset": spec.dataset, "split": spec.split, "images": len(split.images), "limit": spec.limit,
                 "root": str(spec.data_root), "files": list(split.files)},
        "device": device_description(spec.device), "device_type": spec.device.type,
        "cpu_threads": torch.get_num_threads(), "compiled": spec.compile,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "versions": library_versions(),
        "code_version": code_version(),
        "evaluation": {"eval_every": spec.eval_every, **evaluation.describe()} if evaluation else None,
        "started_at": previous["started_at"] if previous else _now(),
        "resumed_at": (previous.get("resumed_at", []) + [_now()]) if previous else [],
        "ended_at": None,
    }


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__}


def _check_resumable(spec: RunSpec, previous: dict) -> None:
    """Resuming must not change the numbers: same device type, and on CPU the same thread count (oneDNN's
    convolutions sum in a thread-dependent order)."""
    if previous.get("device_type") != spec.device.type:
        raise StudyError(f"run {spec.run_id} was trained on {previous.get('device_type')}, not {spec.device.type}; "
                         f"resume it with --device {previous.get('device_type')} or pass --force to retrain it")
    if previous.get("compiled", False) != spec.compile:
        flag = "with" if previous.get("compiled") else "without"
        raise StudyError(f"run {spec.run_id} was trained {flag} --compile; resume it {flag} --compile or pass "
                         f"--force to retrain it")
    if spec.device.type == "cpu" and previous.get("cpu_threads") != torch.get_num_threads():
        raise StudyError(f"run {spec.run_id} was trained with {previous.get('cpu_threads')} CPU threads, not "
                         f"{torch.get_num_threads()}; resume it with --threads {previous.get('cpu_threads')} or pass "
                         f"--force to retrain it")


def train_run(spec: RunSpec, progress: Progress | None = None, force: bool = False) -> RunOutcome:
    """Train (or resume, or skip) one run. Raises StudyError for bad input; KeyboardInterrupt leaves it resumable."""
    progress = progress or SilentProgress()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    run_dir, manifest_path = spec.run_dir, spec.run_dir / "manifest.json"
    checkpoint_path = run_dir / "checkpoints" / "last.pt"
    previous = read_json(manifest_path) if manifest_path.exists() and not force else None
    if previous is not None:
        if previous["status"] == "complete" and previous["epochs_done"] >= spec.epochs:
            outcome = RunOutcome(spec.run_id, run_dir, "skipped", previous["epochs_done"], None)
            progress.end_run(outcome)
            return outcome
        _check_resumable(spec, previous)
    split = load_split(spec.data_root, spec.dataset, spec.split, spec.limit)  # fail on data before writing
    check_writable(spec.results)
    if force and run_dir.exists():
        shutil.rmtree(run_dir)

    seed_everything(spec.seed)
    make_deterministic()
    gan = Gan.create(spec.variant, spec.fixes, spec.device, spec.compile)
    spec_samples = spec.variant.writeup_samples
    writeup_fixed = gan.recipe.latent.sample(spec_samples.n) if spec_samples and \
        spec_samples.noise == "stream-fixed" else None  # e.g. udacity's fixed_z, drawn before training
    grid_noise = fixed_noise(gan, spec.seed)
    data = DeviceImages(split.images, spec.device, gan.recipe.pixel_range, gan.recipe.flatten_real)
    evaluation = prepare_evaluation(spec, split)
    rows: list[dict] = []
    log_rows: list[dict] = []
    timing_rows: list[dict] = []
    start_epoch = 0
    if previous is not None and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path)
        gan.load_state_dict(state["gan"])
        restore_rng(state["rng"])
        start_epoch, rows, log_rows, timing_rows = state["epoch"], state["metrics"], state["log"], state["timings"]
        writeup_fixed = state["writeup_fixed"]
    manifest = _manifest(spec, gan, split, previous, evaluation)
    manifest["epochs_done"] = start_epoch
    write_json(manifest_path, manifest)
    columns = metric_columns(spec.variant)
    steps = math.ceil(len(data) / gan.recipe.batch_size)
    progress.begin_run(spec.label, spec.epochs, start_epoch, steps)
    try:
        for epoch in range(start_epoch + 1, spec.epochs + 1):
            progress.begin_epoch(epoch)
            row, logged, seconds = run_epoch(gan, data, epoch, progress)
            eval_started = time.perf_counter()
            if evaluation is not None and evaluation_due(spec, epoch):
                progress.evaluating(epoch)
                row.update(evaluation.score(gan, spec.seed))
            rows.append(row)
            log_rows.extend(logged)
            timing_rows.append({"epoch": epoch, "seconds": seconds, "images_per_s": len(data) / seconds,
                                "eval_seconds": time.perf_counter() - eval_started})
            save_epoch_samples(gan, run_dir, epoch, spec.epochs, spec.seed, grid_noise, writeup_fixed)
            save_checkpoint(checkpoint_path, {"gan": gan.state_dict(), "rng": capture_rng(), "epoch": epoch,
                                              "metrics": rows, "log": log_rows, "timings": timing_rows,
                                              "writeup_fixed": writeup_fixed})
            write_csv(run_dir / "metrics.csv", rows, columns)
            write_csv(run_dir / "writeup_log.csv", log_rows, LOG_COLUMNS)
            write_csv(run_dir / "timings.csv", timing_rows, TIMING_COLUMNS)
            manifest["epochs_done"] = epoch
            write_json(manifest_path, manifest)
            progress.end_epoch(row)
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        write_json(manifest_path, manifest)
        raise
    except BaseException as error:
        manifest.update(status="failed", error=f"{type(error).__name__}: {error}")
        write_json(manifest_path, manifest)
        raise
    manifest.update(status="complete", ended_at=_now())
    write_json(manifest_path, manifest)
    outcome = RunOutcome(spec.run_id, run_dir, "complete", spec.epochs, rows[-1] if rows else None)
    progress.end_run(outcome)
    return outcome


def evaluate_run(run_dir: Path, n: int | None, device: torch.device) -> dict:
    """Score a run's last checkpoint again (``study eval``) and store the scores in its last metrics row."""
    manifest_path, checkpoint_path = run_dir / "manifest.json", run_dir / "checkpoints" / "last.pt"
    if not manifest_path.is_file():
        raise StudyError(f"{run_dir} is not a run folder (no manifest.json); pass folders under results/runs/")
    if not checkpoint_path.is_file():
        raise StudyError(f"run {run_dir.name} has no checkpoint ({checkpoint_path}); train it with `study run` first")
    manifest = read_json(manifest_path)
    data = manifest["data"]
    results, data_root = run_dir.parent.parent, Path(data["root"])
    evaluator = load_evaluator(results, data["dataset"])
    reference = Reference.load(results, data_root, data["dataset"], n, evaluator)
    split = load_split(data_root, data["dataset"], data["split"], data["limit"])
    evaluation = RunEvaluation.prepare(reference, split.images, data["split"])
    state = load_checkpoint(checkpoint_path)
    gan = Gan.create(get_variant(manifest["variant"]), frozenset(manifest["fixes"]), device)
    gan.load_state_dict(state["gan"])
    scores = evaluation.score(gan, manifest["seed"])
    state["metrics"][-1].update(scores)
    save_checkpoint(checkpoint_path, state)
    write_csv(run_dir / "metrics.csv", state["metrics"], metric_columns(gan.variant))
    manifest["evaluation"] = {**(manifest.get("evaluation") or {}), **evaluation.describe()}
    write_json(manifest_path, manifest)
    return {"run_id": run_dir.name, "epoch": state["epoch"], **scores}
