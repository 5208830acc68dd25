"""The many-runs engine (issue 20, its CPU core): the runs of a study trained in one process, stepping in turn, each
computing exactly what it computes alone.

A run is train.py's own work (``training``): the same checks, resume, tables, samples, scores and checkpoints as
``train_run``, paused after every step. The engine resumes each run for a turn of ``turn_steps`` steps, round-robin
over at most ``slots`` runs at a time; a finished run's slot goes to the next run waiting.

What is process-wide and feeds a run's numbers is made the run's own, or refused:
- the RNG streams (python ``random``, numpy's global RNG, torch's CPU generator, CUDA's where present) are swapped
  in before a run's turn and out after it (``RunStreams``), so each draw (noise, dropout, the DataLoader's seeds,
  the seed contract's display cells and epoch-end pictures, a second run's re-seeding) comes from the run's own
  streams in its own order. Explicit generators would mean rewriting every variant's draws and PyTorch's dropout;
  swapping leaves the code a run executes the code a lone run executes, which is what makes the two alike;
- the CPU thread count cannot be per run (the conv variants' sums depend on it, and the pool is process-wide): the
  engine trains runs of one thread count;
- ``--compile`` is refused: compiled runs are not bit-identical to eager ones to begin with, and runs of one variant
  would share dynamo's caches and recompile limit, so a run's compiled code could differ from its lone run's.

CUDA (issue 20, item 2; not written here, as no GPU was lent to verify it): a turn would replay the run's captured
step graphs on the run's own stream with a per-run device generator, instead of resuming its eager steps with the
global CUDA generator swapped in as below.
"""
from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterator

from harness.errors import StudyError
from harness.jobs import one_line
from harness.planning import RunSpec
from harness.seeding import capture_rng, restore_rng
from harness.train import RunOutcome, Turns, end_paused, training


class RunStreams:
    """One run's RNG streams, parked while other runs draw from the process's global ones."""

    def __init__(self) -> None:
        # Any state will do: every run seeds all its streams before its first draw (seed_contract.start_script).
        self.state = capture_rng()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        restore_rng(self.state)
        try:
            yield
        finally:
            self.state = capture_rng()


@dataclass
class _Run:
    spec: RunSpec
    turns: Turns[RunOutcome]
    streams: RunStreams = field(default_factory=RunStreams)

    def turn(self, steps: int) -> RunOutcome | None:
        """Up to ``steps`` more steps of the run, on its own streams; its outcome once it has finished."""
        with self.streams.active():
            for _ in range(steps):
                try:
                    next(self.turns)
                except StopIteration as finished:
                    return finished.value
        return None


def check_together(specs: list[RunSpec]) -> None:
    """Refuse what one process cannot give each run as its lone run has it."""
    threads = {spec.threads for spec in specs}
    if len(threads) > 1:
        raise StudyError(f"the engine trains runs of one CPU thread count, not {sorted(threads, key=str)} (a run's "
                         f"numbers depend on it and the count is process-wide); pass one --threads")
    compiled = [spec.run_id for spec in specs if spec.compile]
    if compiled:
        raise StudyError(f"the engine trains eager runs only, not --compile ones ({compiled[0]}): compiled runs "
                         f"would share dynamo's caches; drop --compile")
    folders = [spec.folder.path.resolve() for spec in specs]
    twice = {str(path) for path in folders if folders.count(path) > 1}
    if twice:
        raise StudyError(f"run folder {sorted(twice)[0]} is asked for twice; list each run once")


def train_together(specs: list[RunSpec], force: bool, on_done: Callable[[RunOutcome], None],
                   on_failed: Callable[[RunSpec, str], None], slots: int | None = None, turn_steps: int = 1) -> None:
    """Train ``specs`` in this process, at most ``slots`` at a time (default: all), each for ``turn_steps`` steps a
    turn. A run that fails goes to on_failed with a one-line reason while the others go on; Ctrl-C (or SIGTERM, via
    harness.signals) ends every started run as interrupted, resumable, before it is raised."""
    check_together(specs)
    waiting, running = deque(specs), deque[_Run]()
    try:
        while waiting or running:
            while waiting and len(running) < (slots or len(specs)):
                spec = waiting.popleft()
                running.append(_Run(spec, training(spec, None, force)))
            _take_turn(running, turn_steps, on_done, on_failed)
    except BaseException as error:
        for run in running:  # the run that raised it has ended already
            end_paused(run.turns, error)
        raise


def _take_turn(running: deque[_Run], steps: int, on_done: Callable[[RunOutcome], None],
               on_failed: Callable[[RunSpec, str], None]) -> None:
    """The first run's turn; it stays in ``running`` during the turn, so an interrupt there still reaches it."""
    run = running[0]
    try:
        outcome = run.turn(steps)
    except Exception as error:
        running.popleft()
        on_failed(run.spec, one_line(error))
        return
    if outcome is None:
        running.rotate(-1)
    else:
        running.popleft()
        on_done(outcome)
