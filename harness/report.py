"""`study report`: every run under results/ turned into tables, figures and a verdict on each write-up's claims.

The report is a list of blocks rendered to Markdown or HTML. It holds no wall-clock time: the same runs give the
same bytes. Incomplete runs are listed with the reason and left out of every aggregate.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from harness import figures
from harness.arms import Arm
from harness.claims import judge
from harness.errors import StudyError
from harness.report_render import Block, Figure, Heading, Note, Table, Text, fmt, render_html, render_markdown
from harness.runs import Run, load_runs
from harness.stats import bootstrap_ci, mean_sd, rank_test
from harness.storage import atomic_write_text, check_writable, read_json, write_json
from harness.variant import Variant

SUMMARY_METRICS = [("fid", "FID"), ("kid", "KID"), ("inception_score", "IS"), ("precision", "precision"),
                   ("recall", "recall"), ("classes_covered", "classes covered"), ("d_accuracy", "D accuracy")]
FULL_TRAIN_IMAGES, FULL_EVAL_N = 60_000, 10_000
REPORT_FILES = ".report-files.json"  # what the report in a folder wrote: the only files a new report may delete


def slug(label: str) -> str:
    """A label as part of a file name."""
    return re.sub(r"[^A-Za-z0-9+~_-]+", "-", label).strip("-")


def by_protocol(runs: list[Run]) -> dict[str, dict[Arm, list[Run]]]:
    """Protocol (data) -> arm -> runs, seeds in order. Each variant keeps its own epoch count; runs of different
    lengths are different arms, never pooled."""
    groups: dict[str, dict[Arm, list[Run]]] = {}
    for run in sorted(runs, key=lambda r: (r.protocol, r.arm.name, r.epochs, r.seed)):
        groups.setdefault(run.protocol, {}).setdefault(run.arm, []).append(run)
    return groups


def arm_labels(arms: list[Arm]) -> dict[Arm, str]:
    """Each arm's label: its name, with its length where one protocol has the same name at several lengths."""
    lengths: dict[tuple[str, str], set[int]] = {}
    for arm in arms:
        lengths.setdefault((arm.protocol, arm.name), set()).add(arm.epochs)
    return {arm: arm.label(with_epochs=len(lengths[arm.protocol, arm.name]) > 1) for arm in arms}


