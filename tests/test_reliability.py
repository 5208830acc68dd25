"""Nothing a user owns is lost: damaged runs that never crash a report, repairs from the checkpoint, SIGTERM like
Ctrl-C, --force that keeps the old run until the new one has an epoch, and one-line errors for every bad input. (A
report that deletes only its own files: tests/test_report.py; one writer per run and its folder swapped in whole:
tests/test_run_folder.py.)"""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from harness import cli, storage
from harness.errors import StudyError
from harness.evaluator import build_evaluator
from harness.report import write_report
from harness.run_folder import RunFolder, run_folders
from harness.train import train_run
from tests.conftest import build_panel, idx_bytes, make_spec
from tests.fakes import write_run
from tests.test_cli import assert_one_line_error, run_args
from tests.test_training import InterruptAt
from variants import VARIANTS

runner = CliRunner()


def study(*args: str):
    return runner.invoke(cli.app, list(args))


# 3 and 4. Damaged runs: listed, repaired, never crash ------------------------------------------------------------
@pytest.mark.parametrize("damage,reason", [("", "damaged tables"), ("epoch,d_loss\n", "does not hold epochs"),
                                           (None, "damaged tables"), ("drop-last", "does not hold epochs")])
def test_damaged_runs_are_left_out_with_the_reason(damage, reason, tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed)
    folder = RunFolder(write_run(tmp_path, "udacity", 2))
    if damage is None:
        folder.metrics_path.unlink()
    elif damage == "drop-last":
        folder.metrics_path.write_text("".join(folder.metrics_path.read_text().splitlines(True)[:-1]))
    else:
        folder.metrics_path.write_text(damage)
    write_report(tmp_path, tmp_path / "out", VARIANTS, None, "md")
    left_out = pd.read_csv(tmp_path / "out" / "tables" / "excluded_runs.csv")
    assert left_out["run"].tolist() == [folder.run_id] and reason in left_out["left out because"].iloc[0]
    assert pd.read_csv(tmp_path / "out" / "tables" / "summary.csv")["seeds"].tolist() == [2]


def test_copies_and_symlinks_of_a_run_are_left_out_once(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed)
    runs = tmp_path / "runs"
    shutil.copytree(runs / "udacity__mnist-test-first512__seed0", runs / "udacity__mnist-test-first512__seed0.bak")
    (runs / "udacity-link").symlink_to(runs / "udacity__mnist-test-first512__seed1")
    write_report(tmp_path, tmp_path / "out", VARIANTS, None, "md")
    assert pd.read_csv(tmp_path / "out" / "tables" / "summary.csv")["seeds"].tolist() == [2]
    left_out = pd.read_csv(tmp_path / "out" / "tables" / "excluded_runs.csv").set_index("run")["left out because"]
    assert sorted(left_out.index) == ["udacity-link", "udacity__mnist-test-first512__seed0.bak"]
    assert "a copy of run udacity__mnist-test-first512__seed0" in left_out["udacity__mnist-test-first512__seed0.bak"]
    assert "symbolic link" in left_out["udacity-link"]


def test_tables_are_repaired_from_the_checkpoint(data_root, tmp_path):
    spec = make_spec("torch7-mlp", data_root, tmp_path, epochs=2, limit=64)
    train_run(spec)
    whole = spec.folder.metrics_path.read_bytes()
    spec.folder.metrics_path.write_text("".join(spec.folder.metrics_path.read_text().splitlines(True)[:-1]))
    assert train_run(spec).status == "skipped"
    assert spec.folder.metrics_path.read_bytes() == whole


def test_finished_epochs_without_their_checkpoint_are_never_overwritten(data_root, tmp_path):
    """Checkpoints are not committed: a run resumed from a clone has its tables but no checkpoint. Starting again at
    epoch 1 silently replaced the tables of every finished epoch; now it is one line, and nothing is written."""
    spec = make_spec("torch7-mlp", data_root, tmp_path, epochs=1, limit=64)
    train_run(spec)
    spec.folder.checkpoint_path.unlink()
    before = {path.name: path.read_bytes() for path in spec.folder.path.iterdir() if path.is_file()}
    with pytest.raises(StudyError, match="1 finished epochs but no checkpoint to resume them from.*--force"):
        train_run(replace(spec, epochs=2))
    assert {path.name: path.read_bytes() for path in spec.folder.path.iterdir() if path.is_file()} == before


