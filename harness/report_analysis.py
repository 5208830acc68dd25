"""The report's analysis pass: everything a report says, judged and computed once from the runs it covers.

Per arm: each seed's failure and verdict, the arm's verdict as every member of the evaluator panel gives it and with
the digit levels' cuts moved a rung either way, the spread over seeds of every final score, and each claim of a
faithful arm judged once per view. Across arms: the quirk costs (fixed arm against faithful, paired by seed), the
pairwise comparisons, the authors' logs placed among the seeds, the calibration controls, the sample grids to show.
The section writers (harness.report_sections) and the figure pass (harness.report_figures) only read this.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from harness.arms import Arm
from harness.claims import (
    CONTRADICTED,
    DIGIT_LEVELS,
    NOT_CHECKABLE,
    PARTLY,
    REPRODUCED,
    Unmeasurable,
    Verdict,
    digits_hold,
    judge,
)
from harness.original_logs import Placement, place
from harness.panel import DIGIT_SCORES, PRIMARY_SEED
from harness.report_runs import SUMMARY_METRICS, Ladder, LadderKey, ReportRuns, final_values, metric_value
from harness.runs import Run, failure_label
from harness.runs import saturated_precision as saturated_scores
from harness.scoring import CONTROLS, Control
from harness.stats import (
    cliffs_delta,
    clopper_pearson,
    holm,
    mann_whitney_p,
    mean_sd,
    needed_for_holm,
    rank_biserial,
    smallest_mann_whitney_p,
    smallest_wilcoxon_p,
    t_interval,
    wilcoxon_p,
)
from harness.variant import Claim, OriginalLog

WORKS_AT, PARTLY_AT = "recognisable", "digit-like"  # the digit levels (claims.DIGIT_LEVELS) a seed's final samples
# must meet to work, or to work partly: the claims' own criterion, so the headline and the claims judge alike
HOLDS = (REPRODUCED, PARTLY)  # claim verdicts that hold on some seed, the stronger first
CUT_SHIFTS = (-1, 1)  # how the verdicts move: every FID cut one ladder rung stricter, then one looser
VERDICTS = ["works", "partly", "fails"]  # best first
NOT_ASSESSABLE = "not assessable"
MIN_GIF_FRAMES = 4
SIGNIFICANT_P = 0.05


def finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def spread(values: list[float]) -> dict[str, float]:
    """mean, sd, 95% t-interval of the mean and n of the finite values: one metric's numeric summary."""
    values = finite(values)
    mean, sd = mean_sd(values) if values else (math.nan, math.nan)
    low, high = t_interval(values)
    return {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high, "n": len(values)}


def saturated_precision(run: Run) -> bool:
    return saturated_scores({key: float(value) for key, value in run.final.items()})


# Views: who judges, and where the cuts sit -------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    """A verdict's judge: a member of the evaluator panel (its evaluator seed), with the digit levels' FID cuts
    moved ``shift`` rungs along its ladder (0: where the levels put them)."""

    member: int = PRIMARY_SEED
    shift: int = 0

    @property
    def label(self) -> str:
        if not self.shift:
            return f"evaluator seed {self.member}"
        rungs = f"{abs(self.shift)} rung{'s' if abs(self.shift) > 1 else ''}"
        return f"cuts {rungs} {'stricter' if self.shift < 0 else 'looser'}"  # a lower FID cut is stricter


PRIMARY = View()


def views_of(runs: ReportRuns, group: list[Run]) -> dict[View, list[Run]]:
    """The arm's runs as each view reads them: the primary evaluator's, every other member's that scored them all,
    then the primary's with the cuts moved."""
    members = {View(seed): view for seed, view in runs.panel_views(group).items() if seed != PRIMARY_SEED}
    return {PRIMARY: group, **members, **{View(PRIMARY_SEED, shift): group for shift in CUT_SHIFTS}}


# Verdicts per seed and arm -------------------------------------------------------------------------------------------
def seed_failure(runs: ReportRuns, run: Run) -> str | None:
    """Why the run failed, read against the ladder of the evaluator that scored it, or None."""
    ladder = runs.ladder([run])
    return run.failure(ladder.rows if ladder else None)


