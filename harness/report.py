"""`study report`: every run under results/ turned into tables, figures and a verdict on each write-up's claims,
written into a folder of the report's own.

A report is made in three passes over one set of runs (harness.report_runs): the analysis judges and computes
everything once (harness.report_analysis), the figure pass draws from it (harness.report_figures), and the section
writers turn it into blocks (harness.report_sections) rendered to Markdown or HTML (harness.report_render). It holds
no wall-clock time: the same runs give the same bytes. Incomplete runs are listed with the reason and left out of
every aggregate.
"""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import Mapping

from harness.errors import StudyError
from harness.report_analysis import analyse
from harness.report_figures import draw_report_figures
from harness.report_render import Block, Figure, Table, render_html, render_markdown
from harness.report_runs import EVERY_RUN, ReportRuns, Selection
from harness.report_sections import final_report
from harness.run_folder import enclosing_run, runs_root
from harness.storage import atomic_write_text, check_writable, exchange_paths, read_json, write_json
from harness.variant import Variant

REPORT_FILES = ".report-files.json"  # what the report in a folder wrote: the only files a new report may delete


class ReportBuilder:
    """The final report on the complete runs of one set: its analysis, its figures drawn into ``out``, its
    sections."""

    unfinished = False  # whether runs still training are read (the interim report), or only complete ones

    def __init__(self, results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 selection: Selection):
        self.out = out
        self.runs = ReportRuns(results, variants, wanted, selection, self.unfinished)

    def build(self) -> list[Block]:
        analysis = analyse(self.runs)
        draw_report_figures(analysis, self.out)
        return final_report(analysis)


def write_report(results: Path, out: Path, variants: Mapping[str, Variant], wanted: list[str] | None,
                 format: str, selection: Selection = EVERY_RUN,
                 builder: type[ReportBuilder] = ReportBuilder) -> Path:
    """Report on one set of the runs under ``results``: those of the ``wanted`` variants (all when None) that
    ``selection`` keeps, from the run set with the most of them; judged against the declarations in ``variants``.
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
    folder, results = builder.out, builder.runs.results
    if not builder.runs.runs:
        sets = "; ".join(f"{p} ({c} runs)" for p, c in builder.runs.others) or "none"
        kind = "runs with a completed epoch" if builder.unfinished else "complete runs"
        raise StudyError(f"no {kind} under {results / 'runs'}"
                         + (f" for {', '.join(wanted)}" if wanted else "") + " that match the filters (sets there: "
                         f"{sets}); change --run-set/--dataset/--epochs, or train some with `study run`")
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