def test_tables_are_never_repaired_from_another_runs_checkpoint(data_root, tmp_path):
    spec, other = (make_spec("torch7-mlp", data_root, tmp_path, epochs=1, limit=64, seed=seed) for seed in (0, 1))
    train_run(spec)
    train_run(other)
    shutil.copy(other.folder.checkpoint_path, spec.folder.checkpoint_path)
    spec.folder.metrics_path.write_text("")
    with pytest.raises(StudyError, match=f"is of run {other.run_id}, not {spec.run_id}"):
        train_run(spec)


# 5. SIGTERM is Ctrl-C ---------------------------------------------------------------------------------------------
def _study_process(data_root: Path, results: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-c", "from harness.cli import app; app()", *run_args(data_root, results, *extra)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(process: subprocess.Popen, seconds: float = 120) -> tuple[str, str]:
    """The process's output once it ends; a hang (the bug these tests guard against) fails the test and is killed,
    never left running."""
    try:
        return process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"study did not end within {seconds:.0f} s (hung)")


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _lock_is_free(folder: RunFolder) -> bool:
    import fcntl
    with open(folder.lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_interrupts_like_ctrl_c_and_the_runs_resume(jobs, data_root, tmp_path):
    args = ["udacity", "torch7-mlp", "--epochs", "20", "--limit", "128", "--threads", "1", "--jobs", jobs,
            "--split", "train", "--eval-every", "0"]  # no scoring: each results folder would build its own panel
    process = _study_process(data_root, tmp_path / "cut", *args)
    folders = [RunFolder.of(tmp_path / "cut", f"{v}__mnist-train-first128__seed0") for v in ("udacity", "torch7-mlp")]
    _wait_for(lambda: folders[0].checkpoint_path.exists())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert "re-run the same command to resume" in err and "Traceback" not in err
    started = [f for f in folders if f.has_manifest()]
    assert started and all(f.read_manifest().status == "interrupted" for f in started)
    assert all(_lock_is_free(f) for f in started)  # no worker outlives the command
    resumed = _study_process(data_root, tmp_path / "cut", *args)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read() if resumed.stderr else ""
    whole = _study_process(data_root, tmp_path / "whole", *args)
    assert whole.wait(timeout=600) == 0
    for folder in folders:
        assert folder.metrics_path.read_bytes() == \
            RunFolder.of(tmp_path / "whole", folder.run_id).metrics_path.read_bytes()


# Parallel workers that cannot start or die end the command with a line per run ---------------------------------
def test_a_run_named_twice_is_refused(data_root, tmp_path):
    process = _study_process(data_root, tmp_path, "udacity", "udacity", "--jobs", "2", "--limit", "64")
    out, err = _finished(process)  # in a process of its own: a hang fails the test, not the suite
    assert_one_line_error(SimpleNamespace(exit_code=process.returncode, stderr=err, output=out),
                          "asked for more than once")


def test_parallel_runs_with_one_locked_end_with_a_line_for_it(data_root, tmp_path):
    locked = RunFolder.of(tmp_path, "udacity__mnist-test-first64__seed0")
    with locked.locked("trained"):
        process = _study_process(data_root, tmp_path, "udacity", "torch7-mlp", "--jobs", "2", "--limit", "64",
                                 "--epochs", "1", "--threads", "1", "--eval-every", "0")
        out, err = _finished(process)
    assert process.returncode == 1 and "Traceback" not in err, err
    assert f"{locked.run_id}: failed: run {locked.run_id} is being trained by another process" in out
    assert RunFolder.of(tmp_path, "torch7-mlp__mnist-test-first64__seed0").read_manifest().status == "complete"
    assert err.strip().splitlines()[-1].startswith("error: 1 of 2 runs failed")


def test_a_killed_worker_ends_the_command_with_a_line_per_run(data_root, tmp_path):
    process = _study_process(data_root, tmp_path, "udacity", "torch7-mlp", "--jobs", "2", "--limit", "64",
                             "--epochs", "200", "--threads", "1", "--eval-every", "0")
    folder = RunFolder.of(tmp_path, "udacity__mnist-test-first64__seed0")
    _wait_for(lambda: folder.checkpoint_path.exists(), seconds=120)
    os.kill(int(folder.lock_path.read_text().split()[-1]), signal.SIGKILL)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "Traceback" not in err, err
    assert f"{folder.run_id}: failed: a worker process died" in out
    assert "error: 2 of 2 runs failed" in err or "torch7-mlp__mnist-test-first64__seed0: complete" in out


# 6 and 7. Asking for fewer epochs; --force ------------------------------------------------------------------------
def test_fewer_epochs_than_an_interrupted_run_has_is_refused(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, epochs=8, limit=64)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, InterruptAt(epoch=4, step=1))
    with pytest.raises(StudyError, match="already has 3 epochs, more than the 2 asked for; pass --epochs 8"):
        train_run(replace(spec, epochs=2))


