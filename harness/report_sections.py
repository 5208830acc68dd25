"""The final report's section writers: each turns the analysis (harness.report_analysis) into blocks of text, tables
and figures (harness.report_render), in the report's order, and judges nothing itself."""
from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from harness.claims import DIGIT_LEVELS, level_words
from harness.original_logs import sentence, summarise
from harness.panel import PRIMARY_SEED
from harness.report_analysis import (
    CUT_SHIFTS,
    NOT_ASSESSABLE,
    PARTLY_AT,
    SIGNIFICANT_P,
    VERDICTS,
    WORKS_AT,
    Analysis,
    ArmAnalysis,
    ClaimCounts,
    ClaimJudgement,
    Comparison,
    ControlJudgement,
    FixCoverage,
    FixTest,
    Interaction,
    SampleStrip,
    View,
    spread,
)
from harness.report_figures import CURVES, FINAL_FID, original_log_png, samples_gif, samples_png
from harness.report_render import (
    Block,
    Figure,
    Heading,
    Note,
    Table,
    Text,
    column_cells,
    fmt,
    interval_cells,
    mean_sd_cells,
)
from harness.report_runs import (
    CEILING,
    FLOOR,
    SUMMARY_METRICS,
    Ladder,
    LadderKey,
    ReportRuns,
    metric_value,
    slug,
)
from harness.runs import EMPTY_DENSITY, SATURATED_PRECISION, UNDERTRAINED_FRACTION
from harness.seeding import SEED_CONTRACT, earlier_contract_words
from harness.stats import t_quantile

FULL_TRAIN_IMAGES, FULL_EVAL_N = 60_000, 10_000
NO_RUN_CHECKS = "no run can check it on its own; 'checked as' says how it is judged"  # the why of a claim
# without a check, whose own words are already in the 'checked as' column