def mean_sd_text(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "-"
    mean, sd = mean_sd(values)
    return fmt(mean) if math.isnan(sd) else f"{fmt(mean)} ± {fmt(sd)}"


def ci_text(values: list[float]) -> str:
    values = [v for v in values if not math.isnan(v)]
    low, high = bootstrap_ci(values)
    return "n/a (1 seed)" if len(values) == 1 else "-" if math.isnan(low) else f"[{fmt(low)}, {fmt(high)}]"


def final_values(runs: list[Run], column: str) -> list[float]:
    return [float(run.final[column]) if column in run.metrics else math.nan for run in runs]


class ReportBuilder:
    """Decides what the report says: sections of blocks, from the runs and the variants' declarations."""

    def __init__(self, results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None):
        runs, excluded = load_runs(results)
        if wanted:
            runs = [r for r in runs if r.variant in wanted]
            excluded = [e for e in excluded if e.variant is None or e.variant in wanted]
        self.results, self.out, self.variants = results, out, variants
        self.wanted = wanted or list(variants)
        self.runs, self.excluded = runs, excluded
        self.groups = by_protocol(runs)
        self.protocols = list(self.groups)
        self.labels = arm_labels([arm for arms in self.groups.values() for arm in arms])
        self.colours = figures.palette([self.labels[arm] for arm in self.ordered(self.labels)])

    def ordered(self, arms) -> list[Arm]:
        return sorted(arms, key=lambda arm: arm.sort_key(list(self.variants)))

    def labelled(self, arms: dict[Arm, list[Run]]) -> dict[str, list[Run]]:
        """Arms keyed by their labels, in order: what the figures draw."""
        return {self.labels[arm]: arms[arm] for arm in self.ordered(arms)}

    def figure_path(self, name: str) -> Path:
        return self.out / "figures" / name

    def protocol_label(self, protocol: str) -> str:
        return f"protocol {self.protocols.index(protocol) + 1}: {protocol}"

    # 1. Setup --------------------------------------------------------------------------------------------------
    def setup(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "1. Setup")]
        rows = []
        for protocol, arms in self.groups.items():
            for arm in self.ordered(arms):
                group = arms[arm]
                rows.append({"protocol": self.protocols.index(protocol) + 1, "arm": self.labels[arm],
                             "data": protocol, "epochs": arm.epochs,
                             "seeds": ", ".join(str(r.seed) for r in group),
                             "devices": ", ".join(sorted({r.manifest.device for r in group}))})
        blocks.append(Table("setup_runs", pd.DataFrame(rows), "Complete runs by protocol and arm"))
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
            blocks.append(Text(f"Variants with no complete runs: {', '.join(missing)}."))
        return blocks

    def setup_notes(self, evaluations: set) -> list[str]:
        notes = []
        if len({e[0] for e in evaluations}) > 1:
            notes.append("Scores come from more than one evaluator; they are comparable only within one evaluator.")
        if len(self.protocols) > 1:
            notes.append("Runs trained on different data or image counts; numbers are compared only within a "
                         "protocol.")
        reduced = sorted({r.protocol for r in self.runs if r.manifest.data.split != "train"
                          or r.manifest.data.images < FULL_TRAIN_IMAGES})
        if reduced:
            notes.append("Reduced protocol (not the write-ups' 60,000 training digits): " + "; ".join(reduced)
                         + ". An epoch then has fewer steps than the original's, so claims about epoch N compare "
                           "at equal epochs, not equal steps.")
        short = sorted({f"{r.arm.name} ({r.epochs} of {self.variants[r.variant].recipe.epochs})"
                        for r in self.runs if r.epochs < self.variants[r.variant].recipe.epochs})
        if short:
            notes.append("Shorter than the write-up: " + ", ".join(short) + " epochs; claims about later epochs are "
                         "not checkable.")
        small_n = sorted({e["n_fake"] for e in (r.manifest.evaluation for r in self.runs)
                          if e and e["n_fake"] < FULL_EVAL_N})
        if small_n:
            notes.append(f"Scores use n = {', '.join(map(str, small_n))} images per set instead of 10,000; FID "
                         f"and KID are biased upwards at small n, so compare only at equal n.")
        overlap = sorted({r.run_id for r in self.runs
                          if (r.manifest.evaluation or {}).get("reference_overlap", 0) > 0})
        if overlap:
            notes.append(f"{len(overlap)} run(s) trained on images of the evaluator's reference set (training on "
                         f"the reference split); their scores flatter them: {', '.join(overlap)}.")
        if any(not r.manifest.evaluation for r in self.runs):
            notes.append("Some runs were trained with scoring off; their score columns are empty (`study eval` "
                         "scores them).")
        return notes

    # 2. Summary ------------------------------------------------------------------------------------------------
    def summary(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "2. Summary")]
        blocks.append(Text("Final-epoch values: mean ± standard deviation over seeds, and a 95% percentile-"
                           "bootstrap interval of the mean. Failed runs (NaN losses, or collapse to fewer than 5 "
                           "classes) are counted and kept in the aggregates."))
        for number, (protocol, arms) in enumerate(self.groups.items(), start=1):
            rows, seed_rows = [], []
            for arm in self.ordered(arms):
                group = arms[arm]
                row = {"arm": self.labels[arm], "epochs": arm.epochs, "seeds": len(group),
                       "failed": sum(r.failure() is not None for r in group)}
                for column, label in SUMMARY_METRICS:
                    values = final_values(group, column)
                    row[label] = mean_sd_text(values)
                    if column in ("fid", "classes_covered"):
                        row[f"{label} 95% CI"] = ci_text(values)
                row["best FID (epoch)"] = self.best_fid(group)
                rows.append(row)
                seed_rows += [{"arm": self.labels[arm], "fid": v} for v in final_values(group, "fid")
                              if not math.isnan(v)]
            blocks.append(Table(f"summary_{number}", pd.DataFrame(rows), self.protocol_label(protocol)))
            if seed_rows:
                path = self.figure_path(f"final-fid-{number}.png")
                figures.final_scores_figure(pd.DataFrame(seed_rows), self.colours, path, "fid",
                                            "final FID (evaluator features, log scale; lower is better)")
                blocks.append(Figure(f"figures/{path.name}", f"Final FID per seed (dots) and mean (bar), "
                                                             f"{self.protocol_label(protocol)}"))
        blocks += self.calibration()
        return blocks

    @staticmethod
    def best_fid(group: list[Run]) -> str:
        best = [(float(r.metrics["fid"].min()), int(r.metrics.loc[r.metrics["fid"].idxmin(), "epoch"]))
                for r in group if "fid" in r.metrics and r.metrics["fid"].notna().any()]
        if not best:
            return "-"
        return f"{fmt(sum(b for b, _ in best) / len(best))} (epochs {', '.join(str(e) for _, e in best)})"

    def calibration(self) -> list[Block]:
        hashes = {r.manifest.evaluation["evaluator_sha256"] for r in self.runs if r.manifest.evaluation}
        blocks: list[Block] = []
        for folder in sorted((self.results / "evaluators").glob("*")) if hashes else []:
            info_file = folder / "evaluator.json"
            try:
                info = read_json(info_file)
            except StudyError:  # no or a damaged record: not the evaluator of these runs
                continue
            if not isinstance(info, dict) or info.get("sha256") not in hashes:
                continue
            for calibration in sorted(folder.glob("calibration-n*.json")):
                stored = read_json(calibration)
                if not isinstance(stored, dict) or stored.get("evaluator_sha256") != info["sha256"]:
                    continue  # written by an earlier version, or damaged
                frame = pd.DataFrame(stored["rows"])[["name", "fid", "kid", "inception_score",
                                                                    "precision", "recall", "density", "coverage",
                                                                    "classes_covered", "eval_n_fake"]]
                blocks.append(Table(f"calibration_{folder.name}_{calibration.stem}", frame,
                                    f"Calibration rows, evaluator {info['sha256'][:12]} "
                                    f"({folder.name}): real vs real is the floor, uniform noise the ceiling"))
        if hashes and not blocks:
            blocks.append(Note("No calibration rows for the evaluator(s) used; run `study calibrate` to put the "
                               "floor (real vs real) and the ceiling (noise) beside these scores."))
        return blocks

    # 3. Per seed -----------------------------------------------------------------------------------------------
    def per_seed(self) -> list[Block]:
        rows = []
        for run in sorted(self.runs, key=lambda r: (self.protocols.index(r.protocol), self.labels[r.arm], r.seed)):
            final = run.final
            rows.append({"protocol": self.protocols.index(run.protocol) + 1, "arm": self.labels[run.arm],
                         "seed": run.seed,
                         "epochs": int(final["epoch"]), "d_loss": final["d_loss"], "g_loss": final["g_loss"],
                         "D accuracy": final["d_accuracy"],
                         **{label: final[c] if c in final else math.nan for c, label in SUMMARY_METRICS[:-1]},
                         "failed": run.failure() or ""})
        return [Heading(2, "3. Every seed"), Table("per_seed", pd.DataFrame(rows), "Final epoch of every run")]

    # 4. Curves -------------------------------------------------------------------------------------------------
    def curves(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "4. Curves")]
        for number, (protocol, arms) in enumerate(self.groups.items(), start=1):
            path = self.figure_path(f"curves-{number}.png")
            figures.curves_figure(self.labelled(arms), self.colours, path, self.protocol_label(protocol))
            blocks.append(Figure(f"figures/{path.name}", f"Losses, D outputs, D accuracy and scores over epochs, "
                                                         f"{self.protocol_label(protocol)}"))
        return blocks

    # 5. Samples ------------------------------------------------------------------------------------------------
    def samples(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "5. Samples"),
                               Text("Fixed-noise grids (the same noise at every epoch of a run), G in the mode its "
                                    "write-up samples in.")]
        for number, (protocol, arms) in enumerate(self.groups.items(), start=1):
            blocks.append(Heading(3, self.protocol_label(protocol)))
            for label, group in self.labelled(arms).items():
                blocks += self.arm_samples(label, group, number)
        return blocks

    def arm_samples(self, arm: str, group: list[Run], number: int) -> list[Block]:
        first = group[0]
        grids = first.folder.sample_grids()
        if not grids:
            return [Text(f"{arm}: no sample grids.")]
        last = len(grids) - 1
        matched = sorted({0, round(last * 0.25), round(last * 0.5), last})
        name = f"samples-{number}-{arm}"
        figures.strip([(f"epoch {grids[i][0]}", grids[i][1]) for i in matched], self.figure_path(f"{name}.png"))
        finals = [(f"seed {r.seed}", r.folder.sample_path(int(r.final["epoch"]))) for r in group]
        figures.strip([(label, path) for label, path in finals if path.is_file()],
                      self.figure_path(f"{name}-seeds.png"))
        figures.progress_gif(grids, self.figure_path(f"{name}.gif"))
        return [Figure(f"figures/{name}.png", f"{arm}, seed {first.seed}: first, 25%, 50% and last epoch"),
                Figure(f"figures/{name}-seeds.png", f"{arm}: last epoch of every seed"),
                Figure(f"figures/{name}.gif", f"{arm}, seed {first.seed}: every epoch (animated)")]

    # 6. Claims -------------------------------------------------------------------------------------------------
    def claims(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "6. Claims and quirks"),
                               Text("Each claim is checked on every seed of the faithful runs (no bug fixed; an "
                                    "alternative reading of the write-up is labelled ~name), at the epoch the claim "
                                    "speaks of (a claim about the end of training at the write-up's own epoch "
                                    "count), under the protocol named in the caption: reproduced (all seeds), partly "
                                    "(some), not reproduced (none), not checkable (and why), or contradicted by the "
                                    "code. Under the equal-epochs protocol on fewer images than the original's "
                                    "60,000, epoch N has fewer steps than the original's epoch N; the step-matched "
                                    "protocol (`--protocol steps`) gives it the same number of steps.")]
        for name in self.wanted:
            variant = self.variants[name]
            blocks.append(Heading(3, f"{name}: {variant.title}"))
            faithful = [(p, arm, group) for p, arms in self.groups.items() for arm, group in arms.items()
                        if arm.is_faithful and arm.variant == name]
            if not faithful:
                blocks.append(Text("No complete faithful runs: every claim is not checkable yet."))
            for protocol, arm, group in faithful:
                rows = []
                for claim in variant.claims:
                    verdict = judge(claim, group, variant)
                    measured = "; ".join(f"seed {s}: {v}" for s, v in verdict.values) or "-"
                    rows.append({"claim": claim.key, "write-up says": claim.quote, "checked as": claim.checkable,
                                 "judged at": f"epoch {verdict.epoch}" if verdict.epoch else "-",
                                 "measured": measured, "verdict": verdict.kind, "why": verdict.reason})
                table = f"claims_{slug(self.labels[arm])}_{self.protocols.index(protocol) + 1}"
                caption = f"{self.labels[arm]}: {self.protocol_label(protocol)}, {arm.epochs} epochs trained"
                blocks.append(Table(table, pd.DataFrame(rows), caption))
            quirks = pd.DataFrame([{"quirk": q.name, "status": q.status,
                                    "toggle": f"--{'alt' if q.status == 'alternative' else 'fix'} {q.fix}"
                                    if q.fix else "-",
                                    "what the original does": q.what + (f" (Inert: {q.inert}.)" if q.inert else "")}
                                   for q in variant.quirks])
            blocks.append(Table(f"quirks_{name}", quirks, f"Quirks of {name}"))
        return blocks

    # 7. Cost of each quirk -------------------------------------------------------------------------------------
    def quirk_costs(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "7. Cost of each quirk"),
                               Text("Fixed minus faithful, paired by seed, over the seeds both arms have: mean "
                                    "difference and 95% bootstrap interval.")]
        rows = []
        for number, arms in enumerate(self.groups.values(), start=1):
            for arm in self.ordered(arms):
                base = arm.faithful
                if arm == base or base not in arms:
                    continue
                faithful = {r.seed: r for r in arms[base]}
                fixed = {r.seed: r for r in arms[arm]}
                seeds = sorted(set(faithful) & set(fixed))
                row = {"protocol": number, "fixed arm": self.labels[arm], "seeds": len(seeds)}
                for column, label in SUMMARY_METRICS:
                    differences = [float(fixed[s].final.get(column, math.nan)) -
                                   float(faithful[s].final.get(column, math.nan)) for s in seeds]
                    differences = [d for d in differences if not math.isnan(d)]
                    row[f"Δ {label}"] = f"{mean_sd_text(differences)} {ci_text(differences)}" if differences else "-"
                rows.append(row)
        if rows:
            blocks.append(Table("quirk_costs", pd.DataFrame(rows)))
        else:
            blocks.append(Text("No fixed runs beside faithful ones yet: train both with the same seeds, e.g. "
                               "`study run nll-softmax --seeds 3` and `study run nll-softmax --seeds 3 --fix "
                               "g-backward`."))
        return blocks

    # 8. Pairwise -----------------------------------------------------------------------------------------------
    def pairwise(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "8. Which variants differ"),
                               Text("Final FID of the faithful runs, two-sided Mann-Whitney U test over seeds "
                                    "(exact). With few seeds even a perfect separation cannot reach p < 0.05: the "
                                    "smallest attainable p is shown.")]
        rows = []
        for number, arms in enumerate(self.groups.values(), start=1):
            faithful = [a for a in self.ordered(arms) if a.is_faithful]
            scores = {a: [v for v in final_values(arms[a], "fid") if not math.isnan(v)] for a in faithful}
            for i, a in enumerate(faithful):
                for b in faithful[i + 1:]:
                    if not scores[a] or not scores[b]:
                        continue
                    p, smallest = rank_test(scores[a], scores[b])
                    conclusion = "too few seeds to tell" if smallest >= 0.05 else \
                        "differ (p < 0.05)" if p < 0.05 else "no difference detected"
                    rows.append({"protocol": number, "A": self.labels[a], "B": self.labels[b],
                                 "FID A": mean_sd_text(scores[a]), "FID B": mean_sd_text(scores[b]), "p": p,
                                 "smallest possible p": smallest,
                                 "conclusion": conclusion})
        blocks.append(Table("pairwise", pd.DataFrame(rows)) if rows else Text("No scored faithful runs to compare."))
        return blocks

    def build(self) -> list[Block]:
        blocks: list[Block] = [Heading(1, "mnist-gan-study report"),
                               Text(f"{len(self.runs)} complete runs of {len({r.arm.name for r in self.runs})} arms; "
                                    f"{len(self.excluded)} left out. Tables are also in tables/ as CSV.")]
        for section in (self.setup, self.summary, self.per_seed, self.curves, self.samples, self.claims,
                        self.quirk_costs, self.pairwise):
            blocks += section()
        return blocks