def _run_files(folder: RunFolder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (folder.metrics_path, folder.manifest_path, folder.checkpoint_path)}


def test_force_keeps_the_old_run_whole_until_the_new_one_is_complete(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, epochs=2, limit=64)
    train_run(spec)
    old = _run_files(spec.folder)
    for epoch in (1, 2):  # before and after the new run's first epoch
        with pytest.raises(KeyboardInterrupt):
            train_run(spec, InterruptAt(epoch=epoch, step=1), force=True)
        assert _run_files(spec.folder) == old
    assert train_run(spec).status == "skipped"  # a plain re-run keeps the finished run, and drops the unfinished
    assert sorted(p.name for p in spec.folder.path.parent.iterdir()) == [f".{spec.run_id}.lock", spec.run_id]
    train_run(replace(spec, epochs=3), force=True)
    newer = _run_files(spec.folder)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, InterruptAt(epoch=2, step=1), force=True)  # a second --force never loses the newer run
    assert _run_files(spec.folder) == newer and spec.folder.read_manifest().epochs_done == 3


def test_force_killed_mid_training_loses_nothing(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path / "results", epochs=1, limit=64, split="test")
    train_run(spec)
    old = _run_files(spec.folder)
    process = _study_process(data_root, tmp_path / "results", "udacity", "--epochs", "30", "--limit", "64",
                             "--force", "--eval-every", "0")
    staged = spec.folder.replacement()
    _wait_for(lambda: staged.checkpoint_path.exists(), seconds=60)
    process.kill()  # -9: no handler runs
    process.communicate(timeout=30)
    assert _run_files(spec.folder) == old and spec.folder.read_manifest().status == "complete"
    assert [f.run_id for f in run_folders(tmp_path / "results")] == [spec.run_id]
    assert train_run(spec).status == "skipped"


# Everything a run's numbers depend on is checked on resume ----------------------------------------------------------
def _interrupted(spec) -> None:
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, InterruptAt(epoch=2, step=1))


def _edit_checkpoint(folder: RunFolder, **changes) -> None:
    state = torch.load(folder.checkpoint_path, weights_only=False)
    state.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        state.pop(key, None)  # a checkpoint of an older format may lack it already
    torch.save(state, folder.checkpoint_path)


@pytest.mark.parametrize("change,needle", [
    ("eval-samples", "was scored with 32 samples, not 16; resume it with --eval-samples 32"),
    ("evaluator", "was scored with evaluator"),
    ("scoring-off", "was trained with scoring on"),
    ("other-seed", "is of run udacity__mnist-test-first64__seed1, not udacity__mnist-test-first64__seed0"),
    ("other-variant", "does not hold udacity's models"),
    ("no-epoch", "lacks epoch"),
    ("fashion-data", "was trained on images with SHA-256"),
    ("old-checkpoint", "names no run (an older version of the suite wrote it)"),
    ("old-manifest", "recorded no hash of its training images")])
