"""How long `study run` will take: the plan of its runs, a timed warm-up of each arm's step on this machine, and
the whole command's time left, re-estimated from what the command itself measures as it goes.

Time left = for every run still to train, its optimizer steps left x its arm's seconds per step, plus its scorings
left x the seconds per scoring, plus its epoch ends (samples, checkpoint) and its setup (data, models, memorisation
distances). Before training, seconds per step come from a warm-up of each arm here (a fresh model trained for
WARMUP_SECONDS in ROUNDS rounds taken in turn with the other arms', after a few untimed steps) and seconds per
scoring from one timed scoring; epoch ends and setups are
not known until the first run has them. Once training, every figure is what this command measured: an arm's own
steps (its finished epochs and the one under way); for an arm not trained yet, its warm-up figure times how much
slower than their warm-up the trained arms ran (a machine whose load changed); the mean scoring, epoch end and
setup so far.

Runs trained several at once (--jobs N, Ray, the engine) train out of this process's sight, so their time left is
laid out differently (``RunsForecast``): each run's time alone, as above, spread over the runs that train together
as the executor shares the machine (``Capacity``), then scaled by how much longer than projected the epochs the runs
record took (their timings.csv, read every few seconds), or, where no epoch can be seen, the runs that have ended.
"""
from __future__ import annotations

import csv
import itertools
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import torch

from harness.data import DeviceImages
from harness.errors import StudyError
from harness.evaluator import Tick, unit_images
from harness.planning import RunSpec
from harness.run_folder import COMPLETE
from harness.scoring import ReferenceSet, RunEvaluation
from harness.seed_contract import start_script
from harness.seeding import make_deterministic
from harness.train import Progress, RunOutcome, epoch_steps, evaluation_due, steps_per_epoch

WARMUP_SECONDS = 0.5  # timed steps per arm: long enough to average a fast arm's step over ~100 steps
ROUNDS = 5  # the arms are timed in turn, round after round: a burst of load from other jobs slows one round of
# every arm alike, and each arm's median round leaves it out (on a shared 2-core machine, one epoch here took 7
# times another of the same steps)
UNTIMED_STEPS = 3  # the first steps allocate and warm caches; not what the rest cost


def duration(seconds: float | None) -> str:
    """H:MM:SS as progress bars print it; -:--:-- when not known yet."""
    if seconds is None or math.isnan(seconds):
        return "-:--:--"
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass(frozen=True)
class PlannedRun:
    """What one run of the command has left to do."""

    label: str
    arm: str  # the runs of one arm train at one speed
    steps_per_epoch: int
    epochs: int  # asked for
    first_epoch: int  # epochs it has already (resumed from there); all of them for a complete run it skips
    scored: frozenset[int]  # the epochs it scores at
    run_id: str = ""
    timings: Path | None = None  # where it records its epochs' seconds as it trains (the --force replacement's)

    def scorings_after(self, epoch: int) -> int:
        return sum(e > epoch for e in self.scored)

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * (self.epochs - self.first_epoch)


def epochs_already(spec: RunSpec, force: bool) -> int:
    """Epochs a run has before this command, as train_run will find them: a complete run long enough is skipped,
    an unfinished (or shorter) one resumes from its last epoch, --force starts over."""
    if force or not spec.folder.has_manifest():
        return 0
    try:
        manifest = spec.folder.read_manifest()
    except StudyError:  # train_run refuses it with the reason
        return 0
    if manifest.status == COMPLETE and manifest.epochs_done >= spec.epochs:
        return spec.epochs
    return min(manifest.epochs_done, spec.epochs)


def planned_run(spec: RunSpec, images: int, force: bool) -> PlannedRun:
    recipe = spec.variant.recipe_for(spec.fixes)
    training = spec.folder.replacement() if force else spec.folder
    return PlannedRun(spec.label, spec.arm_name, steps_per_epoch(recipe, images, spec.schedule), spec.epochs,
                      epochs_already(spec, force),
                      frozenset(e for e in range(1, spec.epochs + 1) if evaluation_due(spec, e)),
                      spec.run_id, training.timings_path)


