"""The many-runs engine: runs interleaved in one process equal, byte for byte, the same runs trained alone."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import harness.train
from harness import cli
from harness.data import BatchOrder, DeviceImages, load_split
from harness.engine import RunStreams, train_together
from harness.errors import StudyError
from harness.planning import RunSpec
from harness.run_folder import COMPLETE, INTERRUPTED, RunFolder, run_folders
from harness.seed_contract import start_script
from harness.seeding import capture_rng
from harness.storage import load_checkpoint
from harness.train import RunOutcome, epoch_steps, train_run
from tests.conftest import build_panel, make_spec
from variants import VARIANTS, get_variant

CPU = torch.device("cpu")
ONE_THREAD = 1  # every run here, engine and lone alike: two threads on a loaded 2-core machine are 10x slower
# What a checkpoint holds that must not depend on how the run was scheduled (its timings are wall-clock).
CHECKPOINT_KEYS = ("run", "gan", "rng", "epoch", "metrics", "log", "pending_batches")


def same(ours: object, theirs: object) -> bool:
    """Equal all the way down: tensors and arrays element for element (NaN equal to NaN, as in the CSV files)."""
    if isinstance(ours, torch.Tensor):
        return isinstance(theirs, torch.Tensor) and ours.dtype == theirs.dtype and \
            torch.equal(ours.nan_to_num(), theirs.nan_to_num()) and torch.equal(ours.isnan(), theirs.isnan())
    if isinstance(ours, np.ndarray):
        return isinstance(theirs, np.ndarray) and np.array_equal(ours, theirs)
    if isinstance(ours, dict):
        return isinstance(theirs, dict) and ours.keys() == theirs.keys() and all(same(ours[k], theirs[k])
                                                                                 for k in ours)
    if isinstance(ours, (list, tuple)):
        return type(ours) is type(theirs) and len(ours) == len(theirs) and all(map(same, ours, theirs))
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(ours):
        return math.isnan(theirs)
    return ours == theirs


def assert_same_run(ours: RunFolder, alone: RunFolder) -> None:
    """The tables and sample grids byte for byte; the checkpoint's models, optimizers, RNG streams and tables."""
    for name in ("metrics.csv", "writeup_log.csv"):
        assert (ours.path / name).read_bytes() == (alone.path / name).read_bytes(), f"{ours.run_id}: {name}"
    grids = sorted(p.name for p in alone.samples_path.iterdir())
    assert sorted(p.name for p in ours.samples_path.iterdir()) == grids
    for grid in grids:
        assert (ours.samples_path / grid).read_bytes() == (alone.samples_path / grid).read_bytes(), grid
    mine, reference = load_checkpoint(ours.checkpoint_path), load_checkpoint(alone.checkpoint_path)
    for key in CHECKPOINT_KEYS:
        assert same(mine[key], reference[key]), f"{ours.run_id}: checkpoint {key}"


def run_spec(variant: str, data_root: Path, results: Path, **options) -> RunSpec:
    """make_spec's run on one thread; ``options`` may also set RunSpec's schedule and scoring fields."""
    spec_fields = {key: options.pop(key) for key in ("schedule", "eval_every", "eval_samples") if key in options}
    return dataclasses.replace(make_spec(variant, data_root, results, **options), threads=ONE_THREAD, **spec_fields)


def alone(spec: RunSpec, results: Path) -> RunFolder:
    lone = dataclasses.replace(spec, results=results)
    train_run(lone)
    return lone.folder


def together(specs: list[RunSpec], **options) -> list[RunOutcome]:
    done: list[RunOutcome] = []

    def failed(spec: RunSpec, reason: str) -> None:
        raise AssertionError(f"{spec.run_id}: {reason}")
    train_together(specs, False, done.append, failed, **options)
    return done


def mixed_specs(data_root: Path, results: Path) -> list[RunSpec]:
    """Every variant, a fix, and second seeds of an MLP and a conv variant: 64 images, 2 epochs (1-2 steps each)."""
    def spec(name: str, seed: int = 0, fixes: frozenset[str] = frozenset()) -> RunSpec:
        return run_spec(name, data_root, results, seed=seed, epochs=2, limit=64, fixes=fixes)
    return [spec("torch7-mlp"), spec("udacity"), spec("nll-softmax"), spec("infogan"), spec("dcgan-xavier"),
            spec("torch7-mlp", seed=1), spec("dcgan-xavier", seed=3), spec("udacity", fixes=frozenset({"shuffle"}))]


def test_every_variant_interleaved_step_by_step_equals_its_lone_run(data_root, tmp_path):
    """One step per turn, three runs at a time: each run's steps, epoch boundaries and seed-contract draws fall
    between other runs' steps, and finished runs hand their slot on."""
    specs = mixed_specs(data_root, tmp_path / "engine")
    done = together(specs, slots=3)
    assert sorted(outcome.run_id for outcome in done) == sorted(spec.run_id for spec in specs)
    assert all(outcome.status == "complete" for outcome in done)
    for spec in specs:
        assert_same_run(spec.folder, alone(spec, tmp_path / "alone"))