def test_a_resume_that_would_change_the_numbers_is_refused(change, needle, data_root, tmp_path):
    spec = replace(make_spec("udacity", data_root, tmp_path, epochs=3, limit=64, split="test"), eval_every=1,
                   eval_samples=32)
    _interrupted(spec)
    if change == "evaluator":
        build_evaluator(tmp_path, data_root, "mnist", "test", epochs=1)
    elif change == "other-seed":
        other = replace(spec, seed=1)
        _interrupted(other)
        shutil.copy(other.folder.checkpoint_path, spec.folder.checkpoint_path)
    elif change == "other-variant":
        other = replace(make_spec("torch7-mlp", data_root, tmp_path, epochs=3, limit=64, split="test"), eval_every=1,
                        eval_samples=32)
        _interrupted(other)
        shutil.copy(other.folder.checkpoint_path, spec.folder.checkpoint_path)
        _edit_checkpoint(spec.folder, run=spec.run_id)  # names this run: only its models can tell
    elif change == "no-epoch":
        _edit_checkpoint(spec.folder, epoch=None)
    elif change == "fashion-data":
        raw = data_root / "MNIST" / "raw"
        for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
            shutil.copy(data_root / "FashionMNIST" / "raw" / name, raw / name)
    elif change == "old-checkpoint":
        _edit_checkpoint(spec.folder, run=None)  # as checkpoints were written before they named their run
    elif change == "old-manifest":  # as manifests were written before they recorded the images' hash
        manifest = json.loads(spec.folder.manifest_path.read_text())
        del manifest["data"]["sha256"]
        spec.folder.manifest_path.write_text(json.dumps(manifest))
    before = _run_files(spec.folder)
    result = study(*run_args(data_root, tmp_path, "udacity", "--epochs", "3", "--limit", "64", "--eval-every",
                             "0" if change == "scoring-off" else "1", "--eval-samples",
                             "16" if change == "eval-samples" else "32"))
    assert_one_line_error(result, needle)
    if change.startswith("old-"):  # scoring it again cannot check it either
        assert_one_line_error(study("eval", str(spec.folder.path)), needle)
    assert _run_files(spec.folder) == before


def test_eval_of_an_unfinished_run_writes_beside_its_tables(data_root, tmp_path, monkeypatch):
    spec = make_spec("udacity", data_root, tmp_path / "cut", epochs=3, limit=64, split="test")
    _interrupted(spec)
    build_panel(spec.results, data_root)
    before = _run_files(spec.folder)
    assert study("eval", str(spec.folder.path), "--n", "16").exit_code == 0  # by its path: the tables stay whole
    assert _run_files(spec.folder) == before
    monkeypatch.chdir(spec.folder.path)  # and from inside: `cd results/runs/X && study eval .`
    assert study("eval", ".", "--n", "16").exit_code == 0
    assert _run_files(spec.folder) == before
    assert json.loads(spec.folder.eval_path.read_text())["epoch"] == 1
    assert not any(p.name == "..lock" for p in spec.folder.path.parent.iterdir())
    train_run(spec)
    whole = make_spec("udacity", data_root, tmp_path / "whole", epochs=3, limit=64, split="test")
    train_run(whole)
    assert spec.folder.metrics_path.read_bytes() == whole.folder.metrics_path.read_bytes()


def test_evaluator_build_never_overwrites_the_one_runs_were_scored_with(data_root, tmp_path):
    spec = replace(make_spec("udacity", data_root, tmp_path, limit=64, split="test"), eval_every=1)
    train_run(spec)
    record = next((tmp_path / "evaluators").iterdir()) / "evaluator.json"
    before = record.read_bytes()
    result = study("evaluator", "build", "--split", "test", "--epochs", "1", "--results", str(tmp_path),
                   "--data-root", str(data_root))
    assert_one_line_error(result, "scored 1 run(s)", "another --results")
    assert record.read_bytes() == before


# 8. One line, not a traceback -------------------------------------------------------------------------------------
def test_bad_inputs_get_one_line(data_root, tmp_path):
    results = tmp_path / "results"
    assert_one_line_error(study(*run_args(data_root, results, "udacity", "--split", "foo")), "unknown split 'foo'")
    assert_one_line_error(study(*run_args(data_root, results, "dcgan-xavier", "--limit", "33", "--epochs", "1")),
                          "last batch of 1 image", "--limit 32")
    deep = tmp_path
    while len(str(deep)) < 3800:  # room for the results folder itself, not for a run's files within it
        deep = deep / ("z" * 200)
    deep = deep / ("y" * (4010 - len(str(deep))))
    assert_one_line_error(study(*run_args(data_root, deep, "udacity", "--limit", "64", "--epochs", "1")),
                          "too long", "--results")
    assert not (results / "runs").exists()


@pytest.mark.parametrize("args,config,needle", [
    (["--threads", "2147483648"], "", "--threads must be an integer from 1 to 1024"),
    ([], "[run]\nthreads = 1000000000000\n", "threads must be an integer from 1 to 1024"),
    ([], "[Run]\nseeds = [3]\n", "unknown table [Run]; the valid tables are [run] and [[arms]]"),
    (["--limit", "1"], "", "use --limit 2")])