def time_steps(specs: list[RunSpec], images: list[torch.Tensor], tick: Tick | None = None) -> list[float]:
    """Seconds per optimizer step of each spec's arm on this machine: a fresh model (seed 0, eager) per arm, each
    trained UNTIMED_STEPS steps, then all timed in turn for ROUNDS rounds of WARMUP_SECONDS / ROUNDS each; each
    arm's figure is its median round. ``tick`` hears of every round. Every run seeds every generator at its start
    (the seed contract), so this leaves no trace in any run."""
    if specs[0].threads:
        torch.set_num_threads(specs[0].threads)  # as train_run will: a CPU step's time depends on it
    make_deterministic()
    loops = [arm_steps(spec, arm_images) for spec, arm_images in zip(specs, images)]
    rounds: list[list[float]] = [[] for _ in specs]
    for number in range(1, ROUNDS + 1):
        for times, spec, steps in zip(rounds, specs, loops):
            times.append(timed_steps(steps, spec.device, WARMUP_SECONDS / ROUNDS))
        if tick is not None:
            tick(number, ROUNDS)
    return [statistics.median(times) for times in rounds]


def arm_steps(spec: RunSpec, images: torch.Tensor) -> Iterator[torch.Tensor]:
    """Endless optimizer steps of a fresh model of the spec's arm, past the first UNTIMED_STEPS."""
    gan = start_script(spec.variant, spec.fixes, 0, spec.device)
    data = DeviceImages(whole_batches(images, gan.recipe.batch_size), spec.device, gan.recipe.pixel_range,
                        gan.recipe.flatten_real)
    steps = (stats for _ in itertools.count() for _, stats in epoch_steps(gan, data))
    for _ in range(UNTIMED_STEPS):
        next(steps)
    finish(spec.device)
    return steps


def timed_steps(steps: Iterator[torch.Tensor], device: torch.device, seconds: float) -> float:
    """Seconds per step over at least one step and ``seconds``, steps queued as training queues them (the device
    is waited for once, at the end)."""
    started, timed = time.perf_counter(), 0
    while not timed or time.perf_counter() - started < seconds:
        next(steps)
        timed += 1
    finish(device)
    return (time.perf_counter() - started) / timed


