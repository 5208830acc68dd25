"""The `study` command through Typer's runner: listings, runs, and one-line errors for every bad input."""
from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import harness.evaluator
import harness.executors
from harness import cli
from harness.run_folder import RunFolder, run_folders
from harness.seeding import SEED_CONTRACT

runner = CliRunner()


def study(*args: str):
    return runner.invoke(cli.app, list(args))


def assert_one_line_error(result, *needles: str) -> None:
    """One error line on stderr; the plain progress lines of steps (output that is not a terminal: "STEP ..." and
    "STEP: done in N s") may come before it."""
    assert result.exit_code != 0
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.endswith(" ...") and not re.search(r": done in [0-9.]+ s$", line)]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    for needle in needles:
        assert needle in lines[0]


def run_args(data_root, results, *extra: str) -> list[str]:
    return ["run", "--data-root", str(data_root), "--results", str(results), "--split", "test", "--quiet", *extra]


def test_list_json_has_the_contract_keys():
    result = study("list", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["torch7-mlp", "udacity", "nll-softmax", "infogan", "dcgan-xavier"]
    udacity = rows[1]
    assert (udacity["g_params"], udacity["d_params"], udacity["epochs"], udacity["batch_size"]) == (114_800, 110_849,
                                                                                                    100, 64)
    table = study("list")
    assert table.exit_code == 0 and "dcgan-xavier" in table.stdout


def test_show_json_has_ledger_quirks_claims():
    result = study("show", "nll-softmax", "--json")
    assert result.exit_code == 0
    details = json.loads(result.stdout)
    quirks = {q["name"]: q for q in details["quirks"]}
    assert quirks["real-label-is-fake-class"]["status"] == "reproduced"
    assert quirks["real-label-is-fake-class"]["toggle"] == "--fix real-label"
    assert any(h["name"] == "optimizer" and "ASSUMPTION" in h["value"] for h in details["ledger"])
    assert details["claims"] and study("show", "infogan").exit_code == 0


def test_show_says_which_runs_each_claim_needs():
    runs = {claim["key"]: claim["runs"] for claim in json.loads(study("show", "infogan", "--json").stdout)["claims"]}
    assert runs["fail-rate-rise"] == "the --alt two-runs-of-20 runs, which reach epoch 40 (`study run infogan --alt " \
                                     "two-runs-of-20`; `study run --all` trains them)"
    assert runs["digits-20"] == "the faithful runs (`study run infogan`), at epoch 20 of their 20, scored (not " \
                                "--eval-every 0)"
    assert runs["same-as-infogan"] == "none: the code contradicts it"
    nll = {claim["key"]: claim for claim in json.loads(study("show", "nll-softmax", "--json").stdout)["claims"]}
    printed = [claim["runs"] for claim in nll.values() if "printed at step" in claim["check"]]
    assert printed and all(runs.endswith("with the original's steps per epoch (the train split's 60,000 images, or "
                                         "--schedule steps)") for runs in printed)
    text = " ".join(study("show", "infogan").stdout.split())
    assert "runs the --alt two-runs-of-20 runs, which reach epoch 40" in text


def test_an_alternative_passed_as_a_fix_names_the_alt_option(data_root, tmp_path):
    result = study(*run_args(data_root, tmp_path, "nll-softmax", "udacity", "--fix", "batch-1024"))
    assert result.exit_code != 0 and "use --alt batch-1024" in result.output
    assert not (tmp_path / "runs").exists()


def test_show_lists_the_draws_the_seed_contract_reproduces():
    details = json.loads(study("show", "dcgan-xavier", "--json").stdout)
    assert [(d["name"], d["moment"]) for d in details["draws"]] == [
        ("data-display", "before-models"), ("shape-check", "before-models"), ("epoch-test", "before-models"),
        ("progress-bar", "epoch-start"), ("demonstrate", "epoch-end")]
    assert all(d["source"].startswith("spec 004") for d in details["draws"])
    assert "S replaces any seed the original sets itself" in details["seed_contract"]
    assert "the suite's own work (building evaluators, scoring, its sample grids) draws nothing" in \
        details["seed_contract"]
    text = study("show", "torch7-mlp").stdout
    assert "RNG draws outside the training steps: none" in text and f"Seed contract {SEED_CONTRACT}" in text


def test_run_trains_seeds_and_skips_complete_runs(data_root, tmp_path):
    result = study(*run_args(data_root, tmp_path, "udacity", "--seeds", "2", "--epochs", "1", "--limit", "64"))
    assert result.exit_code == 0, result.output
    runs = [folder.run_id for folder in run_folders(tmp_path)]
    assert runs == ["udacity__mnist-test-first64__seed0", "udacity__mnist-test-first64__seed1"]
    assert result.stdout.count("complete, 1 epoch,") == 2
    again = study(*run_args(data_root, tmp_path, "udacity", "--seed", "1", "--epochs", "1", "--limit", "64"))
    assert again.exit_code == 0 and "skipped" in again.stdout


def test_run_applies_fixes_and_config_defaults(data_root, tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(f'[run]\nvariants = ["nll-softmax"]\nseeds = [3]\nresults = "out"\n'
                      f'data_root = "{data_root}"\nsplit = "test"\neval_every = 0\n')
    result = study("run", "--config", str(config), "--epochs", "1", "--limit", "64", "--fix", "g-backward",
                   "--quiet")
    assert result.exit_code == 0, result.output
    run = RunFolder.of(tmp_path / "out", "nll-softmax+g-backward__mnist-test-first64__seed3")
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["fixes"] == ["g-backward"] and manifest["recipe"]["g_backward"] is True


def test_run_with_progress_bar(data_root, tmp_path):
    result = runner.invoke(cli.app, ["run", "torch7-mlp", "--data-root", str(data_root), "--results",
                                     str(tmp_path), "--split", "test", "--epochs", "1", "--limit", "64"])
    assert result.exit_code == 0, result.output
    assert "torch7-mlp__mnist-test-first64__seed0: complete" in result.stdout


@pytest.mark.parametrize("args,needles", [
    (["run", "nope"], ["unknown variant 'nope'", "udacity"]),
    (["show", "nope"], ["unknown variant 'nope'", "dcgan-xavier"]),
    (["run", "udacity", "--fix", "nope"], ["unknown fix 'nope'", "lr-2e-4"]),
    (["run", "udacity", "--seeds", "-1"], ["--seeds", "'-1'"]),
    (["run", "udacity", "--seed", "x"], ["--seed must be an integer from 0 to 4294967295", "'x'"]),
    (["run", "udacity", "--seed", "4294967296"], ["--seed must be an integer from 0 to 4294967295"]),
    (["run", "udacity", "--bogus"], ["No such option: --bogus"]),
    (["run", "udacity", "--protocol", "steps"], ["--protocol is now --schedule"]),  # renamed options
    (["report", "--protocol", "256 images"], ["--protocol is now --run-set"]),
    (["run", "udacity", "--seed", "0", "--seed", "0"], ["--seed 0 is given more than once"]),
    (["run", "udacity", "--epochs", "1.5"], ["--epochs must be an integer >= 1"]),
    (["run", "udacity", "--epochs", "0"], ["--epochs must be an integer >= 1"]),
    (["run", "udacity", "--limit", "0"], ["--limit"]),
    (["run", "udacity", "--seeds", "2", "--seed", "1"], ["not both"]),
    (["run", "udacity", "--dataset", "cifar"], ["unknown dataset 'cifar'"]),
    (["run", "udacity", "--device", "tpu"], ["unknown device 'tpu'"]),
])
def test_bad_arguments_get_one_line(args, needles, data_root, tmp_path):
    if args[0] == "run":
        args = args + ["--data-root", str(data_root), "--results", str(tmp_path), "--split", "test"]
    assert_one_line_error(study(*args), *needles)
    assert not (tmp_path / "runs").exists()


def test_missing_data_folder(tmp_path):
    result = study(*run_args(tmp_path / "missing", tmp_path / "results", "udacity", "--limit", "8"))
    assert_one_line_error(result, "t10k-images-idx3-ubyte", "--data-root")
    assert not (tmp_path / "results" / "runs").exists()


def test_corrupt_idx_file(data_root, tmp_path):
    images = data_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    assert_one_line_error(study(*run_args(data_root, tmp_path, "udacity", "--limit", "8")), "truncated or corrupt")


def test_unwritable_results_folder(data_root, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    assert_one_line_error(study(*run_args(data_root, blocker / "results", "udacity", "--limit", "8")),
                          "not writable", "--results")


def test_cuda_where_there_is_none(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_one_line_error(study(*run_args(data_root, tmp_path, "udacity", "--device", "cuda")), "no CUDA device",
                          "--device cpu")


def test_ctrl_c_exits_130_with_how_to_resume(data_root, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(harness.executors, "train_run", interrupted)
    result = study(*run_args(data_root, tmp_path, "udacity", "--limit", "8"))
    assert result.exit_code == 130 and "re-run the same command to resume" in result.stderr


NOTHING_STARTED = "interrupted before any run started: nothing was trained; re-run the same command to start"


def test_ctrl_c_while_the_evaluators_are_built_says_no_run_started(data_root, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(harness.evaluator, "ensure_panel", interrupted)
    result = study(*run_args(data_root, tmp_path, "udacity", "--limit", "8", "--eval-every", "1"))
    assert result.exit_code == 130 and result.stderr.strip().splitlines()[-1] == NOTHING_STARTED
    assert not run_folders(tmp_path)


def test_help_teaches():
    result = study("run", "--help")
    assert result.exit_code == 0
    for option in ("--seeds", "--fix", "--limit", "--data-root", "--split", "--quiet", "--force"):
        assert option in result.stdout


def test_data_root_from_environment(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_ROOT", str(data_root))
    result = study("run", "udacity", "--results", str(tmp_path), "--split", "test", "--limit", "16", "--epochs", "1",
                   "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads(run_folders(tmp_path)[0].manifest_path.read_text())
    assert manifest["data"]["root"] == str(data_root)


def evaluation_n(results) -> list[int]:
    return [json.loads(f.manifest_path.read_text())["evaluation"]["n_fake"] for f in run_folders(results)]


def test_eval_samples_follow_a_small_limit_and_the_option(data_root, tmp_path):
    result = study(*run_args(data_root, tmp_path / "a", "udacity", "--epochs", "1", "--limit", "16"))
    assert result.exit_code == 0, result.output
    assert evaluation_n(tmp_path / "a") == [16]  # study.toml's 10,000 cut to the 16 training images
    result = study(*run_args(data_root, tmp_path / "b", "udacity", "--epochs", "1", "--limit", "16",
                             "--eval-samples", "40"))
    assert result.exit_code == 0, result.output
    assert evaluation_n(tmp_path / "b") == [40]
    calibration = tmp_path / "b" / "evaluators" / "mnist-test-thirds-seed0" / "calibration-n40.json"
    assert json.loads(calibration.read_text())["n"] == 40  # the run's own n is calibrated
    assert_one_line_error(study(*run_args(data_root, tmp_path / "c", "udacity", "--eval-samples", "5")),
                          "--eval-samples must be an integer >= 6")


def test_plain_progress_lines_when_output_is_not_a_terminal(data_root, tmp_path):
    result = runner.invoke(cli.app, ["run", "udacity", "--data-root", str(data_root), "--results", str(tmp_path),
                                     "--split", "test", "--epochs", "2", "--limit", "16"])
    assert result.exit_code == 0, result.output
    assert "udacity seed 0: epoch 1/2 d_loss" in result.stdout and "udacity seed 0: epoch 2/2" in result.stdout
    assert "preparing the mnist evaluator" in result.stderr and "done in" in result.stderr


def test_tensorboard_mirrors_metrics_csv(data_root, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = study(*run_args(data_root, tmp_path, "udacity", "--epochs", "2", "--limit", "16", "--tensorboard"))
    assert result.exit_code == 0, result.output
    folder = run_folders(tmp_path)[0]
    events = EventAccumulator(str(folder.path / "tensorboard"))
    events.Reload()
    metrics = pd.read_csv(folder.metrics_path)
    for column in ("d_loss", "g_loss", "fid", "class_tv"):
        logged = [(e.step, e.value) for e in events.Scalars(column)]
        assert logged == [(int(epoch), pytest.approx(value, rel=1e-6))
                          for epoch, value in zip(metrics["epoch"], metrics[column])]
    assert [e.step for e in events.Images("samples")] == [1, 2]


def test_tensorboard_missing_is_one_line(data_root, tmp_path, monkeypatch):
    import harness.tensorboard
    real_find_spec = harness.tensorboard.importlib.util.find_spec
    monkeypatch.setattr(harness.tensorboard.importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real_find_spec(name, *a))
    assert_one_line_error(study(*run_args(data_root, tmp_path, "udacity", "--tensorboard")),
                          'pip install -e ".[tensorboard]"')
    assert not (tmp_path / "runs").exists()


def test_slim_keeps_the_grids_of_the_first_and_the_scored_epochs(data_root, tmp_path):
    result = study(*run_args(data_root, tmp_path, "torch7-mlp", "--epochs", "4", "--limit", "64", "--eval-every",
                             "3", "--eval-samples", "16"))
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs").iterdir())
    before = sorted(p.name for p in (run / "samples").iterdir())
    assert study("slim", str(run)).exit_code == 0
    after = sorted(p.name for p in (run / "samples").iterdir())
    # scored at 3 and 4 (the last); 1 kept as the start; torch7-mlp draws its own picture every epoch
    assert set(before) - set(after) == {"epoch-0002.png", "writeup-epoch-0002.png"}
    assert {"epoch-0001.png", "writeup-epoch-0001.png", "epoch-0004.png", "writeup-epoch-0004.png"} <= set(after)
    assert study("slim", str(tmp_path)).exit_code == 1


def test_run_prints_its_plan_and_projection_then_run_k_of_n_and_its_time(data_root, tmp_path):
    args = ["run", "udacity", "--seeds", "2", "--data-root", str(data_root), "--results", str(tmp_path), "--split",
            "test", "--epochs", "2", "--limit", "16"]
    result = runner.invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "plan: 2 runs: 2 to train, 0 to resume, 0 complete (skipped); 4 optimizer steps, 4 scorings of 16 " \
           "images" in " ".join(out.split())
    assert re.search(r"projected: \d+:\d\d:\d\d on cpu \(\d+ threads?\), from a warm-up timed here just now:", out)
    assert re.search(r"udacity: [0-9.e+]+ ms/step x 4 steps = ", out) and "  scoring: " in out
    assert out.index("projected:") < out.index("run 1 of 2: udacity seed 0 ...") < \
        out.index("run 2 of 2: udacity seed 1 ...")
    assert re.search(r"udacity seed 1: epoch 2/2 d_loss \S+ g_loss \S+ FID \S+; run 2 of 2, 0:00:00 left in it, "
                     r"0:00:00 in the command", out)
    assert re.search(r"2 runs done in \d+:\d\d:\d\d \(projected before training: \d+:\d\d:\d\d\)", out)
    assert "timing the steps of 1 arm on this machine ..." in result.stderr
    assert "calibrating the panel at n = 16 (once per n) ..." in result.stderr
    again = runner.invoke(cli.app, args)
    assert again.exit_code == 0, again.output
    assert "0 to train, 0 to resume, 2 complete (skipped); 0 optimizer steps" in " ".join(again.stdout.split())
    assert "projected:" not in again.stdout and "skipped" in again.stdout
    shutil.copytree(tmp_path / "evaluators", tmp_path / "quiet" / "evaluators")  # the same panel, not rebuilt
    quiet = runner.invoke(cli.app, [str(tmp_path / "quiet") if a == str(tmp_path) else a for a in args] + ["--quiet"])
    assert quiet.exit_code == 0, quiet.output
    for folder in run_folders(tmp_path):  # the warm-up before training left no trace in the runs
        assert folder.metrics_path.read_bytes() == \
            RunFolder.of(tmp_path / "quiet", folder.run_id).metrics_path.read_bytes()
