"""SIGTERM handled like Ctrl-C: schedulers and `kill` stop runs the way a person does, leaving them resumable."""
from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so every run in progress is marked interrupted and resumes later."""


class StoppedBeforeTraining(KeyboardInterrupt):
    """Ctrl-C or SIGTERM while a command was still preparing (building evaluators, starting or joining Ray): no run
    had started, so none has an epoch to keep. ``terminated`` says which signal it was."""

    def __init__(self, terminated: bool):
        super().__init__()
        self.terminated = terminated


_training = [False]  # in a worker process: whether a run is being trained right now


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def _on_sigterm_in_worker(signum: int, frame: FrameType | None) -> None:
    if not _training[0]:
        os._exit(128 + signum)  # an idle worker has nothing to save: leave without a traceback
    raise Terminated


def terminate_as_interrupt() -> None:
    """Call in the main thread of a process that trains (the CLI)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def worker_terminates_as_interrupt() -> None:
    """The initializer of a parallel worker process: SIGTERM interrupts its run, or ends it quietly when idle."""
    signal.signal(signal.SIGTERM, _on_sigterm_in_worker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers


@contextlib.contextmanager
def training() -> Iterator[None]:
    """Marks a worker busy with a run, so SIGTERM interrupts the run instead of ending the process."""
    _training[0] = True
    try:
        yield
    finally:
        _training[0] = False


@contextlib.contextmanager
def preparing() -> Iterator[None]:
    """A stretch of a command before any of its runs starts: an interrupt in it is told apart from one mid-run."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        raise StoppedBeforeTraining(isinstance(interrupt, Terminated)) from None