def test_a_turn_that_crosses_an_epoch_boundary_and_a_second_run_of_the_script(data_root, tmp_path):
    """Three steps a turn, so turns span the epoch-end bookkeeping (grids, checkpoint) and infogan's epoch 20 -> 21
    boundary, where train.py runs again (re-seeded, rebuilt, fresh Adam) while torch7-mlp is still training."""
    specs = [run_spec("infogan", data_root, tmp_path / "engine", epochs=21, limit=50,
                      fixes=frozenset({"two-runs-of-20"})),
             run_spec("torch7-mlp", data_root, tmp_path / "engine", epochs=3, limit=256)]
    together(specs, turn_steps=3)
    for spec in specs:
        assert_same_run(spec.folder, alone(spec, tmp_path / "alone"))


def test_step_matched_passes_that_start_mid_epoch(data_root, tmp_path):
    """--schedule steps, its epochs ending inside a pass that the next epoch continues (the pending batches kept in
    the checkpoint). The write-ups' 60,000-image epochs cost 118-1,875 steps, minutes here; the same arithmetic over
    a 160-image original gives torch7-mlp 5 steps an epoch over 64 images, 2 a pass, shuffled: epochs 1 and 3 end
    inside a pass, and epoch 2 starts its first pass at its second step."""
    torch7 = get_variant("torch7-mlp")
    short = dataclasses.replace(torch7, recipe=dataclasses.replace(torch7.recipe, original_images=160))
    steps = dataclasses.replace(run_spec("torch7-mlp", data_root, tmp_path / "engine", epochs=3, limit=64,
                                         schedule="steps"), variant=short)
    specs = [steps, run_spec("udacity", data_root, tmp_path / "engine", epochs=2, limit=128, seed=1)]
    together(specs)
    assert len(load_checkpoint(steps.folder.checkpoint_path)["pending_batches"]) == 32  # mid-pass at the end
    assert list(steps.folder.read_metrics()["steps"]) == [5, 5, 5]
    for spec in specs:
        assert_same_run(spec.folder, alone(spec, tmp_path / "alone"))


def test_an_interrupted_engine_resumes_every_run_to_its_lone_bytes(data_root, tmp_path, monkeypatch):
    """Ctrl-C in the middle of one run's epoch 2: that run and every paused one end interrupted (the waiting one
    never started); the same engine call again resumes each from its last checkpoint, scored runs included."""
    engine = tmp_path / "engine"
    build_panel(engine, data_root)
    specs = [run_spec("udacity", data_root, engine, epochs=3, limit=128, eval_every=1, eval_samples=64),
             run_spec("dcgan-xavier", data_root, engine, epochs=3, limit=64),
             run_spec("torch7-mlp", data_root, engine, epochs=3, limit=64, seed=2),
             run_spec("infogan", data_root, engine, epochs=3, limit=64)]
    step = harness.train.train_step
    calls = [0]

    def interrupting_step(*args):
        calls[0] += 1
        if calls[0] == 10:  # the 10th step: udacity's second of epoch 2, the others paused in it
            raise KeyboardInterrupt
        return step(*args)
    monkeypatch.setattr(harness.train, "train_step", interrupting_step)
    with pytest.raises(KeyboardInterrupt):
        together(specs, slots=3)
    monkeypatch.undo()
    # The lone runs score with the same evaluators and the calibration rows of n = 64 made by the first call (half
    # a minute here to compute again).
    shutil.copytree(engine / "evaluators", tmp_path / "alone" / "evaluators")
    started = specs[:3]
    assert [spec.folder.read_manifest().status for spec in started] == [INTERRUPTED] * 3
    assert [spec.folder.read_manifest().epochs_done for spec in started] == [1, 1, 1]
    assert not specs[3].folder.path.exists()
    together(specs, slots=3)
    for spec in specs:
        assert spec.folder.read_manifest().status == COMPLETE
        assert_same_run(spec.folder, alone(spec, tmp_path / "alone"))


def test_a_failed_run_is_reported_and_the_others_go_on(data_root, tmp_path):
    bad = run_spec("udacity", data_root, tmp_path, limit=65)  # 65 images in batches of 64 leave one over
    good = run_spec("torch7-mlp", data_root, tmp_path, limit=64)
    done, failed = [], []
    train_together([bad, good], False, done.append, lambda spec, reason: failed.append((spec.run_id, reason)))
    assert [outcome.run_id for outcome in done] == [good.run_id]
    assert failed and failed[0][0] == bad.run_id and "last batch of 1 image" in failed[0][1]


