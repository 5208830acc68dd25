"""Runs: files written, identical seeds give identical bytes, resume equals uninterrupted, skip and force."""
from __future__ import annotations

import dataclasses
import json
import math

import pandas as pd
import pytest
import torch

from harness.data import load_split
from harness.errors import StudyError
from harness.original_loop import OriginalRun
from harness.runs import load_runs
from harness.seeding import SEED_CONTRACT
from harness.storage import load_checkpoint
from harness.train import SilentProgress, train_run
from tests.conftest import make_spec, small_limit
from variants import VARIANTS


class InterruptAt(SilentProgress):
    """Raises KeyboardInterrupt (as Ctrl-C would) at a given step of a given epoch."""

    def __init__(self, epoch: int, step: int):
        self.target, self.step_at, self.epoch = epoch, step, 0

    def begin_epoch(self, epoch):
        self.epoch = epoch

    def step(self, done, live):
        if self.epoch == self.target and done == self.step_at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_trains_an_epoch_end_to_end(name, data_root, tmp_path):
    outcome = train_run(make_spec(name, data_root, tmp_path / "results", limit=200))
    run = outcome.folder
    metrics = pd.read_csv(run.metrics_path)
    assert list(metrics["epoch"]) == [1] and metrics["images"].item() == 200
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_accuracy"} <= set(metrics.columns)
    assert metrics[["g_loss", "d_real", "d_fake", "d_accuracy"]].notna().all(axis=None)
    assert 0 <= metrics["d_real"].item() <= 1 and 0 <= metrics["d_accuracy"].item() <= 1
    assert run.sample_path(1).stat().st_size > 0
    assert run.checkpoint_path.is_file() and run.timings_path.is_file()
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["status"] == "complete" and manifest["data"]["images"] == 200
    assert manifest["variant"] == name and manifest["seed"] == 0 and manifest["data"]["split"] == "train"
    assert {"python", "torch", "torchvision"} <= set(manifest["versions"]) and manifest["code_version"]
    assert manifest["device"].startswith("cpu")


def test_writeup_columns_and_log(data_root, tmp_path):
    run = train_run(make_spec("infogan", data_root, tmp_path, limit=150)).folder
    metrics = pd.read_csv(run.metrics_path)
    assert metrics["fail_real_pct"].item() == pytest.approx(100 * (1 - metrics["d_real_acc"].item()))
    assert metrics["d_updates"].item() == 1  # 3 steps of 50: D updates on step 0 only
    assert math.isnan(metrics["d_loss_last"].item())  # no D update on the last step: no D loss to report
    run = train_run(make_spec("udacity", data_root, tmp_path, limit=None)).folder
    log = pd.read_csv(run.log_path)
    assert list(log["step"]) == [0]  # udacity prints at batch_i % 400 == 0: here only batch 0 exists
    assert log["d_loss"].notna().all() and pd.read_csv(run.metrics_path)["d_loss_last"].notna().all()
    assert run.writeup_sample_path(1).is_file()


# Every variant with its default toggles, and udacity shuffled: its own batch order is then drawn from the seed too.
EVERY_VARIANT = [(name, frozenset()) for name in VARIANTS] + [("udacity", frozenset({"shuffle"}))]


@pytest.mark.parametrize("name,fixes", EVERY_VARIANT)
def test_identical_seeds_give_identical_bytes_and_different_seeds_differ(name, fixes, data_root, tmp_path):
    limit = small_limit(VARIANTS[name], fixes)
    first, second, other = (train_run(make_spec(name, data_root, tmp_path / folder, epochs=2, seed=seed, limit=limit,
                                                fixes=fixes)) for folder, seed in (("a", 0), ("b", 0), ("c", 1)))
    same = (first.folder.metrics_path).read_bytes()
    assert same == (second.folder.metrics_path).read_bytes()
    assert (first.folder.log_path).read_bytes() == (second.folder.log_path).read_bytes()
    assert same != (other.folder.metrics_path).read_bytes()


@pytest.mark.parametrize("name,fixes", EVERY_VARIANT)
def test_resume_after_interrupt_equals_uninterrupted(name, fixes, data_root, tmp_path):
    """Ctrl-C after the first step of epoch 2 (the last step where an epoch has one), then a resume: the same
    bytes, models included, as a run never interrupted."""
    limit = small_limit(VARIANTS[name], fixes)
    whole = train_run(make_spec(name, data_root, tmp_path / "whole", epochs=3, limit=limit, fixes=fixes))
    spec = make_spec(name, data_root, tmp_path / "cut", epochs=3, limit=limit, fixes=fixes)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, InterruptAt(epoch=2, step=1))
    manifest = json.loads((spec.folder.manifest_path).read_text())
    assert manifest["status"] == "interrupted" and manifest["epochs_done"] == 1
    assert len(pd.read_csv(spec.folder.metrics_path)) == 1  # what was written survives
    resumed = train_run(spec)
    assert resumed.status == "complete"
    assert (whole.folder.metrics_path).read_bytes() == (resumed.folder.metrics_path).read_bytes()
    a = load_checkpoint(whole.folder.checkpoint_path)["gan"]["generator"]
    b = load_checkpoint(resumed.folder.checkpoint_path)["gan"]["generator"]
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert len(json.loads((spec.folder.manifest_path).read_text())["resumed_at"]) == 1


