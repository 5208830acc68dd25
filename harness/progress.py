"""What a person sees while runs train and long steps work: rich progress bars on a terminal; plain timed lines
when output goes to a file or a pipe (a bar there prints nothing), at least one every LINE_SECONDS while anything
moves; or one line per finished run with --quiet. Times left come from harness.forecast."""
from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterable, Iterator, Self

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from harness.evaluator import Tick
from harness.forecast import (
    Capacity,
    Forecast,
    Forecasting,
    Projection,
    RunsForecast,
    duration,
    plan_lines,
    projected_seconds,
)
from harness.listing import paragraph, print_lines, text_width
from harness.train import RunOutcome, RunSpec, SilentProgress

REFRESH_SECONDS = 0.5  # live losses are read from the device at most this often
LINE_SECONDS = 5.0  # off a terminal, a line at least this often while a long step moves
WATCH_SECONDS = 5.0  # how often the timings.csv of runs trained elsewhere are read for their epochs


def summary_line(outcome: RunOutcome) -> str:
    epochs = f"{outcome.epochs_done} epoch{'s' if outcome.epochs_done != 1 else ''}"
    if outcome.status == "skipped":
        return f"{outcome.run_id}: already complete ({epochs}), skipped; --force retrains it"
    row = outcome.last_row or {}
    fid = f" FID {row['fid']:.2f}" if "fid" in row else ""
    return (f"{outcome.run_id}: complete, {epochs}, d_loss {row.get('d_loss', float('nan')):.4f}"
            f" g_loss {row.get('g_loss', float('nan')):.4f}{fid} -> {outcome.folder.path}")


class QuietProgress(SilentProgress):
    """Nothing while training; one line per finished run."""

    def __init__(self, console: Console):
        self.console = console

    def end_run(self, outcome: RunOutcome) -> None:
        self.console.print(summary_line(outcome), highlight=False, soft_wrap=True)


def time_left(forecast: Forecast) -> str:
    """The run's and the command's time left, for a plain line."""
    return f"; run {forecast.index + 1} of {len(forecast.plan)}, {duration(forecast.run_left())} left in it, " \
           f"{duration(forecast.command_left())} in the command"


class LineProgress(QuietProgress):
    """Output that is not a terminal: a line when a run starts, every LINE_SECONDS within an epoch, when a scoring
    starts and at each epoch's end, with the time left; one per finished run."""

    def __init__(self, console: Console, forecast: Forecast, clock: Callable[[], float] = time.monotonic):
        super().__init__(console)
        self.forecast, self.clock = forecast, clock
        self.label, self.epochs, self.steps, self.epoch, self.last_line = "", 0, 0, 0, 0.0

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)
        self.last_line = self.clock()

    def starting(self, index: int) -> None:
        self.say(f"run {index + 1} of {len(self.forecast.plan)}: {self.forecast.plan[index].label} ...")

    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None:
        self.label, self.epochs, self.steps = label, epochs, steps

    def begin_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def step(self, done: int, live: Callable[[], dict[str, float]]) -> None:
        if self.clock() - self.last_line >= LINE_SECONDS:
            self.say(f"{self.label}: epoch {self.epoch}/{self.epochs} step {done}/{self.steps}"
                     f"{time_left(self.forecast)}")

    def evaluating(self, epoch: int) -> None:
        self.say(f"{self.label}: epoch {epoch}/{self.epochs} scoring samples (about "
                 f"{self.forecast.scoring_seconds():.0f} s) ...")

    def end_epoch(self, row: dict) -> None:
        fid = f" FID {row['fid']:.2f}" if "fid" in row else ""
        self.say(f"{self.label}: epoch {row['epoch']}/{self.epochs} d_loss {row['d_loss']:.4f} "
                 f"g_loss {row['g_loss']:.4f}{fid}{time_left(self.forecast)}")


@contextlib.contextmanager
def working(console: Console, message: str) -> Iterator[None]:
    """A spinner on a terminal; elsewhere a line when the step starts and one with its duration when it ends."""
    if console.is_terminal:
        with console.status(message):
            yield
        return
    started = time.monotonic()
    console.print(f"{message} ...", highlight=False, soft_wrap=True)
    yield
    console.print(f"{message}: done in {time.monotonic() - started:.1f} s", highlight=False, soft_wrap=True)


