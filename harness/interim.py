"""`study report --partial`: a provisional look at a study while it trains.

It reads unfinished runs up to their last completed epoch (harness.runs.load_runs with ``unfinished``) and says
only what those epochs can tell: every run's progress, the curves so far, the latest samples, and the claims whose
epoch some seeds have reached. Everything is marked provisional, and it is written to a folder of its own: the
headline, the summary over seeds, the quirk costs and the comparisons stay in the final `study report`, which
never reads an unfinished run.
"""
from __future__ import annotations

import pandas as pd

from harness import figures
from harness.arms import Arm
from harness.claims import NOT_CHECKABLE, judge
from harness.report import ReportBuilder, slug
from harness.report_render import Block, Figure, Heading, Note, Table, Text, fmt
from harness.run_folder import COMPLETE, RUNNING
from harness.runs import Run
from harness.variant import Claim

PROVISIONAL = "PROVISIONAL"


class InterimReport(ReportBuilder):
    """The interim report: the ReportBuilder's selection of runs (one protocol), unfinished ones included."""

    unfinished = True

    def build(self) -> list[Block]:
        blocks: list[Block] = [
            Heading(1, f"{PROVISIONAL} interim report: mnist-gan-study, runs still training"),
            Note(f"{PROVISIONAL}: runs are read up to their last completed epoch, so every number here can still "
                 f"change. The verdict per arm, the summary over seeds, the quirk costs and the comparisons are "
                 f"only in the final `study report`, which reads complete runs alone; nothing here enters it.")]
        for section in (self.progress, self.curves_so_far, self.claims_so_far, self.samples_so_far):
            blocks += section()
        return blocks

    def progress(self) -> list[Block]:
        rows = [self.progress_row(run) for arm in self.ordered(self.arms) for run in self.arms[arm]]
        done, asked = sum(r.epochs for r in self.runs), sum(r.manifest.epochs_requested for r in self.runs)
        finished = sum(not r.unfinished for r in self.runs)
        text = (f"{len(self.runs)} runs trained on {self.protocol}: {finished} complete, "
                f"{len(self.runs) - finished} unfinished; {done:,} of {asked:,} epochs done "
                f"({done / asked:.0%}).")
        text += "".join(f"\n- also under this results folder: {protocol}, {count} runs (`study report --partial "
                        f"--results {self.results} --protocol \"{protocol}\"`)" for protocol, count in self.others)
        blocks: list[Block] = [Heading(2, "1. Progress"), Text(text),
                               Table("progress", pd.DataFrame(rows), f"{PROVISIONAL}: every run's progress")]
        if self.excluded:
            blocks.append(Table("not_shown", pd.DataFrame([(e.run_id, e.reason) for e in self.excluded],
                                                          columns=["run", "not shown because"]),
                                f"{PROVISIONAL}: run folders with no completed epoch, or unreadable"))
        return blocks

    def progress_row(self, run: Run) -> dict:
        """A run's status (whether its trainer still lives), epochs and steps done, and its latest numbers."""
        manifest = run.manifest
        steps = manifest.steps_per_epoch or 0
        last = run.final
        scored = run.metrics.dropna(subset=["fid"]) if "fid" in run.metrics else run.metrics.iloc[0:0]
        return {"arm": self.labels[run.arm], "seed": run.seed, "status": status_words(run),
                "epochs": f"{run.epochs} of {manifest.epochs_requested}",
                "done": f"{run.epochs / manifest.epochs_requested:.0%}",
                "steps": f"{run.epochs * steps:,} of {manifest.epochs_requested * steps:,}" if steps else "-",
                "d_loss": last["d_loss"], "g_loss": last["g_loss"],
                "latest FID": f"{fmt(float(scored['fid'].iloc[-1]))} at epoch {int(scored['epoch'].iloc[-1])}"
                if len(scored) else "not scored yet"}

    def curves_so_far(self) -> list[Block]:
        path = self.figure_path("curves.png")
        ladder = self.ladder(self.runs)
        figures.curves_figure(self.labelled(), self.colours, path, f"{PROVISIONAL}, {self.protocol}",
                              ladder.fids if ladder else {})
        return [Heading(2, "2. Curves so far"),
                Figure(f"figures/{path.name}", f"{PROVISIONAL}: losses, D outputs, D accuracy and scores up to the "
                                               f"epochs reached, mean over the seeds that reached each epoch with "
                                               f"a min-max band")]

    def claims_so_far(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "3. Claims judgeable so far"), Text(
            "Each claim of a faithful arm judged as the final report judges it, at its own epoch, on the seeds that "
            "reached that epoch; a claim whose epoch no seed has reached yet says which epoch it waits for. A "
            "verdict can change as more seeds reach its epoch.")]
        faithful = [arm for arm in self.ordered(self.arms) if arm.is_faithful and arm.variant in self.variants]
        for arm in faithful:
            rows = [self.claim_row(arm, claim) for claim in self.variants[arm.variant].claims]
            judged = sum(row["verdict"] != NOT_CHECKABLE for row in rows)
            reached = sorted({run.epochs for run in self.arms[arm]})
            at = f"epoch {reached[0]}" if len(reached) == 1 else f"epochs {reached[0]}-{reached[-1]}"
            blocks.append(Table(f"claims_{slug(self.labels[arm])}", pd.DataFrame(rows),
                                f"{PROVISIONAL}: {self.labels[arm]}, seeds at {at} of {arm.epochs}; {judged} of "
                                f"{len(rows)} claims judged so far"))
        if not faithful:
            blocks.append(Text("No faithful runs in this set: claims are judged on faithful runs only."))
        return blocks

    def claim_row(self, arm: Arm, claim: Claim) -> dict:
        """One claim judged on the seeds that reached its epoch, or the epoch it waits for."""
        runs = self.arms[arm]
        verdict = judge(claim, runs, self.variants[arm.variant])
        furthest = max(run.epochs for run in runs)
        waiting = verdict.kind == NOT_CHECKABLE and verdict.epoch is not None and verdict.epoch > furthest
        return {"claim": claim.key, "write-up says": claim.quote,
                "judged at": f"epoch {verdict.epoch}" if verdict.epoch else "-",
                "seeds measured": f"{len(verdict.values)} of {len(runs)}",
                "verdict": verdict.kind,
                "why": f"not yet: waits for epoch {verdict.epoch}, the seeds are at most at epoch {furthest}"
                if waiting else verdict.reason}

    def samples_so_far(self) -> list[Block]:
        blocks: list[Block] = [Heading(2, "4. Samples so far"), Text(
            f"{PROVISIONAL}: each arm's fixed-noise grids up to the epochs reached.")]
        for label, group in self.labelled().items():
            blocks += self.arm_samples(label, group)
        return blocks


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

