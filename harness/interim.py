"""`study report --partial`: a provisional look at a study while it trains.

It reads unfinished runs up to their last completed epoch (harness.runs.load_runs with ``unfinished``) and says
only what those epochs can tell: every run's progress, the curves so far, the latest samples, and the claims whose
epoch some seeds have reached. Everything is marked provisional, and it is written to a folder of its own: the
headline, the summary over seeds, the quirk costs and the comparisons stay in the final `study report`, which
never reads an unfinished run.
"""
from __future__ import annotations

import pandas as pd

from harness.arms import Arm
from harness.claims import NOT_CHECKABLE
from harness.report import ReportBuilder
from harness.report_analysis import PRIMARY, ClaimJudgement, SampleStrip, judge_claims, sample_strips
from harness.report_figures import CURVES, draw_curves, draw_samples
from harness.report_render import Block, Figure, Heading, Note, Table, Text, fmt
from harness.report_runs import slug
from harness.report_sections import sample_blocks
from harness.run_folder import COMPLETE, RUNNING
from harness.runs import Run

PROVISIONAL = "PROVISIONAL"


class InterimReport(ReportBuilder):
    """The interim report: the ReportBuilder's selection of runs (one run set), unfinished ones included. Its
    analysis is the part of the final one those runs allow: each faithful arm's claims as the primary evaluator
    judges them, and the samples so far."""

    unfinished = True

    def build(self) -> list[Block]:
        runs = self.runs
        claims = {arm: judge_claims(runs, arm, {PRIMARY: runs.arms[arm]}) for arm in runs.ordered(runs.arms)
                  if arm.is_faithful and arm.variant in runs.variants}
        strips = sample_strips(runs)
        draw_curves(runs, self.out, f"{PROVISIONAL}, {runs.run_set}")
        draw_samples(strips, self.out)
        blocks: list[Block] = [
            Heading(1, f"{PROVISIONAL} interim report: mnist-gan-study, runs still training"),
            Note(f"{PROVISIONAL}: runs are read up to their last completed epoch, so every number here can still "
                 f"change. The verdict per arm, the summary over seeds, the quirk costs and the comparisons are "
                 f"only in the final `study report`, which reads complete runs alone; nothing here enters it.")]
        return blocks + self.progress() + self.curves_so_far() + self.claims_so_far(claims) + \
            self.samples_so_far(strips)

    def progress(self) -> list[Block]:
        runs = self.runs
        rows = [progress_row(runs.labels[run.arm], run) for arm in runs.ordered(runs.arms) for run in runs.arms[arm]]
        done, asked = sum(r.epochs for r in runs.runs), sum(r.manifest.epochs_requested for r in runs.runs)
        finished = sum(not r.unfinished for r in runs.runs)
        text = (f"{len(runs.runs)} runs trained on {runs.run_set}: {finished} complete, "
                f"{len(runs.runs) - finished} unfinished; {done:,} of {asked:,} epochs done "
                f"({done / asked:.0%}).")
        text += "".join(f"\n- also under this results folder: {run_set}, {count} runs (`study report --partial "
                        f"--results {runs.results} --run-set \"{run_set}\"`)" for run_set, count in runs.others)
        blocks: list[Block] = [Heading(2, "1. Progress"), Text(text),
                               Table("progress", pd.DataFrame(rows), f"{PROVISIONAL}: every run's progress")]
        if runs.excluded:
            blocks.append(Table("not_shown", pd.DataFrame([(e.run_id, e.reason) for e in runs.excluded],
                                                          columns=["run", "not shown because"]),
                                f"{PROVISIONAL}: run folders with no completed epoch, or unreadable"))
        return blocks

    def curves_so_far(self) -> list[Block]:
        return [Heading(2, "2. Curves so far"),
                Figure(CURVES, f"{PROVISIONAL}: losses, D outputs, D accuracy and scores up to the epochs reached, "
                               f"mean over the seeds that reached each epoch with a min-max band")]

    def claims_so_far(self, claims: dict[Arm, list[ClaimJudgement]]) -> list[Block]:
        """``claims``: each faithful arm's claims, judged."""
        runs = self.runs
        blocks: list[Block] = [Heading(2, "3. Claims judgeable so far"), Text(
            "Each claim of a faithful arm judged as the final report judges it, at its own epoch, on the seeds that "
            "reached that epoch; a claim whose epoch no seed has reached yet says which epoch it waits for. A "
            "verdict can change as more seeds reach its epoch.")]
        for arm, judged in claims.items():
            rows = [claim_row(runs.arms[arm], judgement) for judgement in judged]
            count = sum(row["verdict"] != NOT_CHECKABLE for row in rows)
            reached = sorted({run.epochs for run in runs.arms[arm]})
            at = f"epoch {reached[0]}" if len(reached) == 1 else f"epochs {reached[0]}-{reached[-1]}"
            blocks.append(Table(f"claims_{slug(runs.labels[arm])}", pd.DataFrame(rows),
                                f"{PROVISIONAL}: {runs.labels[arm]}, seeds at {at} of {arm.epochs}; {count} of "
                                f"{len(rows)} claims judged so far"))
        if not claims:
            blocks.append(Text("No faithful runs in this set: claims are judged on faithful runs only."))
        return blocks

    def samples_so_far(self, strips: dict[str, SampleStrip | None]) -> list[Block]:
        blocks: list[Block] = [Heading(2, "4. Samples so far"), Text(
            f"{PROVISIONAL}: each arm's fixed-noise grids up to the epochs reached.")]
        for label, strip in strips.items():
            blocks += sample_blocks(label, strip)
        return blocks