def seed_verdict(runs: ReportRuns, run: Run, failure: str | None, shift: int = 0) -> str:
    """works (its final samples meet the WORKS_AT digit level, not failed), partly (they meet only PARTLY_AT)
    or fails (``failure``, or neither), for one seed; ``shift`` moves the levels' FID cuts along the ladder. A run
    scored without calibration rows is "partly": nothing places it."""
    ladder = runs.ladder([run])
    if failure:
        return "fails"
    if ladder is None:
        return "partly"
    final = {column: metric_value(run.final, column) for column in DIGIT_SCORES}
    try:
        if digits_hold(WORKS_AT, final, ladder.rows, shift)[0]:
            return "works"
        return "partly" if digits_hold(PARTLY_AT, final, ladder.rows, shift)[0] else "fails"
    except Unmeasurable:
        return "partly"


@dataclass(frozen=True)
class ArmVerdict:
    """The arm's verdict from its seeds' verdicts under one view: the one most seeds get (a tie goes to the worse),
    with the Clopper-Pearson interval of its share; "not assessable" when the runs are shorter than the recipe,
    since a recipe's start says nothing of where it ends."""

    verdict: str
    at_epochs: str  # what most seeds get at the epochs trained
    seeds: Mapping[str, int]  # seeds per seed verdict
    share_low: float
    share_high: float


def arm_verdict(runs: ReportRuns, arm: Arm, group: list[Run], failures: Mapping[str, str | None],
                shift: int) -> ArmVerdict:
    """``failures``: run id -> why the run failed as this view's evaluator scored it."""
    seeds = Counter(seed_verdict(runs, run, failures[run.run_id], shift) for run in group)
    at_epochs = max(reversed(VERDICTS), key=lambda v: seeds[v])
    low, high = clopper_pearson(seeds[at_epochs], len(group))
    verdict = NOT_ASSESSABLE if arm.epochs < runs.recipe_epochs(arm) else at_epochs
    return ArmVerdict(verdict, at_epochs, {v: seeds[v] for v in VERDICTS}, low, high)


# Claims ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClaimJudgement:
    """One claim judged on one faithful arm, once per view."""

    claim: Claim
    verdicts: Mapping[View, Verdict]
    working: Verdict | None = None  # the primary's verdict on the seeds that did not fail, where some failed

    @property
    def primary(self) -> Verdict:
        return self.verdicts[PRIMARY]

    @property
    def carried_by_failures(self) -> bool:
        """The claim holds on the arm but less on the seeds that did not fail (or none is left): it may be a side
        effect of the failure rather than of the recipe working."""
        if self.working is None or self.primary.kind not in HOLDS:
            return False
        return HOLDS.index(self.primary.kind) < (HOLDS.index(self.working.kind) if self.working.kind in HOLDS
                                                 else len(HOLDS))

    def panel(self, members: tuple[int, ...]) -> dict[int, str]:
        """The verdict kind each of ``members`` gives (see ArmAnalysis.members)."""
        return {seed: self.verdicts[View(seed)].kind for seed in members}


def judge_claims(runs: ReportRuns, arm: Arm, views: Mapping[View, list[Run]],
                 working: list[Run] | None = None) -> list[ClaimJudgement]:
    """Every claim of the arm's variant judged under each view, and by the primary on the ``working`` seeds (those
    that did not fail; None where none failed)."""
    variant = runs.variants[arm.variant]
    return [ClaimJudgement(claim, {view: judge(claim, group, variant, view.shift) for view, group in views.items()},
                           None if working is None else judge(claim, working, variant) if working else
                           Verdict(claim, NOT_CHECKABLE, (), "every seed failed"))
            for claim in variant.claims]


@dataclass(frozen=True)
class ClaimCounts:
    """Claims reproduced of those checkable on an arm's runs, and those the code contradicts (no run needed: not
    counted as checked)."""

    reproduced: int
    checkable: int
    contradicted: int
    total: int


def count_claims(judgements: list[ClaimJudgement]) -> ClaimCounts:
    kinds = [j.primary.kind for j in judgements]
    checkable = [k for k in kinds if k not in (NOT_CHECKABLE, CONTRADICTED)]
    return ClaimCounts(sum(k == REPRODUCED for k in checkable), len(checkable), kinds.count(CONTRADICTED), len(kinds))