class Ticker:
    """A long step that is not a run (building the evaluator panel, calibration, the warm-up): on a terminal a bar
    for each of its parts with the part's time left; elsewhere a line when it starts, when a part starts and every
    LINE_SECONDS with the share done and the time left, and one with its duration at the end (as `working`).
    ``unit``: what its parts count (steps, sets)."""

    def __init__(self, console: Console, message: str, unit: str, clock: Callable[[], float] = time.monotonic):
        self.console, self.message, self.unit, self.clock = console, message, unit, clock
        self.bars = TwoLineProgress(TextColumn("   "), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                    TimeRemainingColumn(), console=console, transient=True) \
            if console.is_terminal else None
        self.task = TaskID(-1)
        self.part_name, self.started, self.part_started, self.last_line = "", 0.0, 0.0, 0.0

    def __enter__(self) -> "Ticker":
        self.started = self.clock()
        if self.bars is not None:
            self.bars.start()
            self.task = self.bars.add_task(self.message, total=None, losses="")
        else:
            self.say(f"{self.message} ...")
        return self

    def __exit__(self, kind, *exc) -> None:
        if self.bars is not None:
            self.bars.stop()
        elif kind is None:
            self.say(f"{self.message}: done in {self.clock() - self.started:.1f} s")

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)
        self.last_line = self.clock()

    def part(self, name: str) -> Tick:
        """The tick of one part of the step (an evaluator of the panel, one arm's warm-up)."""
        return lambda done, total: self.update(name, done, total)

    def update(self, name: str, done: int, total: int) -> None:
        now = self.clock()
        new = name != self.part_name
        if new:
            self.part_name, self.part_started = name, now
        if self.bars is not None:
            if new:
                self.bars.reset(self.task, total=total, description=f"{self.message}: {name}")
            self.bars.update(self.task, completed=done)
            return
        if new or now - self.last_line >= LINE_SECONDS:
            elapsed = now - self.part_started
            left = elapsed * (total - done) / done if done and elapsed >= 1 else None  # a second tells a rate
            self.say(f"  {name}: {done:,} of {total:,} {self.unit} ({done / total:.0%}), {duration(elapsed)} "
                     f"elapsed, {duration(left)} left ...")


class LiveBars:
    """A rich Progress shown for the duration of a with-block."""

    bars: Progress

    def __enter__(self):
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.stop()


class TwoLineProgress(Progress):
    """Each bar on two lines: its description and live numbers, wrapped to the terminal, above the bar, counts and
    times. On one line they need about 150 columns; at 80, rich squeezed the bar out and cut the counts to '3…'."""

    def get_renderables(self) -> Iterable[RenderableType]:
        for task in self.tasks:
            if task.visible:
                yield from self.heading(task.description, task.fields["losses"])
                yield self.make_tasks_table([task])

    def heading(self, description: str, numbers: str) -> list[Text]:
        """One line where both fit, else the numbers on a line of their own (never a value cut from its name)."""
        line = f"{description}  {numbers}".rstrip()
        if len(line) <= self.console.width or not numbers:  # rich wraps a long description itself
            return [Text(line)]
        return [Text(description), Text(f"    {numbers}")]


class LeftColumn(ProgressColumn):
    """The time left: the forecast's where the task has one (field "left", seconds), else rich's own estimate from
    the bar's recent speed."""

    def render(self, task: Task) -> Text:
        left = task.fields.get("left")
        return Text(duration(task.time_remaining if left is None else left), style="progress.remaining")


