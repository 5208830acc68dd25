"""The executors behind one interface (harness/executors.py): what each reports through the callbacks, how each
says it shares the machine, and `study run --jobs N` printing a plan and a time left that count runs in parallel."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from harness import cli
from harness.executors import Engine, Local, choose
from harness.forecast import Capacity
from harness.planning import RunSpec
from harness.ray_executor import cluster_capacity
from harness.train import RunOutcome, SilentProgress
from tests.conftest import make_spec


class Recorded:
    """A Reporting that writes down what the executor told it, in order."""

    def __init__(self):
        self.calls: list[tuple] = []

    def begin(self, capacity: Capacity) -> None:
        self.calls.append(("begin", capacity))

    def progress(self, index: int) -> SilentProgress:
        self.calls.append(("progress", index))
        return SilentProgress()

    def done(self, outcome: RunOutcome) -> None:
        self.calls.append(("done", outcome.run_id))

    def failed(self, spec: RunSpec, reason: str) -> None:
        self.calls.append(("failed", spec.run_id))


def tiny(data_root: Path, results: Path, seed: int) -> RunSpec:
    return dataclasses.replace(make_spec("torch7-mlp", data_root, results, seed=seed, limit=64), threads=1)


def test_runs_trained_here_one_at_a_time_get_a_progress_each_after_the_capacity(data_root, tmp_path):
    specs = [tiny(data_root, tmp_path, seed) for seed in (0, 1)]
    reporting = Recorded()
    Local().train(specs, False, reporting)
    assert reporting.calls == [("begin", Capacity()), ("progress", 0), ("done", specs[0].run_id),
                               ("progress", 1), ("done", specs[1].run_id)]


def test_the_engine_says_its_runs_take_turns_then_reports_each_end(data_root, tmp_path):
    specs = [tiny(data_root, tmp_path, seed) for seed in (0, 1)]
    reporting = Recorded()
    Engine().train(specs, False, reporting)
    (kind, capacity), *ends = reporting.calls
    assert kind == "begin" and capacity.at_once == 2 and capacity.turns and capacity.speed(2) == 0.5
    assert sorted(ends) == [("done", spec.run_id) for spec in specs]


def test_processes_share_the_cores_evenly(data_root, tmp_path):
    specs = [tiny(data_root, tmp_path, seed) for seed in range(3)]
    capacity = Local(jobs=4).capacity(specs, cores=2)
    assert capacity.at_once == 3 and capacity.speed(2) == 1.0 and capacity.speed(3) == pytest.approx(2 / 3)
    assert capacity.how.startswith("--jobs 4: 3 runs at once of 1 thread each on 2 cores")
    two_threads = Local(jobs=2).capacity([dataclasses.replace(spec, threads=2) for spec in specs], cores=2)
    assert two_threads.speed(2) == 0.5 and two_threads.speed(1) == 1.0
    cuda = Local(jobs=4).capacity([dataclasses.replace(spec, device=torch.device("cuda")) for spec in specs], 2)
    assert cuda.threads == 1 and cuda.speed(3) == pytest.approx(2 / 3) and "on one GPU" in cuda.how


def test_a_ray_cluster_takes_as_many_runs_as_its_live_nodes_fit():
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0}}, {"Alive": True, "Resources": {"CPU": 3.0}},
             {"Alive": False, "Resources": {"CPU": 64.0}}]
    capacity = cluster_capacity(nodes, {"num_cpus": 2, "num_gpus": 0.0}, runs=10)
    assert capacity.at_once == 5 and capacity.speed(5) == 1.0  # 4 + 1 places: a node packs whole runs
    assert capacity.how.startswith("Ray: 5 runs at once (5 places for a run of 2 CPUs on 2 nodes)")
    gpus = [{"Alive": True, "Resources": {"CPU": 16.0, "GPU": 2.0}}]
    assert cluster_capacity(gpus, {"num_cpus": 1, "num_gpus": 0.5}, runs=10).at_once == 4  # the GPUs bound it
    assert cluster_capacity(nodes, {"num_cpus": 2, "num_gpus": 0.0}, runs=3).at_once == 3


def test_choose_names_the_executor_the_command_line_asks_for():
    assert choose("local", 3, None, None) == Local(3) and choose("engine", 1, None, None) == Engine()
    assert Local(1).per_step and not Local(3).per_step and not Engine().per_step


def test_run_with_jobs_prints_the_plan_for_runs_in_parallel_and_the_time_left(data_root, tmp_path):
    result = CliRunner().invoke(cli.app, [
        "run", "torch7-mlp", "udacity", "--jobs", "2", "--threads", "1", "--epochs", "1", "--limit", "64",
        "--eval-every", "0", "--split", "test", "--data-root", str(data_root), "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "plan: 2 runs: 2 to train, 0 to resume, 0 complete (skipped)" in out
    assert re.search(r"projected: \d+:\d\d:\d\d on cpu \(1 thread\), from a warm-up timed here just now:", out)
    assert re.search(r"--jobs 2: 2 runs at once of 1 thread each on \d+ cores, assumed to share them evenly", out)
    assert out.index("projected:") < out.index("__seed0: complete")
    assert re.search(r"runs: 1 of 2 ended, epochs 1 of 2, \d+:\d\d:\d\d left in the command", out)
    assert "runs: 2 of 2 ended, epochs 2 of 2, 0:00:00 left in the command" in out
    assert re.search(r"2 runs done in \d+:\d\d:\d\d \(projected before training: \d+:\d\d:\d\d\)", out)