def whole_batches(images: torch.Tensor, batch: int) -> torch.Tensor:
    """The images cut, or repeated, to a whole number of batches: the warm-up times full steps, and never meets a
    last batch of one image, which train_run refuses with its own message."""
    count = max(1, len(images) // batch) * batch
    return images.repeat(-(-count // len(images)), 1, 1)[:count]


def finish(device: torch.device) -> None:
    """Wait for the work queued on a GPU (a CPU computes as it goes)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_scoring(spec: RunSpec, references: list[ReferenceSet], images: torch.Tensor) -> float:
    """Seconds one scoring of the spec's run takes here: samples of a fresh generator scored as training scores
    them, by the whole panel, with the memorisation distances (whose per-run medians are left out: they are part
    of a run's setup)."""
    gan = start_script(spec.variant, spec.fixes, 0, spec.device)
    evaluation = RunEvaluation(references, unit_images(images), math.nan, math.nan, 0)
    started = time.perf_counter()
    evaluation.score(gan, spec.seed)
    return time.perf_counter() - started


@dataclass(frozen=True)
class WarmUp:
    """What the warm-up measured: seconds per step of each arm, and of one scoring (0: nothing scores)."""

    step_seconds: dict[str, float]
    scoring_seconds: float


class Forecast:
    """The command's time left, from the plan and the warm-up, corrected by what it measures (see the module's
    docstring). Fed by Forecasting; ``clock`` is replaceable for tests."""

    def __init__(self, plan: list[PlannedRun], warm_up: WarmUp, clock: Callable[[], float] = time.monotonic):
        self.plan, self.warm_up, self.clock = plan, warm_up, clock
        self.trained: dict[str, tuple[int, float]] = {}  # arm -> (steps, seconds) measured in finished epochs
        self.scorings: list[float] = []
        self.epoch_ends: list[float] = []
        self.setups: list[float] = []
        self.index = -1  # the run under way
        self.run_started = self.epoch_started = self.last_step = 0.0
        self.begun = self.in_epoch = self.scoring = False
        self.epoch = self.steps_done = 0

    @property
    def run(self) -> PlannedRun:
        return self.plan[self.index]

    # What the run under way does ----------------------------------------------------------------------------
    def start_run(self, index: int) -> None:
        self.index, self.run_started, self.begun, self.in_epoch = index, self.clock(), False, False

    def begin_run(self, first_epoch: int) -> None:
        self.setups.append(self.clock() - self.run_started)
        self.begun, self.epoch = True, first_epoch

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.steps_done, self.in_epoch, self.scoring = epoch, 0, True, False
        self.epoch_started = self.last_step = self.clock()

    def stepped(self, done: int) -> None:
        self.steps_done, self.last_step = done, self.clock()

    def evaluating(self) -> None:
        self.scoring = True

    def end_epoch(self) -> None:
        steps, seconds = self.trained.get(self.run.arm, (0, 0.0))
        self.trained[self.run.arm] = (steps + self.steps_done, seconds + self.last_step - self.epoch_started)
        (self.scorings if self.scoring else self.epoch_ends).append(self.clock() - self.last_step)
        self.in_epoch = False

    # Seconds ---------------------------------------------------------------------------------------------------
    def slowdown(self) -> float:
        """How much slower than their warm-up the arms trained so far ran (1 before any epoch)."""
        expected = sum(steps * self.warm_up.step_seconds[arm] for arm, (steps, _) in self.trained.items())
        return sum(seconds for _, seconds in self.trained.values()) / expected if expected else 1.0

    def step_seconds(self, arm: str) -> float:
        steps, seconds = self.trained.get(arm, (0, 0.0))
        if self.in_epoch and self.run.arm == arm:  # the epoch under way counts: the first one is all there is
            steps, seconds = steps + self.steps_done, seconds + self.last_step - self.epoch_started
        return seconds / steps if steps else self.warm_up.step_seconds[arm] * self.slowdown()

    def scoring_seconds(self) -> float:
        return statistics.fmean(self.scorings) if self.scorings else self.warm_up.scoring_seconds

    def epoch_end_seconds(self) -> float:
        return statistics.fmean(self.epoch_ends) if self.epoch_ends else 0.0

    def setup_seconds(self) -> float:
        return statistics.fmean(self.setups) if self.setups else 0.0

    def after(self, run: PlannedRun, epoch: int) -> float:
        """Seconds for a run's epochs after ``epoch``: their steps, scorings and epoch ends."""
        epochs, scorings = run.epochs - epoch, run.scorings_after(epoch)
        return epochs * run.steps_per_epoch * self.step_seconds(run.arm) + scorings * self.scoring_seconds() + \
            (epochs - scorings) * self.epoch_end_seconds()

    def epoch_left(self) -> float:
        """Seconds left in the epoch under way: its steps, then its scoring or epoch end."""
        if not self.in_epoch:
            return 0.0
        since = self.clock() - self.last_step
        if self.scoring:
            return max(0.0, self.scoring_seconds() - since)
        steps = (self.run.steps_per_epoch - self.steps_done) * self.step_seconds(self.run.arm)
        return steps + (self.scoring_seconds() if self.epoch in self.run.scored else self.epoch_end_seconds())

    def run_left(self) -> float:
        run = self.run
        if not self.begun:  # still setting up
            setup = max(0.0, self.setup_seconds() - (self.clock() - self.run_started))
            return setup + self.after(run, run.first_epoch)
        return self.epoch_left() + self.after(run, self.epoch)

    def command_left(self) -> float:
        """Seconds left for the whole command: the run under way, and every later run with work left."""
        later = sum(self.setup_seconds() + self.after(run, run.first_epoch)
                    for run in self.plan[self.index + 1:] if run.steps)
        return (self.run_left() if self.index >= 0 else 0.0) + later


class Display(Progress, Protocol):
    def starting(self, index: int) -> None: ...


class Forecasting:
    """The Progress train_run is given: it feeds the forecast what each run does, then lets the display show it
    (the display reads the forecast, so it is fed first)."""

    def __init__(self, forecast: Forecast, display: Display):
        self.forecast, self.display = forecast, display

    def start(self, index: int) -> None:
        self.forecast.start_run(index)
        self.display.starting(index)

    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None:
        self.forecast.begin_run(first_epoch)
        self.display.begin_run(label, epochs, first_epoch, steps)

    def begin_epoch(self, epoch: int) -> None:
        self.forecast.begin_epoch(epoch)
        self.display.begin_epoch(epoch)

    def step(self, done: int, live: Callable[[], dict[str, float]]) -> None:
        self.forecast.stepped(done)
        self.display.step(done, live)

    def evaluating(self, epoch: int) -> None:
        self.forecast.evaluating()
        self.display.evaluating(epoch)

    def end_epoch(self, row: dict) -> None:
        self.forecast.end_epoch()
        self.display.end_epoch(row)

    def end_run(self, outcome: RunOutcome) -> None:
        self.display.end_run(outcome)


@dataclass(frozen=True)
class Capacity:
    """How an executor shares the machine among the runs: at most ``at_once`` train together, and while k of them
    do, each goes at ``speed(k)`` of its speed alone (what the warm-up timed). ``how`` says what is assumed, in the
    plan's words."""

    at_once: int = 1
    cores: int | None = None  # CPU cores the runs share; None: each run has what it asks for (Ray reserves it)
    threads: int = 1  # CPU threads each run computes on
    turns: bool = False  # the runs take turns in one process (the engine): k of them share its time
    how: str = ""

    def speed(self, running: int) -> float:
        if self.turns:
            return 1 / running
        if self.cores is None:
            return 1.0
        return min(1.0, self.cores / (running * self.threads))


def finish_times(durations: list[float], capacity: Capacity) -> list[float]:
    """When each run ends, in seconds from the start, if the runs start in their order as places free up (as a
    process pool, Ray's queue and the engine take them) and each of the k running goes at capacity.speed(k)."""
    left, ends = list(durations), [0.0] * len(durations)
    waiting, running = deque(range(len(durations))), list[int]()
    now = 0.0
    while waiting or running:
        while waiting and len(running) < capacity.at_once:
            running.append(waiting.popleft())
        work = min(left[i] for i in running)  # of its time alone, until the next run ends
        now += work / capacity.speed(len(running))
        for i in running:
            left[i] -= work
        for i in [i for i in running if left[i] <= 0]:
            ends[i] = now
            running.remove(i)
    return ends


def alone_seconds(plan: list[PlannedRun], warm_up: WarmUp) -> list[float]:
    """Each run's time left if it trained alone, at the warm-up's figures."""
    alone = Forecast(plan, warm_up)
    return [alone.after(run, run.first_epoch) if run.steps else 0.0 for run in plan]


class RunsForecast:
    """The command's time left where the runs train elsewhere, several at once (--jobs, Ray, the engine): what each
    run has left of its time alone (``alone_seconds``), laid out over the capacity (``finish_times``) and scaled by
    how much longer than projected the runs' epochs took. A run's time left is its epochs after the last one seen,
    less what it has trained since then (or since it started, if none was seen yet) at the speed it shares. The
    scale is the seconds of every epoch seen (as the run recorded them, its scoring included) over their seconds alone
    at the speed of the runs training beside them; until an epoch is seen, the runs that ended tell it (their time
    from start to end over their projected time: runs whose folders this machine does not see), else the warm-up's
    figures hold. Runs start in their order as places free up, as a process pool, Ray's queue and the engine take
    them. A failed run has nothing left. ``clock`` is replaceable for tests."""

    def __init__(self, plan: list[PlannedRun], warm_up: WarmUp, capacity: Capacity,
                 clock: Callable[[], float] = time.monotonic):
        self.plan, self.capacity, self.clock = plan, capacity, clock
        self.at_warm_up = Forecast(plan, warm_up)  # never fed: each run's seconds at the warm-up's figures
        self.alone = alone_seconds(plan, warm_up)
        self.epochs = [run.first_epoch for run in plan]  # each run's epochs, as far as they have been seen
        self.seen_at: list[float | None] = [None] * len(plan)  # when each was last seen further on
        self.ended = [False] * len(plan)
        self.started = clock()
        self.started_at = {i: self.started for i in range(min(capacity.at_once, len(plan)))}
        self.measured = self.expected = 0.0  # seconds of the epochs seen: as they took, as projected
        self.ends_scale: float | None = None

    def index_of(self, run_id: str) -> int | None:
        return next((i for i, run in enumerate(self.plan) if run.run_id == run_id), None)

    def training(self) -> int:
        """How many runs are training now (at least one)."""
        return max(1, sum(1 for i in self.started_at if not self.ended[i]))

    def recorded(self, index: int, epochs: list[tuple[int, float]]) -> bool:
        """Run ``index`` recorded these (epoch, seconds) so far; True when some were not seen before."""
        run = self.plan[index]
        new = [(epoch, seconds) for epoch, seconds in epochs if self.epochs[index] < epoch <= run.epochs]
        if not new or self.ended[index]:
            return False
        share = self.capacity.speed(self.training())
        for epoch, seconds in new:
            self.measured += seconds
            self.expected += (self.at_warm_up.after(run, epoch - 1) - self.at_warm_up.after(run, epoch)) / share
        self.epochs[index], self.seen_at[index] = max(epoch for epoch, _ in new), self.clock()
        return True

    def run_ended(self, index: int | None, trained: bool) -> None:
        """A run ended; ``trained``: it had work (a complete run skipped has none, and tells nothing)."""
        if index is None or self.ended[index]:
            return
        if trained and index in self.started_at and self.alone[index] > 0:
            took = self.clock() - self.started_at[index]
            projected = self.alone[index] / self.capacity.speed(self.training())
            self.ends_scale = took / projected
        self.epochs[index] = self.plan[index].epochs
        self.end(index)

    def run_failed(self, index: int | None) -> None:
        """A run stopped: what it had left will not be trained."""
        if index is not None and not self.ended[index]:
            self.end(index)

    def end(self, index: int) -> None:
        self.ended[index] = True
        waiting = next((i for i in range(len(self.plan)) if i not in self.started_at), None)
        if waiting is not None:  # its place goes to the next run in order
            self.started_at[waiting] = self.clock()

    @property
    def scale(self) -> float:
        if self.expected > 0:
            return self.measured / self.expected
        return self.ends_scale if self.ends_scale is not None else 1.0

    def left_alone(self, index: int) -> float:
        """Run ``index``'s time alone still to train."""
        if self.ended[index]:
            return 0.0
        left = self.at_warm_up.after(self.plan[index], self.epochs[index])
        since = self.seen_at[index] if self.seen_at[index] is not None else self.started_at.get(index)
        if since is not None:  # training since: at the speed it shares, as slow as the scale says
            left -= (self.clock() - since) * self.capacity.speed(self.training()) / self.scale
        return max(0.0, left)

    def command_left(self) -> float:
        lefts = [self.left_alone(i) for i in range(len(self.plan))]
        return self.scale * max(finish_times(lefts, self.capacity), default=0.0)

    def epoch_counts(self) -> tuple[int, int]:
        """The runs' epochs as far as they have been seen, and those asked for."""
        return sum(self.epochs), sum(run.epochs for run in self.plan)

    def epochs_line(self) -> str:
        seen, asked = self.epoch_counts()
        return f"epochs {seen:,} of {asked:,}"

    def watch_epochs(self) -> bool:
        """Read the epochs every run training now has recorded; True when a run was seen further on."""
        moved = False
        for index, run in enumerate(self.plan):
            if run.timings is not None and index in self.started_at and not self.ended[index]:
                moved |= self.recorded(index, recorded_epochs(run.timings))
        return moved


def recorded_epochs(timings: Path) -> list[tuple[int, float]]:
    """(epoch, seconds with its scoring) of each epoch a timings.csv records; none while it is not written yet."""
    try:
        with timings.open(newline="") as file:
            return [(int(row["epoch"]), float(row["seconds"]) + float(row["eval_seconds"] or 0))
                    for row in csv.DictReader(file)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


@dataclass(frozen=True)
class Projection:
    """What the plan and its projection are made of, measured before the executor starts."""

    plan: list[PlannedRun]
    warm_up: WarmUp
    device: str
    eval_n: list[int]


def projected_seconds(projection: Projection, capacity: Capacity) -> float:
    """The command's time at the warm-up's figures, the runs laid out as the executor shares the machine."""
    return max(finish_times(alone_seconds(projection.plan, projection.warm_up), capacity), default=0.0)


def plan_lines(projection: Projection, capacity: Capacity, per_step: bool) -> list[str]:
    """The plan and its projected time, each figure with where it comes from; ``per_step``: the time left shown
    while training follows each step (runs trained here one at a time), else only each run's end."""
    plan, warm_up = projection.plan, projection.warm_up
    resumed = sum(0 < run.first_epoch < run.epochs for run in plan)
    skipped = sum(run.first_epoch >= run.epochs for run in plan)
    steps = sum(run.steps for run in plan)
    scorings = sum(run.scorings_after(run.first_epoch) for run in plan)
    lines = [f"plan: {len(plan)} runs: {len(plan) - resumed - skipped} to train, {resumed} to resume, {skipped} "
             f"complete (skipped); {steps:,} optimizer steps, {scorings:,} scorings"
             + (f" of {', '.join(map(str, projection.eval_n))} images" if scorings else "")]
    if not steps:
        return lines
    lines.append(f"projected: {duration(projected_seconds(projection, capacity))} on {projection.device}, from a "
                 f"warm-up timed here just now:")
    for arm in dict.fromkeys(run.arm for run in plan if run.steps):
        arm_steps = sum(run.steps for run in plan if run.arm == arm)
        seconds = warm_up.step_seconds[arm]
        lines.append(f"  {arm}: {1000 * seconds:.3g} ms/step x {arm_steps:,} steps = {duration(seconds * arm_steps)}")
    if scorings:
        lines.append(f"  scoring: {warm_up.scoring_seconds:.3g} s x {scorings:,} = "
                     f"{duration(warm_up.scoring_seconds * scorings)}")
    if capacity.how:
        lines.append(f"  {capacity.how}")
    lines.append("  not yet counted: each run's setup and epoch ends, timed on the first run (the ETA shown while "
                 "training counts them, and every figure as measured)" if per_step else
                 "  not yet counted: each run's setup and epoch ends; the time left shown while training is scaled "
                 "by how long the runs took to reach each epoch they record, and their ends")
    return lines
