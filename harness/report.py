"""`study report`: every run under results/ turned into tables, figures and a verdict on each write-up's claims.

The report is a list of blocks rendered to Markdown or HTML. It holds no wall-clock time: the same runs give the
same bytes. Incomplete runs are listed with the reason and left out of every aggregate.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from harness import figures
from harness.arms import Arm
from harness.claims import CONTRADICTED, DIGIT_LEVELS, NOT_CHECKABLE, REPRODUCED, Unmeasurable, digits_hold, judge
from harness.errors import StudyError
from harness.original_logs import place, sentence, summarise
from harness.panel import DIGIT_SCORES, PANEL_SEEDS, PRIMARY_SEED
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
    render_html,
    render_markdown,
)
from harness.run_folder import enclosing_run, runs_root
from harness.runs import (
    EMPTY_DENSITY,
    SATURATED_PRECISION,
    UNDERTRAINED_FRACTION,
    Run,
    failure_label,
    load_runs,
    row_named,
)
from harness.runs import saturated_precision as saturated_scores
from harness.scoring import CONTROLS, read_calibration
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
    t_quantile,
    wilcoxon_p,
)
from harness.storage import atomic_write_text, check_writable, exchange_paths, read_json, write_json
from harness.variant import Variant

# (column, label): final-epoch values the summary shows; nn_ratio is derived (see metric_value)
SUMMARY_METRICS = [("fid", "FID"), ("kid", "KID"), ("inception_score", "IS"), ("precision", "precision"),
                   ("recall", "recall"), ("density", "density"), ("coverage", "coverage"),
                   ("classes_covered", "classes covered"), ("class_tv", "class TV"),
                   ("nn_ratio", "nn / held-out nn"), ("d_accuracy", "D accuracy")]
DERIVED = {"nn_ratio": lambda row: row["nn_median"] / row["nn_median_heldout"]}
FULL_TRAIN_IMAGES, FULL_EVAL_N = 60_000, 10_000
REPORT_FILES = ".report-files.json"  # what the report in a folder wrote: the only files a new report may delete
FLOOR, CEILING = "real", "uniform noise"  # calibration rows: real vs real, and noise images
WORKS_AT, PARTLY_AT = "recognisable", "digit-like"  # the digit levels (claims.DIGIT_LEVELS) a seed's final samples
# must meet to work, or to work partly: the claims' own criterion, so the headline and the claims judge alike
CUT_SHIFTS = (-1, 1)  # how the verdicts move: every FID cut one ladder rung stricter, then one looser
VERDICTS = ["works", "partly", "fails"]  # best first
NOT_ASSESSABLE = "not assessable"
MIN_GIF_FRAMES = 4
SIGNIFICANT_P = 0.05


@dataclass(frozen=True)
class Selection:
    """Which runs a report covers (`study report --protocol/--dataset/--epochs`); None keeps every value."""

    protocol: str | None = None  # the run's protocol text, or a part of it
    dataset: str | None = None
    epochs: int | None = None

    def keeps(self, run: Run) -> bool:
        return (self.protocol is None or self.protocol == run.protocol or self.protocol in run.protocol) and \
            (self.dataset is None or self.dataset == run.manifest.data.dataset) and \
            (self.epochs is None or self.epochs == run.epochs)


@dataclass(frozen=True)
class Ladder:
    """The calibration FIDs of one evaluator at one n: what a run's FID at that n is read against."""

    n: int
    rows: list[dict]

    @property
    def fids(self) -> dict[str, float]:
        """The ladder's FIDs (the controls are not rungs of it)."""
        return self.scores("fid")

    def scores(self, score: str) -> dict[str, float]:
        """One score of every rung of the ladder."""
        return {row["name"]: float(row[score]) for row in self.rows if row["kind"] == "ladder"}

    @property
    def controls(self) -> list[dict]:
        return [row for row in self.rows if row["kind"] == "control"]

    @property
    def real(self) -> dict:
        return row_named(self.rows, FLOOR)

    def place(self, value: float, score: str = "fid") -> str:
        """Where a FID (or another score of the ladder's rows, e.g. KID) sits on the ladder, in words."""
        rungs = self.scores(score)
        ordered = sorted(rungs.items(), key=lambda item: item[1])
        below = [item for item in ordered if item[1] <= value]
        above = [item for item in ordered if item[1] > value]
        if not below:
            return f"below the real-data floor of {fmt(ordered[0][1])}"
        if not above:
            return f"above the uniform-noise ceiling of {fmt(rungs.get(CEILING, ordered[-1][1]))}"
        return f"between {below[-1][0]} at {fmt(below[-1][1])} and {above[0][0]} at {fmt(above[0][1])}"


def metric_value(row: pd.Series, column: str) -> float:
    try:
        value = DERIVED[column](row) if column in DERIVED else row[column]
    except KeyError:  # a column this run's metrics.csv lacks (scoring off, or an older version)
        return math.nan
    return float(value)


def final_values(runs: list[Run], column: str) -> list[float]:
    return [metric_value(run.final, column) for run in runs]


def finite(values: list[float]) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def spread(values: list[float]) -> dict[str, float]:
    """mean, sd, 95% t-interval of the mean and n of the finite values: one metric's numeric summary."""
    values = finite(values)
    mean, sd = mean_sd(values) if values else (math.nan, math.nan)
    low, high = t_interval(values)
    return {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high, "n": len(values)}


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


