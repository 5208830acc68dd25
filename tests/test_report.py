"""`study report` on run folders written by the test (no training), and once end to end on tiny real runs."""
from __future__ import annotations

import json
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
from harness.claims import CONTRADICTED, NOT_CHECKABLE, NOT_REPRODUCED, PARTLY, REPRODUCED, judge
from harness.errors import StudyError
from harness.evaluator import evaluator_dir
from harness.images import save_grid
from harness.interim import InterimReport
from harness.original_logs import Placement, read_original_log
from harness.report import Selection
from harness.report import write_report as write_any_report
from harness.run_folder import DataRecord, Manifest, RunFolder, metric_columns
from harness.runs import load_runs
from harness.scoring import CALIBRATION_VERSION
from harness.seeding import SEED_CONTRACT
from harness.storage import write_json
from harness.train import train_run
from tests.conftest import make_spec
from variants import VARIANTS

runner = CliRunner()


def write_report(results: Path, out: Path, wanted: list[str] | None, format: str,
                 selection: Selection | None = None) -> Path:
    return write_any_report(results, out, VARIANTS, wanted, format, selection or Selection())


EVALUATOR = "ab" * 32
# A calibration ladder at n = 500 (FIDs): real 5, pixel noise 20/50/120/400, blurs 80/300, uniform noise 1000.
LADDER = {"real": 5.0, "noise sigma 0.1": 20.0, "noise sigma 0.2": 50.0, "noise sigma 0.4": 120.0,
          "noise sigma 0.8": 400.0, "blur sigma 1": 80.0, "blur sigma 2": 300.0, "uniform noise": 1000.0}


