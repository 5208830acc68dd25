"""`study bench --startup`: how long the first commands a person types take to answer, each timed in fresh
processes, so that nothing is imported already. `list` and `show` are timed with the catalogue cache warm, as every
call finds it after the first, and cold (an empty cache folder), as the first call after the code or the installed
packages change (harness/catalogue.py). `import torch` alone is timed beside them: the floor of a cold call."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from harness.catalogue import load_catalogue
from harness.errors import StudyError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StartupTiming:
    command: str  # as typed
    cache: str  # "warm", "cold", or "-" where the command reads no cache
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def as_dict(self) -> dict[str, object]:
        return {"command": self.command, "cache": self.cache, "median_s": self.median, "seconds": self.seconds}


def bench_startup(repeat: int) -> list[StartupTiming]:
    name = load_catalogue().rows[0]["name"]  # also leaves the cache warm for the warm timings
    timings = [StartupTiming("study --help", "-", [run_once(study("--help")) for _ in range(repeat)])]
    for args in (("list",), ("show", name)):
        command = f"study {' '.join(args)}"
        timings.append(StartupTiming(command, "warm", [run_once(study(*args)) for _ in range(repeat)]))
        timings.append(StartupTiming(command, "cold", [run_cold(study(*args)) for _ in range(repeat)]))
    torch = [run_once(["-c", "import torch"]) for _ in range(repeat)]
    return timings + [StartupTiming("python -c 'import torch'", "-", torch)]


def study(*args: str) -> list[str]:
    return ["-m", "harness.cli", *args]


def run_cold(argv: Sequence[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="study-cold-cache-") as folder:
        return run_once(argv, {"STUDY_CACHE_DIR": folder})


def run_once(argv: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds from starting `python ARGV...` to its exit; its output is discarded, a failure is an error."""
    # This checkout first on the path, so that the code timed is the code running the benchmark.
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *argv], env=os.environ | dict(env or {}) | {"PYTHONPATH": path},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise StudyError(f"`python {' '.join(argv)}` failed while being timed: {last}")
    return seconds