def saturated_precision(final: pd.Series) -> bool:
    return saturated_scores({key: float(value) for key, value in final.items()})


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class ReportBuilder:
    """Decides what the report says: sections of blocks, from the runs and the variants' declarations. A report
    covers one set of runs (one protocol) and lists the others, so two protocols never share a table."""

    unfinished = False  # whether runs still training are read (the interim report), or only complete ones

    def __init__(self, results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 selection: Selection):
        every, excluded = load_runs(results, self.unfinished)
        runs = [r for r in every if (not wanted or r.variant in wanted) and selection.keeps(r)]
        if wanted:
            excluded = [e for e in excluded if e.variant is None or e.variant in wanted]
        self.results, self.out, self.variants = results, out, variants
        self.wanted = wanted or list(variants)
        counts = Counter(r.protocol for r in runs)
        self.protocol = max(sorted(counts), key=lambda p: counts[p]) if counts else ""  # ties: name order
        self.runs = [r for r in runs if r.protocol == self.protocol]
        self.excluded = excluded
        others = Counter(r.protocol for r in every if r.protocol != self.protocol)
        self.others = sorted(others.items())
        self.left_in_protocol = sum(r.protocol == self.protocol for r in every) - len(self.runs)
        self.arms = by_arm(self.runs)
        self.labels = arm_labels(list(self.arms))
        self.colours = figures.palette([self.labels[arm] for arm in self.ordered(self.arms)])
        self.ladders = {key: self.read_ladder(*key) for key in {self.ladder_key(r.judged_by(seed))
                                                                for r in self.runs for seed in PANEL_SEEDS}
                        if key is not None}

    def ordered(self, arms) -> list[Arm]:
        return sorted(arms, key=lambda arm: arm.sort_key(list(self.variants)))

    def labelled(self) -> dict[str, list[Run]]:
        """Arms keyed by their labels, in order: what the figures draw."""
        return {self.labels[arm]: self.arms[arm] for arm in self.ordered(self.arms)}

    def figure_path(self, name: str) -> Path:
        return self.out / "figures" / name

    # Calibration ------------------------------------------------------------------------------------------------
    @staticmethod
    def ladder_key(run: Run) -> tuple[str, str, int, str, int] | None:
        """(dataset, protocol, evaluator seed, evaluator SHA-256, n) of the calibration a run is read against."""
        evaluation, sha256 = run.manifest.evaluation, run.evaluator_sha256
        if not evaluation or sha256 is None:
            return None
        return run.manifest.data.dataset, evaluation["protocol"], run.evaluator_seed, sha256, evaluation["n_fake"]

    def read_ladder(self, dataset: str, protocol: str, seed: int, sha256: str, n: int) -> Ladder | None:
        rows = read_calibration(self.results, dataset, protocol, seed, sha256, n)
        return Ladder(n, rows) if rows else None

    def ladder(self, runs: list[Run]) -> Ladder | None:
        key = self.ladder_key(runs[0])
        return self.ladders.get(key) if key else None

    def failure(self, run: Run) -> str | None:
        ladder = self.ladder([run])
        return run.failure(ladder.rows if ladder else None)

    def eval_ns(self) -> list[int]:
        return sorted({key[4] for key in (self.ladder_key(r) for r in self.runs) if key})

    # Commands that reproduce this set ---------------------------------------------------------------------------
    def run_flags(self) -> str:
        """The options of `study run` that train more runs into this set: its data, length and scoring n."""
        data = self.runs[0].manifest.data
        flags = [f"--dataset {data.dataset}", f"--split {data.split}"]
        if data.limit is not None:
            flags.append(f"--limit {data.limit}")
        if self.runs[0].manifest.protocol == "steps":  # one protocol per report
            flags.append("--protocol steps")
        epochs = {r.epochs for r in self.runs}
        at_recipe = all(r.variant in self.variants and r.epochs == self.variants[r.variant].recipe.epochs
                        for r in self.runs)
        if len(epochs) == 1 and not at_recipe:  # runs at their write-ups' own length need no --epochs
            flags.append(f"--epochs {epochs.pop()}")
        threads = {r.manifest.cpu_threads for r in self.runs if r.manifest.device_type == "cpu"}
        if len(threads) == 1:  # CPU results depend on the thread count
            flags.append(f"--threads {threads.pop()}")
        if len(self.eval_ns()) == 1:
            flags.append(f"--eval-samples {self.eval_ns()[0]}")
        flags += [f"--data-root {data.root}", f"--results {self.results}"]
        return " ".join(flags)

    def seed_flag(self) -> str:
        return f"--seeds {max(len(group) for group in self.arms.values())}"

    # 1. The answer ----------------------------------------------------------------------------------------------
    def answer(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "1. The answer"), Text(self.coverage_text())]
        rows, shown = [], []
        for arm in self.ordered(self.arms):
            verdict, row = self.arm_verdict(arm)
            panel = {seed: self.arm_verdict(arm, group)[0] for seed, group in self.panel_views(self.arms[arm]).items()}
            row["panel"] = agreement(verdict, panel)
            rows.append({"arm": self.labels[arm], "verdict": verdict, "epochs": arm.epochs, **row})
            shown.append({"arm": self.labels[arm], "verdict": verdict,
                          "evidence": self.evidence({"epochs": arm.epochs, **row})})
        blocks.append(Table("answer", pd.DataFrame(shown), "One line per arm, from its seeds: a seed works when its "
                            f"final samples meet the '{WORKS_AT}' digit level of the claims (section 7: FID below the "
                            f"{DIGIT_LEVELS[WORKS_AT].row} rung, every class, confident, inception score and coverage "
                            f"near real digits'), partly when they meet only '{PARTLY_AT}', fails otherwise or when "
                            f"the run failed (collapse, undertrained, NaN losses); the arm gets what most seeds get (a "
                            f"tie the worse), or {NOT_ASSESSABLE} when its runs are shorter than the recipe. Each "
                            f"verdict is recomputed with every evaluator of the panel (section 11)",
                            csv=pd.DataFrame(rows)))
        blocks += [Text(self.ranking(rows)), Text(self.what_it_allows())]
        return blocks

    def coverage_text(self) -> str:
        seeds = sorted({r.seed for r in self.runs})
        text = (f"This report covers {len(self.runs)} complete runs trained on {self.protocol}, "
                f"{len(self.arms)} arms, seeds {', '.join(map(str, seeds))}.")
        if self.left_in_protocol:
            text += f" {self.left_in_protocol} other runs of this protocol are left out by the filters."
        if self.others:
            text += " Other sets under this results folder, each reported on its own:" + "".join(
                f"\n- {protocol}: {count} runs, `study report --results {self.results} --protocol \"{protocol}\" "
                f"--out {self.results / ('report-' + slug(protocol))}`" for protocol, count in self.others)
        return text

    def seed_verdict(self, run: Run, shift: int = 0) -> str:
        """works (its final samples meet the WORKS_AT digit level, not failed), partly (they meet only PARTLY_AT)
        or fails (failed, or neither), for one seed; ``shift`` moves the levels' FID cuts along the ladder. A run
        scored without calibration rows is "partly": nothing places it."""
        ladder = self.ladder([run])
        if self.failure(run):
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

    def panel_views(self, group: list[Run]) -> dict[int, list[Run]]:
        """The runs as each member of the evaluator panel scored them (members that scored every run)."""
        views = {seed: [run.judged_by(seed) for run in group] for seed in PANEL_SEEDS}
        return {seed: runs for seed, runs in views.items() if all(run.evaluator_sha256 for run in runs)}

    def arm_verdict(self, arm: Arm, group: list[Run] | None = None, shift: int = 0) -> tuple[str, dict]:
        """The arm's verdict from its seeds' verdicts: the one most seeds get (a tie goes to the worse), with the
        Clopper-Pearson interval of its share; "not assessable" when the runs are shorter than the recipe, since a
        recipe's start says nothing of where it ends. ``group``: the arm's runs as one panel member scored them
        (default: the primary's); ``shift``: the cuts moved along the ladder."""
        group = group or self.arms[arm]
        fid, kid = spread(final_values(group, "fid"))["mean"], spread(final_values(group, "kid"))["mean"]
        classes = spread(final_values(group, "classes_covered"))["mean"]
        failures = [f for f in (self.failure(r) for r in group) if f]
        seeds = Counter(self.seed_verdict(r, shift) for r in group)
        at_epochs = max(reversed(VERDICTS), key=lambda v: seeds[v])
        low, high = clopper_pearson(seeds[at_epochs], len(group))
        ladder = self.ladder(group)
        recipe = self.variants[arm.variant].recipe.epochs if arm.variant in self.variants else arm.epochs
        row = {"final FID": fid, "n": ladder.n if ladder else math.nan,
               "ladder": ladder.place(fid) if ladder and not math.isnan(fid) else "",
               "final KID": kid, "KID ladder": ladder.place(kid, "kid") if ladder and not math.isnan(kid) else "",
               "real-data floor": ladder.fids.get(FLOOR, math.nan) if ladder else math.nan,
               "uniform-noise ceiling": ladder.fids.get(CEILING, math.nan) if ladder else math.nan,
               "classes covered": classes, "failed seeds": len(failures), "seeds": len(group),
               "failures": ", ".join(sorted({f.split(":")[0] for f in failures})),
               "at these epochs": at_epochs, **{f"{v} seeds": seeds[v] for v in VERDICTS},
               "share low": low, "share high": high, "recipe epochs": recipe, **self.claim_counts(arm)}
        return (NOT_ASSESSABLE if arm.epochs < recipe else at_epochs), row

    def claim_counts(self, arm: Arm) -> dict:
        """Claims reproduced of those checkable on this arm's runs, and those the code contradicts (no run needed:
        not counted as checked); claims are judged on faithful runs only."""
        if not arm.is_faithful or arm.variant not in self.variants:
            return {"claims reproduced": math.nan, "claims checkable": math.nan, "claims contradicted": math.nan,
                    "claims": math.nan}
        claims = self.variants[arm.variant].claims
        kinds = [judge(claim, self.arms[arm], self.variants[arm.variant]).kind for claim in claims]
        checkable = [k for k in kinds if k not in (NOT_CHECKABLE, CONTRADICTED)]
        return {"claims reproduced": sum(k == REPRODUCED for k in checkable), "claims checkable": len(checkable),
                "claims contradicted": kinds.count(CONTRADICTED), "claims": len(claims)}

    @staticmethod
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
        if row.get("panel"):
            parts.append(row["panel"])
        if not math.isnan(row["claims"]):
            unchecked = row["claims"] - row["claims checkable"] - row["claims contradicted"]
            parts.append(f"claims reproduced {row['claims reproduced']} of {row['claims checkable']} checkable "
                         f"({unchecked} not checkable here" + (f", {row['claims contradicted']} contradicted by the "
                                                                f"code)" if row["claims contradicted"] else ")"))
        else:
            parts.append("claims judged on the faithful arm")
        if row["failed seeds"]:
            parts.append(f"{row['failed seeds']} of {row['seeds']} seeds failed ({row['failures']})")
        return "; ".join(parts)

    @staticmethod
    def ranking(rows: list[dict]) -> str:
        scored = sorted((r for r in rows if not math.isnan(r["final FID"])),
                        key=lambda r: (VERDICTS.index(r["at these epochs"]), r["final FID"]))
        if not scored:
            return "Ranking: no arm was scored."
        ranked = ", ".join(f"{i}. {r['arm']} ({r['at these epochs']}, {fmt(r['final FID'])})"
                           for i, r in enumerate(scored, start=1))
        noise = [r["arm"] for r in scored if not math.isnan(r["uniform-noise ceiling"])
                 and r["final FID"] >= UNDERTRAINED_FRACTION * r["uniform-noise ceiling"]]
        note = f" {', '.join(noise)}: no closer to digits than noise images, so their order means nothing." \
            if noise else ""
        return f"Ranking by verdict, then mean final FID (lower is better): {ranked}.{note}"

    def what_it_allows(self) -> str:
        seeds = min(len(group) for group in self.arms.values())
        comparisons = len(self.faithful_pairs())
        smallest = smallest_mann_whitney_p(seeds, seeds)
        needed = needed_for_holm(lambda n: smallest_mann_whitney_p(n, n), comparisons, SIGNIFICANT_P)
        holm_threshold = SIGNIFICANT_P / max(comparisons, 1)
        if not comparisons:
            text = "There are no two scored faithful arms to compare."
        elif smallest >= holm_threshold:
            text = (f"With {seeds} seed{'s' if seeds > 1 else ''} per arm no pair can reach p < {SIGNIFICANT_P} after "
                    f"Holm's correction across the {comparisons} comparison{'s' if comparisons != 1 else ''} of "
                    f"section 9 (a perfect separation gives the two-sided Mann-Whitney p = 2 / C({2 * seeds}, "
                    f"{seeds}) = {fmt(smallest)}, and the most significant comparison needs p < "
                    f"{fmt(holm_threshold)}): the ranking describes these seeds, not the recipes; {needed} seeds "
                    f"per arm would be the least that can tell two arms apart.")
        else:
            text = (f"With {seeds} seeds per arm a perfect separation gives p = {fmt(smallest)}, below the "
                    f"{fmt(holm_threshold)} that Holm's correction across {comparisons} comparisons asks of the most "
                    f"significant one; section 9 says which pairs differ.")
        data = self.runs[0].manifest.data
        if data.split != "train" or data.images < FULL_TRAIN_IMAGES:
            text += " " + self.data_caveat(data.images)
        return text

    def data_caveat(self, images: int) -> str:
        """What training on fewer images than the write-ups' 60,000 allows one to conclude."""
        short = any(r.epochs < self.variants[r.variant].recipe.epochs for r in self.runs if r.variant in self.variants)
        step_matched = self.runs[0].manifest.protocol == "steps"
        if short:
            return (f"The runs trained on {images:,} images for fewer epochs than their write-ups' (60,000 images): "
                    f"this shows how each recipe starts, not where it ends, so a fail here is not a verdict on the "
                    f"write-up.")
        if step_matched:
            return (f"The runs took the write-ups' own number of epochs and optimizer steps, but over {images:,} "
                    f"images recycled instead of 60,000: a verdict here is on the recipe trained on less data, which "
                    f"can overfit sooner than the original.")
        return (f"The runs took the write-ups' epochs over {images:,} images instead of 60,000, so far fewer optimizer "
                f"steps than the originals (`--protocol steps` matches them): this shows how each recipe starts.")

    # 2. Setup --------------------------------------------------------------------------------------------------
    def setup(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "2. Setup")]
        rows = []
        for arm in self.ordered(self.arms):
            group = self.arms[arm]
            rows.append({"arm": self.labels[arm], "data": arm.protocol, "epochs": arm.epochs,
                         "seeds": ", ".join(str(r.seed) for r in group),
                         "devices": ", ".join(sorted({r.manifest.device for r in group}))})
        blocks.append(Table("setup_runs", pd.DataFrame(rows), "Complete runs by arm"))
        provenance = sorted({(r.manifest.versions["torch"], r.manifest.versions["torchvision"],
                              r.manifest.versions["python"], r.manifest.code_version) for r in self.runs})
        blocks.append(Table("setup_versions", pd.DataFrame(provenance, columns=["torch", "torchvision", "python",
                                                                             "code commit"]),
                            "Library versions and code commits of the runs"))
        evaluations = {(e["evaluator_sha256"], e["protocol"], e["heldout_accuracy"], e["n_fake"], e["n_real"])
                       for e in (r.manifest.evaluation for r in self.runs) if e}
        if evaluations:
            frame = pd.DataFrame(sorted(evaluations), columns=["evaluator SHA-256", "protocol", "held-out accuracy",
                                                                "n_fake", "n_real"])
            blocks.append(Table("setup_evaluators", frame, "Evaluators the scores come from"))
        blocks += [Note(text) for text in self.setup_notes(evaluations)]
        if self.excluded:
            blocks.append(Table("excluded_runs", pd.DataFrame([(e.run_id, e.reason) for e in self.excluded],
                                                             columns=["run", "left out because"]),
                                "Runs left out of every aggregate"))
        missing = [v for v in self.wanted if not any(r.variant == v for r in self.runs)]
        if missing:
            blocks.append(Text(f"Variants with no complete runs in this set: {', '.join(missing)}."))
        return blocks

    def setup_notes(self, evaluations: set) -> list[str]:
        notes = []
        if len({e[0] for e in evaluations}) > 1:
            notes.append("Scores come from more than one evaluator; they are comparable only within one evaluator.")
        if len(self.eval_ns()) > 1:
            notes.append(f"Runs were scored at different n ({', '.join(map(str, self.eval_ns()))}); FID and KID "
                         f"depend on n, so compare runs of equal n only.")
        reduced = [r for r in self.runs
                   if r.manifest.data.split != "train" or r.manifest.data.images < FULL_TRAIN_IMAGES]
        if reduced:
            step_matched = reduced[0].manifest.protocol == "steps"  # one protocol per report
            notes.append(f"Reduced data (not the write-ups' 60,000 training digits): {self.protocol}. " + (
                "Every epoch still has the original's number of optimizer steps (step-matched), passing over the "
                "available images several times, so claims about epoch N compare at equal steps." if step_matched
                else "An epoch then has fewer steps than the original's, so claims about epoch N compare at equal "
                     "epochs, not equal steps (`--protocol steps` matches the steps)."))
        short = sorted({f"{r.arm.name} ({r.epochs} of {self.variants[r.variant].recipe.epochs})"
                        for r in self.runs if r.epochs < self.variants[r.variant].recipe.epochs})
        if short:
            notes.append("Shorter than the write-up: " + ", ".join(short) + " epochs; claims about later epochs are "
                         "not checkable.")
        small_n = [n for n in self.eval_ns() if n < FULL_EVAL_N]
        if small_n:
            notes.append(f"Scores use n = {', '.join(map(str, small_n))} images per set instead of 10,000; FID "
                         f"and KID are biased upwards at small n, so read them against the calibration rows of "
                         f"the same n (section 3), never against published values.")
        overlap = sorted({r.run_id for r in self.runs
                          if (r.manifest.evaluation or {}).get("reference_overlap", 0) > 0})
        if overlap:
            notes.append(f"{len(overlap)} run(s) trained on images of the evaluator's reference set (training on "
                         f"the reference split); their scores flatter them: {', '.join(overlap)}.")
        if any(not r.manifest.evaluation for r in self.runs):
            notes.append("Some runs were trained with scoring off; their score columns are empty (`study eval` "
                         "scores them).")
        return notes

    # 3. Summary ------------------------------------------------------------------------------------------------
    def interval_note(self) -> str:
        """What the t-interval is and how wide its seed counts make it, for the summary's text."""
        fewest = min(len(group) for group in self.arms.values())
        width = (f"t = {t_quantile(0.975, fewest - 1):.2f} at the {fewest} seeds of the smallest arm, against 1.96 for "
                 f"many seeds: few seeds give wide intervals" if fewest > 1 else "no interval from one seed")
        return (f"mean ± t · sd / √n, t the Student-t quantile with n − 1 degrees of freedom: it covers the true mean "
                f"95% of the time when the seeds' FIDs are roughly normal, at any n, where a percentile bootstrap "
                f"from 3 seeds is their range and covers about 74%; {width}")

    def summary(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "3. Summary"), Text(
            "Final-epoch values: mean ± standard deviation over seeds, and for FID the 95% t-interval of the mean "
            f"({self.interval_note()}; tables/summary.csv holds mean, sd, interval and n of every metric). "
            "KID is the unbiased squared "
            "MMD of the evaluator's features (cubic polynomial kernel): like FID a squared feature distance, 0 for "
            "identical distributions, on this evaluator's scale (not Inception's ~0.001 for good samples), so read "
            "it against the calibration rows. "
            "Density and coverage near 0 mean the samples lie outside the real digits' neighbourhoods; class TV is "
            "the total-variation distance of the predicted-class histogram from uniform (0: balanced, 0.9: one "
            "class); nn / held-out nn below ~0.8 would suggest memorised training images. Failed runs are counted "
            "and kept in the aggregates.")]
        identity: list[dict] = []
        spreads: dict[str, list[dict[str, float]]] = {label: [] for _, label in SUMMARY_METRICS}
        saturated: list[int] = []
        for arm in self.ordered(self.arms):
            group = self.arms[arm]
            identity.append({"arm": self.labels[arm], "epochs": arm.epochs, "seeds": len(group),
                             "failed": sum(self.failure(r) is not None for r in group)})
            for column, label in SUMMARY_METRICS:
                spreads[label].append(spread(final_values(group, column)))
            if any(saturated_precision(r.final) for r in group):
                saturated.append(len(identity) - 1)
        numeric, shown = numeric_and_text(identity, spreads, intervals=("FID",))
        for index in saturated:
            shown.loc[index, "precision"] = "saturated"
        blocks.append(Table("summary", shown, self.protocol, csv=numeric))
        if saturated:
            blocks.append(Note(f"Precision is marked saturated where it is {SATURATED_PRECISION} or more while "
                               f"density is below {EMPTY_DENSITY}: noise-like samples fall into the wide "
                               f"neighbourhoods of a few outlying real digits, so precision is high without meaning "
                               f"anything. Its value stays in the CSV."))
        blocks += self.best_epochs()
        seed_rows = [{"arm": self.labels[r.arm], "seed": r.seed, "value": metric_value(r.final, "fid")}
                     for r in self.runs if not math.isnan(metric_value(r.final, "fid"))]
        if seed_rows:
            path = self.figure_path("final-fid.png")
            ladder = self.ladder(self.runs)
            figures.final_scores_figure(pd.DataFrame(seed_rows), self.colours, path,
                                        "final FID (evaluator features; lower is better)",
                                        ladder.fids if ladder else {})
            lines = f" and the calibration ladder at n = {ladder.n} (dashed: real-data floor and uniform-noise " \
                    f"ceiling; dotted: noisy and blurred real digits)" if ladder else ""
            blocks.append(Figure(f"figures/{path.name}", f"Final FID of every seed (marker shape = seed), the mean "
                                                         f"over seeds (black bar){lines}"))
        blocks += self.calibration()
        return blocks

    def best_epochs(self) -> list[Block]:
        """Where a run's best FID came before its last epoch: how much it lost, and when (else nothing to say)."""
        rows = []
        for run in self.runs:
            if "fid" not in run.metrics or run.metrics["fid"].notna().sum() < 2:
                continue
            best = run.metrics.loc[run.metrics["fid"].idxmin()]
            if int(best["epoch"]) != run.epochs:
                rows.append({"arm": self.labels[run.arm], "seed": run.seed, "best FID": float(best["fid"]),
                             "at epoch": int(best["epoch"]), "final FID": metric_value(run.final, "fid")})
        if not rows:
            return [Text("Every scored run had its best FID at its last epoch.")]
        return [Table("best_fid", pd.DataFrame(rows), "Runs whose best FID came before their last epoch")]

    def calibration(self) -> list[Block]:
        blocks: list[Block] = []
        for (dataset, protocol, _, sha256, n), ladder in sorted(self.ladders.items(), key=lambda item: item[0]):
            if ladder is None:
                blocks.append(Note(f"No calibration rows for evaluator {sha256[:12]} at n = {n}, the n these runs "
                                   f"were scored at; `study calibrate --n {n} --results {self.results}` computes "
                                   f"them (seconds) and puts the floor and ceiling beside these scores."))
                continue
            frame = pd.DataFrame([{"set": row["name"], "FID": row["fid"], "KID": row["kid"],
                                   **{label: row.get(column, math.nan) for column, label in
                                      (("inception_score", "IS"), ("precision", "precision"), ("recall", "recall"),
                                       ("density", "density"), ("coverage", "coverage"),
                                       ("classes_covered", "classes covered"))}} for row in ladder.rows
                                  if row["kind"] == "ladder"])
            blocks.append(Table(f"calibration_n{n}", frame,
                                f"Calibration at n = {n} (the runs' own n), evaluator {sha256[:12]} ({dataset} "
                                f"{protocol}): real digits vs the reference is the floor, uniform noise the ceiling"))
            blocks.append(self.controls_table(ladder, sha256))
        return blocks

    @staticmethod
    def controls_table(ladder: Ladder, sha256: str) -> Table:
        """The control sets through the digit levels and failure labels, beside what each must get: the criteria
        shown to judge known cases right on this evaluator and n."""
        rows = []
        for row in ladder.controls:
            control = CONTROLS[row["name"]]
            levels = {level: digits_hold(level, row, ladder.rows)[0] for level in DIGIT_LEVELS}
            label = failure_label(row, ladder.rows)
            expected = [level for level in DIGIT_LEVELS if level in control.passes]
            right = all(levels[level] == (level in control.passes) for level in DIGIT_LEVELS) and \
                (label.split(":")[0] if label else None) == control.failure
            rows.append({"set": row["name"], "what it is": control.why, "FID": row["fid"],
                         "precision / real": row["precision"] / ladder.real["precision"],
                         "coverage / real": row["coverage"] / ladder.real["coverage"],
                         "classes covered": row["classes_covered"], "spread / real": row["self_nn_ratio"],
                         **{level: "yes" if held else "no" for level, held in levels.items()},
                         "failure label": label or "-",
                         "should be": f"{', '.join(expected) or 'no digits level'}; {control.failure or 'not failed'}",
                         "judged right": "yes" if right else "NO"})
        return Table(f"controls_n{ladder.n}", pd.DataFrame(rows),
                     f"Controls at n = {ladder.n}, evaluator {sha256[:12]}: sets whose verdict is known, through the "
                     f"digit levels of the claims and the failure labels of the runs (spread: median distance to "
                     f"the nearest other sample over real digits')")

    # 4. Per seed -----------------------------------------------------------------------------------------------
    def per_seed(self) -> list[Block]:
        rows, flags = [], []
        for run in sorted(self.runs, key=lambda r: (self.labels[r.arm], r.seed)):
            final = run.final
            rows.append({"arm": self.labels[run.arm], "seed": run.seed, "epochs": int(final["epoch"]),
                         "d_loss": final["d_loss"], "g_loss": final["g_loss"],
                         **{label: metric_value(final, column) for column, label in SUMMARY_METRICS},
                         "failed": self.failure(run) or ""})
            flags.append(saturated_precision(final))
        numeric = pd.DataFrame(rows)
        shown = numeric.copy()
        shown["precision"] = [("saturated" if flag else value) for flag, value in zip(flags, column_cells(
            numeric["precision"]))]
        return [Heading(2, "4. Every seed"), Table("per_seed", shown, "Final epoch of every run", csv=numeric)]

    # 5. Curves -------------------------------------------------------------------------------------------------
    def curves(self) -> list[Block]:
        path = self.figure_path("curves.png")
        ladder = self.ladder(self.runs)
        figures.curves_figure(self.labelled(), self.colours, path, self.protocol, ladder.fids if ladder else {})
        lines = f"; FID panel: dashed lines are the real-data floor and uniform-noise ceiling at n = {ladder.n}" \
            if ladder else ""
        return [Heading(2, "5. Curves"),
                Figure(f"figures/{path.name}", f"Losses, D outputs, D accuracy and scores over epochs, mean over "
                                               f"seeds with a min-max band{lines}")]

    # 6. Samples ------------------------------------------------------------------------------------------------
    def samples(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "6. Samples"),
                               Text("Fixed-noise grids (the same noise at every epoch of a run), G in the mode its "
                                    "write-up samples in, shown at twice their size; beside them the picture the "
                                    "write-up's own code draws, where it draws one.")]
        for label, group in self.labelled().items():
            blocks += self.arm_samples(label, group)
        return blocks

    def arm_samples(self, arm: str, group: list[Run]) -> list[Block]:
        first = group[0]
        grids = first.folder.sample_grids()
        if not grids:
            return [Text(f"{arm}: no sample grids.")]
        last = len(grids) - 1
        picks = [grids[i] for i in sorted({0, round(last * 0.25), round(last * 0.5), last})]
        tiles = [(f"seed {first.seed}, epoch {epoch}", path) for epoch, path in picks]
        others = [r for r in group[1:] if r.folder.sample_path(r.epochs).is_file()]
        tiles += [(f"seed {r.seed}, epoch {r.epochs}", r.folder.sample_path(r.epochs)) for r in others]
        writeup = first.folder.writeup_sample_path(first.epochs)
        if writeup.is_file():
            tiles.append((f"write-up's own picture, seed {first.seed}", writeup))
        name = f"samples-{slug(arm)}"
        figures.strip(tiles, self.figure_path(f"{name}.png"))
        caption = f"{arm}: seed {first.seed} at epoch{'s' if len(picks) > 1 else ''} " \
                  f"{', '.join(str(e) for e, _ in picks)}"
        if others:
            caption += f"; the last epoch of seed{'s' if len(others) > 1 else ''} " \
                       f"{', '.join(str(r.seed) for r in others)}"
        if writeup.is_file():
            caption += f"; the write-up's own picture at epoch {first.epochs} (its noise and layout)"
        blocks: list[Block] = [Figure(f"figures/{name}.png", caption)]
        if len(grids) >= MIN_GIF_FRAMES:
            figures.progress_gif(grids, self.figure_path(f"{name}.gif"))
            blocks.append(Figure(f"figures/{name}.gif", f"{arm}, seed {first.seed}: all {len(grids)} epochs "
                                                        f"(animated)"))
        return blocks

    # 7. Claims -------------------------------------------------------------------------------------------------
    def claims(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "7. Claims and quirks"),
                               Text("Each claim is checked on every seed of the faithful runs (no bug fixed; an "
                                    "alternative reading of the write-up is labelled ~name), at the epoch the claim "
                                    "speaks of (a claim about the end of training at the write-up's own epoch "
                                    "count), under the protocol this report covers: reproduced (all seeds), partly "
                                    "(some), not reproduced (none), not checkable (and why), or contradicted by the "
                                    "code. Under the equal-epochs protocol on fewer images than the original's "
                                    "60,000, epoch N has fewer steps than the original's epoch N; the step-matched "
                                    "protocol (`--protocol steps`) gives it the same number of steps.")]
        for name in self.wanted:
            variant = self.variants[name]
            blocks.append(Heading(3, f"{name}: {variant.title}"))
            faithful = [arm for arm in self.ordered(self.arms) if arm.is_faithful and arm.variant == name]
            if not faithful:
                blocks.append(Text(f"No complete faithful runs: every claim is not checkable yet; `study run {name} "
                                   f"{self.seed_flag()} {self.run_flags()}` trains them."))
            for arm in faithful:
                rows = []
                views = self.panel_views(self.arms[arm])
                for claim in variant.claims:
                    verdict = judge(claim, self.arms[arm], variant)
                    measured = "; ".join(f"seed {s}: {v}" for s, v in verdict.values) or "-"
                    panel = {seed: judge(claim, group, variant).kind for seed, group in views.items()}
                    rows.append({"claim": claim.key, "write-up says": claim.quote, "checked as": claim.checkable,
                                 "judged at": f"epoch {verdict.epoch}" if verdict.epoch else "-",
                                 "measured": measured, "verdict": verdict.kind, "why": verdict.reason,
                                 "panel": agreement(verdict.kind, panel)})
                caption = f"{self.labels[arm]}: {self.protocol}, {arm.epochs} epochs trained"
                blocks.append(Table(f"claims_{slug(self.labels[arm])}", pd.DataFrame(rows), caption))
            quirks = pd.DataFrame([{"quirk": q.name, "status": q.status,
                                    "toggle": f"--{'alt' if q.status == 'alternative' else 'fix'} {q.fix}"
                                    if q.fix else "-",
                                    "what the original does": q.what + (f" (Inert: {q.inert}.)" if q.inert else "")}
                                   for q in variant.quirks])
            blocks.append(Table(f"quirks_{name}", quirks, f"Quirks of {name}"))
        return blocks

    # 8. Cost of each quirk -------------------------------------------------------------------------------------
    def quirk_costs(self) -> list[Block]:
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
        pairs = {arm: self.seed_pairs(arm) for arm in self.ordered(self.arms) if arm.fixes}
        pairs = {arm: by_seed for arm, by_seed in pairs.items() if by_seed}
        if not pairs:
            blocks.append(Text(f"No fixed runs beside faithful ones in this set yet: train the fixed arms with the "
                               f"same seeds and protocol, e.g. `study run nll-softmax udacity {self.seed_flag()} "
                               f"--fix all {self.run_flags()}`, then report again."))
            return blocks
        blocks.append(Table("quirk_cost_tests", pd.DataFrame(self.fix_tests(pairs)),
                            "What each fix does to final FID, paired by seed"))
        identity = [{"fixed arm": self.labels[arm], "pairs": len(by_seed)} for arm, by_seed in pairs.items()]
        spreads = {f"Δ {label}": [spread([metric_value(fixed.final, column) - metric_value(faithful.final, column)
                                          for faithful, fixed in by_seed]) for by_seed in pairs.values()]
                   for column, label in SUMMARY_METRICS}
        numeric, shown = numeric_and_text(identity, spreads)
        blocks.append(Table("quirk_costs", shown, "Fixed minus faithful, every metric", csv=numeric))
        blocks += [Text(line) for line in self.fix_coverage(list(pairs))]
        return blocks

    def seed_pairs(self, arm: Arm) -> list[tuple[Run, Run]]:
        """(faithful run, fixed run) for each seed both arms have; none when the faithful arm is missing."""
        faithful = {r.seed: r for r in self.arms.get(arm.faithful, [])}
        return [(faithful[r.seed], r) for r in self.arms[arm] if r.seed in faithful]

    def fix_kind(self, arm: Arm) -> str:
        """Which of the variant's fixes an arm applies, in words: one, some, or all of them."""
        every = self.variants[arm.variant].fix_names if arm.variant in self.variants else list(arm.fixes)
        if set(arm.fixes) == set(every):
            return "all fixes" if len(every) > 1 else "the only fix"
        return "single fix" if len(arm.fixes) == 1 else f"{len(arm.fixes)} of {len(every)} fixes"

    def fix_tests(self, pairs: dict[Arm, list[tuple[Run, Run]]]) -> list[dict]:
        """A row per fixed arm: the paired FID changes, their Wilcoxon test Holm-corrected across the arms tested,
        the rank-biserial effect size and what the fix did, in words."""
        changes = {arm: finite([metric_value(fixed.final, "fid") - metric_value(faithful.final, "fid")
                                for faithful, fixed in by_seed]) for arm, by_seed in pairs.items()}
        tested = [arm for arm in pairs if changes[arm]]
        raw = {arm: wilcoxon_p(changes[arm]) for arm in tested}
        adjusted = dict(zip(tested, holm(list(raw.values()))))
        rows = []
        for arm, by_seed in pairs.items():
            differences = changes[arm]
            nonzero = sum(d != 0 for d in differences)
            smallest = min(1.0, smallest_wilcoxon_p(nonzero) * len(tested))
            needed = needed_for_holm(smallest_wilcoxon_p, len(tested), SIGNIFICANT_P)
            rows.append({"fixed arm": self.labels[arm], "fixes": self.fix_kind(arm), "pairs": len(differences),
                         "FID faithful": spread(final_values([f for f, _ in by_seed], "fid"))["mean"],
                         "FID fixed": spread(final_values([f for _, f in by_seed], "fid"))["mean"],
                         "what the fix does to FID": fid_change_words(differences),
                         "rank-biserial r": rank_biserial(differences) if differences else math.nan,
                         "Wilcoxon p": raw.get(arm, math.nan),
                         "Holm p": adjusted.get(arm, math.nan), "smallest possible p after Holm": smallest,
                         "pairs needed": needed,
                         "conclusion": conclusion(adjusted.get(arm, math.nan), smallest, "a real change",
                                                  f"{needed} pairs needed")})
        return rows

    def fix_coverage(self, fixed_arms: list[Arm]) -> list[str]:
        """Per faithful arm with several fixes: the command for each missing single-fix or all-fixes arm, or, when
        every one was trained, how far all fixes together differ from the sum of the single ones (the interaction)."""
        lines = []
        for base in dict.fromkeys(arm.faithful for arm in fixed_arms):
            every = sorted(self.variants[base.variant].fix_names) if base.variant in self.variants else []
            if len(every) < 2:
                continue
            singles = {fix: Arm(base.variant, (fix,), base.alternatives, base.protocol, base.epochs) for fix in every}
            joint = Arm(base.variant, tuple(every), base.alternatives, base.protocol, base.epochs)
            missing = [fix for fix, arm in singles.items() if arm not in self.arms] + \
                ([] if joint in self.arms else ["all"])
            if missing:
                alternatives = "".join(f" --alt {a}" for a in base.alternatives)
                lines.append(f"{self.labels[base]}: the single fixes and all fixes together are reported where "
                             f"their arms were trained; missing here: " + "; ".join(
                                 f"`study run {base.variant} --fix {fix}{alternatives} {self.seed_flag()} "
                                 f"{self.run_flags()}`" for fix in missing) + ".")
            else:
                lines.append(self.interaction(base, list(singles.values()), joint))
        return lines

    def interaction(self, base: Arm, singles: list[Arm], joint: Arm) -> str:
        """All fixes together minus the sum of the single fixes' FID changes, seed by seed: 0 when fixes add up."""
        runs = [{r.seed: metric_value(r.final, "fid") for r in self.arms[arm]} for arm in (base, joint, *singles)]
        seeds = sorted(set.intersection(*(set(by_seed) for by_seed in runs)))
        faithful, together, *single = runs
        joint_changes = [together[s] - faithful[s] for s in seeds]
        summed = [sum(one[s] - faithful[s] for one in single) for s in seeds]
        excess = finite([j - s for j, s in zip(joint_changes, summed)])
        low, high = t_interval(excess)
        shown = "no interval from one seed" if math.isnan(low) else \
            f"95% t-interval [{fmt(low)}, {fmt(high)}], " + ("the fixes interact" if low > 0 or high < 0 else
                                                            "not shown to differ from 0")
        return (f"{self.labels[base]}: the {len(singles)} fixes together change FID by "
                f"{fmt(spread(joint_changes)['mean'])}, the single fixes' changes add up to "
                f"{fmt(spread(summed)['mean'])}; together minus the sum is {fmt(spread(excess)['mean'])} over "
                f"{len(excess)} seeds ({shown}).")

    # 9. Pairwise -----------------------------------------------------------------------------------------------
    def faithful_pairs(self) -> list[tuple[Arm, Arm]]:
        """Every pair of scored faithful arms: the comparisons section 9 makes, and Holm corrects across."""
        scored = [a for a in self.ordered(self.arms) if a.is_faithful and finite(final_values(self.arms[a], "fid"))]
        return [(a, b) for i, a in enumerate(scored) for b in scored[i + 1:]]

    def pairwise(self) -> list[Block]:
        pairs = self.faithful_pairs()
        blocks: list[Block] = [Heading(2, "9. Which variants differ"), Text(
            f"Final FID of the faithful runs: the exact two-sided Mann-Whitney U test over seeds, Holm-corrected "
            f"across the {len(pairs)} comparisons made (every pair of arms). Effect size: Cliff's delta, "
            f"P(FID A > FID B) - P(FID A < FID B) over every pair of one seed from each arm, the quantity the U test "
            f"tests (-1: every seed of A has a lower, better, FID than every seed of B). It is chosen over Hedges' g "
            f"because it assumes no normal seeds, one collapsed seed's extreme FID cannot dominate it, and it stays "
            f"defined when seeds agree exactly; the mean difference gives the size in FID units. Seeds per arm "
            f"needed: how many seeds each arm of the pair must have (keeping those it has) before even a perfect "
            f"separation could reach p < {SIGNIFICANT_P} after Holm across these comparisons; the smallest two-sided "
            f"p with n and m seeds is 2 / C(n + m, n).")]
        if not pairs:
            blocks.append(Text("No two scored faithful arms to compare."))
            return blocks
        scores = {a: finite(final_values(self.arms[a], "fid")) for pair in pairs for a in pair}
        raw = [mann_whitney_p(scores[a], scores[b]) for a, b in pairs]
        rows = [self.comparison(scores[a], scores[b], self.labels[a], self.labels[b], (p, adjusted), len(pairs))
                for (a, b), p, adjusted in zip(pairs, raw, holm(raw))]
        if all(r["smallest possible p after Holm"] >= SIGNIFICANT_P for r in rows):
            smallest = min(r["smallest possible p"] for r in rows)
            blocks.append(Text(f"No pair of the {len(rows)} can be told apart: with these seed counts even a perfect "
                               f"separation gives p = {fmt(smallest)} at best, and Holm's correction across the "
                               f"{len(rows)} comparisons asks p < {fmt(SIGNIFICANT_P / len(rows))} of the most "
                               f"significant one. More seeds per arm are needed (column 'seeds per arm needed'; "
                               f"section 1)."))
        blocks.append(Table("pairwise", pd.DataFrame(rows)))
        return blocks

    @staticmethod
    def comparison(a: list[float], b: list[float], label_a: str, label_b: str, p_values: tuple[float, float],
                   comparisons: int) -> dict:
        """One row of section 9: two arms' final FIDs, the test (p and Holm p), the effect size and the seeds it
        would need."""
        p, holm_p = p_values
        smallest = smallest_mann_whitney_p(len(a), len(b))
        # each arm keeps the seeds it has: the least count both must reach, never below what the smaller has
        needed = max(min(len(a), len(b)), needed_for_holm(
            lambda n: smallest_mann_whitney_p(max(n, len(a)), max(n, len(b))), comparisons, SIGNIFICANT_P))
        lower = label_a if spread(a)["mean"] < spread(b)["mean"] else label_b
        return {"A": label_a, "B": label_b, "FID A": spread(a)["mean"], "FID B": spread(b)["mean"],
                "Δ FID (A - B)": spread(a)["mean"] - spread(b)["mean"], "seeds A": len(a), "seeds B": len(b),
                "Cliff's delta": cliffs_delta(a, b), "p": p, "Holm p": holm_p,
                "smallest possible p": smallest,
                "smallest possible p after Holm": min(1.0, smallest * comparisons),
                "seeds per arm needed": needed,
                "conclusion": conclusion(holm_p, min(1.0, smallest * comparisons),
                                         f"differ: {lower} has the lower FID", f"{needed} seeds per arm needed")}

    # 10. The authors' own runs --------------------------------------------------------------------------------
    def original_runs(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "10. The authors' own runs against the seeds"), Text(
            "What the write-ups' authors logged of their own runs, held against the seeds of the faithful runs here, "
            "value by value at the same epoch (and, for printed single-batch values, the same batch). Position: "
            "the share of seeds below the author's value (0.5 is the middle); the author's run looks like one more "
            "seed where its values lie inside the seeds' range at most points. What differs: each "
            "author trained once, unseeded, on a GPU, on MNIST's 60,000 training images; these runs trained on "
            f"{self.protocol}, on this suite's device (CPU and GPU arithmetic differ in the last bits, which a GAN "
            "amplifies). Under the step-matched protocol an epoch has the original's number of steps but recycles "
            "fewer distinct images.")]
        rows: list[dict] = []
        for name in self.wanted:
            variant = self.variants[name]
            arms = [arm for arm in self.ordered(self.arms) if arm.is_faithful and arm.variant == name]
            if variant.original_logs and not arms:
                blocks.append(Text(f"{name}: no faithful runs in this set to hold its authors' logs against."))
            for log, arm in ((log, arm) for log in variant.original_logs for arm in arms):
                runs = self.arms[arm]
                placements, unmatched = place(log, runs)
                blocks.append(Text(sentence(log, self.labels[arm], len(runs), placements, unmatched)))
                rows += [{"log": log.file, "arm": self.labels[arm], "seeds": len(runs), **vars(summary)}
                         for summary in summarise(placements)]
                if placements:
                    path = self.figure_path(f"original-{slug(log.file.removesuffix('.csv'))}-{slug(self.labels[arm])}"
                                            f".png")
                    steps = math.ceil(variant.recipe.original_images / variant.recipe_for(
                        frozenset(arm.alternatives)).batch_size)
                    figures.original_log_figure(placements, steps, f"Black: {log.run}. Blue: {len(runs)} seeds "
                                                                   f"of {self.labels[arm]}", path)
                    blocks.append(Figure(f"figures/{path.name}", f"{log.run} against the seeds of "
                                                                 f"{self.labels[arm]}"))
        if rows:
            blocks.append(Table("original_runs", pd.DataFrame(rows).rename(columns={
                "inside": "inside the seeds' range", "above": "above every seed", "below": "below every seed",
                "median_position": "median position", "first_epoch": "first epoch", "last_epoch": "last epoch"}),
                "Per logged column: values compared; how many lie inside the seeds' range, above or below every "
                "seed; the median position"))
        elif len(blocks) == 2:
            blocks.append(Text("No variant in this report has an author's log."))
        return blocks

    # 11. How the verdicts move ---------------------------------------------------------------------------------
    def verdict_moves(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "11. How the verdicts move"), Text(
            "Every headline verdict (section 1) and every claim verdict (section 7) recomputed by each evaluator of "
            "the panel (the same network trained from another seed) and with every FID cut of the digit levels one "
            "ladder rung stricter and one looser (the rungs ordered by FID on the judging evaluator's ladder). A "
            "verdict that changes under any of these is fragile: it depends on which evaluator judged it or on where "
            "a cut sits, not only on the runs.")]
        rows = []
        for arm in self.ordered(self.arms):
            group = self.arms[arm]
            members = {f"evaluator seed {seed}": self.arm_verdict(arm, view)[0]
                       for seed, view in self.panel_views(group).items() if seed != PRIMARY_SEED}
            cuts = {f"cuts {shift:+d} rung": self.arm_verdict(arm, group, shift)[0] for shift in CUT_SHIFTS}
            rows.append(moved_row(self.labels[arm], "headline", self.arm_verdict(arm)[0], members | cuts))
            if not arm.is_faithful or arm.variant not in self.variants:
                continue
            variant = self.variants[arm.variant]
            views = self.panel_views(group)
            for claim in variant.claims:
                members = {f"evaluator seed {seed}": judge(claim, view, variant).kind for seed, view in views.items()
                           if seed != PRIMARY_SEED}
                cuts = {f"cuts {shift:+d} rung": judge(claim, group, variant, shift).kind for shift in CUT_SHIFTS}
                rows.append(moved_row(self.labels[arm], claim.key, judge(claim, group, variant).kind, members | cuts))
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

    def build(self) -> list[Block]:
        blocks: list[Block] = [Heading(1, "mnist-gan-study report")]
        for section in (self.answer, self.setup, self.summary, self.per_seed, self.curves, self.samples,
                        self.claims, self.quirk_costs, self.pairwise, self.original_runs, self.verdict_moves):
            blocks += section()
        blocks.append(Text(f"Tables are also in tables/ as CSV (numbers only). {len(self.excluded)} incomplete "
                           f"run(s) left out."))
        return blocks