def test_listed_inputs_get_one_sane_line(args, config, needle, data_root, tmp_path):
    extra = [*args, "--epochs", "1"]
    if config:
        (tmp_path / "study.toml").write_text(config)
        extra += ["--config", str(tmp_path / "study.toml")]
    result = study(*run_args(data_root, tmp_path / "results", "udacity", *extra))
    assert_one_line_error(result, needle)
    assert "or 2" not in result.stderr


def test_disk_full_is_one_line_and_recorded(data_root, tmp_path, monkeypatch):
    real = storage.atomic_write_bytes

    def full(path, data):
        if path.name.startswith("epoch-"):
            raise OSError(28, "No space left on device", str(path))
        real(path, data)
    monkeypatch.setattr(storage, "atomic_write_bytes", full)
    monkeypatch.setattr("harness.images.atomic_write_bytes", full)
    result = study(*run_args(data_root, tmp_path, "udacity", "--limit", "64", "--epochs", "1"))
    assert_one_line_error(result, "No space left on device", "completed epochs are kept")
    assert RunFolder.of(tmp_path, "udacity__mnist-test-first64__seed0").read_manifest().status == "failed"


@pytest.mark.parametrize("problem,needle", [("32x32", "not 28x28"), ("empty", "holds no images"),
                                            ("label", "label 10, outside 0-9")])
def test_idx_contents_are_checked(problem, needle, data_root, tmp_path):
    raw = data_root / "MNIST" / "raw"
    count = 0 if problem == "empty" else 8
    size = 32 if problem == "32x32" else 28
    (raw / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(torch.zeros(count, size, size, dtype=torch.uint8)))
    labels = torch.full((count,), 10 if problem == "label" else 3, dtype=torch.uint8)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert_one_line_error(study(*run_args(data_root, tmp_path, "udacity", "--epochs", "1")), needle)


def test_scoring_minimums_and_damaged_evaluator_records(data_root, tmp_path):
    spec = replace(make_spec("udacity", data_root, tmp_path, limit=64, split="test"), eval_every=1)
    train_run(spec)
    for args in (["eval", str(spec.folder.path), "--n", "5"],
                 ["calibrate", "--results", str(tmp_path), "--data-root", str(data_root), "--n", "2"]):
        assert_one_line_error(study(*args), "--n must be an integer >= 6")
    assert study("eval", str(spec.folder.path), "--n", "6").exit_code == 0
    record = next((tmp_path / "evaluators").iterdir()) / "evaluator.json"
    record.write_text("{}")
    result = study("eval", str(spec.folder.path))
    assert_one_line_error(result, "evaluator record", "rebuild it with `study evaluator build")
    assert "run folder" not in result.stderr


# 11. Data roots -----------------------------------------------------------------------------------------------------
def test_manifests_hold_absolute_data_roots_and_eval_finds_moved_data(data_root, tmp_path, monkeypatch):
    monkeypatch.chdir(data_root.parent)
    spec = replace(make_spec("udacity", Path(data_root.name), tmp_path / "results", limit=64, split="test"),
                   eval_every=1)
    train_run(spec)
    assert spec.folder.read_manifest().data.root == str(data_root)
    moved = tmp_path / "moved"
    data_root.rename(moved)
    monkeypatch.chdir(tmp_path)
    assert study("eval", str(spec.folder.path), "--data-root", str(moved)).exit_code == 0
    monkeypatch.setenv("STUDY_DATA_ROOT", str(moved))
    assert study("eval", str(spec.folder.path)).exit_code == 0
    monkeypatch.delenv("STUDY_DATA_ROOT")
    assert_one_line_error(study("eval", str(spec.folder.path)), "data not found")
    assert not data_root.exists()  # no empty folders left behind by the failed download


# Result files are readable as the umask allows ------------------------------------------------------------------------
def test_result_files_follow_the_umask(data_root, tmp_path):
    outcome = train_run(make_spec("udacity", data_root, tmp_path, limit=64))
    mask = os.umask(0)
    os.umask(mask)
    for path in (outcome.folder.metrics_path, outcome.folder.manifest_path, outcome.folder.sample_path(1)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert json.loads(outcome.folder.manifest_path.read_text())["status"] == "complete"
