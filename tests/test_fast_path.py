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
from harness.original_loop import original_loop
from harness.run_folder import RunFolder, run_folders
from harness.seeding import seed_everything
from harness.steps import STAT_NAMES, Gan, train_step
from harness.train import epoch_steps
from variants import VARIANTS

STEPS = 20
runner = CliRunner()


def weights(gan: Gan) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in list(gan.generator.parameters()) +
                      list(gan.discriminator.parameters())])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_twenty_steps_equal_the_reference_loop_bit_for_bit(name, data_root):
    """300 synthetic images: every variant crosses epoch boundaries (and partial batches) within 20 steps."""
    split = load_split(data_root, "mnist", "train")
    seed_everything(0)
    suite = Gan.create(VARIANTS[name], frozenset(), torch.device("cpu"))
    data = DeviceImages(split.images, suite.device, suite.recipe.pixel_range, suite.recipe.flatten_real)
    suite_steps = [stats.tolist() for _, stats in itertools.islice(
        (item for _ in itertools.count() for item in epoch_steps(suite, data)), STEPS)]
    seed_everything(0)
    reference = Gan.create(VARIANTS[name], frozenset(), torch.device("cpu"))
    reference_steps = list(itertools.islice(original_loop(reference, split.images, split.labels), STEPS))
    for ours, (d_loss, g_loss) in zip(suite_steps, reference_steps):
        stats = dict(zip(STAT_NAMES, ours))
        assert stats["g_loss"] == g_loss
        assert stats["d_loss"] == d_loss if stats["d_updates"] else math.isnan(d_loss)
    assert torch.equal(weights(suite), weights(reference))


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
