"""The training driver: one run = (variant, fixes, dataset, split, limit, schedule, seed), trained epoch by epoch,
resumable.

Two parts: the epoch loop (``train_epochs``: each epoch's steps, its statistics, its scores when due) and the run
session (``RunSession``: the bookkeeping of one attempt at a run, apart from the loop: where it starts, afresh or
from its checkpoint, its manifest and status, and what each finished epoch leaves in the run folder). Before either,
``training`` locks the run and decides whether to skip it (complete; its tables repaired from its checkpoint if
damaged), resume it or train it afresh, and refuses what would change its numbers.

Per-step statistics stay on the device and are read once per epoch (and when the progress bar refreshes). After
each epoch the run folder gets metrics.csv, writeup_log.csv, timings.csv, sample grids and a checkpoint holding the
models, optimizers, every RNG state and the tables, so an interrupted run resumes to the same bytes. A run's work
pauses after every step (``Turns``): alone it runs straight through, in the engine (harness/engine.py) it takes
turns with other runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterable, Iterator, Protocol, TypeVar

import torch

from harness.config import resolve_recorded_root
from harness.data import BatchOrder, DeviceImages, Split, images_sha256, load_split
from harness.errors import StudyError
from harness.evaluator import ensure_panel, load_panel
from harness.planning import RunSpec
from harness.run_folder import (
    COMPLETE,
    STAT_NAMES,
    Checkpoint,
    DataRecord,
    EvaluationRecord,
    Manifest,
    RunFolder,
    epoch_statistics,
    metric_columns,
    now,
    printed_step,
    refuse_results_inside_a_run,
    step_means,
)
from harness.sampling import fixed_noise, save_epoch_samples
from harness.scoring import RunEvaluation, ensure_calibration, load_references
from harness.seed_contract import make_draws, second_run, start_script
from harness.seeding import (
    SEED_CONTRACT,
    capture_rng,
    device_description,
    make_deterministic,
    restore_rng,
    rng_untouched,
)
from harness.steps import Gan, latent_sizes, train_step
from harness.storage import check_writable, code_version, library_versions, write_json
from harness.tensorboard import EpochLogger, epoch_logger
from harness.variant import Recipe, Variant

T = TypeVar("T")
# A run's work as a generator that pauses (yields None) after every training step and returns its result. Alone it
# runs to its end at once (``to_end``); the engine (harness/engine.py) resumes many runs in turn at those pauses.
Turns = Generator[None, None, T]


def to_end(turns: Turns[T]) -> T:
    """Run work that pauses to its end, without pausing."""
    try:
        while True:
            next(turns)
    except StopIteration as finished:
        return finished.value
    except BaseException as error:  # e.g. Ctrl-C that arrived between two steps, while the run was paused
        end_paused(turns, error)
        raise


def end_paused(turns: Turns, error: BaseException) -> None:
    """End a paused run as if ``error`` had arrived inside its step: raised at its pause, so its folder says
    interrupted (or failed) and its lock is released now, not when the generator is garbage-collected (which
    would close it with GeneratorExit and record that as the run's failure)."""
    if inspect.getgeneratorstate(turns) == inspect.GEN_SUSPENDED:
        with contextlib.suppress(BaseException):  # the run re-raises it: the caller raises it once, itself
            turns.throw(error)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    folder: RunFolder
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


# The epoch loop -----------------------------------------------------------------------------------------------------
def _live_means(totals: torch.Tensor, steps: int) -> dict[str, float]:
    return step_means(totals.tolist(), steps)


def _epoch_row(variant: Variant, epoch: int, totals: list[float], last: list[float], steps: int,
               images: int) -> dict:
    """metrics.csv's row of an epoch as training writes it: its statistics, then the write-up's own columns."""
    row = epoch_statistics(totals, last, {"epoch": epoch, "steps": steps, "images": images})
    row.update({name: compute(row) for name, compute in variant.writeup_columns.items()})
    return row


def steps_per_epoch(recipe: Recipe, images: int, schedule: str) -> int:
    """Equal epochs: one pass over the available images. Step-matched: as many steps as the original's epoch over
    its own training set had."""
    return math.ceil((recipe.original_images if schedule == "steps" else images) / recipe.batch_size)


def epoch_steps(gan: Gan, data: DeviceImages, order: BatchOrder | None = None, steps: int | None = None,
                ahead: bool = False) -> Iterator[tuple[int, torch.Tensor]]:
    """One epoch in the original DataLoader's batch order: (step, statistics) per step, nothing read back. By
    default one pass over the images; ``step`` counts from 0 in each epoch, as the originals' loops do. The
    variant's draws at the epoch's start and end are made here (seed contract), the latter once the last step is
    taken. ``ahead``: the epoch's batch order and noise are drawn before its first step (``plan_epoch``)."""
    order = order or BatchOrder(len(data), gan.recipe.batch_size, gan.recipe.shuffle, gan.device)
    steps = steps or math.ceil(len(data) / gan.recipe.batch_size)
    gan.drawn.update(make_draws(gan.variant, gan.fixes, "epoch-start", gan.generator))
    batches: Iterable[torch.Tensor]
    latent: Callable[[int], torch.Tensor]
    batches, latent = plan_epoch(gan, order, steps) if ahead else (order.batches(steps), gan.latent)
    for step, indices in enumerate(batches):
        yield step, train_step(gan, data.batch(indices), step, latent)
    gan.drawn.update(make_draws(gan.variant, gan.fixes, "epoch-end", gan.generator))


class PlannedNoise:
    """An epoch's latent noise drawn ahead, handed to its steps in drawing order (a step's ``latent``)."""

    def __init__(self, noise: torch.Tensor):
        self.noise, self.used = noise, 0

    def __call__(self, n: int) -> torch.Tensor:
        self.used += n
        return self.noise[self.used - n:self.used]


def plan_epoch(gan: Gan, order: BatchOrder, steps: int) -> tuple[list[torch.Tensor], PlannedNoise]:
    """The epoch's batches and latent noise drawn before its first step, in the order per-step drawing makes those
    draws (a pass's DataLoader draws as the previous pass runs out, then each step's noise), the noise moved to the
    device in one copy: what a captured step needs, static inputs. It equals per-step drawing when the steps draw
    nothing else from the same streams: on CUDA always (dropout draws from the device's generator); on the CPU
    unless a pass starts after the epoch's first step of a variant with dropout (udacity, nll-softmax under
    --schedule steps), whose masks come from the stream of that pass's DataLoader draw (tests/test_engine.py)."""
    batches: list[torch.Tensor] = []
    noise: list[torch.Tensor] = []
    for indices in order.batches(steps):
        batches.append(indices)
        noise.extend(gan.recipe.latent.sample(size) for size in latent_sizes(gan.recipe, len(indices)))
    return batches, PlannedNoise(torch.cat(noise).to(gan.device))


def run_epoch(gan: Gan, data: DeviceImages, order: BatchOrder, steps: int, epoch: int,
              progress: Progress) -> Turns[tuple[dict, list[dict], float]]:
    """One epoch, pausing after every step (see ``Turns``); returns its metrics row, its logged steps and the
    seconds it computed, the pauses left out (in the engine other runs' turns fall into them)."""
    logged_steps = set(gan.variant.log_every(steps))
    totals = torch.zeros(len(STAT_NAMES), device=gan.device)
    logged: dict[int, torch.Tensor] = {}
    stats = totals
    seconds, resumed = 0.0, time.perf_counter()
    for step, stats in epoch_steps(gan, data, order, steps):
        totals += stats
        if step in logged_steps:
            logged[step] = stats
        progress.step(step + 1, functools.partial(_live_means, totals, step + 1))
        seconds += time.perf_counter() - resumed
        yield
        resumed = time.perf_counter()
    row = _epoch_row(gan.variant, epoch, totals.tolist(), stats.tolist(), steps, len(data))
    log_rows = [{"epoch": epoch, "step": step, **printed_step(values.tolist())}
                for step, values in sorted(logged.items())]
    return row, log_rows, seconds + time.perf_counter() - resumed


def evaluation_due(spec: RunSpec, epoch: int) -> bool:
    """Every eval_every epochs, at the last epoch, and at each epoch a claim of the write-up looks at."""
    return bool(spec.eval_every) and (epoch % spec.eval_every == 0 or epoch == spec.epochs
                                      or epoch in spec.variant.claim_epochs)


def train_epochs(spec: RunSpec, gan: Gan, data: DeviceImages, session: RunSession,
                 progress: Progress) -> Turns[RunOutcome]:
    """The epochs of the run that ``session`` has not recorded yet: each trained (pausing after every step, see
    ``Turns``), scored when due, and handed to the session to record."""
    steps = steps_per_epoch(gan.recipe, len(data), spec.schedule)
    order = BatchOrder(len(data), gan.recipe.batch_size, gan.recipe.shuffle, spec.device, session.pending)
    second_run_after = gan.recipe.second_run_after
    with session:
        progress.begin_run(spec.label, spec.epochs, session.epochs_done, steps)
        for epoch in range(session.epochs_done + 1, spec.epochs + 1):
            progress.begin_epoch(epoch)
            if epoch - 1 == second_run_after:  # e.g. infogan's 40 epochs: train.py run twice
                gan = second_run(gan, spec.seed, spec.compile)
                order = BatchOrder(len(data), gan.recipe.batch_size, gan.recipe.shuffle, spec.device)
            row, logged, seconds = yield from run_epoch(gan, data, order, steps, epoch, progress)
            eval_started = time.perf_counter()
            if session.evaluation is not None and evaluation_due(spec, epoch):
                progress.evaluating(epoch)
                row.update(session.evaluation.score(gan, spec.seed))
            session.end_epoch(gan, order, row, logged, {"epoch": epoch, "seconds": seconds,
                                                        "images_per_s": len(data) / seconds,
                                                        "eval_seconds": time.perf_counter() - eval_started})
            progress.end_epoch(row)
    return session.outcome()


# The run session ----------------------------------------------------------------------------------------------------
def prepare_evaluation(spec: RunSpec, split: Split) -> RunEvaluation | None:
    """The run's scoring, made after the run is seeded: building the evaluators' networks (and a first calibration)
    must leave the original's streams as they were."""
    if not spec.eval_every:
        return None
    with rng_untouched():
        panel = ensure_panel(spec.results, spec.data_root, spec.dataset, spec.split)
        available = panel[0][1].reference_images
        references = load_references(spec.results, spec.data_root, spec.dataset, min(spec.eval_samples, available),
                                     panel)
        ensure_calibration(spec.results, spec.data_root, references)  # the floor and ceiling of this n, for the report
        return RunEvaluation.prepare(references, split.images, spec.split)


def _manifest(spec: RunSpec, recipe: Recipe, split: Split, previous: Manifest | None,
              evaluation: RunEvaluation | None, epochs_done: int) -> Manifest:
    quirks = [{"name": q.name, "status": q.status, "fix": q.fix, "fixed": q.fix in spec.fixes, "what": q.what}
              for q in spec.variant.quirks]
    fixes, alternatives = spec.variant.split_toggles(spec.fixes)
    return Manifest(
        run_id=spec.run_id, status="running", variant=spec.variant.name, writeup=spec.variant.writeup,
        fixes=list(fixes), alternatives=list(alternatives), schedule=spec.schedule, seed_contract=SEED_CONTRACT,
        steps_per_epoch=steps_per_epoch(recipe, len(split.images), spec.schedule), quirks=quirks,
        seed=spec.seed, recipe=dataclasses.asdict(recipe),
        epochs_requested=spec.epochs, epochs_done=epochs_done,
        data=DataRecord(dataset=spec.dataset, split=spec.split, images=len(split.images), limit=spec.limit,
                        root=str(spec.data_root.absolute()), files=list(split.files),
                        sha256=images_sha256(split.images)),
        device=device_description(spec.device), device_type=spec.device.type,
        cpu_threads=torch.get_num_threads(), compiled=spec.compile,
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
        versions=library_versions(), code_version=code_version(),
        evaluation=evaluation.record(spec.eval_every) if evaluation else None,
        started_at=previous.started_at if previous else now(),
        resumed_at=(previous.resumed_at + [now()]) if previous else [])


def _check_resumable(spec: RunSpec, previous: Manifest) -> None:
    """Resuming must not change the numbers: same device type, and on CPU the same thread count (oneDNN's
    convolutions sum in a thread-dependent order). Its finished epochs continue from its checkpoint only; without
    one, starting again at epoch 1 would silently overwrite their tables."""
    if previous.epochs_done and not spec.folder.checkpoint_path.is_file():
        raise StudyError(f"run {spec.run_id} has {previous.epochs_done} finished epochs but no checkpoint to resume "
                         f"them from ({spec.folder.checkpoint_path}); put it back, or pass --force to retrain the "
                         f"run from epoch 1 (the old one stays in place until the new one is complete)")
    if previous.device_type != spec.device.type:
        raise StudyError(f"run {spec.run_id} was trained on {previous.device_type}, not {spec.device.type}; "
                         f"resume it with --device {previous.device_type} or pass --force to retrain it")
    if previous.compiled != spec.compile:
        flag = "with" if previous.compiled else "without"
        raise StudyError(f"run {spec.run_id} was trained {flag} --compile; resume it {flag} --compile or pass "
                         f"--force to retrain it")
    if spec.device.type == "cpu" and previous.cpu_threads != torch.get_num_threads():
        raise StudyError(f"run {spec.run_id} was trained with {previous.cpu_threads} CPU threads, not "
                         f"{torch.get_num_threads()}; resume it with --threads {previous.cpu_threads} or pass "
                         f"--force to retrain it")


def train_run(spec: RunSpec, progress: Progress | None = None, force: bool = False) -> RunOutcome:
    """Train (or resume, or skip) one run. Raises StudyError for bad input; KeyboardInterrupt leaves it resumable.
    The run is locked for the whole call: one writer per run folder."""
    return to_end(training(spec, progress, force))


def training(spec: RunSpec, progress: Progress | None = None, force: bool = False) -> Turns[RunOutcome]:
    """What ``train_run`` does, pausing after every training step; the run stays locked while paused."""
    progress = progress or SilentProgress()
    if spec.threads:
        torch.set_num_threads(spec.threads)
    if spec.limit is not None:
        _check_batches(spec, spec.limit)  # refused before any folder is made
    refuse_results_inside_a_run(spec.results)
    check_writable(spec.results)
    spec.folder.check_path_room()
    with spec.folder.locked("trained"):
        spec.folder.settle_replacement()
        previous = _previous_attempt(spec, force)
        if previous is not None and previous.status == COMPLETE and previous.epochs_done >= spec.epochs:
            _repair_tables(spec, previous)
            outcome = RunOutcome(spec.run_id, spec.folder, "skipped", previous.epochs_done, None)
        else:
            split = load_split(spec.data_root, spec.dataset, spec.split, spec.limit)  # fail on data before writing
            _check_batches(spec, len(split.images))
            if previous is not None and previous.epochs_done:  # epochs to resume from
                _check_same_data(spec.run_id, previous, split, spec.data_root)
            outcome = yield from _train_in_place_or_beside(spec, split, previous, progress, force)
        progress.end_run(outcome)
        return outcome


def _train_in_place_or_beside(spec: RunSpec, split: Split, previous: Manifest | None, progress: Progress,
                              force: bool) -> Turns[RunOutcome]:
    """--force over an existing run trains beside it and swaps the new run in once it is complete: the old run
    stays whole and in place whatever is killed when."""
    if not (force and spec.folder.path.exists()):
        return (yield from _train(spec, split, previous, progress, spec.folder))
    outcome = yield from _train(spec, split, None, progress, spec.folder.replacement())
    spec.folder.swap_in(spec.folder.replacement())
    return dataclasses.replace(outcome, folder=spec.folder)


def _previous_attempt(spec: RunSpec, force: bool) -> Manifest | None:
    """The manifest of an earlier attempt at this run, when it is to be resumed or skipped."""
    if force or not spec.folder.has_manifest():
        return None
    try:
        previous = spec.folder.read_manifest()
    except StudyError as error:
        raise StudyError(f"run {spec.run_id} cannot be resumed: {error}; pass --force to retrain it") from None
    if previous.seed_contract != SEED_CONTRACT:
        raise StudyError(f"run {spec.run_id} was trained under seed contract {previous.seed_contract}, not "
                         f"{SEED_CONTRACT} (its seed drew other numbers); pass --force to retrain it")
    if previous.status != COMPLETE and previous.epochs_done > spec.epochs:
        raise StudyError(f"run {spec.run_id} already has {previous.epochs_done} epochs, more than the {spec.epochs} "
                         f"asked for; pass --epochs {previous.epochs_requested} to finish it, or --force to "
                         f"retrain it with {spec.epochs}")
    if previous.status != COMPLETE or previous.epochs_done < spec.epochs:
        _check_resumable(spec, previous)
    return previous


def _check_same_data(run_id: str, previous: Manifest, split: Split, data_root: Path) -> None:
    """The images must be the ones the run started on. A run of an older version recorded no hash, so nothing could
    show that: it is refused rather than continued unchecked."""
    recorded, now_there = previous.data.sha256, images_sha256(split.images)
    if not recorded:
        raise StudyError(f"run {run_id} was trained by an older version of the suite, which recorded no hash of its "
                         f"training images, so they cannot be checked; retrain it with `study run --force`")
    if recorded != now_there:
        raise StudyError(f"run {run_id} was trained on images with SHA-256 {recorded[:12]}, but {data_root} now "
                         f"gives {now_there[:12]} ({', '.join(split.files)}); pass the --data-root it was trained "
                         f"from ({previous.data.root}), or --force to retrain it")


def _check_same_scoring(spec: RunSpec, previous: Manifest, evaluation: RunEvaluation | None) -> None:
    """A resumed run scores its new epochs as it scored its earlier ones: scoring on or off, same evaluator and
    n (how often it scores may change: more epochs make 'auto' score less often)."""
    was, now_is = previous.evaluation, evaluation.record(spec.eval_every) if evaluation else None
    retrain = f"pass --force to retrain run {spec.run_id}"
    if (was is None) != (now_is is None):
        state = "on" if was else "off"
        raise StudyError(f"run {spec.run_id} was trained with scoring {state}; resume it with scoring {state} "
                         f"(--eval-every {'auto' if was else 0}) or {retrain}")
    if was is None or now_is is None:
        return
    _check_same_evaluators(spec.run_id, was, now_is.panel, spec.results)
    if was.n_fake != now_is.n_fake:
        raise StudyError(f"run {spec.run_id} was scored with {was.n_fake} samples, not {now_is.n_fake}; resume it "
                         f"with --eval-samples {was.n_fake} or {retrain}")


def _load_models(gan: Gan, checkpoint: Checkpoint, folder: RunFolder) -> None:
    try:
        gan.load_state_dict(checkpoint.gan)
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StudyError(f"checkpoint {folder.checkpoint_path} does not hold {gan.variant.name}'s models ({first}); "
                         f"put back the run's own checkpoint or pass --force to retrain it") from None


def _repair_tables(spec: RunSpec, manifest: Manifest) -> None:
    """A finished run's CSV tables must say what its checkpoint holds; damaged ones are rewritten from it."""
    folder = spec.folder
    if folder.tables_match(manifest.epochs_done):
        return
    if not folder.checkpoint_path.is_file():
        raise StudyError(f"run {spec.run_id}: metrics.csv does not hold epochs 1-{manifest.epochs_done} and there is "
                         f"no checkpoint to repair it from; pass --force to retrain it")
    checkpoint = folder.read_checkpoint(spec.run_id)  # another run's checkpoint must not rewrite this one's tables
    folder.write_tables(checkpoint.metrics, metric_columns(list(spec.variant.writeup_columns)), checkpoint.log,
                        checkpoint.timings)


def _check_batches(spec: RunSpec, images: int) -> None:
    """No write-up ever trains on a batch of one image, and three cannot (train-mode BatchNorm, and nll-softmax's
    squeeze() of D's output): refuse an image count that leaves one over."""
    batch = spec.variant.recipe_for(spec.fixes).batch_size
    if images % batch == 1:
        raise StudyError(f"{images} images in batches of {batch} leave a last batch of 1 image, which the "
                         f"write-ups never train on (BatchNorm and squeeze() fail on it); use --limit "
                         f"{' or '.join(str(n) for n in (images - 1, images + 1) if n >= 2)}")


def _train(spec: RunSpec, split: Split, previous: Manifest | None, progress: Progress,
           folder: RunFolder) -> Turns[RunOutcome]:
    make_deterministic()
    gan = start_script(spec.variant, spec.fixes, spec.seed, spec.device, spec.compile)
    session = RunSession(spec, folder, split, previous, gan)
    data = DeviceImages(split.images, spec.device, gan.recipe.pixel_range, gan.recipe.flatten_real)
    return (yield from train_epochs(spec, gan, data, session, progress))


class RunSession:
    """One attempt at a run: its bookkeeping, apart from the epoch loop (``train_epochs``). Made before the loop:
    the fixed noise of its sample grids, its scoring, and, resuming, the checkpoint's models, RNG streams and tables
    (the tables written again from it: the checkpoint is the truth). While the loop runs (``with session``), the
    manifest says running, then how the attempt ended; ``end_epoch`` records each finished epoch."""

    manifest: Manifest  # while the loop runs
    log_epoch: EpochLogger

    def __init__(self, spec: RunSpec, folder: RunFolder, split: Split, previous: Manifest | None, gan: Gan):
        self.spec, self.folder, self.split, self.previous, self.recipe = spec, folder, split, previous, gan.recipe
        self.grid_noise = fixed_noise(gan, spec.seed)
        self.evaluation = prepare_evaluation(spec, split)
        self.columns = metric_columns(list(spec.variant.writeup_columns))
        self.rows: list[dict] = []
        self.log_rows: list[dict] = []
        self.timing_rows: list[dict] = []
        self.epochs_done = 0
        self.pending: torch.Tensor | None = None  # the rest of the pass the last epoch ended inside
        self._open = contextlib.ExitStack()
        if previous is not None and previous.epochs_done:  # its checkpoint was checked to exist
            _check_same_scoring(spec, previous, self.evaluation)
            self._resume(gan)

    def _resume(self, gan: Gan) -> None:
        checkpoint = self.folder.read_checkpoint(self.spec.run_id)
        _load_models(gan, checkpoint, self.folder)
        restore_rng(checkpoint.rng)
        self.epochs_done, self.pending = checkpoint.epoch, checkpoint.pending_batches
        self.rows, self.log_rows, self.timing_rows = checkpoint.metrics, checkpoint.log, checkpoint.timings
        self.folder.write_tables(self.rows, self.columns, self.log_rows, self.timing_rows)

    def __enter__(self) -> RunSession:
        manifest = _manifest(self.spec, self.recipe, self.split, self.previous, self.evaluation, self.epochs_done)
        with contextlib.ExitStack() as opening:  # what opened is closed again if the rest fails to open
            self.manifest = opening.enter_context(self.folder.recording(manifest))
            self.log_epoch = opening.enter_context(epoch_logger(self.folder, self.spec.tensorboard))
            self._open = opening.pop_all()
        return self

    def __exit__(self, *error: Any) -> bool | None:
        return self._open.__exit__(*error)

    def end_epoch(self, gan: Gan, order: BatchOrder, row: dict, logged: list[dict], timing: dict) -> None:
        """A finished epoch into the run folder: its rows, sample grids, the checkpoint, the manifest's count of
        epochs done and TensorBoard."""
        epoch = row["epoch"]
        self.rows.append(row)
        self.log_rows.extend(logged)
        self.timing_rows.append(timing)
        save_epoch_samples(gan, self.folder, epoch, self.spec.epochs, self.spec.seed, self.grid_noise)
        self.folder.write_checkpoint(Checkpoint(self.spec.run_id, epoch, gan.state_dict(), capture_rng(), self.rows,
                                                self.log_rows, self.timing_rows, order.pending.cpu()))
        self.folder.write_tables(self.rows, self.columns, self.log_rows, self.timing_rows)
        self.epochs_done = self.manifest.epochs_done = epoch
        self.folder.write_manifest(self.manifest)
        self.log_epoch(row, self.folder.sample_path(epoch))

    def outcome(self) -> RunOutcome:
        return RunOutcome(self.spec.run_id, self.folder, "complete", self.spec.epochs,
                          self.rows[-1] if self.rows else None)


# `study eval` -------------------------------------------------------------------------------------------------------
def evaluate_run(folder: RunFolder, variant_named: Callable[[str], Variant], n: int | None,
                 device: torch.device, data_root: Path | None = None) -> dict:
    """Score a run's last checkpoint again (``study eval``) and store the scores in its last metrics row (an
    unfinished run's go to eval.json beside its tables).
    ``variant_named`` looks the run's variant up in the registry; ``data_root`` overrides the recorded one. A run
    being trained is refused (it is locked), so scoring never rewinds a run."""
    if not folder.has_manifest():
        raise StudyError(f"{folder.path} is not a run folder (no manifest.json); pass folders under results/runs/")
    with folder.locked("scored"):
        return _evaluate(folder, variant_named, n, device, data_root)


def _check_same_evaluators(run_id: str, evaluation: EvaluationRecord | None, panel_sha256: list[str],
                           results: Path) -> None:
    """Scores are comparable only within one evaluator: a run keeps the panel it was first scored with."""
    if evaluation is not None and evaluation.panel != panel_sha256:
        raise StudyError(f"run {run_id} was scored with evaluators {', '.join(h[:12] for h in evaluation.panel)}, "
                         f"but those under {results / 'evaluators'} are now "
                         f"{', '.join(h[:12] for h in panel_sha256)}; put the run's evaluators back to score it, or "
                         f"retrain it with `study run --force`")


def _evaluate(folder: RunFolder, variant_named: Callable[[str], Variant], n: int | None, device: torch.device,
              data_root: Path | None) -> dict:
    if not folder.checkpoint_path.is_file():
        raise StudyError(f"run {folder.run_id} has no checkpoint ({folder.checkpoint_path}); train it with `study "
                         f"run` first")
    manifest = folder.read_manifest()
    variant = variant_named(manifest.variant)
    data, results = manifest.data, folder.results
    data_root = resolve_recorded_root(data_root, Path(data.root))
    panel = load_panel(results, data.dataset)
    references = load_references(results, data_root, data.dataset, n, panel)
    split = load_split(data_root, data.dataset, data.split, data.limit)
    _check_same_data(manifest.run_id, manifest, split, data_root)
    _check_same_evaluators(manifest.run_id, manifest.evaluation, [info.sha256 for _, info in panel], results)
    evaluation = RunEvaluation.prepare(references, split.images, data.split)
    checkpoint = folder.read_checkpoint(manifest.run_id)
    gan = Gan.create(variant, frozenset(manifest.fixes) | frozenset(manifest.alternatives), device)
    _load_models(gan, checkpoint, folder)
    scores = evaluation.score(gan, manifest.seed)
    eval_every = manifest.evaluation.eval_every if manifest.evaluation else None  # training's, kept
    if manifest.status != COMPLETE:  # the run resumes later: its tables must stay what training wrote
        write_json(folder.eval_path, {"run_id": manifest.run_id, "epoch": checkpoint.epoch, "scores": scores,
                                      "evaluation": dataclasses.asdict(evaluation.record(eval_every))})
        return {"run_id": folder.run_id, "epoch": checkpoint.epoch, **scores}
    checkpoint.metrics[-1].update(scores)
    folder.write_checkpoint(checkpoint)
    folder.write_tables(checkpoint.metrics, metric_columns(list(variant.writeup_columns)), checkpoint.log,
                        checkpoint.timings)
    manifest.evaluation = evaluation.record(eval_every)
    folder.write_manifest(manifest)
    return {"run_id": folder.run_id, "epoch": checkpoint.epoch, **scores}
