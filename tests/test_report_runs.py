"""Which runs one report covers: one run set (the one with the most runs) and the others named, the filters, the
runs left out with their reason, arms that never pool runs of different lengths."""
from __future__ import annotations

import dataclasses

from harness.report_runs import EVERY_RUN, ReportRuns, Selection
from harness.run_folder import RunFolder
from tests.fakes import write_run
from variants import VARIANTS


def test_one_set_per_report_and_the_others_named(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed, grids=False)
        write_run(tmp_path, "dcgan-xavier", seed, grids=False)
    write_run(tmp_path, "udacity", 0, images=256, epochs=1, final={"fid": 999.0}, grids=False)  # a smoke run
    runs = ReportRuns(tmp_path, VARIANTS, None, EVERY_RUN)
    assert runs.run_set == "mnist test (512 images), equal epochs" and len(runs.runs) == 4
    assert runs.others == [("mnist test (256 images), equal epochs", 1)]  # never mixed into the covered set
    smoke = ReportRuns(tmp_path, VARIANTS, None, Selection(run_set="256 images"))  # a part of the run set's name
    assert [run.final["fid"] for run in smoke.runs] == [999.0]
    assert smoke.others == [("mnist test (512 images), equal epochs", 4)]
    assert [run.final["fid"] for run in ReportRuns(tmp_path, VARIANTS, None, Selection(epochs=1)).runs] == [999.0]
    assert ReportRuns(tmp_path, VARIANTS, None, Selection(dataset="fashion-mnist")).runs == []
    only = ReportRuns(tmp_path, VARIANTS, ["udacity"], EVERY_RUN)
    assert {run.variant for run in only.runs} == {"udacity"} and only.wanted == ["udacity"]


def test_runs_still_training_are_left_out_with_the_reason(fake_study):
    runs = ReportRuns(fake_study, VARIANTS, None, EVERY_RUN)
    assert [(e.run_id, e.reason) for e in runs.excluded] == [("infogan__mnist-test-first512__seed0",
                                                              "status running: 1 of 3 epochs done")]
    assert "infogan" not in {arm.variant for arm in runs.arms}
    interim = ReportRuns(fake_study, VARIANTS, None, EVERY_RUN, unfinished=True)
    assert interim.excluded == [] and "infogan" in {arm.variant for arm in interim.arms}


def test_runs_of_different_lengths_are_never_pooled(tmp_path):
    write_run(tmp_path, "udacity", 0, epochs=3, grids=False)
    write_run(tmp_path, "udacity", 1, epochs=3, grids=False)
    write_run(tmp_path, "udacity", 2, epochs=5, grids=False)  # its own run id: a renamed copy is left out as a copy
    write_run(tmp_path, "dcgan-xavier", 0, epochs=4, grids=False)
    runs = ReportRuns(tmp_path, VARIANTS, None, EVERY_RUN)
    seeds = {runs.labels[arm]: [run.seed for run in group] for arm, group in runs.arms.items()}
    assert seeds == {"udacity (3 epochs)": [0, 1], "udacity (5 epochs)": [2], "dcgan-xavier": [0]}
    assert runs.others == []  # variants at their own lengths share one run set


def test_the_commands_that_train_more_of_the_set_carry_its_options(tmp_path):
    for seed in range(2):
        write_run(tmp_path, "udacity", seed, grids=False)
    write_run(tmp_path, "dcgan-xavier", 0, grids=False)
    runs = ReportRuns(tmp_path, VARIANTS, None, EVERY_RUN)
    assert runs.run_flags() == f"--dataset mnist --split test --limit 512 --epochs 3 --threads 2 --eval-samples 500 " \
                               f"--data-root data --results {tmp_path}"
    assert runs.seed_flag() == "--seeds 2"


def test_cpu_runs_that_do_not_record_their_thread_count_get_no_threads_option(tmp_path):
    for seed in range(2):
        folder = RunFolder(write_run(tmp_path, "udacity", seed, grids=False))
        folder.write_manifest(dataclasses.replace(folder.read_manifest(), cpu_threads=None))
    flags = ReportRuns(tmp_path, VARIANTS, None, EVERY_RUN).run_flags()
    assert "--threads" not in flags and flags.startswith("--dataset mnist --split test --limit 512 --epochs 3 --eval")
