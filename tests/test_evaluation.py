"""The evaluator's identity, scoring inside runs and from checkpoints, calibration, and their errors."""
from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from harness import cli
from harness.errors import StudyError
from harness.evaluator import (
    ARCHITECTURES,
    FEATURE_DIM,
    Evaluator,
    build_evaluator,
    evaluator_dir,
    load_evaluator,
    partition_sets,
)
from harness.panel import CROSS_CHECK_ARCHITECTURE, PANEL_SEEDS
from harness.run_folder import EVAL_COLUMNS
from harness.scoring import CONTROLS, LADDER_DRAWS
from harness.storage import load_checkpoint
from harness.train import train_run
from tests.conftest import TEST_IMAGES, build_panel, copy_of, make_spec

runner = CliRunner()


def test_each_architecture_has_the_layers_it_is_described_by():
    # cnn: conv 1->16 (5x5) 416, conv 16->32 (5x5) 12,832, FC 512->128 65,664, head 1,290;
    # mlp: FC 784->256 200,960, FC 256->128 32,896, head 1,290
    assert {name: sum(p.numel() for p in Evaluator(name).parameters()) for name in ARCHITECTURES} == \
        {"cnn": 80_202, "mlp": 235_146}
    for name in ARCHITECTURES:
        features, logits = Evaluator(name).features_and_logits(torch.rand(3, 1, 28, 28))
        assert features.shape == (3, FEATURE_DIM) and logits.shape == (3, 10) and features.min() >= 0  # ReLU
    with pytest.raises(StudyError, match="unknown evaluator architecture 'resnet'"):
        Evaluator("resnet")


