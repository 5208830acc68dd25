"""The run folder: a manifest that cannot be read is a reason, never a crash; one writer per run, through any path
to it; a --force replacement swapped in whole even when cut short; no results folder inside a run."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness import cli
from harness.errors import StudyError
from harness.run_folder import RunFolder
from harness.runs import load_runs
from harness.train import train_run
from tests.conftest import make_spec
from tests.fakes import write_run
from tests.test_cli import assert_one_line_error, run_args

runner = CliRunner()


def study(*args: str):
    return runner.invoke(cli.app, list(args))


@pytest.mark.parametrize("field,value", [("fixes", None), ("versions", {})])
def test_a_manifest_with_unusable_fields_is_left_out_with_the_reason(field, value, tmp_path):
    write_run(tmp_path, "udacity", 0, grids=False)
    folder = RunFolder(write_run(tmp_path, "udacity", 1, grids=False))
    manifest = json.loads(folder.manifest_path.read_text())
    folder.manifest_path.write_text(json.dumps(manifest | {field: value}))
    runs, left_out = load_runs(tmp_path)
    assert [run.seed for run in runs] == [0]
    assert [e.run_id for e in left_out] == [folder.run_id] and f"'{field}' must" in left_out[0].reason


@pytest.mark.parametrize("manifest", ["{}", "[1]", '{"status": "complete"}'])
def test_damaged_manifests_are_left_out_and_refused_with_one_line(manifest, data_root, tmp_path):
    write_run(tmp_path / "results", "udacity", 0, grids=False)
    spec = make_spec("udacity", data_root, tmp_path / "results", epochs=1, limit=64)
    spec.folder.path.mkdir(parents=True)
    spec.folder.manifest_path.write_text(manifest)
    runs, left_out = load_runs(tmp_path / "results")
    assert len(runs) == 1 and [e.run_id for e in left_out] == [spec.run_id]
    assert left_out[0].reason.startswith("no readable manifest.json")
    result = study(*run_args(data_root, tmp_path / "results", "udacity", "--limit", "64", "--epochs", "1",
                             "--split", "train"))
    assert_one_line_error(result, "cannot be resumed", "--force")


def test_a_locked_run_refuses_a_second_trainer_and_scorer(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, epochs=1, limit=64)
    train_run(spec)
    before = spec.folder.metrics_path.read_bytes()
    with spec.folder.locked("trained"):
        with pytest.raises(StudyError, match="is being trained by another process"):
            train_run(replace(spec, epochs=2))
        assert_one_line_error(study("eval", str(spec.folder.path)), "is being trained by another process")
    assert spec.folder.metrics_path.read_bytes() == before
    assert train_run(replace(spec, epochs=2)).epochs_done == 2  # released: the lock dies with its holder


def test_the_lock_holds_through_a_symlinked_run_path(data_root, tmp_path):
    spec = replace(make_spec("udacity", data_root, tmp_path, limit=64, split="test"), eval_every=1)
    train_run(spec)
    link = tmp_path / "link"
    link.symlink_to(spec.folder.path)
    with spec.folder.locked("trained"):
        assert_one_line_error(study("eval", str(link)), "is being trained by another process")


@pytest.mark.parametrize("atomic_exchange", [True, False])
def test_a_swap_cut_short_is_finished_by_the_next_command(atomic_exchange, data_root, tmp_path, monkeypatch):
    spec = make_spec("udacity", data_root, tmp_path, epochs=1, limit=64)
    train_run(spec)
    if not atomic_exchange:
        monkeypatch.setattr("harness.run_folder.exchange_paths", lambda first, second: False)
    real_rename = Path.rename

    def killed_at_the_second_rename(self, target):
        if Path(target) == spec.folder.path and self.name.endswith(".forced"):
            raise SystemExit("killed")
        return real_rename(self, target)

    def killed_before_deleting(path, *args, **kwargs):
        raise SystemExit("killed")
    if atomic_exchange:
        monkeypatch.setattr("harness.run_folder.shutil.rmtree", killed_before_deleting)
    else:
        monkeypatch.setattr(Path, "rename", killed_at_the_second_rename)
    with pytest.raises(SystemExit):
        train_run(spec, force=True)
    monkeypatch.undo()
    new_manifest = json.loads(((spec.folder.replacement().path if not atomic_exchange else spec.folder.path)
                               / "manifest.json").read_text())
    assert train_run(spec).status == "skipped"
    assert json.loads(spec.folder.manifest_path.read_text()) == new_manifest  # the new run, swapped in
    assert sorted(p.name for p in spec.folder.path.parent.iterdir()) == [f".{spec.run_id}.lock", spec.run_id]


def test_results_inside_a_run_folder_are_refused(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, epochs=1, limit=64, split="test")
    train_run(spec)
    inner = spec.folder.path / "inner"
    assert_one_line_error(study(*run_args(data_root, inner, "torch7-mlp", "--limit", "64", "--epochs", "1")),
                          "inside the run folder", "--results")
    assert not inner.exists()