# One arm ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmAnalysis:
    arm: Arm
    label: str
    runs: list[Run]  # its seeds, in order, as the primary evaluator scored them
    recipe_epochs: int
    ladder: Ladder | None
    members: tuple[int, ...]  # the panel members that scored every run (the primary among them where it did)
    verdicts: Mapping[View, ArmVerdict]
    failures: Mapping[str, str | None]  # run id -> why it failed (primary evaluator), or None
    finals: Mapping[str, dict[str, float]]  # summary column -> spread over seeds of its final value
    saturated: Mapping[str, bool]  # run id -> its precision is saturated (high precision of noise-like samples)
    steps: tuple[int, ...]  # the optimizer steps each seed took, the distinct counts in order; () where unrecorded
    claims: list[ClaimJudgement] | None  # judged on a faithful arm of a declared variant only
    claim_counts: ClaimCounts | None

    @property
    def verdict(self) -> ArmVerdict:
        return self.verdicts[PRIMARY]

    @property
    def failed(self) -> list[str]:
        return [why for why in self.failures.values() if why]

    @property
    def panel(self) -> dict[int, str]:
        """The arm's verdict as each member that scored every run gives it (the primary's included)."""
        return {seed: self.verdicts[View(seed)].verdict for seed in self.members}


def optimizer_steps(run: Run) -> int | None:
    """The optimizer steps the run took over its epochs, or None where its tables do not record them."""
    if "steps" not in run.metrics or run.metrics["steps"].isna().any():
        return None
    return int(run.metrics["steps"].sum())


def analyse_arm(runs: ReportRuns, arm: Arm) -> ArmAnalysis:
    group = runs.arms[arm]
    views = views_of(runs, group)
    failures = {view.member: {run.run_id: seed_failure(runs, run) for run in view_runs}
                for view, view_runs in views.items() if not view.shift}  # the cuts move no failure label
    judged = arm.is_faithful and arm.variant in runs.variants
    working = [run for run in group if not failures[PRIMARY_SEED][run.run_id]]
    claims = judge_claims(runs, arm, views, working if len(working) < len(group) else None) if judged else None
    steps = [optimizer_steps(run) for run in group]
    return ArmAnalysis(
        arm=arm, label=runs.labels[arm], runs=group, recipe_epochs=runs.recipe_epochs(arm), ladder=runs.ladder(group),
        members=tuple(runs.panel_views(group)),
        verdicts={view: arm_verdict(runs, arm, view_runs, failures[view.member], view.shift)
                  for view, view_runs in views.items()},
        failures=failures[PRIMARY_SEED],
        finals={column: spread(final_values(group, column)) for column, _ in SUMMARY_METRICS},
        saturated={run.run_id: saturated_precision(run) for run in group},
        steps=tuple(sorted({s for s in steps if s is not None})) if None not in steps else (),
        claims=claims, claim_counts=count_claims(claims) if claims is not None else None)


# Quirk costs ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FixTest:
    """A fixed arm against its faithful arm, paired by seed: the final FID changes (fixed minus faithful), their
    Wilcoxon test Holm-corrected across the fixed arms tested, the rank-biserial effect size, and every summary
    metric's change."""

    arm: Arm
    label: str
    applies: str  # which of the variant's fixes, in words
    pairs: list[tuple[Run, Run]]  # (faithful, fixed) per seed both arms have
    changes: list[float]  # the finite final-FID changes
    faithful_fid: float
    fixed_fid: float
    r: float
    p: float
    holm_p: float
    smallest_after_holm: float
    pairs_needed: int
    metric_changes: Mapping[str, dict[str, float]]  # summary label -> spread of the change


@dataclass(frozen=True)
class Interaction:
    """All fixes together minus the sum of the single fixes' FID changes, seed by seed: 0 when fixes add up."""

    fixes: int
    joint: float  # mean FID change of all fixes together
    summed: float  # mean of the single fixes' changes added up
    excess: float
    seeds: int
    low: float  # 95% t-interval of the excess
    high: float


