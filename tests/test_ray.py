"""--executor ray on a real local Ray (one per test session): same bytes as local runs, a killed worker's run
resumes, a failed run does not stop the others, the missing extra and an unshared results folder are one line."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from typer.testing import CliRunner

from harness import cli, ray_executor
from harness.errors import StudyError
from harness.planning import RunSpec
from harness.run_folder import RunFolder, run_folders
from harness.signals import Terminated
from harness.train import RunOutcome, train_run
from tests.conftest import make_spec
from tests.test_cli import NOTHING_STARTED


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture
def keep_torch_threads():
    """Local reference runs set this process's thread count; the rest of the suite must not inherit it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def spec(variant: str, data_root: Path, results: Path, **fields) -> RunSpec:
    """threads=1 on both sides, so a Ray run and a local run do the same arithmetic."""
    limit, epochs = fields.pop("limit", 64), fields.pop("epochs", 1)
    return dataclasses.replace(make_spec(variant, data_root, results, limit=limit, epochs=epochs), threads=1,
                               **fields)


def train(specs: list[RunSpec]) -> tuple[list[RunOutcome], dict[str, str]]:
    """train_on_ray on the session's Ray: the finished runs, and each failed run's one-line error by run id. Ray
    first says how many runs it takes at once: the session's 2 CPUs, one per run."""
    done, failed, capacities = [], {}, []
    ray_executor.train_on_ray(specs, force=False, address=None, gpus_per_run=0.0, on_done=done.append,
                              on_failed=lambda s, error: failed.update({s.run_id: error}),
                              on_begin=capacities.append)
    assert [capacity.at_once for capacity in capacities] == [min(2, len(specs))]
    return done, failed


def test_ray_runs_equal_local_runs_byte_for_byte(ray_cluster, keep_torch_threads, data_root, tmp_path):
    names = ["udacity", "torch7-mlp", "nll-softmax"]
    done, failed = train([spec(name, data_root, tmp_path / "ray", epochs=2) for name in names])
    assert failed == {} and sorted(o.status for o in done) == ["complete"] * 3
    for name in names:
        local = train_run(spec(name, data_root, tmp_path / "local", epochs=2))
        remote = RunFolder.of(tmp_path / "ray", local.run_id)
        for table in ("metrics_path", "log_path"):
            assert getattr(remote, table).read_bytes() == getattr(local.folder, table).read_bytes()
    assert [p.name for p in (tmp_path / "ray").iterdir()] == ["runs"]  # the visibility token is gone


def epochs_done(run: RunSpec) -> int:
    manifest = run.folder.manifest_path  # written atomically: whole or absent
    return json.loads(manifest.read_text())["epochs_done"] if manifest.exists() else 0


def kill_once_epoch_one_exists(run: RunSpec) -> None:
    """SIGKILL the Ray worker training `run` (its process title is ray::<run id>) once epoch 1 is on disk."""
    deadline = time.monotonic() + 30
    while epochs_done(run) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(f"ray::{run.run_id}".encode()):
            os.kill(int(pid), signal.SIGKILL)


@pytest.mark.parametrize("retries", [0, ray_executor.WORKER_LOSS_RETRIES])
def test_a_killed_worker_s_run_resumes_to_the_same_bytes(retries, ray_cluster, keep_torch_threads, data_root,
                                                         tmp_path, monkeypatch):
    monkeypatch.setattr(ray_executor, "WORKER_LOSS_RETRIES", retries)
    run = spec("udacity", data_root, tmp_path / "ray", epochs=10, limit=None)
    killer = threading.Thread(target=kill_once_epoch_one_exists, args=(run,))
    killer.start()
    first, failed = train([run])
    killer.join()
    if retries:  # Ray reran the task at once; the rerun resumed
        assert [o.status for o in first] == ["complete"] and failed == {}
    else:  # reported; the run keeps its finished epochs
        assert first == [] and list(failed) == [run.run_id] and "\n" not in failed[run.run_id]
        assert json.loads(run.folder.manifest_path.read_text())["status"] == "running"
        assert 1 <= epochs_done(run) < 10
    again, failed = train([run])
    assert [o.status for o in again] == (["skipped"] if retries else ["complete"]) and failed == {}
    whole = train_run(spec("udacity", data_root, tmp_path / "local", epochs=10, limit=None))
    assert run.folder.metrics_path.read_bytes() == whole.folder.metrics_path.read_bytes()
    assert len(json.loads(run.folder.manifest_path.read_text())["resumed_at"]) == 1


def test_a_failed_run_is_reported_and_the_others_complete(ray_cluster, data_root, tmp_path):
    good, bad = spec("udacity", data_root, tmp_path), spec("torch7-mlp", data_root, tmp_path, limit=10_000)
    done, failed = train([bad, good])
    assert [o.run_id for o in done] == [good.run_id]
    assert failed == {bad.run_id: "--limit 10000 exceeds the 300 images of mnist train; use a smaller --limit"}


