"""What a person sees while runs train and long steps work: a rich progress bar and spinners on a terminal; plain
lines when output goes to a file or a pipe (a spinner there prints nothing), or one line per finished run with
--quiet."""
from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterable, Iterator

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from harness.train import RunOutcome, RunSpec, SilentProgress

REFRESH_SECONDS = 0.5  # live losses are read from the device at most this often


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


class LineProgress(QuietProgress):
    """Output that is not a terminal: one plain line per epoch, and one per finished run."""

    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None:
        self.label, self.epochs = label, epochs

    def end_epoch(self, row: dict) -> None:
        fid = f" FID {row['fid']:.2f}" if "fid" in row else ""
        self.console.print(f"{self.label}: epoch {row['epoch']}/{self.epochs} d_loss {row['d_loss']:.4f} "
                           f"g_loss {row['g_loss']:.4f}{fid}", highlight=False, soft_wrap=True)


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
        if len(line) <= self.console.width:
            return [Text(line)]
        return [Text(description), Text(f"    {numbers}")]


class BarProgress(LiveBars):
    """Two bars: epochs of the current run, and steps of the current epoch with the live epoch-mean losses."""

    def __init__(self, console: Console):
        self.console = console
        self.bars = TwoLineProgress(TextColumn("   "), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                    TimeRemainingColumn(), console=console, transient=False)
        self.run_task = self.step_task = TaskID(-1)  # -1: no run begun yet
        self.steps = 0
        self.last_refresh = 0.0

    def begin_run(self, label: str, epochs: int, first_epoch: int, steps: int) -> None:
        self.steps = steps
        for task in (self.run_task, self.step_task):
            if task in self.bars.task_ids:
                self.bars.remove_task(task)
        self.run_task = self.bars.add_task(f"{label}: epochs", total=epochs, completed=first_epoch, losses="")
        self.step_task = self.bars.add_task("  steps", total=steps, losses="")

    def begin_epoch(self, epoch: int) -> None:
        self.bars.update(self.step_task, completed=0, description=f"  epoch {epoch} steps")

    def step(self, done: int, live: Callable[[], dict[str, float]]) -> None:
        now = time.monotonic()
        if now - self.last_refresh < REFRESH_SECONDS:
            return
        self.last_refresh = now
        means = live()
        self.bars.update(self.step_task, completed=done,
                         losses=f"d_loss {means['d_loss']:.4f}  g_loss {means['g_loss']:.4f}  "
                                f"D(x) {means['d_real']:.3f}  D(G(z)) {means['d_fake']:.3f}")

    def evaluating(self, epoch: int) -> None:
        self.bars.update(self.step_task, completed=self.steps, losses="scoring samples (FID, KID, PRDC, ...)")
        self.bars.refresh()

    def end_epoch(self, row: dict) -> None:
        self.bars.update(self.step_task, completed=self.steps, losses="")
        fid = f"  FID {row['fid']:.1f}" if "fid" in row else ""
        self.bars.update(self.run_task, advance=1, losses=f"last epoch: d_loss {row['d_loss']:.4f}  "
                                                          f"g_loss {row['g_loss']:.4f}{fid}")

    def end_run(self, outcome: RunOutcome) -> None:
        self.bars.console.print(summary_line(outcome), highlight=False, soft_wrap=True)


class RunsBar(LiveBars):
    """Runs trained elsewhere (Ray workers): one bar over all of them and a line per finished or failed run. Without
    a bar (--quiet, or stdout not a terminal) only the lines."""

    def __init__(self, console: Console, runs: int, bar: bool):
        self.console = console
        self.bars = Progress(TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             TimeRemainingColumn(), console=console, disable=not bar)
        self.task = self.bars.add_task("runs", total=runs)
        self.failed_runs = 0

    def done(self, outcome: RunOutcome) -> None:
        self.console.print(summary_line(outcome), highlight=False, soft_wrap=True)
        self.bars.advance(self.task)

    def failed(self, spec: RunSpec, error: str) -> None:
        self.failed_runs += 1
        self.console.print(f"{spec.run_id}: failed: {error}", highlight=False, soft_wrap=True)
        self.bars.advance(self.task)
