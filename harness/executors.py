"""Where the runs of `study run` train, behind one interface (``Executor``): here, one after another or N processes
at once (``Local``, harness/jobs.py); as Ray tasks on a local Ray or a cluster (``Ray``, harness/ray_executor.py);
or all in this process, stepping in turn (``Engine``, harness/engine.py). ``choose`` turns the command line's choice
into one and refuses a bad combination before any work.

Every executor reports through the same callbacks (``Reporting``): before its first run, how it shares the machine
among the runs (``Capacity``: the plan's projection and the time left depend on it), then each run done or failed.
The one that trains here one run at a time also asks for each run's Progress, which follows its every step.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Protocol

import torch

from harness.engine import check_together, train_together
from harness.errors import StudyError
from harness.forecast import Capacity
from harness.jobs import train_in_parallel
from harness.planning import RunSpec
from harness.train import Progress, RunOutcome, train_run

EXECUTORS = ("local", "ray", "engine")


class Reporting(Protocol):
    def begin(self, capacity: Capacity) -> None: ...
    def progress(self, index: int) -> Progress: ...  # run ``index`` of the command starts here, now
    def done(self, outcome: RunOutcome) -> None: ...
    def failed(self, spec: RunSpec, reason: str) -> None: ...


class Executor(Protocol):
    @property
    def default_threads(self) -> int | None: ...  # CPU threads per run where neither --threads nor study.toml say
    @property
    def per_step(self) -> bool: ...  # whether it asks for each run's Progress (else it reports runs' ends only)
    def check(self, specs: list[RunSpec]) -> None: ...  # refuse, before any work, what it cannot train
    def train(self, specs: list[RunSpec], force: bool, reporting: Reporting) -> None: ...


def cores_here() -> int:
    """The CPU cores this process may run on (a container's or a taskset's, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_of(spec: RunSpec) -> int:
    return spec.threads or torch.get_num_threads()  # None: PyTorch's default, which every worker inherits too


@dataclass(frozen=True)
class Local:
    """Runs trained on this machine: one after another in this process, or ``jobs`` processes at once."""

    jobs: int = 1
    default_threads: int | None = None

    @property
    def per_step(self) -> bool:
        return self.jobs == 1

    def check(self, specs: list[RunSpec]) -> None:
        pass

    def train(self, specs: list[RunSpec], force: bool, reporting: Reporting) -> None:
        if self.jobs == 1:
            reporting.begin(Capacity())
            for index, spec in enumerate(specs):  # a run that fails stops the command, with its reason
                reporting.done(train_run(spec, reporting.progress(index), force))
            return
        reporting.begin(self.capacity(specs, cores_here()))
        train_in_parallel(specs, self.jobs, force, reporting.done, reporting.failed)

    def capacity(self, specs: list[RunSpec], cores: int) -> Capacity:
        """Processes share the cores evenly (a CUDA run needs one to drive the GPU); memory bandwidth and the GPU's
        own sharing are not counted."""
        at_once = min(self.jobs, len(specs))
        if specs[0].device.type == "cuda":
            return Capacity(at_once, cores, 1, how=f"--jobs {self.jobs}: {at_once} runs at once on one GPU, each "
                                                  f"driven by one of {cores} cores; assumed at its speed alone "
                                                  f"while no more than {cores} train (the GPU's sharing not counted)")
        threads = threads_of(specs[0])
        return Capacity(at_once, cores, threads, how=(
            f"--jobs {self.jobs}: {at_once} runs at once of {threads} thread{'s' if threads > 1 else ''} each on "
            f"{cores} cores, assumed to share them evenly: while k train, each at min(1, {cores} / (k x {threads})) "
            f"of its speed alone (memory bandwidth not counted)"))


@dataclass(frozen=True)
class Engine:
    """Every run in this process, stepping in turn, each computing what it computes alone."""

    default_threads: int | None = None
    per_step: bool = False

    def check(self, specs: list[RunSpec]) -> None:
        check_together(specs)

    def train(self, specs: list[RunSpec], force: bool, reporting: Reporting) -> None:
        reporting.begin(Capacity(len(specs), turns=True, how=f"the engine: {len(specs)} runs take turns in this "
                                                             f"process, a step each: while k train, each at 1/k of "
                                                             f"its speed alone"))
        train_together(specs, force, reporting.done, reporting.failed)


@dataclass(frozen=True)
class Ray:
    """Each run a Ray task, on a local Ray (``address`` None) or a cluster. One CPU per run unless --threads says
    otherwise: each task reserves the threads it trains on, so one each packs runs onto the cores."""

    address: str | None
    gpus_per_run: str | None  # as given; checked against the runs' device
    default_threads: int | None = 1
    per_step: bool = False

    def check(self, specs: list[RunSpec]) -> None:
        self.gpu_share(specs)

    def train(self, specs: list[RunSpec], force: bool, reporting: Reporting) -> None:
        from harness.ray_executor import train_on_ray

        train_on_ray(specs, force, self.address, self.gpu_share(specs), reporting.done, reporting.failed,
                     on_begin=reporting.begin)

    def gpu_share(self, specs: list[RunSpec]) -> float:
        return parse_gpus_per_run(self.gpus_per_run, specs[0].device.type)


def choose(name: str, jobs: int, address: str | None, gpus_per_run: str | None) -> Executor:
    """The executor the command line names, its options checked before any work (a missing Ray is one line, not a
    traceback after the evaluators are built)."""
    if name not in EXECUTORS:
        raise StudyError(f"unknown executor '{name}'; use local or ray (a process per run), or engine (every "
                         f"run in this process)")
    if name != "ray" and (address is not None or gpus_per_run is not None):
        raise StudyError("--address and --gpus-per-run are options of --executor ray")
    if name == "ray" and jobs > 1:
        raise StudyError("--jobs is for --executor local; Ray runs as many runs at once as the cluster has CPUs "
                         "(--threads per run)")
    if name == "engine" and jobs > 1:
        raise StudyError("--jobs is for --executor local; the engine trains every run in this process, in turn")
    if name == "ray":
        from harness.ray_executor import import_ray

        import_ray()
        return Ray(address, gpus_per_run)
    return Engine() if name == "engine" else Local(jobs)


def parse_gpus_per_run(text: str | None, device_type: str) -> float:
    """Default: a whole GPU per CUDA run, none per CPU run. Ray hides GPUs from a task that reserves none."""
    if text is None:
        return 1.0 if device_type == "cuda" else 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 <= value <= 1 or (value > 1 and value.is_integer())):
        raise StudyError(f"--gpus-per-run must be a fraction from 0 to 1 (several runs share a GPU) or a whole "
                         f"number, got '{text}'")
    if (device_type == "cuda") != (value > 0):
        raise StudyError(f"--gpus-per-run {text} does not fit --device {device_type}: CUDA runs need a share of a "
                         f"GPU above 0, CPU runs reserve none")
    return value