def numeric_and_text(rows: list[dict], spreads: dict[str, list[dict[str, float]]],
                     intervals: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rows: the per-row identity columns; spreads: label -> one spread() per row. The CSV gets columns
    'label mean/sd/ci_low/ci_high/n'; the shown table 'mean ± sd' per label, and the t-interval '[low, high]' for
    ``intervals``."""
    numeric, shown = pd.DataFrame(rows), pd.DataFrame(rows)
    for label, values in spreads.items():
        for key in ("mean", "sd", "ci_low", "ci_high", "n"):
            numeric[f"{label} {key}"] = [v[key] for v in values]
        shown[label] = mean_sd_cells([v["mean"] for v in values], [v["sd"] for v in values])
        if label in intervals:
            shown[f"{label} 95% t-interval"] = interval_cells([v["ci_low"] for v in values],
                                                              [v["ci_high"] for v in values])
    return numeric, shown


def agreement(verdict: str, panel: Mapping[int, str]) -> str:
    """Whether the evaluator panel gives the primary's verdict, in words ("" when only the primary scored)."""
    if len(panel) < 2:
        return ""
    others = {seed: kind for seed, kind in panel.items() if kind != verdict}
    if not others:
        return f"all {len(panel)} evaluators agree"
    return "panel disagrees: " + ", ".join(f"evaluator seed {seed} says {kind}" for seed, kind in others.items())


# 1. The answer --------------------------------------------------------------------------------------------------
def answer(analysis: Analysis) -> list[Block]:
    blocks: list[Block] = [Heading(2, "1. The answer"), Text(coverage_text(analysis.runs))]
    rows = [headline_row(arm) for arm in analysis.arms.values()]
    shown = [{"arm": row["arm"], "verdict": row["verdict"], "evidence": evidence(row)} for row in rows]
    blocks.append(Table("answer", pd.DataFrame(shown), "One line per arm, from its seeds: a seed works when its final "
                        f"samples meet {level_words(WORKS_AT)} (section 7), partly when they meet only "
                        f"{level_words(PARTLY_AT)}, fails otherwise or when the run failed (collapse, undertrained, "
                        f"NaN losses); the arm gets what most seeds get (a tie the worse), or {NOT_ASSESSABLE} when "
                        f"its runs are shorter than the recipe. Each verdict is recomputed with every evaluator of the "
                        f"panel and with the FID cuts moved a rung (section 11); 'fragile' says where that changes "
                        f"it", csv=pd.DataFrame(rows)))
    blocks += [Text(ranking(list(analysis.arms.values()))), Text(what_it_allows(analysis))]
    return blocks


def coverage_text(runs: ReportRuns) -> str:
    seeds = sorted({r.seed for r in runs.runs})
    text = (f"This report covers {len(runs.runs)} complete runs trained on {runs.run_set}, "
            f"{len(runs.arms)} arms, seeds {', '.join(map(str, seeds))}.")
    if runs.left_in_run_set:
        text += f" {runs.left_in_run_set} other runs of this run set are left out by the filters."
    if runs.others:
        text += " Other sets under this results folder, each reported on its own:" + "".join(
            f"\n- {run_set}: {count} runs, `study report --results {runs.results} --run-set \"{run_set}\" "
            f"--out {runs.results / ('report-' + slug(run_set))}`" for run_set, count in runs.others)
    return text


def claim_count_cells(counts: ClaimCounts | None) -> dict:
    if counts is None:
        return {"claims reproduced": math.nan, "claims checkable": math.nan, "claims contradicted": math.nan,
                "claims": math.nan}
    return {"claims reproduced": counts.reproduced, "claims checkable": counts.checkable,
            "claims contradicted": counts.contradicted, "claims": counts.total}


def headline_row(arm: ArmAnalysis) -> dict:
    """The arm's line of tables/answer.csv: its verdict and the evidence for it, numbers where there are numbers."""
    verdict, ladder = arm.verdict, arm.ladder
    fid, kid = arm.finals["fid"]["mean"], arm.finals["kid"]["mean"]
    failures = arm.failed
    return {"arm": arm.label, "verdict": verdict.verdict, "epochs": arm.arm.epochs, "final FID": fid,
            "n": ladder.n if ladder else math.nan,
            "ladder": ladder.place(fid) if ladder and not math.isnan(fid) else "",
            "final KID": kid, "KID ladder": ladder.place(kid, "kid") if ladder and not math.isnan(kid) else "",
            "real-data floor": ladder.fids.get(FLOOR, math.nan) if ladder else math.nan,
            "uniform-noise ceiling": ceiling(ladder),
            "classes covered": arm.finals["classes_covered"]["mean"], "failed seeds": len(failures),
            "seeds": len(arm.runs), "failures": ", ".join(sorted({f.split(":")[0] for f in failures})),
            "at these epochs": verdict.at_epochs, **{f"{v} seeds": verdict.seeds[v] for v in VERDICTS},
            "share low": verdict.share_low, "share high": verdict.share_high, "recipe epochs": arm.recipe_epochs,
            **claim_count_cells(arm.claim_counts), "panel": agreement(verdict.verdict, arm.panel),
            "median final FID": median_final(arm, "fid"), "level cut": level_cut(arm),
            "cuts move it to": cut_moves(arm)}


def median_final(arm: ArmAnalysis, column: str) -> float:
    values = [v for v in (metric_value(r.final, column) for r in arm.runs) if not math.isnan(v)]
    return float(pd.Series(values).median()) if values else math.nan


def level_cut(arm: ArmAnalysis) -> float:
    """The FID cut of the digit level the arm's verdict stands on (NaN for fails or without a ladder)."""
    level = {"works": WORKS_AT, "partly": PARTLY_AT}.get(arm.verdict.at_epochs)
    return arm.ladder.fids.get(DIGIT_LEVELS[level].row, math.nan) if level and arm.ladder else math.nan


def cut_moves(arm: ArmAnalysis) -> str:
    """The verdicts the arm gets with every FID cut moved a rung, where they differ from its own ("" if none)."""
    moved = []
    for shift in CUT_SHIFTS:
        view = arm.verdicts.get(View(PRIMARY_SEED, shift))
        if view is not None and view.at_epochs != arm.verdict.at_epochs:
            counts = ", ".join(f"{kind} {view.seeds[kind]}" for kind in VERDICTS if view.seeds[kind])
            moved.append(f"{View(PRIMARY_SEED, shift).label}, {view.at_epochs} ({counts} of {len(arm.runs)} seeds)")
    return "; ".join(moved)


def claims_words(row: dict) -> str:
    """The arm's claims in a clause: how many of those checkable on its runs were reproduced, and the others apart
    (a claim the code contradicts needs no run, so it is never counted as checkable)."""
    if math.isnan(row["claims"]):
        return "claims judged on the faithful arm"
    total, checkable, contradicted = row["claims"], row["claims checkable"], row["claims contradicted"]
    by_the_code = [f"{contradicted} contradicted by the code"] if contradicted else []
    if not checkable:
        return f"none of its {total} claims checkable on these runs" + \
            "".join(f" ({words})" for words in by_the_code)
    unchecked = total - checkable - contradicted
    apart = ([f"{unchecked} not checkable here"] if unchecked else []) + by_the_code
    return f"claims reproduced {row['claims reproduced']} of {checkable} checkable" + \
        (f" ({', '.join(apart)})" if apart else "")


def evidence(row: dict) -> str:
    verdict, seeds = row["at these epochs"], row["seeds"]
    parts = [f"{verdict} on {row[verdict + ' seeds']} of {seeds} seeds (95% interval of the share "
             f"{row['share low']:.2f}-{row['share high']:.2f})"]
    if row["recipe epochs"] > row["epochs"]:
        parts[0] = f"{row['epochs']} of the recipe's {row['recipe epochs']} epochs trained; at epoch " \
                   f"{row['epochs']}: " + parts[0]
    if verdict == "fails" and row.get("claims reproduced", 0) > 0:
        parts.append("some claims hold although the samples fail: each claim judges its own epoch and level "
                     "(section 7), the verdict the final FID against the ladder")
    parts.append(f"final FID {fmt(row['final FID'])}"
                 + (f" at n = {row['n']}, {row['ladder']} (real-data floor {fmt(row['real-data floor'])})"
                    if row["ladder"] else " (no calibration at this n)"))
    if row.get("KID ladder"):  # KID: less biased at small n than FID, placed on the same ladder
        parts.append(f"final KID {fmt(row['final KID'])}, {row['KID ladder']}")
    parts.append(f"{fmt(row['classes covered'])} class{'' if row['classes covered'] == 1 else 'es'} covered")
    if not math.isnan(row["level cut"]) and row["final FID"] >= row["level cut"]:
        parts.append(f"the mean FID is past the level's cut of {fmt(row['level cut'])} because it averages in the "
                     f"seeds that do not meet it; median final FID {fmt(row['median final FID'])}")
    if row.get("panel"):
        parts.append(row["panel"])
    if row["cuts move it to"]:
        parts.append(f"fragile: {row['cuts move it to']} (section 11)")
    parts.append(claims_words(row))
    if row["failed seeds"]:
        parts.append(f"{row['failed seeds']} of {row['seeds']} seeds failed ({row['failures']})")
    return "; ".join(parts)


def steps_words(steps: tuple[int, ...]) -> str:
    """The optimizer steps an arm's seeds took, for the ranking ("" where the runs do not record them)."""
    if not steps:
        return ""
    return f", {steps[0]:,} optimizer steps" if len(steps) == 1 else \
        f", {steps[0]:,}-{steps[-1]:,} optimizer steps"


def ceiling(ladder: Ladder | None) -> float:
    """The uniform-noise FID of the ladder (NaN without one: nothing is then as far as noise)."""
    return ladder.fids.get(CEILING, math.nan) if ladder else math.nan


def noise_like(arms: list[ArmAnalysis]) -> set[str]:
    """The arms whose mean final FID is as far from real digits as the uniform-noise images are."""
    return {a.label for a in arms if a.finals["fid"]["mean"] >= UNDERTRAINED_FRACTION * ceiling(a.ladder)}


def ranking(arms: list[ArmAnalysis]) -> str:
    scored = sorted((a for a in arms if not math.isnan(a.finals["fid"]["mean"])),
                    key=lambda a: (VERDICTS.index(a.verdict.at_epochs), a.finals["fid"]["mean"]))
    if not scored:
        return "Ranking: no arm was scored."
    ranked = ", ".join(f"{i}. {a.label} ({a.verdict.at_epochs}, {fmt(a.finals['fid']['mean'])}{steps_words(a.steps)})"
                       for i, a in enumerate(scored, start=1))
    noise = [a.label for a in scored if a.label in noise_like(scored)]
    note = f" {', '.join(noise)}: no closer to digits than noise images, so their order means nothing." \
        if noise else ""
    return f"Ranking by verdict, then mean final FID (lower is better): {ranked}.{note}"


def what_it_allows(analysis: Analysis) -> str:
    """What section 9 can and cannot show with the seeds each compared pair actually has."""
    runs, comparisons = analysis.runs, analysis.comparisons
    if not comparisons:
        text = "There are no two scored faithful arms to compare."
    else:
        text = seed_power_words(comparisons, noise_like(list(analysis.arms.values())))
    data = runs.runs[0].manifest.data
    if data.split != "train" or data.images < FULL_TRAIN_IMAGES:
        text += " " + data_caveat(runs, data.images)
    return text


def seed_power_words(comparisons: list[Comparison], noise: set[str]) -> str:
    """Whether the seeds of each compared pair allow a Holm-corrected difference at all: a perfect separation of n
    and m seeds gives the two-sided Mann-Whitney p = 2 / C(n + m, n), which Holm multiplies by the comparisons.
    A difference between two arms in ``noise`` (noise_like) is counted apart: it orders two failures."""
    count, holm_threshold = len(comparisons), SIGNIFICANT_P / len(comparisons)
    best = min(comparisons, key=lambda c: c.smallest_p)
    reachable = [c for c in comparisons if c.smallest_after_holm < SIGNIFICANT_P]
    shown = [c for c in comparisons if c.holm_p < SIGNIFICANT_P]
    failures = sum({c.label_a, c.label_b} <= noise for c in shown)
    across = f"Holm's correction across the {count} comparison{'s' if count != 1 else ''} of section 9"
    if not reachable:
        return (f"No pair can reach p < {SIGNIFICANT_P} after {across}: a perfect separation of "
                f"{len(best.a)} and {len(best.b)} seeds gives at best p = 2 / C({len(best.a) + len(best.b)}, "
                f"{len(best.a)}) = {fmt(best.smallest_p)}, and the most significant comparison needs p < "
                f"{fmt(holm_threshold)}: the ranking describes these seeds, not the recipes; "
                f"{max(c.seeds_needed for c in comparisons)} seeds per arm would be the least that can tell two "
                f"arms apart.")
    out_of_reach = [c for c in comparisons if c not in reachable]
    text = (f"With the seeds each pair has, {len(reachable)} of the {count} comparisons can reach p < "
            f"{SIGNIFICANT_P} after {across} (a perfect separation of {len(best.a)} and {len(best.b)} seeds gives "
            f"p = {fmt(best.smallest_p)}; the most significant comparison needs p < {fmt(holm_threshold)}), and "
            f"{len(shown)} of them {'does' if len(shown) == 1 else 'do'}"
            + (f" ({failures} of those between two arms no closer to digits than noise, an order of two failures)"
               if failures else "") + "; section 9 names them.")
    if out_of_reach:
        text += (" Out of reach with these seeds: " + ", ".join(f"{c.label_a} vs {c.label_b}" for c in out_of_reach)
                 + f" ({max(c.seeds_needed for c in out_of_reach)} seeds per arm needed).")
    return text


def data_caveat(runs: ReportRuns, images: int) -> str:
    """What training on fewer images than the write-ups' 60,000 allows one to conclude."""
    short = any(r.epochs < runs.variants[r.variant].recipe.epochs for r in runs.runs if r.variant in runs.variants)
    step_matched = runs.runs[0].manifest.schedule == "steps"
    if short:
        return (f"The runs trained on {images:,} images for fewer epochs than their write-ups' (60,000 images): "
                f"this shows how each recipe starts, not where it ends, so a fail here is not a verdict on the "
                f"write-up.")
    if step_matched:
        return (f"The runs took the write-ups' own number of epochs and optimizer steps, but over {images:,} "
                f"images recycled instead of 60,000: a verdict here is on the recipe trained on less data, which "
                f"can overfit sooner than the original.")
    return (f"The runs took the write-ups' epochs over {images:,} images instead of 60,000, so far fewer optimizer "
            f"steps than the originals (`--schedule steps` matches them): this shows how each recipe starts.")


# 2. Setup -------------------------------------------------------------------------------------------------------
def setup(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    blocks: list[Block] = [Heading(2, "2. Setup")]
    rows = [{"arm": arm.label, "data": arm.arm.run_set, "epochs": arm.arm.epochs,
             "seeds": ", ".join(str(r.seed) for r in arm.runs),
             "devices": ", ".join(sorted({r.manifest.device for r in arm.runs}))} for arm in analysis.arms.values()]
    blocks.append(Table("setup_runs", pd.DataFrame(rows), "Complete runs by arm"))
    blocks.append(Table("setup_versions", versions_table(analysis), "Library versions and code commits of the runs, "
                                                                    "and which runs each trained"))
    evaluations = {(e.evaluator_sha256, e.partition, e.heldout_accuracy, e.n_fake, e.n_real)
                   for e in (r.manifest.evaluation for r in runs.runs) if e}
    if evaluations:
        frame = pd.DataFrame(sorted(evaluations), columns=["evaluator SHA-256", "partition", "held-out accuracy",
                                                            "n_fake", "n_real"])
        blocks.append(Table("setup_evaluators", frame, "Evaluators the scores come from"))
    blocks += [Note(text) for text in setup_notes(runs, evaluations)]
    if runs.excluded:
        blocks.append(Table("excluded_runs", pd.DataFrame([(e.run_id, e.reason) for e in runs.excluded],
                                                         columns=["run", "left out because"]),
                            "Runs left out of every aggregate"))
    missing = [v for v in runs.wanted if not any(r.variant == v for r in runs.runs)]
    if missing:
        blocks.append(Text(f"Variants with no complete runs in this set: {', '.join(missing)}."))
    return blocks


def versions_table(analysis: Analysis) -> pd.DataFrame:
    """One row per (torch, torchvision, python, code commit) the runs recorded, naming the arms and seeds it trained."""
    trained: dict[tuple[str, ...], dict[str, list[int]]] = {}
    for arm in analysis.arms.values():
        for run in arm.runs:
            versions = run.manifest.versions
            key = (versions["torch"], versions["torchvision"], versions["python"], run.manifest.code_version)
            trained.setdefault(key, {}).setdefault(arm.label, []).append(run.seed)
    rows = [(*key, "; ".join(f"{label} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
                             for label, seeds in arms.items())) for key, arms in sorted(trained.items())]
    return pd.DataFrame(rows, columns=["torch", "torchvision", "python", "code commit", "runs"])


def setup_notes(runs: ReportRuns, evaluations: set) -> list[str]:
    notes = [] if runs.seed_contract == SEED_CONTRACT else [earlier_contract_words(runs.seed_contract)]
    if len({e[0] for e in evaluations}) > 1:
        notes.append("Scores come from more than one evaluator; they are comparable only within one evaluator.")
    if len(runs.eval_ns()) > 1:
        notes.append(f"Runs were scored at different n ({', '.join(map(str, runs.eval_ns()))}); FID and KID "
                     f"depend on n, so compare runs of equal n only.")
    reduced = [r for r in runs.runs
               if r.manifest.data.split != "train" or r.manifest.data.images < FULL_TRAIN_IMAGES]
    if reduced:
        step_matched = reduced[0].manifest.schedule == "steps"  # one schedule per report
        notes.append(f"Reduced data (not the write-ups' 60,000 training digits): {runs.run_set}. " + (
            "Every epoch still has the original's number of optimizer steps (step-matched), passing over the "
            "available images several times, so claims about epoch N compare at equal steps." if step_matched
            else "An epoch then has fewer steps than the original's, so claims about epoch N compare at equal "
                 "epochs, not equal steps (`--schedule steps` matches the steps)."))
    short = sorted({f"{r.arm.name} ({r.epochs} of {runs.variants[r.variant].recipe.epochs})"
                    for r in runs.runs if r.epochs < runs.variants[r.variant].recipe.epochs})
    if short:
        notes.append("Shorter than the write-up: " + ", ".join(short) + " epochs; claims about later epochs are "
                     "not checkable.")
    small_n = [n for n in runs.eval_ns() if n < FULL_EVAL_N]
    if small_n:
        notes.append(f"Scores use n = {', '.join(map(str, small_n))} images per set instead of 10,000; FID "
                     f"and KID are biased upwards at small n, so read them against the calibration rows of "
                     f"the same n (section 3), never against published values.")
    overlap = sorted({r.run_id for r in runs.runs
                      if r.manifest.evaluation and r.manifest.evaluation.reference_overlap > 0})
    if overlap:
        notes.append(f"{len(overlap)} run(s) trained on images of the evaluator's reference set (training on "
                     f"the reference split); their scores flatter them: {', '.join(overlap)}.")
    if any(not r.manifest.evaluation for r in runs.runs):
        notes.append("Some runs were trained with scoring off; their score columns are empty (`study eval` "
                     "scores them).")
    return notes


# 3. Summary -----------------------------------------------------------------------------------------------------
def interval_note(runs: ReportRuns) -> str:
    """What the t-interval is and how wide its seed counts make it, for the summary's text."""
    fewest = min(len(group) for group in runs.arms.values())
    width = (f"t = {t_quantile(0.975, fewest - 1):.2f} at the {fewest} seeds of the smallest arm, against 1.96 for "
             f"many seeds: few seeds give wide intervals" if fewest > 1 else "no interval from one seed")
    return (f"mean ± t · sd / √n, t the Student-t quantile with n − 1 degrees of freedom: it covers the true mean "
            f"95% of the time when the seeds' FIDs are roughly normal, at any n, where a percentile bootstrap "
            f"from 3 seeds is their range and covers about 74%; {width}")


def summary(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    blocks: list[Block] = [Heading(2, "3. Summary"), Text(
        "Final-epoch values: mean ± standard deviation over seeds, and for FID the 95% t-interval of the mean "
        f"({interval_note(runs)}; tables/summary.csv holds mean, sd, interval and n of every metric). "
        "KID is the unbiased squared "
        "MMD of the evaluator's features (cubic polynomial kernel): like FID a squared feature distance, 0 for "
        "identical distributions, on this evaluator's scale (not Inception's ~0.001 for good samples), so read "
        "it against the calibration rows. "
        "Density and coverage near 0 mean the samples lie outside the real digits' neighbourhoods; class TV is "
        "the total-variation distance of the predicted-class histogram from uniform (0: balanced, 0.9: one "
        "class); nn / held-out nn is the samples' median pixel distance to their nearest training image over the "
        "same median for real digits the GAN never saw (1: as far from the training set as unseen digits are; "
        "below ~0.8 would suggest memorised training images). Failed runs are counted "
        "and kept in the aggregates.")]
    arms = list(analysis.arms.values())
    identity = [{"arm": a.label, "epochs": a.arm.epochs, "seeds": len(a.runs), "failed": len(a.failed)} for a in arms]
    spreads = {label: [a.finals[column] for a in arms] for column, label in SUMMARY_METRICS}
    numeric, shown = numeric_and_text(identity, spreads, intervals=("FID",))
    below_zero = [a.label for a in arms if a.finals["fid"]["ci_low"] < 0]
    for index, a in enumerate(arms):
        if a.label in below_zero:
            shown.loc[index, "FID 95% t-interval"] += " (reaches below 0)"
    saturated = [index for index, a in enumerate(arms) if any(a.saturated.values())]
    for index in saturated:
        shown.loc[index, "precision"] = "saturated"
    blocks.append(Table("summary", shown, runs.run_set, csv=numeric))
    if saturated:
        blocks.append(Note(f"Precision is marked saturated where it is {SATURATED_PRECISION} or more while "
                           f"density is below {EMPTY_DENSITY}: noise-like samples fall into the wide "
                           f"neighbourhoods of a few outlying real digits, so precision is high without meaning "
                           f"anything. Its value stays in the CSV."))
    if below_zero:
        blocks.append(Note(f"The FID t-interval of {', '.join(below_zero)} reaches below 0, where no FID can be: its "
                           f"seeds are far from normal (typically some collapsed seeds far above the others), so the "
                           f"interval is not to be trusted there; read the seeds themselves (section 4) and the "
                           f"verdict's seed counts (section 1)."))
    blocks += best_epochs(analysis)
    if analysis.final_fids:
        ladder = runs.ladder(runs.runs)
        lines = f" and the calibration ladder at n = {ladder.n} (dashed: real-data floor and uniform-noise " \
                f"ceiling; dotted: noisy and blurred real digits)" if ladder else ""
        blocks.append(Figure(FINAL_FID, f"Final FID of every seed (marker shape = seed), the mean over seeds (black "
                                        f"bar){lines}"))
    blocks += calibration(analysis)
    return blocks


def best_epochs(analysis: Analysis) -> list[Block]:
    """Where a run's best FID came before its last epoch: how much it lost, and when (else nothing to say)."""
    rows = []
    for best in analysis.best:
        final = metric_value(best.run.final, "fid")
        rows.append({"arm": analysis.runs.labels[best.run.arm], "seed": best.run.seed, "best FID": best.best_fid,
                     "at epoch": best.epoch, "final FID": final, "lost (% of best)": 100 * (final / best.best_fid - 1)})
    if not rows:
        return [Text("Every scored run had its best FID at its last epoch (or tied it there).")]
    return [Table("best_fid", pd.DataFrame(rows), "Runs whose final FID is above their best, which came earlier "
                                                  "(runs that tie their best at the end are not listed)")]


def calibration(analysis: Analysis) -> list[Block]:
    blocks: list[Block] = []
    for key, ladder in sorted(analysis.runs.ladders.items(), key=lambda item: item[0]):
        dataset, partition, seed, sha256, n = key
        if ladder is None:
            blocks.append(Note(f"No calibration rows for evaluator {sha256[:12]} at n = {n}, the n these runs "
                               f"were scored at; `study calibrate --n {n} --results {analysis.runs.results}` computes "
                               f"them (seconds) and puts the floor and ceiling beside these scores."))
            continue
        frame = pd.DataFrame([{"set": row["name"], "FID": row["fid"], "KID": row["kid"],
                               **{label: row.get(column, math.nan) for column, label in
                                  (("inception_score", "IS"), ("precision", "precision"), ("recall", "recall"),
                                   ("density", "density"), ("coverage", "coverage"),
                                   ("classes_covered", "classes covered"))}} for row in ladder.rows
                              if row["kind"] == "ladder"])
        blocks.append(Table(f"calibration_n{n}_evaluator{seed}", frame,
                            f"Calibration at n = {n} (the runs' own n), evaluator {sha256[:12]} ({dataset} "
                            f"{partition}, seed {seed}): real digits vs the reference is the floor, uniform noise "
                            f"the ceiling"))
        blocks.append(controls_table(analysis.controls[key], ladder, f"evaluator{seed}", f"evaluator {sha256[:12]}"))
        if key in analysis.runs.cross_checks:
            blocks.extend(cross_check(analysis, key, ladder))
    return blocks


def cross_check(analysis: Analysis, key: LadderKey, ladder: Ladder) -> list[Block]:
    """The ladder and the controls through a second kind of network: do the rungs keep their order, and each
    control its verdict, when the features come from an MLP instead of the panel's CNN?"""
    check, n = analysis.runs.cross_checks[key], ladder.n
    if check is None:
        return [Note(f"No second-architecture calibration at n = {n}: `study calibrate --n {n} --results "
                     f"{analysis.runs.results}` trains an MLP evaluator as the panel's CNNs were trained and scores "
                     f"the same sets through it, to show whether the ladder and the controls' verdicts hold for "
                     f"another kind of network.")]
    name = check.info.architecture_name.upper()
    kids, other_fids, other_kids = ladder.scores("kid"), check.ladder.fids, check.ladder.scores("kid")
    frame = pd.DataFrame([{"set": rung, "FID, CNN": fid, f"FID, {name}": other_fids[rung], "KID, CNN": kids[rung],
                           f"KID, {name}": other_kids[rung]} for rung, fid in ladder.fids.items()])
    judged = analysis.cross_controls[key]
    right = (sum(j.right for j in analysis.controls[key]), sum(j.right for j in judged))
    caption = (f"The ladder at n = {n} through the panel's primary CNN ({key[3][:12]}) and a second architecture, "
               f"{check.info.architecture} ({check.info.short}, trained on the same {check.info.train_images} "
               f"digits for {check.info.epochs} epochs, held-out accuracy {100 * check.info.heldout_accuracy:.1f}%)")
    return [Table(f"calibration_n{n}_{check.info.architecture_name}", frame, caption),
            Text(f"{ladder_order(ladder, check.ladder, name)} Controls judged right: {right[1]} of {len(judged)} "
                 f"by the {name}, {right[0]} of {len(judged)} by the CNN (the runs are scored by the CNN panel "
                 f"only: the {name} checks the yardstick, not the runs)."),
            controls_table(judged, check.ladder, check.info.architecture_name,
                           f"second architecture {name} {check.info.short}")]


def ladder_order(cnn: Ladder, other: Ladder, name: str) -> str:
    """Whether two evaluators rank the ladder's rungs alike (Kendall's tau), naming the rungs that swap."""
    from scipy.stats import kendalltau

    first, second = cnn.fids, other.fids
    rungs = list(first)
    tau = kendalltau([first[r] for r in rungs], [second[r] for r in rungs]).statistic
    by_cnn, by_other = sorted(rungs, key=lambda r: first[r]), sorted(rungs, key=lambda r: second[r])
    if by_cnn == by_other:
        return f"Both networks put the {len(rungs)} rungs in the same order (Kendall tau {tau:.2f})."
    return (f"The rungs' order differs (Kendall tau {tau:.2f} over {len(rungs)} rungs): by FID the CNN ranks them "
            f"{' < '.join(by_cnn)}; the {name} {' < '.join(by_other)}.")


def controls_table(judgements: list[ControlJudgement], ladder: Ladder, name: str, who: str) -> Table:
    """The control sets through the digit levels and failure labels, beside what each must get: the criteria
    shown to judge known cases right on this evaluator (``who``) and n."""
    rows = []
    for judged in judgements:
        row, control = judged.row, judged.control
        expected = [level for level in DIGIT_LEVELS if level in control.passes]
        rows.append({"set": row["name"], "what it is": control.why, "FID": row["fid"],
                     "IS / real": row["inception_score"] / ladder.real["inception_score"],
                     "precision / real": row["precision"] / ladder.real["precision"],
                     "coverage / real": row["coverage"] / ladder.real["coverage"],
                     "classes covered": row["classes_covered"], "spread / real": row["self_nn_ratio"],
                     **{level: "yes" if held else "no" for level, held in judged.levels.items()},
                     "failure label": judged.label or "-",
                     "should be": f"{', '.join(expected) or 'no digits level'}; {control.failure or 'not failed'}",
                     "judged right": "yes" if judged.right else "NO"})
    return Table(f"controls_n{ladder.n}_{name}", pd.DataFrame(rows),
                 f"Controls at n = {ladder.n}, {who}: sets whose verdict is known, through the "
                 f"digit levels of the claims and the failure labels of the runs (spread: median distance to "
                 f"the nearest other sample over real digits')")


# 4. Per seed ----------------------------------------------------------------------------------------------------
def per_seed(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    rows, flags = [], []
    for run in sorted(runs.runs, key=lambda r: (runs.labels[r.arm], r.seed)):
        arm, final = analysis.arms[run.arm], run.final
        rows.append({"arm": runs.labels[run.arm], "seed": run.seed, "epochs": int(final["epoch"]),
                     "d_loss": final["d_loss"], "g_loss": final["g_loss"],
                     **{label: metric_value(final, column) for column, label in SUMMARY_METRICS},
                     "failed": arm.failures[run.run_id] or ""})
        flags.append(arm.saturated[run.run_id])
    numeric = pd.DataFrame(rows)
    shown = numeric.copy()
    shown["precision"] = [("saturated" if flag else value) for flag, value in zip(flags, column_cells(
        numeric["precision"]))]
    return [Heading(2, "4. Every seed"), Table("per_seed", shown, "Final epoch of every run", csv=numeric)]


# 5. Curves ------------------------------------------------------------------------------------------------------
def curves(analysis: Analysis) -> list[Block]:
    ladder = analysis.runs.ladder(analysis.runs.runs)
    lines = f"; FID panel: dashed lines are the real-data floor and uniform-noise ceiling at n = {ladder.n}" \
        if ladder else ""
    return [Heading(2, "5. Curves"),
            Figure(CURVES, f"Losses, D outputs, D accuracy and scores over epochs, mean over seeds with a min-max "
                           f"band{lines}")]


# 6. Samples -----------------------------------------------------------------------------------------------------
def samples(analysis: Analysis) -> list[Block]:
    blocks: list[Block] = [Heading(2, "6. Samples"),
                           Text("Fixed-noise grids (the same noise at every epoch of a run), G in the mode its "
                                "write-up samples in, shown at twice their size; beside them the picture the "
                                "write-up's own code draws, where it draws one (this study's run drawn that way, "
                                "not the published picture).")]
    for label, strip in analysis.samples.items():
        blocks += sample_blocks(label, strip)
    return blocks


def sample_blocks(label: str, strip: SampleStrip | None) -> list[Block]:
    """One arm's sample strip and animation with their captions (the interim report shows them too)."""
    if strip is None:
        return [Text(f"{label}: no sample grids.")]
    caption = f"{label}: seed {strip.seed} at epoch{'s' if len(strip.picks) > 1 else ''} " \
              f"{', '.join(str(e) for e, _ in strip.picks)}"
    if strip.others:
        caption += f"; the last epoch of seed{'s' if len(strip.others) > 1 else ''} " \
                   f"{', '.join(str(r.seed) for r in strip.others)}"
    if strip.writeup is not None:
        caption += f"; seed {strip.seed} at epoch {strip.epoch} drawn the write-up's way (its noise and layout: " \
                   f"this study's run, not the published picture)"
    blocks: list[Block] = [Figure(samples_png(label), caption)]
    if strip.animated:
        blocks.append(Figure(samples_gif(label), f"{label}, seed {strip.seed}: the {len(strip.frames)} epochs "
                                                 f"with sample grids (animated)"))
    return blocks


# 7. Claims ------------------------------------------------------------------------------------------------------
def claims(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    blocks: list[Block] = [Heading(2, "7. Claims and quirks"),
                           Text("Each claim is checked on every seed of the faithful runs (no bug fixed; an "
                                "alternative reading of the write-up is labelled ~name), at the epoch the claim "
                                "speaks of (a claim about the end of training at the write-up's own epoch "
                                "count), under the schedule this report covers: reproduced (all seeds), partly "
                                "(some), not reproduced (none), not checkable (and why), or contradicted by the "
                                "code. Under the equal-epochs schedule on fewer images than the original's "
                                "60,000, epoch N has fewer steps than the original's epoch N; the step-matched "
                                "schedule (`--schedule steps`) gives it the same number of steps.")]
    for name in runs.wanted:
        variant = runs.variants[name]
        blocks.append(Heading(3, f"{name}: {variant.title}"))
        faithful = [analysis.arms[arm] for arm in runs.faithful(name)]
        if not faithful:
            blocks.append(Text(f"No complete faithful runs: every claim is not checkable yet; `study run {name} "
                               f"{runs.seed_flag()} {runs.run_flags()}` trains them."))
        for arm in faithful:
            rows = [claim_row(judged, arm.members, carried_words(judged, arm)) for judged in arm.claims or []]
            caption = f"{arm.label}: {runs.run_set}, {arm.arm.epochs} epochs trained"
            blocks.append(Table(f"claims_{slug(arm.label)}", pd.DataFrame(rows), caption))
        quirks = pd.DataFrame([{"quirk": q.name, "status": q.status,
                                "toggle": f"--{'alt' if q.status == 'alternative' else 'fix'} {q.fix}"
                                if q.fix else "-",
                                "what the original does": q.what + (f" (Inert: {q.inert}.)" if q.inert else "")}
                               for q in variant.quirks])
        blocks.append(Table(f"quirks_{name}", quirks, f"Quirks of {name}"))
    return blocks


def carried_words(judged: ClaimJudgement, arm: ArmAnalysis) -> str:
    """Why a claim that holds may be a side effect of the seeds' failure ("" unless its failed seeds carry it)."""
    if not judged.carried_by_failures or judged.working is None:
        return ""
    kinds = ", ".join(sorted({why.split(":")[0] for why in arm.failed}))
    working = len(arm.runs) - len(arm.failed)
    alone = f"on the {working} that did not it is {judged.working.kind}" if working else "no seed is left"
    return (f"{len(arm.failed)} of these {len(arm.runs)} seeds failed ({kinds}) and {alone}: the claim holds of "
            f"runs whose samples fail, so it may be a side effect of the failure")


def claim_row(judged: ClaimJudgement, members: tuple[int, ...], carried: str = "") -> dict:
    """One claim's line; ``carried`` (carried_words) is added to the why of a claim its failed seeds carry."""
    claim, verdict = judged.claim, judged.primary
    why = NO_RUN_CHECKS if claim.check is None and not claim.contradicted else verdict.reason
    if carried:
        why += f"; {carried}"
    return {"claim": claim.key, "write-up says": claim.quote, "checked as": claim.checkable,
            "judged at": f"epoch {verdict.epoch}" if verdict.epoch else "-",
            "measured": "; ".join(f"seed {s}: {v}" for s, v in verdict.values) or "-", "verdict": verdict.kind,
            "why": why, "panel": agreement(verdict.kind, judged.panel(members))}


# 8. Cost of each quirk ------------------------------------------------------------------------------------------
def quirk_costs(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    blocks: list[Block] = [Heading(2, "8. Cost of each quirk"), Text(
        "Each fixed arm against its faithful arm, paired by seed (faithful seed S against fixed seed S) over the "
        "seeds both have: a row per single fix and one for all fixes together (`--fix all`), where those arms "
        "were trained; fixes can interact, so all together need not be the sum of the single ones. The change in "
        "final FID (fixed minus faithful; lower is better) is tested by the exact two-sided Wilcoxon signed-rank "
        "test over the pairs, Holm-corrected across the fixed arms below. Its effect size is the matched-pairs "
        "rank-biserial correlation r: +1 when the fix raised (worsened) FID on every pair, -1 when it lowered it "
        "on every pair. It is a rank measure like the test, chosen over a standardised mean difference because it "
        "assumes no normal seeds, one collapsed seed cannot dominate it, and it stays defined when every pair "
        "changes by the same amount; the mean change gives the size in FID units. The second table holds every "
        "metric's change, mean ± sd (tables/quirk_costs.csv adds each change's 95% t-interval and n).")]
    if not analysis.fixes:
        blocks.append(Text(f"No fixed runs beside faithful ones in this set yet: train the fixed arms with the "
                           f"same seeds, data and schedule, e.g. `study run nll-softmax udacity {runs.seed_flag()} "
                           f"--fix all {runs.run_flags()}`, then report again."))
        return blocks
    noise = noise_like(list(analysis.arms.values()))
    rows = [fix_test_row(test, {runs.labels[test.arm.faithful], test.label} <= noise) for test in analysis.fixes]
    blocks.append(Table("quirk_cost_tests", pd.DataFrame(rows), "What each fix does to final FID, paired by seed"))
    identity = [{"fixed arm": test.label, "pairs": len(test.pairs)} for test in analysis.fixes]
    spreads = {f"Δ {label}": [test.metric_changes[label] for test in analysis.fixes] for _, label in SUMMARY_METRICS}
    numeric, shown = numeric_and_text(identity, spreads)
    blocks.append(Table("quirk_costs", shown, "Fixed minus faithful, every metric", csv=numeric))
    blocks += [Text(fix_coverage_line(analysis, coverage)) for coverage in analysis.coverage]
    return blocks


def fix_test_row(test: FixTest, both_noise: bool = False) -> dict:
    """One row of section 8; ``both_noise``: neither arm is closer to digits than noise (noise_like), so a change
    of FID between them moves one failure against another, and the row says so."""
    words = fid_change_words(test.changes) + ("; both arms are no closer to digits than noise images, so this "
                                              "compares two failures" if both_noise else "")
    return {"fixed arm": test.label, "fixes": test.applies, "pairs": len(test.changes),
            "FID faithful": test.faithful_fid, "FID fixed": test.fixed_fid,
            "what the fix does to FID": words, "rank-biserial r": test.r,
            "Wilcoxon p": test.p, "Holm p": test.holm_p, "smallest possible p after Holm": test.smallest_after_holm,
            "pairs needed": test.pairs_needed,
            "conclusion": conclusion(test.holm_p, test.smallest_after_holm, "a real change",
                                     f"{test.pairs_needed} pairs needed")}


def fid_change_words(differences: list[float]) -> str:
    """What a fix did to final FID, in words: a higher FID is a loss, and the text says so rather than a bare +.
    "Better" or "worse" needs the mean and most pairs to agree; where they do not, one large pair moved the mean."""
    if not differences:
        return "not scored"
    higher, lower, pairs = sum(d > 0 for d in differences), sum(d < 0 for d in differences), len(differences)
    mean = spread(differences)["mean"]
    if not higher and not lower:
        return f"no change: the same FID on all {pairs} pairs"
    if mean > 0 and higher > lower:
        return f"worse with the fix: FID up by {fmt(mean)} on average, higher on {higher} of {pairs} pairs"
    if mean < 0 and lower > higher:
        return f"better with the fix: FID down by {fmt(-mean)} on average, lower on {lower} of {pairs} pairs"
    largest = max(differences, key=abs)
    return (f"mixed: FID lower on {lower} and higher on {higher} of {pairs} pairs; the mean change of {fmt(mean)} "
            f"follows one pair's {fmt(largest)}")


def conclusion(holm_p: float, smallest_after_holm: float, shown: str, needed: str) -> str:
    """A comparison in words: shown (Holm p < 0.05), out of reach of these seeds whatever the data, or not
    detected."""
    if math.isnan(holm_p):
        return "not scored"
    if holm_p < SIGNIFICANT_P:
        return f"{shown} (Holm p < {SIGNIFICANT_P})"
    if smallest_after_holm >= SIGNIFICANT_P:
        return f"cannot be shown with these seeds: {needed}"
    return "no difference detected"


def fix_coverage_line(analysis: Analysis, coverage: FixCoverage) -> str:
    """The commands that train a faithful arm's missing single-fix or all-fixes arms, or, when every one was
    trained, how far all fixes together differ from the sum of the single ones."""
    runs, base = analysis.runs, coverage.base
    if coverage.interaction is None:
        alternatives = "".join(f" --alt {a}" for a in base.alternatives)
        return (f"{runs.labels[base]}: the single fixes and all fixes together are reported where their arms were "
                f"trained; missing here: " + "; ".join(
                    f"`study run {base.variant} --fix {fix}{alternatives} {runs.seed_flag()} {runs.run_flags()}`"
                    for fix in coverage.missing) + ".")
    return interaction_line(runs.labels[base], coverage.interaction)


def interaction_line(label: str, interaction: Interaction) -> str:
    low, high = interaction.low, interaction.high
    shown = "no interval from one seed" if math.isnan(low) else \
        f"95% t-interval [{fmt(low)}, {fmt(high)}], " + ("the fixes interact" if low > 0 or high < 0 else
                                                        "not shown to differ from 0")
    return (f"{label}: the {interaction.fixes} fixes together change FID by {fmt(interaction.joint)}, the single "
            f"fixes' changes add up to {fmt(interaction.summed)}; together minus the sum is "
            f"{fmt(interaction.excess)} over {interaction.seeds} seeds ({shown}).")


# 9. Pairwise ----------------------------------------------------------------------------------------------------
def pairwise(analysis: Analysis) -> list[Block]:
    comparisons = analysis.comparisons
    blocks: list[Block] = [Heading(2, "9. Which variants differ"), Text(
        f"Final FID of the faithful runs: the exact two-sided Mann-Whitney U test over seeds, Holm-corrected "
        f"across the {len(comparisons)} comparisons made (every pair of arms). Effect size: Cliff's delta, "
        f"P(FID A > FID B) - P(FID A < FID B) over every pair of one seed from each arm, the quantity the U test "
        f"tests (-1: every seed of A has a lower, better, FID than every seed of B). It is chosen over Hedges' g "
        f"because it assumes no normal seeds, one collapsed seed's extreme FID cannot dominate it, and it stays "
        f"defined when seeds agree exactly; the mean difference gives the size in FID units. Seeds per arm "
        f"needed: how many seeds each arm of the pair must have (keeping those it has) before even a perfect "
        f"separation could reach p < {SIGNIFICANT_P} after Holm across these comparisons; the smallest two-sided "
        f"p with n and m seeds is 2 / C(n + m, n).")]
    if not comparisons:
        blocks.append(Text("No two scored faithful arms to compare."))
        return blocks
    noise = noise_like(list(analysis.arms.values()))
    rows = [comparison_row(comparison, noise) for comparison in comparisons]
    if all(c.smallest_after_holm >= SIGNIFICANT_P for c in comparisons):
        smallest = min(c.smallest_p for c in comparisons)
        blocks.append(Text(f"No pair of the {len(rows)} can be told apart: with these seed counts even a perfect "
                           f"separation gives p = {fmt(smallest)} at best, and Holm's correction across the "
                           f"{len(rows)} comparisons asks p < {fmt(SIGNIFICANT_P / len(rows))} of the most "
                           f"significant one. More seeds per arm are needed (column 'seeds per arm needed'; "
                           f"section 1)."))
    blocks.append(Table("pairwise", pd.DataFrame(rows)))
    return blocks


def comparison_row(c: Comparison, noise: set[str]) -> dict:
    """One row of section 9: two arms' final FIDs, the test (p and Holm p), the effect size and the seeds it
    would need; where both arms are no closer to digits than noise (``noise``), the conclusion says so."""
    mean_a, mean_b = spread(c.a)["mean"], spread(c.b)["mean"]
    both_noise = "; both arms are no closer to digits than noise images, so this orders two failures" \
        if {c.label_a, c.label_b} <= noise else ""
    return {"A": c.label_a, "B": c.label_b, "FID A": mean_a, "FID B": mean_b, "Δ FID (A - B)": mean_a - mean_b,
            "seeds A": len(c.a), "seeds B": len(c.b), "Cliff's delta": c.cliffs_delta, "p": c.p, "Holm p": c.holm_p,
            "smallest possible p": c.smallest_p, "smallest possible p after Holm": c.smallest_after_holm,
            "seeds per arm needed": c.seeds_needed,
            "conclusion": conclusion(c.holm_p, c.smallest_after_holm, f"differ: {c.lower} has the lower FID",
                                     f"{c.seeds_needed} seeds per arm needed") + both_noise}


# 10. The authors' own runs --------------------------------------------------------------------------------------
def original_runs(analysis: Analysis) -> list[Block]:
    runs = analysis.runs
    blocks: list[Block] = [Heading(2, "10. The authors' own runs against the seeds"), Text(
        "What the write-ups' authors logged of their own runs, held against the seeds of the faithful runs here, "
        "value by value at the same epoch (and, for printed single-batch values, the same batch). Position: "
        "the share of seeds below the author's value (0.5 is the middle); the author's run looks like one more "
        "seed where its values lie inside the seeds' range at most points and above (or below) every seed at no "
        "more than twice the 1 in n + 1 points where a further seed would be beside n seeds. What differs: each "
        "author trained once, unseeded, on a GPU, on MNIST's 60,000 training images; these runs trained on "
        f"{runs.run_set}, on this suite's device (CPU and GPU arithmetic differ in the last bits, which a GAN "
        "amplifies). Under the step-matched schedule an epoch has the original's number of steps but recycles "
        "fewer distinct images.")]
    rows: list[dict] = []
    for name in runs.wanted:
        if runs.variants[name].original_logs and not runs.faithful(name):
            blocks.append(Text(f"{name}: no faithful runs in this set to hold its authors' logs against."))
        for c in (c for c in analysis.logs if c.variant == name):
            blocks.append(Text(sentence(c.log, c.label, c.seeds, c.placements, c.unmatched)))
            rows += [{"log": c.log.file, "arm": c.label, "seeds": c.seeds, **vars(summary),
                      "like one more seed": "yes" if summary.typical else "no"}
                     for summary in summarise(c.placements)]
            if c.placements:
                blocks.append(Figure(original_log_png(c), f"{c.log.run} against the seeds of {c.label}"))
    if rows:
        blocks.append(Table("original_runs", pd.DataFrame(rows).rename(columns={
            "inside": "inside the seeds' range", "above": "above every seed", "below": "below every seed",
            "median_position": "median position", "first_epoch": "first epoch", "last_epoch": "last epoch",
            "one_side": "one more seed above every seed"}),
            "Per logged column: values compared; how many lie inside the seeds' range, above or below every "
            "seed; the median position"))
    elif len(blocks) == 2:
        blocks.append(Text("No variant in this report has an author's log."))
    return blocks


# 11. How the verdicts move --------------------------------------------------------------------------------------
def moved_row(arm: str, what: str, verdict: str, moved: Mapping[str, str]) -> dict:
    """One line of "how the verdicts move": the verdict, what it becomes under each change, and whether any flips."""
    return {"arm": arm, "verdict of": what, "verdict": verdict, **moved,
            "fragile": "yes" if any(kind != verdict for kind in moved.values()) else "no"}


def verdict_moves(analysis: Analysis) -> list[Block]:
    blocks: list[Block] = [Heading(2, "11. How the verdicts move"), Text(
        "Every headline verdict (section 1) and every claim verdict (section 7) recomputed by each evaluator of "
        "the panel (the same network trained from another seed) and with every FID cut of the digit levels one "
        "ladder rung stricter and one looser (the rungs ordered by FID on the judging evaluator's ladder). A "
        "verdict that changes under any of these is fragile: it depends on which evaluator judged it or on where "
        "a cut sits, not only on the runs.")]
    rows = []
    for arm in analysis.arms.values():
        moves = [View(seed) for seed in arm.members if seed != PRIMARY_SEED] + \
            [View(PRIMARY_SEED, shift) for shift in CUT_SHIFTS]
        rows.append(moved_row(arm.label, "headline", arm.verdict.verdict,
                              {view.label: arm.verdicts[view].verdict for view in moves}))
        for judged in arm.claims or []:
            rows.append(moved_row(arm.label, judged.claim.key, judged.primary.kind,
                                  {view.label: judged.verdicts[view].kind for view in moves}))
    if not rows:
        return []
    frame = pd.DataFrame(rows)
    fragile = frame[frame["fragile"] == "yes"]
    blocks.append(Text(f"{len(fragile)} of {len(frame)} verdicts are fragile" + (
        ": " + "; ".join(f"{r['arm']} {r['verdict of']}" for _, r in fragile.iterrows()) + "." if len(fragile)
        else ".")))
    blocks.append(Table("verdict_moves", frame, f"Each verdict as the primary evaluator (seed {PRIMARY_SEED}) "
                                                f"gives it, by each other evaluator of the panel, and with the "
                                                f"cuts moved"))
    return blocks


SECTIONS = (answer, setup, summary, per_seed, curves, samples, claims, quirk_costs, pairwise, original_runs,
            verdict_moves)


def final_report(analysis: Analysis) -> list[Block]:
    """Every section of the final report, in order, and the closing line."""
    blocks: list[Block] = [Heading(1, "mnist-gan-study report")]
    for section in SECTIONS:
        blocks += section(analysis)
    blocks.append(Text(f"Tables are also in tables/ as CSV (numbers only). {len(analysis.runs.excluded)} incomplete "
                       f"run(s) left out."))
    return blocks