@pytest.mark.parametrize("change, refusal", [
    (lambda spec: dataclasses.replace(spec, threads=2), "one CPU thread count"),
    (lambda spec: dataclasses.replace(spec, compile=True), "eager runs only"),
    (lambda spec: spec, "asked for twice")])
def test_the_engine_refuses_what_it_cannot_make_per_run(change, refusal, data_root, tmp_path):
    spec = run_spec("torch7-mlp", data_root, tmp_path)
    with pytest.raises(StudyError, match=refusal):
        train_together([spec, change(spec)], False, print, print)
    assert not spec.folder.path.exists()


def test_without_per_run_streams_interleaved_runs_draw_each_others_numbers(data_root, tmp_path, monkeypatch):
    """The control: with the global streams shared, the second run's seeding and draws land in the first's."""
    monkeypatch.setattr(RunStreams, "active", contextlib.nullcontext)
    specs = [run_spec("torch7-mlp", data_root, tmp_path / "engine", seed=seed, epochs=2, limit=64) for seed in (0, 1)]
    together(specs)
    first = specs[0]
    assert first.folder.metrics_path.read_bytes() != alone(first, tmp_path / "alone").metrics_path.read_bytes()


def epochs_of(name: str, data_root: Path, limit: int, steps: int, ahead: bool) -> tuple[torch.Tensor, dict, dict]:
    """Two epochs of ``steps`` steps through epoch_steps, drawn per step or ahead: every step's statistics, the
    models and optimizers after them, and the RNG streams as the epoch-end draws left them."""
    gan = start_script(VARIANTS[name], frozenset(), 0, CPU)
    images = load_split(data_root, "mnist", "train", limit).images
    data = DeviceImages(images, CPU, gan.recipe.pixel_range, gan.recipe.flatten_real)
    order = BatchOrder(len(data), gan.recipe.batch_size, gan.recipe.shuffle, CPU)
    stats = [values for _ in range(2) for _, values in epoch_steps(gan, data, order, steps, ahead)]
    return torch.stack(stats), gan.state_dict(), capture_rng()


@pytest.mark.parametrize("name, limit, steps", [
    ("torch7-mlp", 64, 5),  # shuffled passes of 2 batches starting mid-epoch; noise on the shuffle's own stream
    ("dcgan-xavier", 64, 3),  # the progress bar's DataLoader draw at each epoch start, demonstrate() at its end
    ("udacity", 128, 2),  # dropout on the stream of the DataLoader's draws, each pass starting with its epoch
    ("infogan", 100, 2)])  # one z per step, shared by D and G
def test_an_epoch_plan_drawn_ahead_equals_drawing_per_step(name, limit, steps, data_root):
    planned, drawn = epochs_of(name, data_root, limit, steps, True), epochs_of(name, data_root, limit, steps, False)
    assert all(map(same, planned, drawn))


def test_on_the_cpu_a_plan_misses_dropout_before_a_pass_that_starts_mid_epoch(data_root):
    """udacity's dropout draws from torch's CPU stream, which the DataLoader's base seed also draws from: with 4
    steps an epoch over 3-batch passes, the second pass starts at epoch 1's step 3, and drawing it ahead puts its
    draw before the dropout of steps 0-2, so every step's masks move. (On CUDA dropout draws from the device's
    generator.)"""
    planned, drawn = epochs_of("udacity", data_root, 192, 4, True), epochs_of("udacity", data_root, 192, 4, False)
    assert not torch.equal(planned[0][0], drawn[0][0])


def test_study_run_with_the_engine_writes_what_local_runs_write(data_root, tmp_path):
    common = ["run", "torch7-mlp", "nll-softmax", "--seeds", "2", "--epochs", "2", "--limit", "64", "--threads", "1",
              "--eval-every", "0", "--data-root", str(data_root), "--quiet"]
    engine = CliRunner().invoke(cli.app, common + ["--results", str(tmp_path / "engine"), "--executor", "engine"])
    local = CliRunner().invoke(cli.app, common + ["--results", str(tmp_path / "local")])
    assert engine.exit_code == 0 and local.exit_code == 0, engine.output + local.output
    runs = [folder.run_id for folder in run_folders(tmp_path / "local")]
    assert len(runs) == 4 and sorted(folder.run_id for folder in run_folders(tmp_path / "engine")) == sorted(runs)
    for run in runs:
        assert_same_run(RunFolder.of(tmp_path / "engine", run), RunFolder.of(tmp_path / "local", run))


def test_the_engine_takes_no_jobs(data_root, tmp_path):
    result = CliRunner().invoke(cli.app, ["run", "udacity", "--executor", "engine", "--jobs", "2", "--data-root",
                                          str(data_root), "--results", str(tmp_path)])
    assert result.exit_code == 1 and "the engine trains every run in this process" in result.stderr