def agreement(verdict: str, panel: Mapping[int, str]) -> str:
    """Whether the evaluator panel gives the primary's verdict, in words ("" when only the primary scored)."""
    if len(panel) < 2:
        return ""
    others = {seed: kind for seed, kind in panel.items() if kind != verdict}
    if not others:
        return f"all {len(panel)} evaluators agree"
    return "panel disagrees: " + ", ".join(f"evaluator seed {seed} says {kind}" for seed, kind in others.items())


def moved_row(arm: str, what: str, verdict: str, moved: Mapping[str, str]) -> dict:
    """One line of "how the verdicts move": the verdict, what it becomes under each change, and whether any flips."""
    return {"arm": arm, "verdict of": what, "verdict": verdict, **moved,
            "fragile": "yes" if any(kind != verdict for kind in moved.values()) else "no"}


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


def fid_change_words(differences: list[float]) -> str:
    """What a fix did to final FID, in words: a higher FID is a loss, and the text says so rather than a bare +."""
    if not differences:
        return "not scored"
    higher, lower, pairs = sum(d > 0 for d in differences), sum(d < 0 for d in differences), len(differences)
    mean = spread(differences)["mean"]
    if not higher and not lower:
        return f"no change: the same FID on all {pairs} pairs"
    if mean > 0:
        return f"worse with the fix: FID up by {fmt(mean)} on average, higher on {higher} of {pairs} pairs"
    if mean < 0:
        return f"better with the fix: FID down by {fmt(-mean)} on average, lower on {lower} of {pairs} pairs"
    return f"no change on average: FID higher on {higher} and lower on {lower} of {pairs} pairs"


