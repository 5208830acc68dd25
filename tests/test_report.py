"""`study report` writing its folder: the three passes end to end on fake runs and once on tiny real runs, the same
runs giving the same bytes, the report swapped in whole, and only a report's own earlier files ever replaced."""
from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from harness import cli
from harness import report as report_module
from harness.errors import StudyError
from harness.report import write_report as write_any_report
from harness.report_runs import EVERY_RUN, Selection
from harness.seeding import SEED_CONTRACT
from harness.train import train_run
from tests.conftest import make_spec
from tests.fakes import write_run
from tests.test_cli import assert_one_line_error
from variants import VARIANTS

runner = CliRunner()


def write_report(results: Path, out: Path, wanted: list[str] | None, format: str,
                 selection: Selection = EVERY_RUN) -> Path:
    return write_any_report(results, out, VARIANTS, wanted, format, selection)


def study(*args: str):
    return runner.invoke(cli.app, list(args))


def summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / "summary.csv").set_index("arm")


def test_report_is_deterministic_and_writes_figures(fake_study, tmp_path):
    write_report(fake_study, tmp_path / "a", None, "md")
    write_report(fake_study, tmp_path / "b", None, "md")
    assert (tmp_path / "a" / "report.md").read_bytes() == (tmp_path / "b" / "report.md").read_bytes()
    text = (tmp_path / "a" / "report.md").read_text()
    for section in ("1. The answer", "2. Setup", "3. Summary", "4. Every seed", "5. Curves", "6. Samples",
                    "7. Claims", "8. Cost of each quirk", "9. Which variants differ"):
        assert f"## {section}" in text
    images = list((tmp_path / "a" / "figures").iterdir())
    assert {"curves.png", "final-fid.png", "samples-udacity.png"} <= {p.name for p in images}
    assert all(p.stat().st_size > 500 for p in images)
    html = write_report(fake_study, tmp_path / "c", None, "html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "figures/curves.png" in html


def test_the_run_set_option_reports_another_set_and_filters_that_keep_nothing_say_so(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed, grids=False)
    write_run(tmp_path, "udacity", 0, images=256, epochs=1, final={"fid": 999.0})  # a smoke run beside them
    result = study("report", "--results", str(tmp_path), "--run-set", "256 images", "--out", str(tmp_path / "smoke"))
    assert result.exit_code == 0, result.output
    assert summary(tmp_path / "smoke")["FID mean"].tolist() == [999.0]
    assert "mnist test (512 images), equal epochs: 2 runs" in (tmp_path / "smoke" / "report.md").read_text()
    with pytest.raises(StudyError, match="that match the filters"):
        write_report(tmp_path, tmp_path / "none", None, "md", Selection(dataset="fashion-mnist"))


def test_runs_of_an_earlier_seed_contract_are_reported_apart_and_say_what_their_seeds_were(tmp_path):
    for seed in range(2):
        folder = write_run(tmp_path, "udacity", seed, grids=False, final={"fid": 100.0 + seed})
        manifest = json.loads((folder / "manifest.json").read_text())
        (folder / "manifest.json").write_text(json.dumps({**manifest, "seed_contract": SEED_CONTRACT - 1}))
    write_run(tmp_path, "udacity", 2, grids=False, final={"fid": 300.0})  # trained under the current contract
    assert study("report", "--results", str(tmp_path), "--out", str(tmp_path / "now")).exit_code == 0
    assert summary(tmp_path / "now")["FID mean"].tolist() == [300.0]
    now = (tmp_path / "now" / "report.md").read_text()
    assert f"--seed-contract {SEED_CONTRACT - 1}` reports it" in now and "not the current" not in now
    result = study("report", "--results", str(tmp_path), "--seed-contract", str(SEED_CONTRACT - 1),
                   "--out", str(tmp_path / "earlier"))
    assert result.exit_code == 0, result.output
    assert summary(tmp_path / "earlier")["FID mean"].tolist() == [100.5]
    earlier = (tmp_path / "earlier" / "report.md").read_text()
    assert f"Seed contract {SEED_CONTRACT - 1}, not the current {SEED_CONTRACT}" in earlier
    assert "`study report` without --seed-contract reports it" in earlier


def test_variant_filter_and_empty_results(fake_study, tmp_path):
    write_report(fake_study, tmp_path / "only", None, "md")
    write_report(fake_study, tmp_path / "only", ["udacity"], "md")
    assert set(summary(tmp_path / "only").index) == {"udacity"}
    leftovers = [p.name for p in (tmp_path / "only").glob("*/*") if "dcgan" in p.name or "nll" in p.name]
    assert leftovers == []  # a rewritten report keeps no tables or figures of the earlier one
    with pytest.raises(StudyError, match="no runs under"):
        write_report(tmp_path / "empty", tmp_path / "out", None, "md")
    result = runner.invoke(cli.app, ["report", "--results", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no runs under" in result.stderr


def test_end_to_end_tiny_real_runs(data_root, tmp_path):
    results = tmp_path / "results"
    for name in ("udacity", "torch7-mlp"):
        for seed in range(2):
            train_run(replace(make_spec(name, data_root, results, seed=seed, epochs=2, limit=64), eval_every=1))
    result = runner.invoke(cli.app, ["report", "--results", str(results)])
    assert result.exit_code == 0, result.output
    text = (results / "report" / "report.md").read_text()
    assert "| udacity | 2 |" in text and "| torch7-mlp | 2 |" in text
    n = json.loads(next((results / "runs").glob("*/manifest.json")).read_text())["evaluation"]["n_fake"]
    assert f"Calibration at n = {n} (the runs' own n)" in text  # the runs stored it at their own n
    assert not math.isnan(pd.read_csv(results / "report" / "tables" / "per_seed.csv")["FID"].iloc[0])


# Reports write only their own files --------------------------------------------------------------------------
def _two_arms(results: Path) -> None:
    for seed in range(2):
        write_run(results, "udacity", seed)
        write_run(results, "dcgan-xavier", seed)


def test_a_report_replaces_only_its_own_earlier_files(tmp_path):
    _two_arms(tmp_path / "results")
    out = tmp_path / "paper2"
    write_report(tmp_path / "results", out, None, "md")
    write_report(tmp_path / "results", out, ["udacity"], "md")  # drops its own dcgan-xavier figures
    assert (out / "report.md").is_file()
    assert not any("dcgan" in p.name for p in (out / "figures").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "paper2", "results"]  # no staging folder left


@pytest.mark.parametrize("intruder", ["user-file", "edited-report", "symlinked-tables"])
def test_a_report_refuses_an_out_holding_files_no_report_wrote(intruder, tmp_path):
    _two_arms(tmp_path / "results")
    out, mine = tmp_path / "paper2", tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("the user's")
    if intruder == "user-file":
        out.mkdir()
        (out / "report.md").write_text("the user's")
    else:
        write_report(tmp_path / "results", out, None, "md")
        if intruder == "edited-report":
            (out / "report.md").write_text("the user's")
        else:
            shutil.rmtree(out / "tables")
            (out / "tables").symlink_to(mine)
    result = study("report", "--results", str(tmp_path / "results"), "--out", str(out))
    assert_one_line_error(result, "which no report wrote")
    assert (mine / "summary.csv").read_text() == "the user's"
    if intruder != "symlinked-tables":
        assert (out / "report.md").read_text() == "the user's"


def test_a_forged_listing_deletes_nothing_outside_out(tmp_path):
    _two_arms(tmp_path / "results")
    out = tmp_path / "paper2"
    write_report(tmp_path / "results", out, None, "md")
    victims = [tmp_path / "victim.txt", tmp_path / "absolute.txt"]
    for victim in victims:
        victim.write_text("the user's")
    listing = json.loads((out / ".report-files.json").read_text())
    listing.update({"../victim.txt": storage_sha256(victims[0]), str(victims[1]): storage_sha256(victims[1])})
    (out / ".report-files.json").write_text(json.dumps(listing))
    write_report(tmp_path / "results", out, ["udacity"], "md")
    assert all(victim.read_text() == "the user's" for victim in victims)


def storage_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_report_killed_while_writing_leaves_the_old_one_whole(tmp_path, monkeypatch):
    _two_arms(tmp_path / "results")
    out = tmp_path / "paper2"
    write_report(tmp_path / "results", out, None, "md")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_run(tmp_path / "results", "udacity", 2, final={"fid": 7.0})
    real = report_module.atomic_write_text

    def killed_at_the_report(path, text):
        if path.name == "report.md":
            raise SystemExit("killed")
        real(path, text)
    monkeypatch.setattr(report_module, "atomic_write_text", killed_at_the_report)
    with pytest.raises(SystemExit):
        write_report(tmp_path / "results", out, None, "md")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_report_refuses_an_out_among_the_runs(tmp_path):
    _two_arms(tmp_path / "results")
    for out in (tmp_path / "results" / "runs", next((tmp_path / "results" / "runs").iterdir()) / "rep"):
        assert_one_line_error(study("report", "--results", str(tmp_path / "results"), "--out", str(out)),
                              "among the runs")
    assert sorted(p.name for p in (tmp_path / "results" / "runs").iterdir()) == \
        sorted(p.name for p in (tmp_path / "results" / "runs").iterdir() if "seed" in p.name)


def test_report_on_empty_results_creates_nothing(tmp_path):
    (tmp_path / "results" / "runs").mkdir(parents=True)
    assert_one_line_error(study("report", "--results", str(tmp_path / "results")), "no runs under")
    assert not (tmp_path / "results" / "report").exists()


def test_report_out_under_a_file_names_out(tmp_path):
    write_run(tmp_path / "results", "udacity", 0)
    (tmp_path / "afile").write_text("x")
    result = study("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "afile" / "rep"))
    assert_one_line_error(result, "not writable", "--out")