@dataclass(frozen=True)
class FixCoverage:
    """For a faithful arm whose variant has several fixes: the single-fix and all-fixes arms not trained yet ("all"
    for the joint one), or, when every one was, how the fixes interact."""

    base: Arm
    missing: list[str]
    interaction: Interaction | None


def seed_pairs(runs: ReportRuns, arm: Arm) -> list[tuple[Run, Run]]:
    """(faithful run, fixed run) for each seed both arms have; none when the faithful arm is missing."""
    faithful = {r.seed: r for r in runs.arms.get(arm.faithful, [])}
    return [(faithful[r.seed], r) for r in runs.arms[arm] if r.seed in faithful]


def fix_kind(runs: ReportRuns, arm: Arm) -> str:
    """Which of the variant's fixes an arm applies, in words: one, some, or all of them."""
    every = runs.variants[arm.variant].fix_names if arm.variant in runs.variants else list(arm.fixes)
    if set(arm.fixes) == set(every):
        return "all fixes" if len(every) > 1 else "the only fix"
    return "single fix" if len(arm.fixes) == 1 else f"{len(arm.fixes)} of {len(every)} fixes"


def fid_change(by_seed: list[tuple[Run, Run]], column: str = "fid") -> list[float]:
    return [metric_value(fixed.final, column) - metric_value(faithful.final, column) for faithful, fixed in by_seed]


def fix_tests(runs: ReportRuns) -> list[FixTest]:
    """Every fixed arm with seeds paired to its faithful arm's, in order."""
    pairs = {arm: seed_pairs(runs, arm) for arm in runs.ordered(runs.arms) if arm.fixes}
    pairs = {arm: by_seed for arm, by_seed in pairs.items() if by_seed}
    changes = {arm: finite(fid_change(by_seed)) for arm, by_seed in pairs.items()}
    tested = [arm for arm in pairs if changes[arm]]
    raw = {arm: wilcoxon_p(changes[arm]) for arm in tested}
    adjusted = dict(zip(tested, holm(list(raw.values()))))
    needed = needed_for_holm(smallest_wilcoxon_p, len(tested), SIGNIFICANT_P)
    return [FixTest(
        arm=arm, label=runs.labels[arm], applies=fix_kind(runs, arm), pairs=by_seed, changes=changes[arm],
        faithful_fid=spread(final_values([f for f, _ in by_seed], "fid"))["mean"],
        fixed_fid=spread(final_values([f for _, f in by_seed], "fid"))["mean"],
        r=rank_biserial(changes[arm]) if changes[arm] else math.nan, p=raw.get(arm, math.nan),
        holm_p=adjusted.get(arm, math.nan),
        smallest_after_holm=min(1.0, smallest_wilcoxon_p(sum(d != 0 for d in changes[arm])) * len(tested)),
        pairs_needed=needed,
        metric_changes={label: spread(fid_change(by_seed, column)) for column, label in SUMMARY_METRICS})
        for arm, by_seed in pairs.items()]


def interaction(runs: ReportRuns, base: Arm, singles: list[Arm], joint: Arm) -> Interaction:
    by_arm = [{r.seed: metric_value(r.final, "fid") for r in runs.arms[arm]} for arm in (base, joint, *singles)]
    seeds = sorted(set.intersection(*(set(by_seed) for by_seed in by_arm)))
    faithful, together, *single = by_arm
    joint_changes = [together[s] - faithful[s] for s in seeds]
    summed = [sum(one[s] - faithful[s] for one in single) for s in seeds]
    excess = finite([j - s for j, s in zip(joint_changes, summed)])
    low, high = t_interval(excess)
    return Interaction(len(singles), spread(joint_changes)["mean"], spread(summed)["mean"], spread(excess)["mean"],
                       len(excess), low, high)


