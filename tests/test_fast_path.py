"""The suite's fast loop computes exactly what the write-ups' own loop computes; parallel runs equal sequential ones."""
from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from typer.testing import CliRunner

from harness import cli
from harness.bench import suite_loop
from harness.data import DeviceImages, load_split
from harness.errors import StudyError
from harness.original_loop import OriginalRun
from harness.run_folder import STAT_NAMES, RunFolder, run_folders
from harness.seed_contract import make_draws, start_script
from harness.seeding import seed_everything
from harness.steps import Gan, train_step
from harness.storage import load_checkpoint
from harness.train import epoch_steps, train_run
from tests.conftest import make_spec, small_limit
from variants import VARIANTS

STEPS = 20
CPU = torch.device("cpu")
runner = CliRunner()


def weights(gan: Gan) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in list(gan.generator.parameters()) +
                      list(gan.discriminator.parameters())])


def assert_same_models(ours: dict, theirs: Gan) -> None:
    """Every parameter and buffer (BatchNorm running statistics included) of G and D equal."""
    for name, module in (("generator", theirs.generator), ("discriminator", theirs.discriminator)):
        reference = module.state_dict()
        assert ours[name].keys() == reference.keys()
        unequal = [key for key in reference if not torch.equal(ours[name][key], reference[key])]
        assert not unequal, f"{name}: {unequal}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_twenty_steps_equal_the_original_script_bit_for_bit(name, data_root):
    """300 synthetic images: every variant crosses epoch boundaries (and partial batches) within 20 steps, so the
    draws at the script's top and at epoch starts and ends are all exercised."""
    split = load_split(data_root, "mnist", "train")
    suite = start_script(VARIANTS[name], frozenset(), 0, CPU)
    data = DeviceImages(split.images, suite.device, suite.recipe.pixel_range, suite.recipe.flatten_real)
    suite_steps = [stats.tolist() for _, stats in itertools.islice(
        (item for _ in itertools.count() for item in epoch_steps(suite, data)), STEPS)]
    reference = OriginalRun(VARIANTS[name], frozenset(), 0, split.images, split.labels, CPU)
    reference_steps = list(itertools.islice(reference.steps(), STEPS))
    for ours, (d_loss, g_loss) in zip(suite_steps, reference_steps):
        stats = dict(zip(STAT_NAMES, ours))
        assert stats["g_loss"] == g_loss
        assert stats["d_loss"] == d_loss if stats["d_updates"] else math.isnan(d_loss)
    assert torch.equal(weights(suite), weights(reference.gan))


@pytest.mark.parametrize("name, toggles, epochs", [(name, (), 3) for name in VARIANTS] + [
    ("udacity", ("shuffle",), 2), ("infogan", ("two-runs-of-20",), 21)])
def test_a_trained_run_equals_the_original_script(name, toggles, epochs, data_root, tmp_path):
    """`study run`'s driver against the original script, whole epochs of two batches: every epoch's last printed
    losses and the final models, buffers included (dcgan-xavier's demonstrate() moves G's BatchNorm statistics),
    and infogan's second run of train.py (re-seeded, rebuilt, fresh Adam) over its epoch 20 -> 21 boundary."""
    limit = small_limit(VARIANTS[name], frozenset(toggles))
    spec = make_spec(name, data_root, tmp_path, limit=limit, epochs=epochs, fixes=frozenset(toggles))
    train_run(spec)
    split = load_split(data_root, "mnist", "train", limit)
    reference = OriginalRun(spec.variant, spec.fixes, 0, split.images, split.labels, CPU)
    steps = len(reference.loader)
    losses = list(reference.steps(epochs))
    metrics = spec.folder.read_metrics()
    assert list(metrics["g_loss_last"]) == [losses[steps * e - 1][1] for e in range(1, epochs + 1)]
    assert_same_models(load_checkpoint(spec.folder.checkpoint_path)["gan"], reference.gan)


def test_a_display_cell_before_the_models_moves_every_initial_weight():
    """Spec 001 §9, measured against the notebook: seed at the top, then the display cell's iterator (one int64
    base-seed draw) before D and G are built. Without that draw every weight differs; with it they are equal."""
    udacity = VARIANTS["udacity"]
    scripted = weights(start_script(udacity, frozenset(), 0, CPU))
    seed_everything(0)
    assert not torch.equal(scripted, weights(Gan.create(udacity, frozenset(), CPU)))
    seed_everything(0)
    torch.empty((), dtype=torch.int64).random_()
    assert torch.equal(scripted, weights(Gan.create(udacity, frozenset(), CPU)))


