"""`study report` on run folders written by the test (no training), and once end to end on tiny real runs."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from typer.testing import CliRunner

from harness import cli
from harness.claims import NOT_CHECKABLE, NOT_REPRODUCED, PARTLY, REPRODUCED, judge
from harness.errors import StudyError
from harness.images import save_grid
from harness.report import write_report as write_any_report
from harness.run_folder import DataRecord, Manifest, RunFolder, metric_columns
from harness.runs import load_runs
from harness.stats import bootstrap_ci
from harness.train import train_run
from tests.conftest import make_spec
from variants import VARIANTS

runner = CliRunner()


def write_report(results: Path, out: Path, wanted: list[str] | None, format: str) -> Path:
    return write_any_report(results, out, VARIANTS, wanted, format)
EVALUATOR = "ab" * 32


def write_run(results: Path, variant: str, seed: int, *, fixes: tuple[str, ...] = (), status: str = "complete",
              epochs: int = 3, final: dict | None = None) -> Path:
    """A run folder as the driver writes it, through the run-folder module: manifest, tables, sample grids."""
    folder = RunFolder.of(results, f"{'+'.join((variant, *fixes))}__mnist-test-first512__seed{seed}")
    rows = []
    for epoch in range(1, epochs + 1):
        rows.append({"epoch": epoch, "d_loss": 1.0 + 0.1 * epoch + seed, "g_loss": 0.8, "d_real": 0.6, "d_fake": 0.4,
                     "d_accuracy": 0.7, "d_loss_real": 0.5, "d_loss_fake": 0.5, "fid": 100.0 / epoch + seed,
                     "kid": 1.0, "inception_score": 5.0, "precision": 0.5, "recall": 0.4, "classes_covered": 9,
                     "eval_n_fake": 500, "eval_n_real": 500})
    rows[-1].update(final or {})
    log = [{"epoch": e, "step": 0, "d_loss": 1.3, "g_loss": 0.7} for e in range(1, epochs + 1)]
    folder.write_tables(rows, metric_columns([]), log, [])
    for epoch in range(1, epochs + 1):
        save_grid(torch.full((4, 1, 28, 28), epoch / epochs), folder.sample_path(epoch), nrow=2)
    folder.write_manifest(Manifest(
        run_id=folder.run_id, status=status, variant=variant, fixes=list(fixes), seed=seed,
        epochs_done=epochs if status == "complete" else 1, epochs_requested=epochs,
        data=DataRecord(dataset="mnist", split="test", images=512, limit=512, root="data"),
        device="cpu (2 threads)", versions={"torch": "2.x", "torchvision": "0.x", "python": "3.11"},
        code_version="abc123", evaluation={"evaluator_sha256": EVALUATOR, "protocol": "half-test",
                                           "heldout_accuracy": 0.98, "n_fake": 500, "n_real": 500,
                                           "reference_overlap": 0}))
    return folder.path


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for seed in range(3):
        write_run(root, "udacity", seed)
        write_run(root, "dcgan-xavier", seed)
        write_run(root, "nll-softmax", seed, final={"classes_covered": 2})  # collapsed: counted as failed
        write_run(root, "nll-softmax", seed, fixes=("g-backward",), final={"fid": 50.0 + seed})
    write_run(root, "infogan", 0, status="running")
    write_run(root, "torch7-mlp", 0, final={"g_loss": float("nan")})
    return root


def summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / "summary_1.csv").set_index("arm")


def test_aggregates_and_intervals_match_independent_computations(results, tmp_path):
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    table = summary(out)
    fids = [100 / 3 + seed for seed in range(3)]
    mean, sd = np.mean(fids), np.std(fids, ddof=1)
    assert table.loc["udacity", "FID"] == f"{mean:.4g} ± {sd:.4g}"
    assert table.loc["udacity", "seeds"] == 3 and table.loc["udacity", "failed"] == 0
    low, high = bootstrap_ci(fids)
    scipy_ci = scipy.stats.bootstrap((np.array(fids),), np.mean, confidence_level=0.95, method="percentile",
                                     n_resamples=10_000, random_state=1).confidence_interval
    spread = max(fids) - min(fids)
    assert low == pytest.approx(scipy_ci.low, abs=0.05 * spread) and high == pytest.approx(scipy_ci.high,
                                                                                          abs=0.05 * spread)
    assert table.loc["udacity", "FID 95% CI"] == f"[{low:.4g}, {high:.4g}]"
    assert table.loc["udacity", "best FID (epoch)"].endswith("(epochs 3, 3, 3)")


def test_failed_runs_are_counted_not_dropped_and_incomplete_ones_listed(results, tmp_path):
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    table = summary(out)
    assert table.loc["nll-softmax", "failed"] == 3 and table.loc["nll-softmax", "seeds"] == 3
    assert table.loc["torch7-mlp", "failed"] == 1  # NaN losses
    excluded = pd.read_csv(out / "tables" / "excluded_runs.csv")
    assert excluded["run"].tolist() == ["infogan__mnist-test-first512__seed0"]
    assert "status running" in excluded["left out because"].iloc[0]
    assert "infogan" not in set(summary(out).index)


def test_quirk_cost_is_paired_by_seed(results, tmp_path):
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    costs = pd.read_csv(out / "tables" / "quirk_costs.csv")
    row = costs[costs["fixed arm"] == "nll-softmax+g-backward"].iloc[0]
    differences = [(50.0 + s) - (100 / 3 + s) for s in range(3)]  # identical per seed: sd 0
    assert row["seeds"] == 3 and row["Δ FID"].startswith(f"{np.mean(differences):.4g} ± 0")


def test_each_verdict_kind(tmp_path):
    claim = next(c for c in VARIANTS["dcgan-xavier"].claims if c.key == "final-g-loss")  # g_loss in 2.02-2.62
    dcgan = VARIANTS["dcgan-xavier"]
    for seeds_g, expected in (((2.3, 2.3), REPRODUCED), ((2.3, 1.0), PARTLY), ((1.0, 1.0), NOT_REPRODUCED)):
        root = tmp_path / expected.replace(" ", "-")
        for seed, g in enumerate(seeds_g):
            write_run(root, "dcgan-xavier", seed, epochs=20, final={"g_loss": g})
        runs, _ = load_runs(root)
        verdict = judge(claim, runs, dcgan)
        assert verdict.kind == expected and [s for s, _ in verdict.values] == [0, 1] and verdict.epoch == 20
    short = tmp_path / "short"
    write_run(short, "dcgan-xavier", 0, epochs=3, final={"g_loss": 2.3})
    verdict = judge(claim, load_runs(short)[0], dcgan)  # an end-of-recipe claim on a 3-epoch run
    assert verdict.kind == NOT_CHECKABLE and "the run ended at epoch 3 of 20" in verdict.reason
    unchecked = next(c for c in dcgan.claims if c.check is None)
    assert judge(unchecked, runs, dcgan).kind == NOT_CHECKABLE


def test_outside_band_claims(tmp_path):
    claim = next(c for c in VARIANTS["torch7-mlp"].claims if c.key == "no-optimum-d")  # d_loss away from ln 4
    write_run(tmp_path, "torch7-mlp", 0, epochs=300, final={"d_loss": 1.386})
    write_run(tmp_path, "torch7-mlp", 1, epochs=300, final={"d_loss": 0.9})
    assert judge(claim, load_runs(tmp_path)[0], VARIANTS["torch7-mlp"]).kind == PARTLY


def test_report_is_deterministic_and_writes_figures(results, tmp_path):
    write_report(results, tmp_path / "a", None, "md")
    write_report(results, tmp_path / "b", None, "md")
    assert (tmp_path / "a" / "report.md").read_bytes() == (tmp_path / "b" / "report.md").read_bytes()
    text = (tmp_path / "a" / "report.md").read_text()
    for section in ("1. Setup", "2. Summary", "3. Every seed", "4. Curves", "5. Samples", "6. Claims",
                    "7. Cost of each quirk", "8. Which variants differ"):
        assert f"## {section}" in text
    pairwise = pd.read_csv(tmp_path / "a" / "tables" / "pairwise.csv")
    assert set(pairwise["conclusion"]) <= {"no difference detected", "differ (p < 0.05)", "too few seeds to tell"}
    images = list((tmp_path / "a" / "figures").iterdir())
    assert {"curves-1.png", "final-fid-1.png", "samples-1-udacity.png", "samples-1-udacity.gif"} <= \
        {p.name for p in images}
    assert all(p.stat().st_size > 500 for p in images)
    html = write_report(results, tmp_path / "c", None, "html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "figures/curves-1.png" in html


def test_pairwise_says_when_seeds_are_too_few(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed)
        write_run(tmp_path, "dcgan-xavier", seed, final={"fid": 500.0 + seed})
    write_report(tmp_path, tmp_path / "out", None, "md")
    pairwise = pd.read_csv(tmp_path / "out" / "tables" / "pairwise.csv")
    assert pairwise["conclusion"].tolist() == ["too few seeds to tell"]
    assert pairwise["smallest possible p"].iloc[0] == pytest.approx(1 / 3)


def test_variant_filter_and_empty_results(results, tmp_path):
    write_report(results, tmp_path / "only", None, "md")
    write_report(results, tmp_path / "only", ["udacity"], "md")
    assert set(summary(tmp_path / "only").index) == {"udacity"}
    leftovers = [p.name for p in (tmp_path / "only").glob("*/*") if "dcgan" in p.name or "nll" in p.name]
    assert leftovers == []  # a rewritten report keeps no tables or figures of the earlier one
    with pytest.raises(StudyError, match="no runs under"):
        write_report(tmp_path / "empty", tmp_path / "out", None, "md")
    result = runner.invoke(cli.app, ["report", "--results", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no runs under" in result.stderr


def test_end_to_end_tiny_real_runs(data_root, tmp_path):
    results = tmp_path / "results"
    for name in ("udacity", "torch7-mlp"):
        for seed in range(2):
            train_run(replace(make_spec(name, data_root, results, seed=seed, epochs=2, limit=64), eval_every=1))
    result = runner.invoke(cli.app, ["report", "--results", str(results)])
    assert result.exit_code == 0, result.output
    text = (results / "report" / "report.md").read_text()
    assert "| udacity | 2 |" in text and "| torch7-mlp | 2 |" in text
    assert not math.isnan(pd.read_csv(results / "report" / "tables" / "per_seed.csv")["FID"].iloc[0])


def test_runs_of_different_lengths_are_never_pooled(tmp_path):
    write_run(tmp_path, "udacity", 0, epochs=3)
    write_run(tmp_path, "udacity", 1, epochs=3)
    longer = write_run(tmp_path, "udacity", 2, epochs=5)
    longer.rename(longer.parent / "udacity__mnist-test-first512__seed2-long")
    write_run(tmp_path, "dcgan-xavier", 0, epochs=4)
    write_report(tmp_path, tmp_path / "out", None, "md")
    table = summary(tmp_path / "out")
    assert table.loc["udacity (3 epochs)", "seeds"] == 2 and table.loc["udacity (5 epochs)", "seeds"] == 1
    assert table.loc["dcgan-xavier", "epochs"] == 4  # variants at their own lengths share one protocol
    text = (tmp_path / "out" / "report.md").read_text()
    assert "protocol 2" not in text