def fix_coverage(runs: ReportRuns, fixed_arms: list[Arm]) -> list[FixCoverage]:
    """Per faithful arm of the fixed arms whose variant has several fixes: what is missing, or the interaction."""
    coverage = []
    for base in dict.fromkeys(arm.faithful for arm in fixed_arms):
        every = sorted(runs.variants[base.variant].fix_names) if base.variant in runs.variants else []
        if len(every) < 2:
            continue
        singles = {fix: Arm(base.variant, (fix,), base.alternatives, base.run_set, base.epochs) for fix in every}
        joint = Arm(base.variant, tuple(every), base.alternatives, base.run_set, base.epochs)
        missing = [fix for fix, arm in singles.items() if arm not in runs.arms] + \
            ([] if joint in runs.arms else ["all"])
        coverage.append(FixCoverage(base, missing, None if missing else
                                    interaction(runs, base, list(singles.values()), joint)))
    return coverage


# Which variants differ -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """Two faithful arms' final FIDs: the Mann-Whitney test (p, and Holm's across the ``comparisons`` made), Cliff's
    delta and the seeds per arm a perfect separation would need."""

    label_a: str
    label_b: str
    a: list[float]
    b: list[float]
    p: float
    holm_p: float
    comparisons: int

    @property
    def smallest_p(self) -> float:
        return smallest_mann_whitney_p(len(self.a), len(self.b))

    @property
    def smallest_after_holm(self) -> float:
        return min(1.0, self.smallest_p * self.comparisons)

    @property
    def seeds_needed(self) -> int:
        """Each arm keeps the seeds it has: the least count both must reach, never below what the smaller has."""
        return max(min(len(self.a), len(self.b)), needed_for_holm(
            lambda n: smallest_mann_whitney_p(max(n, len(self.a)), max(n, len(self.b))), self.comparisons,
            SIGNIFICANT_P))

    @property
    def cliffs_delta(self) -> float:
        return cliffs_delta(self.a, self.b)

    @property
    def lower(self) -> str:
        """The label of the arm with the lower mean FID."""
        return self.label_a if spread(self.a)["mean"] < spread(self.b)["mean"] else self.label_b


def compare_faithful_arms(runs: ReportRuns) -> list[Comparison]:
    """Every pair of scored faithful arms, Holm-corrected across the pairs."""
    scored = [a for a in runs.ordered(runs.arms) if a.is_faithful and finite(final_values(runs.arms[a], "fid"))]
    pairs = [(a, b) for i, a in enumerate(scored) for b in scored[i + 1:]]
    scores = {a: finite(final_values(runs.arms[a], "fid")) for a in scored}
    raw = [mann_whitney_p(scores[a], scores[b]) for a, b in pairs]
    return [Comparison(runs.labels[a], runs.labels[b], scores[a], scores[b], p, adjusted, len(pairs))
            for (a, b), p, adjusted in zip(pairs, raw, holm(raw))]


# The authors' own runs, the calibration controls, the best epochs ----------------------------------------------------
@dataclass(frozen=True)
class LogComparison:
    """An author's logged run placed among the seeds of a faithful arm."""

    variant: str
    log: OriginalLog
    label: str  # the arm's
    seeds: int
    placements: list[Placement]
    unmatched: int  # logged values at epochs (or batches) the runs do not reach
    steps_per_epoch: int  # the original's, which places a printed batch within its epoch


def place_original_logs(runs: ReportRuns) -> list[LogComparison]:
    comparisons = []
    for name in runs.wanted:
        variant = runs.variants[name]
        for log, arm in ((log, arm) for log in variant.original_logs for arm in runs.faithful(name)):
            placements, unmatched = place(log, runs.arms[arm])
            steps = math.ceil(variant.recipe.original_images /
                              variant.recipe_for(frozenset(arm.alternatives)).batch_size)
            comparisons.append(LogComparison(name, log, runs.labels[arm], len(runs.arms[arm]), placements, unmatched,
                                             steps))
    return comparisons


@dataclass(frozen=True)
class ControlJudgement:
    """A control set of the calibration through the digit levels and failure labels, beside what it must get."""

    row: dict
    control: Control
    levels: Mapping[str, bool]  # digit level -> met
    label: str | None  # its failure label

    @property
    def right(self) -> bool:
        return all(self.levels[level] == (level in self.control.passes) for level in DIGIT_LEVELS) and \
            (self.label.split(":")[0] if self.label else None) == self.control.failure