class BarProgress(LiveBars):
    """Bars for the command (run k of N), the current run's epochs and the current epoch's steps with the live
    epoch-mean losses, each with the forecast's time left (without a forecast: rich's estimates)."""

    def __init__(self, console: Console, forecast: Forecast | None = None):
        self.console, self.forecast = console, forecast
        self.bars = TwoLineProgress(TextColumn("   "), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                    LeftColumn(), console=console, transient=False)
        self.command_task = self.bars.add_task("command", total=len(forecast.plan), losses="") if forecast \
            else TaskID(-1)
        self.run_task = self.step_task = TaskID(-1)  # -1: no run begun yet
        self.steps = 0
        self.last_refresh = 0.0

    def starting(self, index: int) -> None:
        if self.forecast is not None:
            self.bars.update(self.command_task, completed=index, description=f"command: run {index + 1} of "
                             f"{len(self.forecast.plan)}", losses=f"{self.forecast.plan[index].label}: preparing")
            self.show_time_left()

    def show_time_left(self) -> None:
        if self.forecast is None:
            return
        for task, left in ((self.command_task, self.forecast.command_left), (self.run_task, self.forecast.run_left),
                           (self.step_task, self.forecast.epoch_left)):
            if task in self.bars.task_ids:
                self.bars.update(task, left=left())

    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None:
        self.steps = steps
        for task in (self.run_task, self.step_task):
            if task in self.bars.task_ids:
                self.bars.remove_task(task)
        if self.command_task in self.bars.task_ids:
            self.bars.update(self.command_task, losses="")
        self.run_task = self.bars.add_task(f"{label}: epochs", total=epochs, completed=first_epoch, losses="")
        self.step_task = self.bars.add_task("  steps", total=steps, losses="")
        self.show_time_left()

    def begin_epoch(self, epoch: int) -> None:
        # a reset, not completed=0: a finished task's clock stops, and would stay stopped for every later epoch
        self.bars.reset(self.step_task, total=self.steps, description=f"  epoch {epoch} steps", losses="")

    def step(self, done: int, live: Callable[[], dict[str, float]]) -> None:
        now = time.monotonic()
        if now - self.last_refresh < REFRESH_SECONDS:
            return
        self.last_refresh = now
        means = live()
        self.bars.update(self.step_task, completed=done,
                         losses=f"d_loss {means['d_loss']:.4f}  g_loss {means['g_loss']:.4f}  "
                                f"D(x) {means['d_real']:.3f}  D(G(z)) {means['d_fake']:.3f}")
        self.show_time_left()

    def evaluating(self, epoch: int) -> None:
        self.bars.update(self.step_task, completed=self.steps, losses="scoring samples (FID, KID, PRDC, ...)")
        self.show_time_left()
        self.bars.refresh()

    def end_epoch(self, row: dict) -> None:
        self.bars.update(self.step_task, completed=self.steps, losses="")
        fid = f"  FID {row['fid']:.1f}" if "fid" in row else ""
        self.bars.update(self.run_task, advance=1, losses=f"last epoch: d_loss {row['d_loss']:.4f}  "
                                                          f"g_loss {row['g_loss']:.4f}{fid}")
        self.show_time_left()

    def end_run(self, outcome: RunOutcome) -> None:
        self.bars.console.print(summary_line(outcome), highlight=False, soft_wrap=True)


class Watch:
    """What a person sees of a command's runs, whichever executor trains them (the Reporting of
    harness/executors.py): the plan and its projection once the executor says how it shares the machine, a line per
    failed run, and at the end how long the runs took against the projection. Without a projection (--quiet) only
    each run's line. A context manager: whatever it shows live ends with the block."""

    per_step = False  # whether it follows each run's steps (else each run's end)

    def __init__(self, console: Console, runs: int, projection: Projection | None,
                 clock: Callable[[], float] = time.monotonic):
        self.console, self.runs, self.projection, self.clock = console, runs, projection, clock
        self.failed_runs = 0
        self.projected: float | None = None
        self.started = clock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def begin(self, capacity: Capacity) -> None:
        self.started = self.clock()
        if self.projection is None:
            return
        self.projected = projected_seconds(self.projection, capacity)
        width = text_width(self.console)
        for line in plan_lines(self.projection, capacity, self.per_step):
            indent = len(line) - len(line.lstrip())
            print_lines(self.console, paragraph(line.lstrip(), indent, width))

    def failed(self, spec: RunSpec, reason: str) -> None:
        self.failed_runs += 1
        self.console.print(f"{spec.run_id}: failed: {reason}", highlight=False, soft_wrap=True)

    def summary(self) -> str | None:
        """How long the runs took, and what was projected before training (None without a projection)."""
        if self.projected is None:
            return None
        return f"{self.runs} runs done in {duration(self.clock() - self.started)} (projected before training: " \
               f"{duration(self.projected)})"