def test_cli_lists_a_failed_run_and_exits_non_zero(ray_cluster, data_root, tmp_path):
    """--quiet: without it, the warm-up before training loads the data and refuses the --limit in this process."""
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--executor", "ray", "--data-root", str(data_root),
                                          "--results", str(tmp_path), "--limit", "10000", "--eval-every", "0",
                                          "--quiet"])
    assert result.exit_code == 1
    assert "udacity__mnist-train-first10000__seed0: failed: --limit 10000 exceeds" in result.stdout
    assert result.stderr.startswith("error: 1 of 1 runs failed (listed above)")


def test_without_ray_the_executor_is_one_line(data_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--executor", "ray", "--data-root", str(data_root),
                                          "--results", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr == 'error: --executor ray needs Ray: pip install -e ".[ray]"\n'


@pytest.mark.parametrize("args,needle", [
    (["--address", "auto"], "--address and --gpus-per-run are options of --executor ray"),
    (["--executor", "ray", "--jobs", "2"], "--jobs is for --executor local"),
    (["--executor", "ray", "--device", "cpu", "--gpus-per-run", "0.5"], "does not fit --device cpu"),
    (["--executor", "ray", "--gpus-per-run", "1.5"], "a fraction from 0 to 1"),
    (["--executor", "slurm"], "unknown executor 'slurm'; use local or ray")])
def test_executor_options_are_checked_before_anything_runs(args, needle, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_executor, "import_ray", lambda: None)  # these checks need no Ray
    results = tmp_path / "results"
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--data-root", str(data_root), "--results", str(results),
                                          *args])
    assert result.exit_code == 1 and result.stderr.startswith("error: ") and needle in result.stderr
    assert not results.exists()


def test_a_results_folder_the_workers_cannot_see_is_refused(ray_cluster, data_root, tmp_path, monkeypatch):
    """The driver's token lands where no worker looks, as when the driver's folder is not the workers' one."""
    driver_only = tmp_path / "driver-only"
    write = ray_executor.atomic_write_text
    monkeypatch.setattr(ray_executor, "atomic_write_text", lambda path, text: write(driver_only / path.name, text))
    results = tmp_path / "results"
    with pytest.raises(StudyError, match=f"results folder {results} is not visible to the Ray workers .*No such "
                                         f"file.*; put it on a filesystem every node mounts and pass --results"):
        train([spec("udacity", data_root, results)])
    assert list(results.iterdir()) == []  # no run started


class NoCluster:
    """Stands in for Ray where none is installed: no cluster answers, and init must not be reached for an address
    that does not answer."""

    @staticmethod
    def is_initialized() -> bool:
        return False

    @staticmethod
    def init(address=None, **kwargs):
        if address not in (None, "auto"):
            raise AssertionError("ray.init reached with an address that does not answer")
        raise ConnectionError("Could not find any running Ray instance. Please specify the one to connect to.")


@pytest.mark.parametrize("address", ["notahost.invalid:1", "127.0.0.1:1"])
def test_an_address_that_does_not_answer_fails_in_seconds(address, data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_executor, "import_ray", lambda: NoCluster)
    started = time.monotonic()
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--executor", "ray", "--address", address, "--data-root",
                                          str(data_root), "--results", str(tmp_path), "--eval-every", "0",
                                          "--limit", "64", "--epochs", "1", "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "does not answer" in result.stderr
    assert time.monotonic() - started < 30


def test_address_auto_without_a_cluster_names_the_fix(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(ray_executor, "import_ray", lambda: NoCluster)
    with pytest.raises(StudyError, match=r"no Ray cluster on this machine \(--address auto\).*ray start --head"):
        ray_executor.train_on_ray([make_spec("udacity", data_root, tmp_path)], False, "auto", 0.0, print, print,
                                  on_begin=print)


@pytest.mark.parametrize("interrupt, code", [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_interrupt_while_ray_starts_says_no_run_started(interrupt, code, data_root, tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM) while Ray is still trying to reach its cluster: no run was sent, none has an epoch."""
    def init(**kwargs):
        raise interrupt
    unreachable = SimpleNamespace(is_initialized=lambda: False, init=init, shutdown=lambda: None)
    monkeypatch.setattr(ray_executor, "import_ray", lambda: unreachable)
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--executor", "ray", "--address", "auto", "--data-root",
                                          str(data_root), "--results", str(tmp_path), "--eval-every", "0"])
    assert result.exit_code == code and result.stderr.strip().splitlines()[-1] == NOTHING_STARTED  # after the warm-up
    assert not run_folders(tmp_path)
