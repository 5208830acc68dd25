"""The run folder: a manifest that cannot be read is a reason, never a crash; one writer per run, through any path
to it; a --force replacement swapped in whole even when cut short; no results folder inside a run. Manifests,
evaluation records and checkpoints read back (those written before the "protocol" rename too), and the one
definition of the per-epoch statistics."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from harness import cli
from harness.data import BatchOrder, DeviceImages, load_split
from harness.errors import StudyError
from harness.run_folder import (
    EPOCH_STATISTICS,
    METRIC_COLUMNS,
    PER_D_UPDATE,
    PER_STEP,
    STAT_NAMES,
    RunFolder,
    metric_columns,
    step_means,
)
from harness.runs import Run, load_runs
from harness.seed_contract import start_script
from harness.train import SilentProgress, epoch_steps, run_epoch, to_end, train_run
from tests.conftest import make_spec, small_limit
from tests.fakes import write_run
from tests.test_cli import assert_one_line_error, run_args
from variants import get_variant

runner = CliRunner()
CPU = torch.device("cpu")
# A manifest of the published study (docs/study/results), as the code of before the rename wrote it: "protocol" is
# its schedule, and its evaluation's "protocol" the evaluators' partition.
BEFORE_THE_RENAME = Path(__file__).parent / "fixtures" / "manifest_before_the_rename.json"


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


# The format: names before the rename, checkpoints, the epoch statistics ---------------------------------------
def folder_holding(tmp_path: Path, manifest: dict) -> RunFolder:
    folder = RunFolder.of(tmp_path, manifest["run_id"])
    folder.path.mkdir(parents=True)
    folder.manifest_path.write_text(json.dumps(manifest))
    return folder


def test_a_manifest_written_before_the_rename_reads_under_the_new_names_and_loses_nothing(tmp_path):
    old = json.loads(BEFORE_THE_RENAME.read_text())
    assert old["protocol"] == "steps" and old["evaluation"]["protocol"] == "test-thirds"  # the fixture is old
    folder = folder_holding(tmp_path, old)
    manifest = folder.read_manifest()
    assert manifest.schedule == "steps" and manifest.schedule_description == "step-matched"
    assert manifest.evaluation is not None and manifest.evaluation.partition == "test-thirds"
    assert manifest.evaluation.panel == old["evaluation"]["panel_sha256"]
    run = Run(folder, manifest, pd.DataFrame(), pd.DataFrame())
    assert run.run_set == "mnist test (4000 images), step-matched"  # what its report has always called it
    assert run.calibration_key == ("mnist", "test-thirds", 0, old["evaluation"]["evaluator_sha256"], 3000)
    folder.write_manifest(manifest)  # written again: the new names, every value kept
    renamed = {("schedule" if key == "protocol" else key): value for key, value in old.items()}
    renamed["evaluation"] = {("partition" if key == "protocol" else key): value
                             for key, value in old["evaluation"].items()}
    assert json.loads(folder.manifest_path.read_text()) == renamed


def test_an_evaluation_recorded_before_the_panel_names_its_one_evaluator_and_a_damaged_one_is_refused(tmp_path):
    old = json.loads(BEFORE_THE_RENAME.read_text())
    old["evaluation"] = {"evaluator_sha256": "ab" * 32, "protocol": "test-thirds", "heldout_accuracy": 0.98,
                         "n_fake": 500, "n_real": 500, "reference_overlap": 0, "eval_every": 1}
    evaluation = folder_holding(tmp_path / "a", old).read_manifest().evaluation
    assert evaluation is not None and evaluation.panel == ["ab" * 32] and evaluation.n_fake == 500
    del old["evaluation"]["n_fake"]
    with pytest.raises(StudyError, match="'evaluation' lacks n_fake"):
        folder_holding(tmp_path / "b", old).read_manifest()


def test_a_checkpoint_keeps_its_keys_on_disk_so_those_of_runs_in_progress_still_load(tmp_path):
    folder = RunFolder.of(tmp_path, "udacity__mnist-test-first64__seed0")
    # the dict the driver has always saved, keys in its order
    written = {"run": folder.run_id, "gan": {"generator": {}}, "rng": {"python": 1}, "epoch": 2,
               "metrics": [{"epoch": 1}, {"epoch": 2}], "log": [], "timings": [{"epoch": 1}, {"epoch": 2}],
               "pending_batches": torch.arange(3)}
    folder.checkpoint_path.parent.mkdir(parents=True)
    torch.save(written, folder.checkpoint_path)
    checkpoint = folder.read_checkpoint(folder.run_id)
    assert (checkpoint.run_id, checkpoint.epoch, checkpoint.metrics) == (folder.run_id, 2, written["metrics"])
    folder.write_checkpoint(checkpoint)
    again = torch.load(folder.checkpoint_path, weights_only=False)
    assert list(again) == list(written) and torch.equal(again.pop("pending_batches"), written.pop("pending_batches"))
    assert again == written
    with pytest.raises(StudyError, match="is of run udacity__mnist-test-first64__seed0, not other"):
        folder.read_checkpoint("other")


def test_the_step_statistics_the_epoch_row_and_the_csv_columns_come_from_one_definition(data_root):
    variant = get_variant("infogan")  # D updates every 3rd step: a mean per D update is not a mean per step
    split = load_split(data_root, "mnist", "train", small_limit(variant))

    def fresh() -> tuple:
        gan = start_script(variant, frozenset(), 0, CPU)
        return gan, DeviceImages(split.images, CPU, gan.recipe.pixel_range, gan.recipe.flatten_real)

    gan, data = fresh()
    steps = [dict(zip(STAT_NAMES, stats.tolist())) for _, stats in epoch_steps(gan, data)]
    gan, data = fresh()  # the same seed: the same steps, now through the driver's epoch
    order = BatchOrder(len(data), gan.recipe.batch_size, gan.recipe.shuffle, CPU)
    row, _, _ = to_end(run_epoch(gan, data, order, len(steps), 1, SilentProgress()))

    assert METRIC_COLUMNS == [statistic.name for statistic in EPOCH_STATISTICS]
    assert list(row) == METRIC_COLUMNS + list(variant.writeup_columns)  # the row holds the columns, in their order
    assert metric_columns(list(variant.writeup_columns))[:len(row)] == list(row)
    assert set(STAT_NAMES) <= set(METRIC_COLUMNS)  # every step statistic is a column
    updated = [step for step in steps if step["d_updates"]]
    assert 0 < len(updated) < len(steps)
    for statistic in EPOCH_STATISTICS:  # each made as the definition says
        over = {PER_D_UPDATE: updated, PER_STEP: steps}.get(statistic.made)
        if over is not None:
            assert row[statistic.name] == pytest.approx(sum(s[statistic.name] for s in over) / len(over))
    assert (row["d_updates"], row["steps"], row["images"]) == (len(updated), len(steps), len(data))
    assert row["d_accuracy"] == pytest.approx((row["d_real_acc"] + row["d_fake_acc"]) / 2)
    assert math.isnan(row["d_loss_last"]) and row["g_loss_last"] == pytest.approx(steps[-1]["g_loss"])
    assert set(step_means([1.0] * len(STAT_NAMES), 1)) == {s.name for s in EPOCH_STATISTICS
                                                             if s.made in (PER_D_UPDATE, PER_STEP)}