class StepWatch(Watch):
    """Runs trained here one after another: bars (or, off a terminal, timed lines) of run k of N, its epochs and
    its steps, each with the forecast's time left."""

    per_step = True

    def __init__(self, console: Console, runs: int, projection: Projection):
        super().__init__(console, runs, projection)
        self.bars: BarProgress | None = None
        self.watched: Forecasting | None = None

    def begin(self, capacity: Capacity) -> None:
        super().begin(capacity)
        assert self.projection is not None
        forecast = Forecast(self.projection.plan, self.projection.warm_up)
        if self.console.is_terminal:
            self.bars = BarProgress(self.console, forecast).__enter__()
        self.watched = Forecasting(forecast, self.bars or LineProgress(self.console, forecast))

    def progress(self, index: int) -> Forecasting:
        assert self.watched is not None, "begin() comes first"
        self.watched.start(index)
        return self.watched

    def done(self, outcome: RunOutcome) -> None:
        pass  # the run's progress has printed its line

    def __exit__(self, *exc) -> None:
        if self.bars is not None:
            self.bars.__exit__(*exc)


class RunColumn(ProgressColumn):
    """The command's time left as a forecast gives it when asked (-:--:-- before it has one)."""

    def __init__(self, left: Callable[[], float | None]):
        super().__init__()
        self.left = left

    def render(self, task: Task) -> Text:
        return Text(duration(self.left()), style="progress.remaining")


class RunsWatch(Watch):
    """Runs trained elsewhere or in turn (--jobs, Ray, the engine), or one at a time with --quiet: a line per
    finished or failed run; with a projection, the time left in the command after each, and every ``watch_seconds``
    the epochs the runs' timings record, which correct it (on a terminal, in a bar over the runs' epochs; off one, a
    line whenever a run is seen further on)."""

    def __init__(self, console: Console, runs: int, projection: Projection | None, bar: bool,
                 clock: Callable[[], float] = time.monotonic, watch_seconds: float = WATCH_SECONDS):
        super().__init__(console, runs, projection, clock)
        self.forecast: RunsForecast | None = None
        self.bars = Progress(TextColumn("runs {task.fields[ended]}/{task.fields[runs]}, epochs"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), RunColumn(self.command_left),
                             console=console, disable=not bar)
        self.task = self.bars.add_task("runs", total=None, ended=0, runs=runs)
        self.ended = 0
        self.lock = threading.Lock()  # the forecast is fed by the executor's callbacks and by the watcher
        self.stopping = threading.Event()
        self.watch_seconds = watch_seconds
        self.watcher = threading.Thread(target=self.watch_epochs, daemon=True)

    def __enter__(self) -> Self:
        self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        if self.watcher.is_alive():
            self.watcher.join()
        self.bars.stop()

    def command_left(self) -> float | None:
        with self.lock:
            return self.forecast.command_left() if self.forecast is not None else None

    def begin(self, capacity: Capacity) -> None:
        super().begin(capacity)
        if self.projection is not None:
            self.forecast = RunsForecast(self.projection.plan, self.projection.warm_up, capacity, self.clock)
            self.show_epochs()
            self.watcher.start()

    def watch_epochs(self) -> None:
        while not self.stopping.wait(self.watch_seconds):
            assert self.forecast is not None
            with self.lock:
                moved = self.forecast.watch_epochs()
            if moved:
                self.show_epochs()
                if self.bars.disable:
                    self.say()

    def progress(self, index: int) -> SilentProgress:
        return SilentProgress()  # its line comes when it is done

    def done(self, outcome: RunOutcome) -> None:
        if self.forecast is not None:
            with self.lock:
                self.forecast.run_ended(self.forecast.index_of(outcome.run_id), outcome.status != "skipped")
        self.console.print(summary_line(outcome), highlight=False, soft_wrap=True)
        self.advance()

    def failed(self, spec: RunSpec, reason: str) -> None:
        super().failed(spec, reason)
        if self.forecast is not None:
            with self.lock:
                self.forecast.run_failed(self.forecast.index_of(spec.run_id))
        self.advance()

    def advance(self) -> None:
        self.ended += 1
        self.bars.update(self.task, ended=self.ended)
        self.show_epochs()
        if self.bars.disable:
            self.say()

    def show_epochs(self) -> None:
        """The bar follows the runs' epochs as far as they have been seen (a run's end counts all of its)."""
        if self.forecast is not None:
            with self.lock:
                seen, asked = self.forecast.epoch_counts()
            self.bars.update(self.task, completed=seen, total=asked)

    def say(self) -> None:
        """Off a terminal: the runs ended, the epochs seen and the command's time left, in one line."""
        if self.forecast is None:
            return
        with self.lock:
            epochs = self.forecast.epochs_line()
        self.console.print(f"runs: {self.ended} of {self.runs} ended, {epochs}, {duration(self.command_left())} "
                           f"left in the command", highlight=False, soft_wrap=True)