def by_arm(runs: list[Run]) -> dict[Arm, list[Run]]:
    """Arm -> runs, seeds in order. Each variant keeps its own epoch count; runs of different lengths are different
    arms, never pooled."""
    groups: dict[Arm, list[Run]] = {}
    for run in sorted(runs, key=lambda r: (r.arm.name, r.epochs, r.seed)):
        groups.setdefault(run.arm, []).append(run)
    return groups


def arm_labels(arms: list[Arm]) -> dict[Arm, str]:
    """Each arm's label: its name, with its length where the same name comes at several lengths."""
    lengths: dict[str, set[int]] = {}
    for arm in arms:
        lengths.setdefault(arm.name, set()).add(arm.epochs)
    return {arm: arm.label(with_epochs=len(lengths[arm.name]) > 1) for arm in arms}


def write_report(results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 format: str, selection: Selection = Selection(),
                 builder: type[ReportBuilder] = ReportBuilder) -> Path:
    """Report on one set of the runs under ``results``: those of the ``wanted`` variants (all when None) that
    ``selection`` keeps, from the protocol with the most of them; judged against the declarations in ``variants``.
    The report is written into a new folder beside ``out`` and swapped in whole, so a killed report leaves the old
    one as it was; ``out`` must hold nothing but an earlier report. ``builder`` decides what it says (the final
    report, or harness.interim's provisional one)."""
    if format not in ("md", "html"):
        raise StudyError(f"unknown format '{format}'; use md or html")
    out = out.absolute()
    refuse_out_among_runs(results, out)
    earlier = report_files(out)
    check_writable(out.parent, "--out")
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        path = _write_report_into(builder(results, staging, variants, wanted, selection), wanted, format)
        old = _swap_report_in(staging, out)
    except BaseException:
        shutil.rmtree(staging)  # not swapped in: it holds only what this report wrote
        raise
    if old is not None:
        _delete_report(old, earlier)
    return out / path.name


