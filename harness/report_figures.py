"""The report's figure pass: every figure the analysis calls for, drawn into the report's folder (harness.figures
draws them) under the names the section writers refer to."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness import figures
from harness.report_analysis import Analysis, LogComparison, SampleStrip
from harness.report_runs import ReportRuns, slug

CURVES, FINAL_FID = "figures/curves.png", "figures/final-fid.png"  # relative to the report


def samples_png(label: str) -> str:
    return f"figures/samples-{slug(label)}.png"


def samples_gif(label: str) -> str:
    return f"figures/samples-{slug(label)}.gif"


def original_log_png(comparison: LogComparison) -> str:
    return f"figures/original-{slug(comparison.log.file.removesuffix('.csv'))}-{slug(comparison.label)}.png"


def colours(runs: ReportRuns) -> dict[str, tuple]:
    return figures.palette([runs.labels[arm] for arm in runs.ordered(runs.arms)])


def draw_curves(runs: ReportRuns, folder: Path, title: str) -> None:
    ladder = runs.ladder(runs.runs)
    figures.curves_figure(runs.labelled(), colours(runs), folder / CURVES, title, ladder.fids if ladder else {})


def draw_final_fids(analysis: Analysis, folder: Path) -> None:
    if not analysis.final_fids:
        return
    runs = analysis.runs
    ladder = runs.ladder(runs.runs)
    title = "Final FID of every seed" + (f", against the calibration ladder at n = {ladder.n}" if ladder else "")
    figures.final_scores_figure(pd.DataFrame(analysis.final_fids), colours(runs), folder / FINAL_FID,
                                "final FID (evaluator features; lower is better)", title, ladder.fids if ladder else {})


def draw_samples(strips: dict[str, SampleStrip | None], folder: Path) -> None:
    for label, strip in strips.items():
        if strip is None:
            continue
        tiles = [(f"seed {strip.seed}, epoch {epoch}", path) for epoch, path in strip.picks]
        tiles += [(f"seed {r.seed}, epoch {r.epochs}", r.folder.sample_path(r.epochs)) for r in strip.others]
        if strip.writeup is not None:
            tiles.append((f"seed {strip.seed}, epoch {strip.epoch}, drawn the write-up's way", strip.writeup))
        figures.strip(tiles, folder / samples_png(label))
        if strip.animated:
            figures.progress_gif(strip.frames, folder / samples_gif(label))


def draw_original_logs(comparisons: list[LogComparison], folder: Path) -> None:
    for comparison in comparisons:
        if comparison.placements:
            title = f"Black: {comparison.log.run}. Blue: {figures.seed_word(comparison.seeds)} of {comparison.label}"
            figures.original_log_figure(comparison.placements, comparison.steps_per_epoch, title,
                                        folder / original_log_png(comparison))


def draw_report_figures(analysis: Analysis, folder: Path) -> None:
    """Every figure of the final report."""
    draw_curves(analysis.runs, folder, analysis.runs.run_set)
    draw_final_fids(analysis, folder)
    draw_samples(dict(analysis.samples), folder)
    draw_original_logs(analysis.logs, folder)
