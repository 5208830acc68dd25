"""The report's analysis pass on fake runs (no figures, no text): spreads over seeds, failures, verdicts per seed and
arm under every view (each evaluator of the panel, the cuts moved), each claim judged once per view, the quirk costs
paired by seed, the pairwise comparisons."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from harness import report_analysis
from harness.panel import MEMBER_SCORES, member_column
from harness.report_analysis import PRIMARY, Analysis, ArmAnalysis, View, analyse
from harness.report_runs import EVERY_RUN, ReportRuns
from harness.report_sections import final_report
from tests.fakes import EVALUATOR, SCORED, ladder_rows, steady_rows, write_calibration, write_run
from variants import VARIANTS


def analysis_of(results: Path) -> Analysis:
    return analyse(ReportRuns(results, VARIANTS, None, EVERY_RUN))


def arm_named(analysis: Analysis, label: str) -> ArmAnalysis:
    return next(arm for arm in analysis.arms.values() if arm.label == label)


def test_final_scores_are_summarised_over_seeds_with_t_intervals(fake_study):
    udacity = arm_named(analysis_of(fake_study), "udacity")
    fids = [100 / 3 + seed for seed in range(3)]
    low, high = scipy.stats.t.interval(0.95, df=2, loc=np.mean(fids), scale=scipy.stats.sem(fids))
    fid = udacity.finals["fid"]
    assert [fid["mean"], fid["sd"], fid["ci_low"], fid["ci_high"], fid["n"]] == \
        pytest.approx([np.mean(fids), np.std(fids, ddof=1), low, high, 3])
    assert len(udacity.runs) == 3 and udacity.failed == []


def test_failed_runs_are_counted_not_dropped(fake_study):
    analysis = analysis_of(fake_study)
    collapsed = arm_named(analysis, "nll-softmax")
    assert len(collapsed.runs) == 3 and [why.split(":")[0] for why in collapsed.failed] == ["collapse"] * 3
    assert arm_named(analysis, "torch7-mlp").failed == ["NaN losses"]


def test_a_seed_and_an_arm_are_judged_by_the_digit_levels_with_an_exact_interval(tmp_path):
    write_calibration(tmp_path, ladder_rows())
    for seed, fid in enumerate((30.0, 40.0, 200.0, 450.0)):  # works, works, partly, fails (past blur sigma 2)
        write_run(tmp_path, "dcgan-xavier", seed, epochs=20, final={"fid": fid}, grids=False)
    verdict = arm_named(analysis_of(tmp_path), "dcgan-xavier").verdict
    assert (verdict.verdict, dict(verdict.seeds)) == ("works", {"works": 2, "partly": 1, "fails": 1})
    low, high = scipy.stats.beta.ppf(0.025, 2, 3), scipy.stats.beta.ppf(0.975, 3, 2)  # Clopper-Pearson, 2 of 4
    assert (verdict.share_low, verdict.share_high) == pytest.approx((low, high))


EVALUATOR1 = "ef" * 32  # the second member of the panel


def test_each_member_of_the_panel_and_each_moved_cut_gives_its_own_verdict(tmp_path):
    """At the recipe's 100 epochs, FID 100 lies between blur sigma 1 (80) and noise sigma 0.4 (120), the
    recognisable level's rung: the primary says works, the cut one rung stricter (80) partly, one looser (blur sigma
    2, 300) works; evaluator seed 1 scores FID 200 and says partly."""
    for seed, sha256 in ((0, EVALUATOR), (1, EVALUATOR1)):
        write_calibration(tmp_path, ladder_rows(), sha256=sha256, seed=seed)
    for seed in range(2):
        rows = steady_rows(100, seed, {"fid": 100.0})
        for row in rows:
            row.update({member_column(1, score): row[score] for score in MEMBER_SCORES if score in row})
            row.update({member_column(1, "fid"): 200.0, "steps": 8})
        write_run(tmp_path, "udacity", seed, rows=rows, grids=False,
                  evaluation=replace(SCORED, panel_sha256=[EVALUATOR, EVALUATOR1]))
    udacity = arm_named(analysis_of(tmp_path), "udacity")
    assert udacity.members == (0, 1)
    assert {view: verdict.verdict for view, verdict in udacity.verdicts.items()} == {
        PRIMARY: "works", View(1): "partly", View(0, -1): "partly", View(0, 1): "works"}
    assert udacity.panel == {0: "works", 1: "partly"}
    assert all(set(judged.verdicts) == set(udacity.verdicts) for judged in udacity.claims or [])


def test_each_claim_is_judged_once_per_view_and_the_report_reuses_those_verdicts(fake_study, monkeypatch):
    calls: list[tuple[str, int]] = []
    real = report_analysis.judge

    def counted(claim, runs, variant, shift=0):
        calls.append((claim.key, shift))
        return real(claim, runs, variant, shift)
    monkeypatch.setattr(report_analysis, "judge", counted)
    analysis = analysis_of(fake_study)
    judged = [arm for arm in analysis.arms.values() if arm.claims is not None]
    assert {arm.label for arm in judged} == {"torch7-mlp", "udacity", "nll-softmax", "dcgan-xavier"}  # faithful
    views = 3  # the primary evaluator, its cuts a rung stricter and looser: no other member scored these runs
    # plus once on the seeds that did not fail, for an arm where some (not all) failed
    some_failed = [arm for arm in judged if 0 < len(arm.failed) < len(arm.runs)]
    made = views * sum(len(VARIANTS[arm.arm.variant].claims) for arm in judged) + \
        sum(len(VARIANTS[arm.arm.variant].claims) for arm in some_failed)
    assert len(calls) == made
    final_report(analysis)  # the headline, the claims tables and section 11 read the verdicts made
    assert len(calls) == made


def test_a_quirk_cost_is_paired_by_seed(fake_study):
    analysis = analysis_of(fake_study)
    [test] = analysis.fixes
    differences = [(50.0 + s) - (100 / 3 + s) for s in range(3)]  # identical per seed: sd 0
    assert test.label == "nll-softmax+g-backward" and len(test.pairs) == 3
    assert test.changes == pytest.approx(differences)
    change = test.metric_changes["FID"]
    assert (change["mean"], change["sd"], change["n"]) == pytest.approx((np.mean(differences), 0, 3))
    # three equal positive differences: 2 of the 2^3 sign patterns are as extreme; every pair worse, r = 1
    assert test.p == pytest.approx(2 / 8) and test.r == 1
    assert test.applies == "single fix" and test.pairs_needed == 6  # 2 / 2^6 < 0.05, one arm tested
    [coverage] = analysis.coverage
    assert coverage.missing == ["real-label", "all"] and coverage.interaction is None


def test_quirk_costs_per_single_fix_and_all_fixes_with_paired_wilcoxon_holm_and_their_interaction(tmp_path):
    seeds = range(7)
    faithful = [100.0 + 3 * s for s in seeds]
    changes = {("lr-2e-4",): [-20.0 - s for s in seeds], ("shuffle",): [4.0, -1.0, 6.0, -3.0, 8.0, 2.0, 5.0],
               ("lr-2e-4", "shuffle"): [-10.0, -12.0, -9.0, -11.0, -14.0, -10.5, -13.0]}
    for seed in seeds:
        write_run(tmp_path, "udacity", seed, final={"fid": faithful[seed]}, grids=False)
        for fixes, change in changes.items():
            write_run(tmp_path, "udacity", seed, fixes=fixes, final={"fid": faithful[seed] + change[seed]},
                      grids=False)
    analysis = analysis_of(tmp_path)
    tests = analysis.fixes
    assert [t.label for t in tests] == ["udacity+lr-2e-4", "udacity+shuffle", "udacity+lr-2e-4+shuffle"]
    assert [t.applies for t in tests] == ["single fix", "single fix", "all fixes"]
    assert {len(t.changes) for t in tests} == {7}
    raw = [scipy.stats.wilcoxon(change, method="exact").pvalue for change in changes.values()]
    assert [t.p for t in tests] == pytest.approx(raw)  # 2 / 2^7 for the fixes that help on every pair
    assert [t.holm_p for t in tests] == pytest.approx([3 * 2 / 2 ** 7, raw[1], 3 * 2 / 2 ** 7])  # x3, x1, x2
    ranks = scipy.stats.rankdata(np.abs(changes["shuffle",]))  # the -1 and the -3 are the negative ones
    negative = ranks[1] + ranks[3]
    assert [t.r for t in tests] == pytest.approx([-1, (ranks.sum() - 2 * negative) / ranks.sum(), -1])
    assert [t.pairs_needed for t in tests] == [7] * 3  # three tests: 3 * 2 / 2^7 = 0.047 < 0.05
    [coverage] = analysis.coverage
    interaction = coverage.interaction
    assert interaction is not None and coverage.missing == []
    excess = [j - (a + b) for j, a, b in zip(changes["lr-2e-4", "shuffle"], changes["lr-2e-4",], changes["shuffle",])]
    low, high = scipy.stats.t.interval(0.95, df=6, loc=np.mean(excess), scale=scipy.stats.sem(excess))
    assert (interaction.fixes, interaction.seeds) == (2, 7)
    assert (interaction.joint, interaction.summed, interaction.excess, interaction.low, interaction.high) == \
        pytest.approx((np.mean(changes["lr-2e-4", "shuffle"]),
                       np.mean(changes["lr-2e-4",]) + np.mean(changes["shuffle",]), np.mean(excess), low, high))
    assert analysis.comparisons == []  # one faithful arm: nothing to compare


def test_quirk_costs_never_subtract_arms_of_different_lengths(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "nll-softmax", seed, epochs=2, grids=False)
        write_run(tmp_path, "nll-softmax", seed, epochs=1, fixes=("g-backward",), grids=False)
    assert analysis_of(tmp_path).fixes == []


def test_pairwise_p_values_are_holm_corrected_across_the_comparisons_made(tmp_path):
    fids = {"udacity": [30.0, 31.0, 33.0, 36.0, 34.5], "dcgan-xavier": [32.0, 35.0, 37.0, 38.0, 40.5],
            "torch7-mlp": [300.0, 290.0, 310.0, 305.0, 299.0]}
    for name, values in fids.items():
        for seed, fid in enumerate(values):
            write_run(tmp_path, name, seed, final={"fid": fid}, grids=False)
    comparisons = analysis_of(tmp_path).comparisons
    order = ["torch7-mlp", "udacity", "dcgan-xavier"]  # the variants' own order
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    assert [(c.label_a, c.label_b) for c in comparisons] == pairs
    raw = [scipy.stats.mannwhitneyu(fids[a], fids[b], method="exact").pvalue for a, b in pairs]
    assert [c.p for c in comparisons] == pytest.approx(raw)
    smallest = sorted(raw)  # Holm by hand: times 3, 2, 1 in order of p, never below a smaller p's
    by_hand = {p: max(min(1, (3 - i) * q) for i, q in enumerate(smallest[:smallest.index(p) + 1])) for p in raw}
    assert [c.holm_p for c in comparisons] == pytest.approx([by_hand[p] for p in raw])
    deltas = [np.mean([np.sign(x - y) for x in fids[a] for y in fids[b]]) for a, b in pairs]
    assert [c.cliffs_delta for c in comparisons] == pytest.approx(deltas)
    assert [c.smallest_after_holm for c in comparisons] == pytest.approx([3 * 2 / math.comb(10, 5)] * 3)
    assert [c.seeds_needed for c in comparisons] == [5] * 3  # 3 * 2 / C(10, 5) = 0.024 < 0.05
    assert [c.lower for c in comparisons] == ["udacity", "dcgan-xavier", "udacity"]


def test_the_optimizer_steps_of_an_arm_are_its_epochs_steps_added_up(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed, rows=[{**row, "steps": 8} for row in steady_rows(3, seed)], grids=False)
    write_run(tmp_path, "dcgan-xavier", 0, grids=False)  # tables of an older version: no steps column
    analysis = analysis_of(tmp_path)
    assert arm_named(analysis, "udacity").steps == (24,) and arm_named(analysis, "dcgan-xavier").steps == ()
