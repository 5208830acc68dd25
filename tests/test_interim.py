"""`study report --partial`: the interim report on runs still training, marked provisional, in a folder of its own,
and never a byte of the final report changed by it."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness import cli
from harness.interim import InterimReport
from harness.report import write_report
from harness.report_runs import EVERY_RUN
from harness.train import train_run
from tests.conftest import make_spec
from tests.fakes import ladder_rows, write_calibration
from tests.test_training import InterruptAt
from variants import VARIANTS

runner = CliRunner()


def report_bytes(out: Path) -> dict[str, bytes]:
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def captions(text: str) -> list[str]:
    """Every table caption of a Markdown report (the italic line above a table)."""
    lines = text.splitlines()
    return [lines[i] for i in range(len(lines) - 2) if lines[i].startswith("*") and lines[i + 2].startswith("| ")]


def test_an_interim_report_shows_an_interrupted_runs_progress_marked_provisional(data_root, tmp_path):
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
    assert pd.read_csv(results / "report" / "tables" / "summary.csv").set_index("arm").loc["udacity", "seeds"] == 2
    for name in ("tables/summary.csv", "tables/per_seed.csv", "tables/answer.csv", "figures/curves.png"):
        assert after[name] == before[name], name  # no aggregate moved


def test_an_interim_report_reads_epochs_its_manifest_records_and_says_when_a_trainer_died(fake_study, tmp_path):
    """The fixture's infogan run is marked running at epoch 1 while its tables hold 3 epochs (the moment between
    writing the tables and the manifest); no process holds its lock."""
    write_calibration(fake_study, ladder_rows())
    final = tmp_path / "final"
    write_report(fake_study, final, VARIANTS, None, "md")
    out = write_report(fake_study, tmp_path / "interim", VARIANTS, None, "html", EVERY_RUN, InterimReport)
    progress = pd.read_csv(tmp_path / "interim" / "tables" / "progress.csv").set_index("arm")
    assert progress.loc["infogan", "epochs"] == "1 of 3"
    assert progress.loc["infogan", "status"].startswith("stopped: marked running, but no process holds it")
    assert "<title>PROVISIONAL interim report" in out.read_text()
    assert (tmp_path / "final" / "report.md").read_text().startswith("# mnist-gan-study report")
    assert not (final / "tables" / "progress.csv").exists()
    # the same run folders give the same final report whether or not an interim one was written
    write_report(fake_study, tmp_path / "final-again", VARIANTS, None, "md")
    assert report_bytes(final) == report_bytes(tmp_path / "final-again")