def write_run(results: Path, variant: str, seed: int, *, fixes: tuple[str, ...] = (), status: str = "complete",
              epochs: int = 3, final: dict | None = None, images: int = 512) -> Path:
    """A run folder as the driver writes it, through the run-folder module: manifest, tables, sample grids."""
    folder = RunFolder.of(results, f"{'+'.join((variant, *fixes))}__mnist-test-first{images}__seed{seed}")
    rows = []
    for epoch in range(1, epochs + 1):
        rows.append({"epoch": epoch, "d_loss": 1.0 + 0.1 * epoch + seed, "g_loss": 0.8, "d_real": 0.6, "d_fake": 0.4,
                     "d_accuracy": 0.7, "d_loss_real": 0.5, "d_loss_fake": 0.5, "fid": 100.0 / epoch + seed,
                     "kid": 1.0, "inception_score": 5.0, "precision": 0.5, "recall": 0.4, "classes_covered": 10,
                     "confidence": 0.95, "coverage": 0.5, "density": 0.5, "self_nn_ratio": 1.0,
                     "eval_n_fake": 500, "eval_n_real": 500})
    rows[-1].update(final or {})
    log = [{"epoch": e, "step": 0, "d_loss": 1.3, "g_loss": 0.7} for e in range(1, epochs + 1)]
    folder.write_tables(rows, metric_columns([]), log, [])
    for epoch in range(1, epochs + 1):
        save_grid(torch.full((4, 1, 28, 28), epoch / epochs), folder.sample_path(epoch), nrow=2)
    folder.write_manifest(Manifest(
        run_id=folder.run_id, seed_contract=SEED_CONTRACT, status=status, variant=variant, fixes=list(fixes), seed=seed,
        epochs_done=epochs if status == "complete" else 1, epochs_requested=epochs,
        data=DataRecord(dataset="mnist", split="test", images=images, limit=images, root="data"),
        device="cpu (2 threads)", versions={"torch": "2.x", "torchvision": "0.x", "python": "3.11"},
        code_version="abc123", evaluation={"evaluator_sha256": EVALUATOR, "protocol": "test-thirds",
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
        write_run(root, "nll-softmax", seed, fixes=("g-backward",),  # digit-like: coverage 0.2 of real digits'
                  final={"fid": 50.0 + seed, "coverage": 0.1})
    write_run(root, "infogan", 0, status="running")
    write_run(root, "torch7-mlp", 0, final={"g_loss": float("nan")})
    return root


def write_ladder(results: Path, n: int = 500) -> None:
    """The evaluator record and calibration rows that `study run` stores beside the evaluator."""
    folder = evaluator_dir(results, "mnist", "test-thirds")
    write_json(folder / "evaluator.json", {
        "sha256": EVALUATOR, "dataset": "mnist", "protocol": "test-thirds", "architecture": "cnn", "seed": 0,
        "epochs": 12, "train_images": 4000, "reference_images": 3000, "calibration_images": 3000,
        "heldout_accuracy": 0.98, "cpu_threads": 2,
        "torch_version": "2.x", "build_seconds": 1.0})
    write_json(folder / f"calibration-n{n}.json", {
        "evaluator_sha256": EVALUATOR, "n": n, "version": CALIBRATION_VERSION, "rows": [
        {"name": name, "kind": "ladder", "fid": fid, "kid": fid / 10, "inception_score": 5.0, "precision": 0.5,
         "recall": 0.5, "density": 0.5, "coverage": 0.5, "classes_covered": 10} for name, fid in LADDER.items()]})


def summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / "summary.csv").set_index("arm")


def test_aggregates_and_intervals_match_independent_computations(results, tmp_path):
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    table = summary(out)
    fids = [100 / 3 + seed for seed in range(3)]
    low, high = scipy.stats.t.interval(0.95, df=2, loc=np.mean(fids), scale=scipy.stats.sem(fids))
    assert table.loc["udacity", ["FID mean", "FID sd", "FID ci_low", "FID ci_high", "FID n"]].tolist() == \
        pytest.approx([np.mean(fids), np.std(fids, ddof=1), low, high, 3])
    assert table.loc["udacity", "seeds"] == 3 and table.loc["udacity", "failed"] == 0
    text = (out / "report.md").read_text()
    assert "FID 95% t-interval" in text and "95% CI" not in text and "bootstrap interval" not in text
    assert f"| {np.mean(fids):.1f} ± {np.std(fids, ddof=1):.1f} | [{low:.1f}, {high:.1f}] |" in text
    assert "no interval from one seed" in text  # torch7-mlp has one seed: the t-interval needs two


def test_csv_tables_hold_numbers_and_the_report_one_precision_per_column(results, tmp_path):
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    table = summary(out)
    for label in ("FID", "KID", "IS", "precision", "density", "classes covered", "D accuracy"):
        for key in ("mean", "sd", "ci_low", "ci_high", "n"):
            assert pd.api.types.is_numeric_dtype(table[f"{label} {key}"]), f"{label} {key}"
    per_seed = pd.read_csv(out / "tables" / "per_seed.csv")
    assert pd.api.types.is_numeric_dtype(per_seed["FID"]) and pd.api.types.is_numeric_dtype(per_seed["precision"])
    costs = pd.read_csv(out / "tables" / "quirk_costs.csv")
    assert pd.api.types.is_numeric_dtype(costs["Δ FID mean"])
    fid_cells = [line.split("|")[6].strip() for line in (out / "report.md").read_text().splitlines()
                 if line.startswith("| udacity | 0 |") or line.startswith("| dcgan-xavier | 2 |")]
    assert fid_cells == ["35.3", "33.3"]  # per_seed FID: the same decimals for the whole column


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
    costs = pd.read_csv(out / "tables" / "quirk_costs.csv").set_index("fixed arm")
    differences = [(50.0 + s) - (100 / 3 + s) for s in range(3)]  # identical per seed: sd 0
    row = costs.loc["nll-softmax+g-backward"]
    assert row["pairs"] == 3 and row["Δ FID mean"] == pytest.approx(np.mean(differences))
    assert row["Δ FID sd"] == pytest.approx(0) and row["Δ FID n"] == 3
    test = pd.read_csv(out / "tables" / "quirk_cost_tests.csv").set_index("fixed arm").loc["nll-softmax+g-backward"]
    # three equal positive differences: 2 of the 2^3 sign patterns are as extreme; every pair worse, r = 1
    assert test["Wilcoxon p"] == pytest.approx(2 / 8) and test["rank-biserial r"] == 1 and test["pairs"] == 3
    assert test["fixes"] == "single fix" and test["pairs needed"] == 6  # 2 / 2^6 < 0.05, one arm tested
    text = (out / "report.md").read_text()
    assert f"worse with the fix: FID up by {np.mean(differences):.4g} on average, higher on 3 of 3 pairs" in text
    assert "cannot be shown with these seeds: 6 pairs needed" in text
    assert "missing here: `study run nll-softmax --fix real-label --seeds 3" in text  # the other single fix
    assert "`study run nll-softmax --fix all --seeds 3" in text


def test_quirk_costs_per_single_fix_and_all_fixes_with_paired_wilcoxon_and_holm(tmp_path):
    seeds = range(7)
    faithful = [100.0 + 3 * s for s in seeds]
    changes = {("lr-2e-4",): [-20.0 - s for s in seeds], ("shuffle",): [4.0, -1.0, 6.0, -3.0, 8.0, 2.0, 5.0],
               ("lr-2e-4", "shuffle"): [-10.0, -12.0, -9.0, -11.0, -14.0, -10.5, -13.0]}
    for seed in seeds:
        write_run(tmp_path, "udacity", seed, final={"fid": faithful[seed]})
        for fixes, change in changes.items():
            write_run(tmp_path, "udacity", seed, fixes=fixes, final={"fid": faithful[seed] + change[seed]})
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    tests = pd.read_csv(tmp_path / "out" / "tables" / "quirk_cost_tests.csv")
    assert tests["fixed arm"].tolist() == ["udacity+lr-2e-4", "udacity+shuffle", "udacity+lr-2e-4+shuffle"]
    assert tests["fixes"].tolist() == ["single fix", "single fix", "all fixes"] and set(tests["pairs"]) == {7}
    raw = [scipy.stats.wilcoxon(change, method="exact").pvalue for change in changes.values()]
    assert tests["Wilcoxon p"].tolist() == pytest.approx(raw)  # 2 / 2^7 for the fixes that help on every pair
    assert tests["Holm p"].tolist() == pytest.approx([3 * 2 / 2 ** 7, raw[1], 3 * 2 / 2 ** 7])  # x3, x1, x2
    ranks = scipy.stats.rankdata(np.abs(changes["shuffle",]))  # the -1 and the -3 are the negative ones
    negative = ranks[1] + ranks[3]
    assert tests["rank-biserial r"].tolist() == pytest.approx([-1, (ranks.sum() - 2 * negative) / ranks.sum(), -1])
    assert tests["pairs needed"].tolist() == [7] * 3  # three tests: 3 * 2 / 2^7 = 0.047 < 0.05
    assert tests["conclusion"].tolist() == ["a real change (Holm p < 0.05)", "no difference detected",
                                            "a real change (Holm p < 0.05)"]
    assert "better with the fix: FID down by 23 on average, lower on 7 of 7 pairs" in text
    assert f"worse with the fix: FID up by {np.mean(changes['shuffle',]):.4g} on average, higher on 5 of 7 pairs" \
        in text
    excess = [j - (a + b) for j, a, b in zip(changes["lr-2e-4", "shuffle"], changes["lr-2e-4",], changes["shuffle",])]
    low, high = scipy.stats.t.interval(0.95, df=6, loc=np.mean(excess), scale=scipy.stats.sem(excess))
    assert f"udacity: the 2 fixes together change FID by {np.mean(changes['lr-2e-4', 'shuffle']):.4g}, the single " \
           f"fixes' changes add up to {np.mean(changes['lr-2e-4',]) + np.mean(changes['shuffle',]):.4g}; together " \
           f"minus the sum is {np.mean(excess):.4g} over 7 seeds (95% t-interval [{low:.4g}, {high:.4g}], the fixes " \
           f"interact)." in text
    assert "There are no two scored faithful arms to compare." in text


def test_headline_answers_per_arm_with_the_ladder_claims_and_a_ranking(results, tmp_path):
    write_ladder(results)
    write_run(results, "torch7-mlp", 1, final={"fid": 900.0, "classes_covered": 1, "coverage": 0.001})  # noise
    out = tmp_path / "report"
    text = write_report(results, out, None, "md").read_text()
    assert text.startswith("# mnist-gan-study report\n\n## 1. The answer\n")
    answer = pd.read_csv(out / "tables" / "answer.csv").set_index("arm")
    assert set(answer["verdict"]) == {"not assessable"}  # 3 epochs of recipes of 20-300: in the headline itself
    at_epochs = answer["at these epochs"]
    assert at_epochs["udacity"] == "works"  # recognisable: FID 34 < 120 (noise sigma 0.4), 10 classes, on the digits
    assert at_epochs["nll-softmax"] == "fails"  # every seed collapsed to 2 classes
    assert at_epochs["nll-softmax+g-backward"] == "partly"  # digit-like (coverage >= 0.15 of real), not recognisable
    assert answer.loc["udacity", ["works seeds", "partly seeds", "fails seeds"]].tolist() == [3, 0, 0]
    assert answer.loc["nll-softmax", "failures"] == "collapse"
    assert answer.loc["udacity", "ladder"] == "between noise sigma 0.1 at 20 and noise sigma 0.2 at 50"
    assert answer.loc["udacity", "uniform-noise ceiling"] == 1000 and answer.loc["udacity", "n"] == 500
    runs = [r for r in load_runs(results)[0] if r.variant == "dcgan-xavier"]
    kinds = [judge(claim, runs, VARIANTS["dcgan-xavier"]).kind for claim in VARIANTS["dcgan-xavier"].claims]
    assert answer.loc["dcgan-xavier", "claims reproduced"] == kinds.count(REPRODUCED)
    assert answer.loc["dcgan-xavier", "claims checkable"] == \
        len(kinds) - kinds.count(NOT_CHECKABLE) - kinds.count(CONTRADICTED)  # a claim the code contradicts is apart
    assert answer.loc["dcgan-xavier", "claims contradicted"] == kinds.count(CONTRADICTED) >= 1
    assert "| udacity | not assessable | 3 of the recipe's 100 epochs trained; at epoch 3: works on 3 of 3 seeds " \
           "(95% interval of the share 0.29-1.00); final FID 34.33 at n = 500, between noise sigma 0.1" in text
    assert "Ranking by verdict, then mean final FID (lower is better): 1. udacity (works, 34.33), 2. dcgan-xavier " \
           "(works, 34.33), 3. nll-softmax+g-backward (partly, 51), 4. nll-softmax (fails, 34.33), 5. torch7-mlp " \
           "(fails, 466.7)." in text
    assert "With 2 seeds per arm no pair can reach p < 0.05" in text  # torch7-mlp has the fewest seeds
    per_seed = pd.read_csv(out / "tables" / "per_seed.csv")
    failed = dict(zip(zip(per_seed["arm"], per_seed["seed"]), per_seed["failed"].fillna("")))
    assert failed["torch7-mlp", 1].startswith("undertrained: FID 900") and failed["torch7-mlp", 0] == "NaN losses"
    assert failed["nll-softmax", 0] == "collapse: 2 classes covered"
    assert "Calibration at n = 500 (the runs' own n)" in text


def test_an_arm_of_the_recipes_length_is_judged_by_its_seeds_with_an_exact_interval(tmp_path):
    write_ladder(tmp_path)
    for seed, fid in enumerate((30.0, 40.0, 200.0, 450.0)):  # works, works, partly, fails (past blur sigma 2)
        write_run(tmp_path, "dcgan-xavier", seed, epochs=20, final={"fid": fid})
    out = tmp_path / "report"
    text = write_report(tmp_path, out, None, "md").read_text()
    row = pd.read_csv(out / "tables" / "answer.csv").iloc[0]
    assert (row["verdict"], row["works seeds"], row["partly seeds"], row["fails seeds"]) == ("works", 2, 1, 1)
    low, high = scipy.stats.beta.ppf(0.025, 2, 3), scipy.stats.beta.ppf(0.975, 3, 2)  # Clopper-Pearson, 2 of 4
    assert (row["share low"], row["share high"]) == pytest.approx((low, high))
    assert f"| dcgan-xavier | works | works on 2 of 4 seeds (95% interval of the share {low:.2f}-{high:.2f})" in text


def test_a_failing_arm_whose_claims_hold_says_why_on_the_same_line(tmp_path):
    write_ladder(tmp_path)
    for seed in range(2):
        write_run(tmp_path, "dcgan-xavier", seed, epochs=20, final={"fid": 900.0, "coverage": 0.001})
    out = tmp_path / "report"
    text = write_report(tmp_path, out, None, "md").read_text()
    row = pd.read_csv(out / "tables" / "answer.csv").iloc[0]
    assert row["verdict"] == "fails" and row["claims reproduced"] > 0
    line = next(line for line in text.splitlines() if line.startswith("| dcgan-xavier | fails |"))
    assert "some claims hold although the samples fail" in line


def test_missing_calibration_says_how_to_get_it(results, tmp_path):
    text = write_report(results, tmp_path / "report", None, "md").read_text()
    assert "`study calibrate --n 500 --results" in text and "(no calibration at this n)" in text


def test_saturated_precision_is_flagged_not_shown(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed, final={"precision": 1.0, "density": 0.0, "coverage": 0.0})
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    assert "saturated" in text and "| 1 ± 0 | 0" not in text
    assert pd.read_csv(tmp_path / "out" / "tables" / "summary.csv")["precision mean"].iloc[0] == 1.0


def test_one_set_per_report_and_the_others_listed(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed)
        write_run(tmp_path, "dcgan-xavier", seed)
    write_run(tmp_path, "udacity", 0, images=256, epochs=1, final={"fid": 999.0})  # a smoke run beside them
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    assert "covers 4 complete runs trained on mnist test (512 images)" in text
    assert f'`study report --results {tmp_path} --protocol "mnist test (256 images), equal epochs"' in text
    assert "999" not in text  # never mixed into the covered set's tables
    result = runner.invoke(cli.app, ["report", "--results", str(tmp_path), "--protocol", "256 images", "--out",
                                     str(tmp_path / "smoke")])
    assert result.exit_code == 0, result.output
    assert summary(tmp_path / "smoke").index.tolist() == ["udacity"]
    assert "mnist test (512 images), equal epochs: 4 runs" in (tmp_path / "smoke" / "report.md").read_text()
    write_report(tmp_path, tmp_path / "short", None, "md", Selection(epochs=1))
    assert summary(tmp_path / "short").loc["udacity", "FID mean"] == 999.0
    with pytest.raises(StudyError, match="that match the filters"):
        write_report(tmp_path, tmp_path / "none", None, "md", Selection(dataset="fashion-mnist"))


def test_gif_only_with_enough_frames_and_captions_match(tmp_path):
    write_run(tmp_path, "udacity", 0, epochs=3)
    write_run(tmp_path, "dcgan-xavier", 0, epochs=4)
    write_run(tmp_path, "dcgan-xavier", 1, epochs=4)
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    figures = {p.name for p in (tmp_path / "out" / "figures").iterdir()}
    assert "samples-dcgan-xavier.gif" in figures and "samples-udacity.gif" not in figures
    assert "*udacity: seed 0 at epochs 1, 2, 3*" in text
    assert "*dcgan-xavier: seed 0 at epochs 1, 2, 3, 4; the last epoch of seed 1*" in text


def test_each_verdict_kind(tmp_path):
    claim = next(c for c in VARIANTS["dcgan-xavier"].claims if c.key == "real-fake-similar")  # within 15%
    dcgan = VARIANTS["dcgan-xavier"]
    for seeds_fake, expected in (((0.5, 0.5), REPRODUCED), ((0.5, 1.0), PARTLY), ((1.0, 1.0), NOT_REPRODUCED)):
        root = tmp_path / expected.replace(" ", "-")
        for seed, fake in enumerate(seeds_fake):  # the real term is 0.5 in every run
            write_run(root, "dcgan-xavier", seed, epochs=20, final={"d_loss_fake": fake})
        runs, _ = load_runs(root)
        verdict = judge(claim, runs, dcgan)
        assert verdict.kind == expected and [s for s, _ in verdict.values] == [0, 1] and verdict.epoch == 20
    short = tmp_path / "short"
    write_run(short, "dcgan-xavier", 0, epochs=3)
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
    for section in ("1. The answer", "2. Setup", "3. Summary", "4. Every seed", "5. Curves", "6. Samples",
                    "7. Claims", "8. Cost of each quirk", "9. Which variants differ"):
        assert f"## {section}" in text
    images = list((tmp_path / "a" / "figures").iterdir())
    assert {"curves.png", "final-fid.png", "samples-udacity.png"} <= {p.name for p in images}
    assert all(p.stat().st_size > 500 for p in images)
    html = write_report(results, tmp_path / "c", None, "html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "figures/curves.png" in html


def test_pairwise_says_when_seeds_are_too_few_and_which_pairs_differ_when_not(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed)
        write_run(tmp_path, "dcgan-xavier", seed, final={"fid": 500.0 + seed})
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    assert "No pair of the 1 can be told apart" in text and "p = 0.3333 at best" in text
    pairwise = pd.read_csv(tmp_path / "out" / "tables" / "pairwise.csv")
    assert pairwise["Cliff's delta"].tolist() == [-1] and pairwise["seeds per arm needed"].tolist() == [4]
    assert pairwise["conclusion"].tolist() == ["cannot be shown with these seeds: 4 seeds per arm needed"]
    for seed in range(2, 4):
        write_run(tmp_path, "udacity", seed)
        write_run(tmp_path, "dcgan-xavier", seed, final={"fid": 500.0 + seed})
    write_report(tmp_path, tmp_path / "out", None, "md")
    pairwise = pd.read_csv(tmp_path / "out" / "tables" / "pairwise.csv")
    assert pairwise["conclusion"].tolist() == ["differ: udacity has the lower FID (Holm p < 0.05)"]
    assert pairwise["p"].iloc[0] == pytest.approx(2 / 70) and pairwise["Holm p"].iloc[0] == pytest.approx(2 / 70)


def test_pairwise_p_values_are_holm_corrected_across_the_comparisons_made(tmp_path):
    fids = {"udacity": [30.0, 31.0, 33.0, 36.0, 34.5], "dcgan-xavier": [32.0, 35.0, 37.0, 38.0, 40.5],
            "torch7-mlp": [300.0, 290.0, 310.0, 305.0, 299.0]}
    for name, values in fids.items():
        for seed, fid in enumerate(values):
            write_run(tmp_path, name, seed, final={"fid": fid})
    text = write_report(tmp_path, tmp_path / "out", None, "md").read_text()
    pairwise = pd.read_csv(tmp_path / "out" / "tables" / "pairwise.csv")
    order = ["torch7-mlp", "udacity", "dcgan-xavier"]  # the variants' own order
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    assert list(zip(pairwise["A"], pairwise["B"])) == pairs
    raw = [scipy.stats.mannwhitneyu(fids[a], fids[b], method="exact").pvalue for a, b in pairs]
    assert pairwise["p"].tolist() == pytest.approx(raw)
    smallest = sorted(raw)  # Holm by hand: times 3, 2, 1 in order of p, never below a smaller p's
    by_hand = {p: max(min(1, (3 - i) * q) for i, q in enumerate(smallest[:smallest.index(p) + 1])) for p in raw}
    assert pairwise["Holm p"].tolist() == pytest.approx([by_hand[p] for p in raw])
    deltas = [np.mean([np.sign(x - y) for x in fids[a] for y in fids[b]]) for a, b in pairs]
    assert pairwise["Cliff's delta"].tolist() == pytest.approx(deltas)
    assert pairwise["smallest possible p after Holm"].tolist() == pytest.approx([3 * 2 / math.comb(10, 5)] * 3)
    assert pairwise["seeds per arm needed"].tolist() == [5] * 3  # 3 * 2 / C(10, 5) = 0.024 < 0.05
    conclusions = dict(zip(pairs, pairwise["conclusion"]))
    assert conclusions["torch7-mlp", "udacity"] == "differ: udacity has the lower FID (Holm p < 0.05)"
    assert conclusions["udacity", "dcgan-xavier"] == "no difference detected"  # p = 0.095 before Holm
    assert "With 5 seeds per arm a perfect separation gives p = 0.007937, below the 0.01667 that Holm's " \
           "correction across 3 comparisons asks" in text


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
    n = json.loads(next((results / "runs").glob("*/manifest.json")).read_text())["evaluation"]["n_fake"]
    assert f"Calibration at n = {n} (the runs' own n)" in text  # the runs stored it at their own n
    assert not math.isnan(pd.read_csv(results / "report" / "tables" / "per_seed.csv")["FID"].iloc[0])


def test_runs_of_different_lengths_are_never_pooled(tmp_path):
    write_run(tmp_path, "udacity", 0, epochs=3)
    write_run(tmp_path, "udacity", 1, epochs=3)
    write_run(tmp_path, "udacity", 2, epochs=5)  # its own run id: a renamed copy would be left out as a copy
    write_run(tmp_path, "dcgan-xavier", 0, epochs=4)
    write_report(tmp_path, tmp_path / "out", None, "md")
    table = summary(tmp_path / "out")
    assert table.loc["udacity (3 epochs)", "seeds"] == 2 and table.loc["udacity (5 epochs)", "seeds"] == 1
    assert table.loc["dcgan-xavier", "epochs"] == 4  # variants at their own lengths share one protocol
    assert "Other sets" not in (tmp_path / "out" / "report.md").read_text()


def test_a_logged_value_is_placed_by_the_share_of_seeds_below_it():
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).position == 0.5  # a tie counts half
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).inside
    outside = Placement("d_loss", 1, 0, 0.3, (0.1, 0.2))
    assert outside.position == 1.0 and not outside.inside


def test_the_authors_runs_are_held_against_the_seed_band(results, tmp_path):
    """The fixture's seeds log g_loss 0.8 (dcgan-xavier, per epoch) and d_loss 1.3 at batch 0 (udacity) for epochs
    1-3; the authors' own values, read here straight from the shipped logs, are placed against them."""
    out = tmp_path / "report"
    write_report(results, out, None, "md")
    table = pd.read_csv(out / "tables" / "original_runs.csv").set_index(["log", "column"])
    nda111 = read_original_log(VARIANTS["dcgan-xavier"].original_logs[0])
    above = (nda111["g_loss"][:3] > 0.8).mean()
    row = table.loc[("dcgan-xavier-nda111.csv", "g_loss")]
    assert row["points"] == 3 and row["inside the seeds' range"] == 0 and row["median position"] == above == 1.0
    assert row["above every seed"] == 3 and row["below every seed"] == 0
    udacity = read_original_log(VARIANTS["udacity"].original_logs[0])
    batch0 = udacity[(udacity["batch"] == 0) & (udacity["epoch"] <= 3)]["d_loss"]
    row = table.loc[("udacity-shahrullo.csv", "d_loss")]
    assert row["points"] == 3 and row["median position"] == float(np.median((batch0 > 1.3).astype(float)))
    assert (row["above every seed"], row["below every seed"]) == ((batch0 > 1.3).sum(), (batch0 < 1.3).sum())
    text = (out / "report.md").read_text()
    assert "10. The authors' own runs against the seeds" in text
    assert "Shahrullo/GAN MNIST_GAN.ipynb (the write-up's run), against 3 seeds of udacity: d_loss inside" in text
    assert "g_loss inside the seeds' range at 0 of 3 epochs (epochs 1-3; above every seed at 3, below every seed at " \
           "0; median position 1.00): not like one more seed" in text
    assert f"{(300 - 3) * 2} logged values have no seed value" in text  # batches 400, 800 and epochs 4-100
    assert "infogan: no faithful runs in this set" in text
    assert (out / "figures" / "original-dcgan-xavier-nda111-dcgan-xavier.png").is_file()


# The interim report (`study report --partial`) ------------------------------------------------------------------
def report_bytes(out: Path) -> dict[str, bytes]:
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def captions(text: str) -> list[str]:
    """Every table caption of a Markdown report (the italic line above a table)."""
    lines = text.splitlines()
    return [lines[i] for i in range(len(lines) - 2) if lines[i].startswith("*") and lines[i + 2].startswith("| ")]


def test_an_interim_report_shows_an_interrupted_runs_progress_marked_provisional(data_root, tmp_path):
    from tests.test_training import InterruptAt

    results = tmp_path / "results"
    for seed in range(2):
        train_run(replace(make_spec("udacity", data_root, results, seed=seed, epochs=2, limit=64), eval_every=1))
    final = runner.invoke(cli.app, ["report", "--results", str(results)])
    assert final.exit_code == 0, final.output
    before = report_bytes(results / "report")
    cut = replace(make_spec("udacity", data_root, results, seed=2, epochs=2, limit=64), eval_every=1)
    with pytest.raises(KeyboardInterrupt):
        train_run(cut, InterruptAt(epoch=2, step=1))

    partial = runner.invoke(cli.app, ["report", "--results", str(results), "--partial"])
    assert partial.exit_code == 0, partial.output
    assert str(results / "report-partial" / "report.md") in partial.stdout
    text = (results / "report-partial" / "report.md").read_text()
    assert text.startswith("# PROVISIONAL interim report")
    assert captions(text) and all(caption.startswith("*PROVISIONAL: ") for caption in captions(text))
    progress = pd.read_csv(results / "report-partial" / "tables" / "progress.csv").set_index("seed")
    assert progress.loc[2, "epochs"] == "1 of 2" and progress.loc[2, "done"] == "50%"
    assert progress.loc[2, "status"].startswith("interrupted") and progress.loc[0, "status"] == "complete"
    assert progress.loc[2, "steps"] == "1 of 2" and progress.loc[2, "latest FID"].endswith("at epoch 1")
    assert "3 runs trained on mnist train (64 images), equal epochs: 2 complete, 1 unfinished; 5 of 6 epochs done" \
        in text
    claims = pd.read_csv(results / "report-partial" / "tables" / "claims_udacity.csv")
    assert set(claims["seeds measured"]) <= {"0 of 3", "1 of 3", "2 of 3", "3 of 3"}
    assert claims["why"].str.startswith("not yet: waits for epoch").any()  # udacity's claims about epoch 100
    assert (results / "report-partial" / "figures" / "curves.png").is_file()

    again = runner.invoke(cli.app, ["report", "--results", str(results)])
    assert again.exit_code == 0, again.output
    after = report_bytes(results / "report")
    assert after.keys() - before.keys() == {"tables/excluded_runs.csv"}  # the unfinished run, listed as before
    excluded = pd.read_csv(results / "report" / "tables" / "excluded_runs.csv")
    assert excluded["left out because"].tolist() == ["status interrupted: 1 of 2 epochs done"]
    assert summary(results / "report").loc["udacity", "seeds"] == 2
    for name in ("tables/summary.csv", "tables/per_seed.csv", "tables/answer.csv", "figures/curves.png"):
        assert after[name] == before[name], name  # no aggregate moved


def test_an_interim_report_reads_epochs_its_manifest_records_and_says_when_a_trainer_died(results, tmp_path):
    """The fixture's infogan run is marked running at epoch 1 while its tables hold 3 epochs (the moment between
    writing the tables and the manifest); no process holds its lock."""
    write_ladder(results)
    final = tmp_path / "final"
    write_report(results, final, None, "md")
    out = write_any_report(results, tmp_path / "interim", VARIANTS, None, "html", Selection(), InterimReport)
    progress = pd.read_csv(tmp_path / "interim" / "tables" / "progress.csv").set_index("arm")
    assert progress.loc["infogan", "epochs"] == "1 of 3"
    assert progress.loc["infogan", "status"].startswith("stopped: marked running, but no process holds it")
    assert "<title>PROVISIONAL interim report" in out.read_text()
    assert (tmp_path / "final" / "report.md").read_text().startswith("# mnist-gan-study report")
    assert not (final / "tables" / "progress.csv").exists()
    # the same run folders give the same final report whether or not an interim one was written
    write_report(results, tmp_path / "final-again", None, "md")
    assert report_bytes(final) == report_bytes(tmp_path / "final-again")