def test_building_twice_gives_the_same_hash_and_tampering_is_caught(data_root, tmp_path):
    first = build_evaluator(tmp_path / "a", data_root, "mnist", "test", epochs=2)
    second = build_evaluator(tmp_path / "b", data_root, "mnist", "test", epochs=2)
    assert first.sha256 == second.sha256 and len(first.sha256) == 64
    assert (first.partition, first.train_images, first.reference_images, first.calibration_images) == \
        ("test-thirds", TEST_IMAGES * 4 // 10, TEST_IMAGES * 3 // 10, TEST_IMAGES * 3 // 10)
    assert load_evaluator(tmp_path / "a", "mnist")[1] == first
    info_file = evaluator_dir(tmp_path / "a", "mnist", "test-thirds") / "evaluator.json"
    info_file.write_text(info_file.read_text().replace(first.sha256, "0" * 64))
    with pytest.raises(StudyError, match="does not match its recorded SHA-256"):
        load_evaluator(tmp_path / "a", "mnist")


def test_an_evaluator_recorded_before_the_rename_still_loads(data_root, tmp_path):
    """evaluator.json named the partition "protocol" (the published study's evaluators still do)."""
    built = build_evaluator(tmp_path, data_root, "mnist", "test", epochs=1)
    record = evaluator_dir(tmp_path, "mnist", "test-thirds") / "evaluator.json"
    old = {("protocol" if key == "partition" else key): value for key, value in json.loads(record.read_text()).items()}
    record.write_text(json.dumps(old))
    assert load_evaluator(tmp_path, "mnist")[1] == built


def test_a_different_training_gives_a_different_hash(data_root, tmp_path):
    assert build_evaluator(tmp_path / "a", data_root, "mnist", "test", epochs=1).sha256 != \
        build_evaluator(tmp_path / "b", data_root, "mnist", "test", epochs=2).sha256
    assert build_evaluator(tmp_path / "a", data_root, "mnist", "test", seed=1, epochs=1).sha256 != \
        load_evaluator(tmp_path / "a", "mnist")[1].sha256  # the panel's members differ by their seed alone


def test_the_three_sets_of_a_partition_are_disjoint(data_root):
    for partition in ("test-thirds", "train-split"):
        sets = partition_sets(data_root, "mnist", partition)
        images = [sets.train_images, sets.reference_images, sets.calibration_images]
        flat = [{bytes(image.numpy()) for image in part} for part in images]
        assert all(not flat[i] & flat[j] for i in range(3) for j in range(i + 1, 3))
        assert min(len(part) for part in images) > 0


def test_runs_score_on_schedule_and_record_the_evaluator(data_root, tmp_path):
    spec = replace(make_spec("udacity", data_root, tmp_path, epochs=3, limit=128), eval_every=2)
    outcome = train_run(spec)  # builds the missing evaluator itself
    metrics = pd.read_csv(outcome.folder.metrics_path)
    assert set(EVAL_COLUMNS) <= set(metrics.columns)
    assert metrics["fid"].notna().tolist() == [False, True, True]  # every 2nd epoch and the last
    scored = metrics.iloc[-1]
    assert scored["eval_n_fake"] == scored["eval_n_real"] == TEST_IMAGES // 2  # train-split: test's first half
    assert 0 <= scored["precision"] <= 1 and 1 <= scored["classes_covered"] <= 10
    assert sum(scored[f"class_{c}"] for c in range(10)) == pytest.approx(1)
    assert scored["nn_median"] > 0 and scored["nn_median_heldout"] > 0 and scored["nn_median_train"] > 0
    manifest = json.loads((outcome.folder.manifest_path).read_text())
    panel = [load_evaluator(tmp_path, "mnist", seed=seed)[1] for seed in PANEL_SEEDS]
    assert panel[0].partition == "train-split"  # a run on the train split builds that partition's evaluators
    assert manifest["evaluation"]["partition"] == "train-split"
    assert manifest["evaluation"]["evaluator_sha256"] == panel[0].sha256
    assert manifest["evaluation"]["panel_sha256"] == [info.sha256 for info in panel]
    for member in PANEL_SEEDS[1:]:  # each member's own scores, not copies of the primary's
        assert scored[f"evaluator{member}_fid"] > 0 and scored[f"evaluator{member}_fid"] != scored["fid"]
    assert manifest["evaluation"]["reference_overlap"] == 0  # trained on the train split


def test_overlap_with_the_reference_is_recorded(data_root, tmp_path):
    spec = replace(make_spec("torch7-mlp", data_root, tmp_path, limit=None, split="test"), eval_every=1)
    manifest = json.loads((train_run(spec).folder.manifest_path).read_text())
    assert manifest["evaluation"]["reference_overlap"] == TEST_IMAGES * 3 // 10  # all of the test split trained on


def test_eval_rescores_a_checkpoint_identically(data_root, tmp_path):
    spec = make_spec("dcgan-xavier", data_root, tmp_path, limit=64)
    train_run(spec)
    build_panel(tmp_path, data_root, epochs=2)
    run = str(spec.folder.path)
    first = runner.invoke(cli.app, ["eval", run, "--json"])
    second = runner.invoke(cli.app, ["eval", run, "--json", "--n", "50"])
    third = runner.invoke(cli.app, ["eval", run, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == json.loads(third.stdout)  # same checkpoint, same numbers
    assert json.loads(second.stdout)[0]["eval_n_fake"] == 50
    assert pd.read_csv(spec.folder.metrics_path)["eval_n_fake"].iloc[-1] == TEST_IMAGES * 3 // 10


def test_eval_errors(data_root, tmp_path):
    spec = make_spec("udacity", data_root, tmp_path, limit=64)
    train_run(spec)
    result = runner.invoke(cli.app, ["eval", str(spec.folder.path)])
    assert result.exit_code == 1 and "study evaluator build" in result.stderr  # no evaluator yet
    build_panel(tmp_path, data_root)
    result = runner.invoke(cli.app, ["eval", str(spec.folder.path), "--n", str(TEST_IMAGES)])
    assert result.exit_code == 1 and f"exceeds the {TEST_IMAGES * 3 // 10} real reference images" in result.stderr
    (spec.folder.checkpoint_path).unlink()
    result = runner.invoke(cli.app, ["eval", str(spec.folder.path)])
    assert result.exit_code == 1 and "has no checkpoint" in result.stderr
    result = runner.invoke(cli.app, ["eval", str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder" in result.stderr


def test_calibrate_through_the_cli(data_root, tmp_path):
    args = ["calibrate", "--results", str(tmp_path), "--data-root", str(data_root), "--dataset", "mnist"]
    missing = runner.invoke(cli.app, args)
    assert missing.exit_code == 1 and "study evaluator build" in missing.stderr
    build = runner.invoke(cli.app, ["evaluator", "build", "--results", str(tmp_path), "--data-root", str(data_root),
                                    "--split", "test", "--epochs", "2"])
    assert build.exit_code == 0 and build.stdout.count("test-thirds partition") == len(PANEL_SEEDS)
    result = runner.invoke(cli.app, args + ["--json", "--n", "40"])
    assert result.exit_code == 0, result.output
    panel = json.loads(result.stdout)
    assert list(panel) == [*map(str, PANEL_SEEDS), CROSS_CHECK_ARCHITECTURE]  # the panel, then the second kind
    for rows in panel.values():
        ladder = [r for r in rows if r["kind"] == "ladder"]
        assert [r["name"] for r in ladder[:2]] == ["real", "noise sigma 0.1"] and ladder[-1]["name"] == "uniform noise"
        assert all(r["draws"] == LADDER_DRAWS and r["fid_sd"] > 0 for r in ladder[1:])  # noise differs by draw
        assert [r["name"] for r in rows if r["kind"] == "control"] == list(CONTROLS)
        for row in rows:
            assert {"name", "fid", "kid", "inception_score", "precision", "recall", "density", "coverage",
                    "classes_covered"} <= set(row) and row["eval_n_fake"] == 40
    assert panel["0"][0]["fid"] != panel["1"][0]["fid"]  # each member measures in its own features
    for seed in PANEL_SEEDS:
        assert (evaluator_dir(tmp_path, "mnist", "test-thirds", seed) / "calibration-n40.json").is_file()
    second = load_evaluator(tmp_path, "mnist", architecture=CROSS_CHECK_ARCHITECTURE)[1]
    assert (second.architecture, second.epochs, second.seed) == (ARCHITECTURES["mlp"], 2, 0)  # trained as the panel
    assert (evaluator_dir(tmp_path, "mnist", "test-thirds", 0, "mlp") / "calibration-n40.json").is_file()
    assert panel["mlp"][0]["fid"] != panel["0"][0]["fid"]
    text = runner.invoke(cli.app, args + ["--n", "40"])
    assert text.exit_code == 0 and "evaluator mlp (second architecture)" in text.stdout
    too_many = runner.invoke(cli.app, args + ["--n", str(TEST_IMAGES)])
    assert too_many.exit_code == 1 and "real images calibration can draw on" in too_many.stderr


def test_calibration_ladder_on_real_digits(real_panel, tmp_path):
    panel, real_data_root = real_panel
    results = copy_of(panel, tmp_path / "results")
    result = runner.invoke(cli.app, ["calibrate", "--results", str(results), "--data-root", str(real_data_root),
                                     "--dataset", "mnist", "--n", "500", "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)["0"]}
    ladder = [rows[name]["fid"] for name in ("real", "noise sigma 0.1", "noise sigma 0.2", "noise sigma 0.4",
                                             "noise sigma 0.8")]
    assert ladder == sorted(ladder) and len(set(ladder)) == len(ladder)  # strictly rising
    assert rows["uniform noise"]["fid"] > rows["noise sigma 0.8"]["fid"] and rows["real"]["classes_covered"] == 10
    assert load_evaluator(results, "mnist")[1].heldout_accuracy >= 0.97


def test_runs_also_score_the_epochs_claims_look_at(data_root, tmp_path):
    from harness.train import evaluation_due
    spec = replace(make_spec("torch7-mlp", data_root, tmp_path, epochs=300), eval_every=30)
    # torch7-mlp's claims: "blurry digits after 5 epochs", "pleasant after 80"
    assert {5, 80} <= {e for e in range(1, 301) if evaluation_due(spec, e)}
    assert [e for e in range(1, 40) if evaluation_due(spec, e)] == [5, 30]
    assert not any(evaluation_due(replace(spec, eval_every=0), e) for e in range(1, 301))


@pytest.mark.parametrize("name", ["udacity", "nll-softmax"])  # dropout in G: a scoring forward could draw
def test_scoring_draws_nothing_from_the_originals_streams(name, data_root, tmp_path):
    """Seed S is the original run with seed S whether or how often it is scored: loading the evaluator panel
    (building its networks initialises weights from torch's stream) and scoring every epoch leave the training's
    numbers, and the generator's weights, exactly as an unscored run's."""
    build_panel(tmp_path / "scored", data_root)
    limit = 64  # of the 200 synthetic test digits: the evaluators' first part
    unscored = train_run(make_spec(name, data_root, tmp_path / "unscored", epochs=3, limit=limit, split="test"))
    scored = train_run(replace(make_spec(name, data_root, tmp_path / "scored", epochs=3, limit=limit, split="test"),
                               eval_every=1, eval_samples=64))
    columns = ["d_loss", "g_loss", "d_real", "d_fake"]
    a, b = pd.read_csv(unscored.folder.metrics_path), pd.read_csv(scored.folder.metrics_path)
    assert b["fid"].notna().all() and a[columns].equals(b[columns])
    g_a = load_checkpoint(unscored.folder.checkpoint_path)["gan"]["generator"]
    g_b = load_checkpoint(scored.folder.checkpoint_path)["gan"]["generator"]
    assert all(torch.equal(g_a[key], g_b[key]) for key in g_a)