def _write_report_into(builder: ReportBuilder, wanted: list[str] | None, format: str) -> Path:
    folder, results = builder.out, builder.results
    if not builder.runs:
        sets = "; ".join(f"{p} ({c} runs)" for p, c in builder.others) or "none"
        kind = "runs with a completed epoch" if builder.unfinished else "complete runs"
        raise StudyError(f"no {kind} under {results / 'runs'}"
                         + (f" for {', '.join(wanted)}" if wanted else "") + " that match the filters (sets there: "
                         f"{sets}); change --protocol/--dataset/--epochs, or train some with `study run`")
    blocks = builder.build()
    written = {f"report.{format}"}
    for block in blocks:
        if isinstance(block, Table):
            atomic_write_text(folder / "tables" / f"{block.name}.csv", block.data.to_csv(index=False))
            written.add(f"tables/{block.name}.csv")
        elif isinstance(block, Figure):
            written.add(block.path)
    atomic_write_text(folder / f"report.{format}", render_markdown(blocks) if format == "md" else render_html(blocks))
    write_json(folder / REPORT_FILES, {name: _sha256(folder / name) for name in sorted(written)
                                       if (folder / name).is_file()})
    return folder / f"report.{format}"


def refuse_out_among_runs(results: Path, out: Path) -> None:
    """A report inside results/runs/ (or inside a run) would be read back as runs."""
    runs = runs_root(results).resolve()
    where = out.resolve()
    if where == runs or runs in where.parents or enclosing_run(where) is not None:
        raise StudyError(f"--out {out} is among the runs under {runs}; pass an --out outside it, e.g. "
                         f"{results / 'report'}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def report_files(out: Path) -> dict[str, str]:
    """The files an earlier report wrote in ``out`` (relative path -> SHA-256 of what it wrote). Refused: an ``out``
    holding anything else (a file of the user's, one changed since, a symlink), so a report never overwrites or
    deletes what it did not write."""
    if not out.exists() and not out.is_symlink():
        return {}
    if out.is_symlink() or not out.is_dir():
        raise StudyError(f"--out {out} is not a folder; pass an --out folder of the report's own")
    listing = out / REPORT_FILES
    recorded = read_json(listing) if listing.is_file() and not listing.is_symlink() else {}
    if isinstance(recorded, list):  # a listing of an older version names its files without hashes: trust it once
        recorded = {name: _sha256(out / name) for name in recorded if (out / name).is_file()
                    and not (out / name).is_symlink()}
    if not isinstance(recorded, dict):
        recorded = {}
    for entry in sorted(out.rglob("*")):
        name = entry.relative_to(out).as_posix()
        if entry.is_dir() and not entry.is_symlink() or name == REPORT_FILES:
            continue
        if entry.is_symlink() or not entry.is_file() or recorded.get(name) != _sha256(entry):
            raise StudyError(f"--out {out} holds {name}, which no report wrote; pass an empty --out or one a report "
                             f"wrote, or move {name} away")
    return recorded


def _swap_report_in(new: Path, out: Path) -> Path | None:
    """The new report takes the old one's place in one step; returns where the old report now is."""
    if not out.exists():
        new.rename(out)
        return None
    if exchange_paths(new, out):
        return new
    old = out.parent / f".{out.name}.old-{new.name}"  # no atomic exchange on this filesystem: two renames
    out.rename(old)
    new.rename(out)
    return old


def _delete_report(old: Path, files: dict[str, str]) -> None:
    """Delete a replaced report: only plain files inside it whose content is what it wrote, then its emptied
    folders; anything else stays."""
    for name, sha256 in files.items():
        path = old / name
        if path.resolve().is_relative_to(old.resolve()) and path.is_file() and not path.is_symlink() and \
                _sha256(path) == sha256:
            path.unlink()
    (old / REPORT_FILES).unlink(missing_ok=True)
    for folder in sorted((p for p in old.rglob("*") if p.is_dir() and not p.is_symlink()), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only empty folders
    with contextlib.suppress(OSError):
        old.rmdir()