def progress_row(label: str, run: Run) -> dict:
    """A run's status (whether its trainer still lives), epochs and steps done, and its latest numbers."""
    manifest = run.manifest
    steps = manifest.steps_per_epoch or 0
    last = run.final
    scored = run.metrics.dropna(subset=["fid"]) if "fid" in run.metrics else run.metrics.iloc[0:0]
    return {"arm": label, "seed": run.seed, "status": status_words(run),
            "epochs": f"{run.epochs} of {manifest.epochs_requested}",
            "done": f"{run.epochs / manifest.epochs_requested:.0%}",
            "steps": f"{run.epochs * steps:,} of {manifest.epochs_requested * steps:,}" if steps else "-",
            "d_loss": last["d_loss"], "g_loss": last["g_loss"],
            "latest FID": f"{fmt(float(scored['fid'].iloc[-1]))} at epoch {int(scored['epoch'].iloc[-1])}"
            if len(scored) else "not scored yet"}


def claim_row(runs: list[Run], judgement: ClaimJudgement) -> dict:
    """One claim judged on the seeds that reached its epoch, or the epoch it waits for."""
    verdict = judgement.primary
    furthest = max(run.epochs for run in runs)
    waiting = verdict.kind == NOT_CHECKABLE and verdict.epoch is not None and verdict.epoch > furthest
    return {"claim": judgement.claim.key, "write-up says": judgement.claim.quote,
            "judged at": f"epoch {verdict.epoch}" if verdict.epoch else "-",
            "seeds measured": f"{len(verdict.values)} of {len(runs)}",
            "verdict": verdict.kind,
            "why": f"not yet: waits for epoch {verdict.epoch}, the seeds are at most at epoch {furthest}"
            if waiting else verdict.reason}


def status_words(run: Run) -> str:
    """The run's status on disk, and for a run marked running whether a process still trains it: one killed
    (kill -9, a crash of the machine) could not record that it stopped."""
    status = run.manifest.status
    if status == COMPLETE:
        return "complete"
    if status == RUNNING:
        pid = run.folder.writer_pid()
        return f"running (pid {pid})" if pid is not None else \
            "stopped: marked running, but no process holds it; re-run the command to resume"
    error = run.manifest.error
    return f"{status}: {error}" if error else f"{status}; re-run the command to resume"