def test_demonstrate_moves_the_batchnorm_statistics_it_does_not_restore():
    gan = start_script(VARIANTS["dcgan-xavier"], frozenset(), 0, CPU)
    before = {k: v.clone() for k, v in gan.generator.state_dict().items()}
    drawn = make_draws(gan.variant, gan.fixes, "epoch-end", gan.generator)
    after = gan.generator.state_dict()
    assert drawn["demonstrate"].shape == (5, 100) and 0 <= drawn["demonstrate"].min()  # U[0,1), not N(0,1)
    assert not torch.equal(before["bn.running_mean"], after["bn.running_mean"])
    assert int(after["bn.num_batches_tracked"]) == int(before["bn.num_batches_tracked"]) + 1
    assert all(torch.equal(before[k], after[k]) for k, _ in gan.generator.named_parameters())


def test_suite_loop_accumulates_per_epoch(data_root):
    split = load_split(data_root, "mnist", "train", limit=64)
    seed_everything(0)
    gan = Gan.create(VARIANTS["udacity"], frozenset(), torch.device("cpu"))
    totals = list(itertools.islice(suite_loop(gan, DeviceImages(split.images, gan.device, "[-1,1]", False)), 3))
    assert totals[0][STAT_NAMES.index("d_updates")].item() == 1  # a new epoch restarts the sums (64 = 1 batch)
    assert totals[2][STAT_NAMES.index("d_updates")].item() == 1


def test_jobs_give_the_same_metrics_as_sequential_runs(data_root, tmp_path):
    common = ["run", "udacity", "dcgan-xavier", "--epochs", "1", "--limit", "64", "--split", "test", "--threads", "1",
              "--data-root", str(data_root), "--quiet"]
    parallel = runner.invoke(cli.app, common + ["--results", str(tmp_path / "par"), "--jobs", "2"])
    sequential = runner.invoke(cli.app, common + ["--results", str(tmp_path / "seq")])
    assert parallel.exit_code == 0 and sequential.exit_code == 0, parallel.output + sequential.output
    runs = [folder.run_id for folder in run_folders(tmp_path / "seq")]
    assert len(runs) == 2 and [folder.run_id for folder in run_folders(tmp_path / "par")] == runs
    for run in runs:
        assert RunFolder.of(tmp_path / "par", run).metrics_path.read_bytes() == \
            RunFolder.of(tmp_path / "seq", run).metrics_path.read_bytes()


def test_bench_prints_well_formed_json(data_root):
    result = runner.invoke(cli.app, ["bench", "torch7-mlp", "dcgan-xavier", "--steps", "5", "--json", "--split",
                                     "test", "--data-root", str(data_root)])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["variant"] for r in rows] == ["torch7-mlp", "dcgan-xavier"]
    for row in rows:
        assert {"variant", "device", "suite_images_per_s", "reference_images_per_s", "ratio"} <= set(row)
        assert row["suite_images_per_s"] > 0 and row["reference_images_per_s"] > 0 and row["peak_host_mb"] > 0
        assert row["ratio"] == pytest.approx(row["suite_images_per_s"] / row["reference_images_per_s"])
        assert 0 < row["floor_ms_per_step"] and row["provenance"]["images"] == 200
        assert {"torch", "torchvision", "python"} <= set(row["provenance"]["versions"])


def test_compile_refuses_what_it_cannot_reproduce():
    with pytest.raises(StudyError, match="recompute-fake"):
        Gan.create(VARIANTS["infogan"], frozenset(), torch.device("cpu"), compile=True)


def test_compiled_steps_agree_with_eager_to_float32_rounding():
    """The documented --compile tolerance: per-step statistics within 1e-5 over a few udacity steps."""
    results = []
    for compile in (False, True):
        seed_everything(0)
        gan = Gan.create(VARIANTS["udacity"], frozenset(), torch.device("cpu"), compile)
        batches = torch.rand(4, 64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
        results.append(torch.stack([train_step(gan, batch, step) for step, batch in enumerate(batches)]))
    assert torch.allclose(results[0], results[1], atol=1e-5, rtol=0)