def test_complete_runs_are_skipped_extended_or_forced(data_root, tmp_path):
    spec = make_spec("torch7-mlp", data_root, tmp_path, epochs=1, limit=64)
    train_run(spec)
    before = (spec.folder.metrics_path).read_bytes()
    assert train_run(spec).status == "skipped"
    assert (spec.folder.metrics_path).read_bytes() == before
    longer = make_spec("torch7-mlp", data_root, tmp_path, epochs=2, limit=64)
    assert train_run(longer).epochs_done == 2
    whole = train_run(make_spec("torch7-mlp", data_root, tmp_path / "whole", epochs=2, limit=64))
    assert (whole.folder.metrics_path).read_bytes() == (longer.folder.metrics_path).read_bytes()
    assert train_run(spec, force=True).status == "complete"
    assert len(pd.read_csv(spec.folder.metrics_path)) == 1


def test_samples_leave_batchnorm_state_untouched(data_root, tmp_path):
    """The study grid is sampled in train mode for dcgan-xavier; G's running statistics must not move."""
    from harness.sampling import fixed_noise, generate
    from harness.steps import Gan
    torch.manual_seed(0)
    gan = Gan.create(VARIANTS["dcgan-xavier"], frozenset(), torch.device("cpu"))
    before = {k: v.clone() for k, v in gan.generator.state_dict().items()}
    generate(gan, fixed_noise(gan, 0), train_mode=True)
    assert all(torch.equal(before[k], v) for k, v in gan.generator.state_dict().items())
    assert gan.generator.training


def test_real_data_runs_record_the_split(real_data_root, tmp_path):
    outcome = train_run(make_spec("udacity", real_data_root, tmp_path, limit=256, split="test"))
    manifest = json.loads((outcome.folder.manifest_path).read_text())
    assert manifest["data"] == manifest["data"] | {"dataset": "mnist", "split": "test", "images": 256}


def test_resume_under_another_thread_count_is_refused(data_root, tmp_path):
    from dataclasses import replace

    from harness.errors import StudyError
    spec = make_spec("dcgan-xavier", data_root, tmp_path, epochs=2, limit=64)
    with pytest.raises(KeyboardInterrupt):
        train_run(replace(spec, threads=1), InterruptAt(epoch=2, step=1))
    threads = torch.get_num_threads()
    try:
        with pytest.raises(StudyError, match="trained with 1 CPU threads"):
            train_run(replace(spec, threads=2))
        assert train_run(replace(spec, threads=1)).status == "complete"
    finally:
        torch.set_num_threads(threads)


def test_infogan_logs_the_d_loss_as_train_py_does(data_root, tmp_path):
    """train.py adds the D loss to its epoch sum on every step, stale between D updates: with 4 steps of 50 (D at
    steps 0 and 3) the first D loss counts 3 times, the second once; d_loss is the mean over the 2 updates."""
    run = train_run(make_spec("infogan", data_root, tmp_path, limit=200)).folder
    split = load_split(data_root, "mnist", "train", 200)
    original = OriginalRun(VARIANTS["infogan"], frozenset(), 0, split.images, split.labels, torch.device("cpu"))
    losses = [d for d, _ in original.steps(epochs=1)]
    assert math.isnan(losses[1]) and math.isnan(losses[2])
    metrics = pd.read_csv(run.metrics_path)
    assert metrics["d_loss_stale"].item() == pytest.approx((3 * losses[0] + losses[3]) / 4, rel=1e-6)
    assert metrics["d_loss"].item() == pytest.approx((losses[0] + losses[3]) / 2, rel=1e-6)


def test_runs_of_another_seed_contract_are_neither_resumed_nor_reported(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, limit=128)
    train_run(spec)
    manifest = json.loads(spec.folder.manifest_path.read_text())
    assert manifest["seed_contract"] == SEED_CONTRACT
    del manifest["seed_contract"]  # as a manifest written before the contract was recorded
    spec.folder.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(StudyError, match=f"seed contract 0, not {SEED_CONTRACT}.*--force"):
        train_run(spec)
    with pytest.raises(StudyError, match="seed contract"):
        train_run(dataclasses.replace(spec, epochs=2))
    complete, left_out = load_runs(tmp_path)
    assert not complete and "seed contract 0" in left_out[0].reason and "--seed-contract 0" in left_out[0].reason
    assert [r.run_id for r in load_runs(tmp_path, seed_contract=0)[0]] == [spec.run_id]  # its own report's
    assert train_run(spec, force=True).status == "complete"
    assert [r.run_id for r in load_runs(tmp_path)[0]] == [spec.run_id]
