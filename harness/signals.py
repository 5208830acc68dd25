"""SIGTERM handled like Ctrl-C: schedulers and `kill` stop runs the way a person does, leaving them resumable."""
from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds like Ctrl-C, so every run in progress is marked interrupted and resumes later."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def terminate_as_interrupt() -> None:
    """Call in the main thread of every process that trains (the CLI, each parallel worker)."""
    signal.signal(signal.SIGTERM, _raise_terminated)