def write_report(results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 format: str) -> Path:
    """Report on the runs under ``results`` of the ``wanted`` variants (all when None), judged against the
    declarations in ``variants``."""
    if format not in ("md", "html"):
        raise StudyError(f"unknown format '{format}'; use md or html")
    builder = ReportBuilder(results, out, variants, wanted)
    if not builder.runs:
        raise StudyError(f"no complete runs under {results / 'runs'}"
                         + (f" for {', '.join(wanted)}" if wanted else "") + "; finish or start some with "
                         "`study run`")
    check_writable(out, "--out")
    blocks = builder.build()
    written = {f"report.{format}"}
    for block in blocks:
        if isinstance(block, Table):
            atomic_write_text(out / "tables" / f"{block.name}.csv", block.frame.to_csv(index=False))
            written.add(f"tables/{block.name}.csv")
        elif isinstance(block, Figure):
            written.add(block.path)
    atomic_write_text(out / f"report.{format}", render_markdown(blocks) if format == "md" else render_html(blocks))
    _prune_earlier_report(out, written)
    return out / f"report.{format}"


def _prune_earlier_report(out: Path, written: set[str]) -> None:
    """Delete what an earlier report in ``out`` wrote and this one did not (its tables and figures would mislead),
    and nothing else: the list of a report's own files is kept beside it."""
    listing = out / REPORT_FILES
    earlier = set(json.loads(listing.read_text())) if listing.is_file() else set()
    for name in sorted(earlier - written):
        stale = out / name
        if stale.is_file():
            stale.unlink()
    write_json(listing, sorted(written))