def judge_controls(ladder: Ladder) -> list[ControlJudgement]:
    return [ControlJudgement(row, CONTROLS[row["name"]],
                             {level: digits_hold(level, row, ladder.rows)[0] for level in DIGIT_LEVELS},
                             failure_label(row, ladder.rows)) for row in ladder.controls]


@dataclass(frozen=True)
class BestEpoch:
    """A run whose best FID came before its last epoch."""

    run: Run
    best_fid: float
    epoch: int


def best_epochs(runs: ReportRuns) -> list[BestEpoch]:
    """The runs whose final FID is above their best: a run whose last epoch ties its best lost nothing (a generator
    that never trains scores the same at every epoch) and is not listed."""
    found = []
    for run in runs.runs:
        if "fid" not in run.metrics or run.metrics["fid"].notna().sum() < 2:
            continue
        scored = run.metrics[run.metrics["fid"].notna()]
        best = scored.loc[scored["fid"].idxmin()]
        if int(best["epoch"]) != run.epochs and float(scored["fid"].iloc[-1]) > float(best["fid"]):
            found.append(BestEpoch(run, float(best["fid"]), int(best["epoch"])))
    return found


def final_fids(runs: ReportRuns) -> list[dict]:
    scored = [(run, metric_value(run.final, "fid")) for run in runs.runs]
    return [{"arm": runs.labels[run.arm], "seed": run.seed, "value": fid} for run, fid in scored if not math.isnan(fid)]


# Samples ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleStrip:
    """What the samples of one arm show: its first seed at a few epochs, the other seeds' last epoch, the picture the
    write-up's own code draws where there is one, and every epoch animated where there are enough."""

    label: str  # the arm's
    seed: int  # the first seed's
    picks: list[tuple[int, Path]]  # (epoch, grid) of the first seed
    others: list[Run]  # the other seeds with a grid at their last epoch
    writeup: Path | None  # the first seed's write-up picture at its last epoch
    epoch: int  # the first seed's last epoch
    frames: list[tuple[int, Path]]  # every grid of the first seed

    @property
    def animated(self) -> bool:
        return len(self.frames) >= MIN_GIF_FRAMES


def sample_strip(label: str, group: list[Run]) -> SampleStrip | None:
    """None: the arm's first seed has no sample grids."""
    first = group[0]
    grids = first.folder.sample_grids()
    if not grids:
        return None
    last = len(grids) - 1
    picks = [grids[i] for i in sorted({0, round(last * 0.25), round(last * 0.5), last})]
    writeup = first.folder.writeup_sample_path(first.epochs)
    return SampleStrip(label, first.seed, picks, [r for r in group[1:] if r.folder.sample_path(r.epochs).is_file()],
                       writeup if writeup.is_file() else None, first.epochs, grids)


def sample_strips(runs: ReportRuns) -> dict[str, SampleStrip | None]:
    return {label: sample_strip(label, group) for label, group in runs.labelled().items()}


# The whole analysis --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    runs: ReportRuns
    arms: Mapping[Arm, ArmAnalysis]  # in the report's order
    fixes: list[FixTest]
    coverage: list[FixCoverage]
    comparisons: list[Comparison]
    logs: list[LogComparison]
    controls: Mapping[LadderKey, list[ControlJudgement]]
    cross_controls: Mapping[LadderKey, list[ControlJudgement]]  # the same, as the second architecture judges them
    best: list[BestEpoch]
    final_fids: list[dict]  # arm label, seed and final FID ("value") of every scored run
    samples: Mapping[str, SampleStrip | None]  # arm label -> its strip


def analyse(runs: ReportRuns) -> Analysis:
    fixes = fix_tests(runs)
    return Analysis(
        runs=runs, arms={arm: analyse_arm(runs, arm) for arm in runs.ordered(runs.arms)}, fixes=fixes,
        coverage=fix_coverage(runs, [test.arm for test in fixes]), comparisons=compare_faithful_arms(runs),
        logs=place_original_logs(runs),
        controls={key: judge_controls(ladder) for key, ladder in runs.ladders.items() if ladder is not None},
        cross_controls={key: judge_controls(check.ladder) for key, check in runs.cross_checks.items() if check},
        best=best_epochs(runs), final_fids=final_fids(runs), samples=sample_strips(runs))
