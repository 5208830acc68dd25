"""Verdicts: every claim's check passes on a case that satisfies it and fails on one that does not; claims are judged
at the epoch they speak of; the digit criterion tells digits from noise; the step-matched protocol; alternatives."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from harness import cli
from harness.claims import (
    CONTRADICTED,
    DIGIT_LEVELS,
    NOT_CHECKABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    digits_hold,
    judge,
)
from harness.data import BatchOrder, DeviceImages, load_split
from harness.evaluator import evaluator_dir, load_panel, protocol_sets, unit_images
from harness.report import write_report
from harness.run_folder import LOG_COLUMNS, DataRecord, Manifest, RunFolder, metric_columns
from harness.runs import failure_label, load_runs, row_named
from harness.scoring import (
    CALIBRATION_VERSION,
    CONTROLS,
    ensure_calibration,
    load_references,
    sample_images,
    score_images,
)
from harness.seed_contract import second_run, start_script
from harness.seeding import SEED_CONTRACT
from harness.steps import Gan
from harness.train import epoch_steps, train_run
from harness.variant import Band, Check, Classes, Digits, Printed, Share, Similar, Trend, Variant
from tests.conftest import build_panel, make_spec, write_split
from tests.test_training import InterruptAt
from variants import VARIANTS

runner = CliRunner()
EVALUATOR, N = "cd" * 32, 500
CLAIMS = [(name, claim) for name, v in VARIANTS.items() for claim in v.claims if claim.check and not claim.contradicted]
BASE = {"d_loss": 1.0, "g_loss": 1.0, "d_real": 0.7, "d_fake": 0.3, "d_accuracy": 0.7, "d_loss_real": 0.5,
        "d_loss_fake": 0.5, "d_loss_last": 1.0, "g_loss_last": 1.0, "fid": 50.0, "classes_covered": 10,
        "confidence": 0.9, "precision": 0.6, "coverage": 0.6, "density": 0.5, "self_nn_ratio": 1.0,
        "eval_n_fake": N, "eval_n_real": N, **{f"class_{c}": 0.1 for c in range(10)}}


def _band_value(check: Band, good: bool) -> float:
    middle, far = (check.low + check.high) / 2, check.high + abs(check.high - check.low) + 1
    return (middle if good else far) if check.expect == "inside" else (far if good else middle)


def designed(check: Check, good: bool, epoch: int) -> tuple[dict, list[dict]]:
    """Metrics overrides at ``epoch`` (a function of the epoch for trends) and write-up log rows that satisfy the
    check (good) or not."""
    if isinstance(check, Band):
        return {c: _band_value(check, good) for c in check.columns}, []
    if isinstance(check, Trend):
        sign = (-1 if check.direction == "falls" else 1) * (1 if good else -1)
        value = 50.0 + sign * 2.0 * epoch
        return ({check.column: value}, []) if check.table == "metrics" else \
            ({}, [{"epoch": epoch, "step": 0, check.column: value}])
    if isinstance(check, Similar):
        return {check.first: 1.0, check.second: 1.0 if good else 2.0}, []
    if isinstance(check, Share):
        return {check.column: (check.low + check.high) / 2 if good else check.high + 10}, []
    if isinstance(check, Digits):
        prefix = "writeup_" if check.sampling == "writeup" else ""
        scores = {"fid": 20.0, "classes_covered": 10, "confidence": 0.95, "precision": 0.6, "coverage": 0.6,
                  "self_nn_ratio": 1.0} if good else \
            {"fid": 2000.0, "classes_covered": 3, "confidence": 0.3, "precision": 0.1, "coverage": 0.01,
             "self_nn_ratio": 1.5}
        return {prefix + k: v for k, v in scores.items()}, []
    if isinstance(check, Classes):
        return {f"class_{c}": 0.1 if good else 0.0 for c in check.classes}, []
    assert isinstance(check, Printed)
    spread = [check.value - 0.1, check.value + 0.1] if good else [check.value + 1, check.value + 2]
    return {}, [{"epoch": epoch, "step": step, check.column: v} for step in (0, check.step) for v in spread[:1]] + \
        [{"epoch": epoch, "step": check.step + 1, check.column: spread[1]}]


def write_designed_run(results: Path, variant: Variant, check: Check, seed: int, epochs: int, good: bool) -> None:
    folder = RunFolder.of(results, f"{variant.name}__mnist-test-first512__seed{seed}")
    rows, log = [], []
    for epoch in range(1, epochs + 1):
        overrides, printed = designed(check, good, epoch)
        rows.append({"epoch": epoch, "steps": 10_000, **BASE, **overrides})
        log += printed
    folder.write_tables(rows, metric_columns(list(variant.writeup_columns)), log, [])
    folder.write_manifest(Manifest(
        run_id=folder.run_id, seed_contract=SEED_CONTRACT, status="complete", variant=variant.name, fixes=[],
        seed=seed, epochs_done=epochs, epochs_requested=epochs, data=DataRecord("mnist", "test", 512, 512, "data"),
        device="cpu",
        versions={"torch": "x", "torchvision": "x", "python": "x"}, code_version="x",
        evaluation={"evaluator_sha256": EVALUATOR, "protocol": "test-thirds", "heldout_accuracy": 0.98, "n_fake": N,
                    "n_real": N}))
    calibration = evaluator_dir(results, "mnist", "test-thirds") / f"calibration-n{N}.json"
    calibration.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"name": "real", "kind": "ladder", "fid": 10.0, "precision": 0.6, "coverage": 0.6},
            {"name": "noise sigma 0.4", "kind": "ladder", "fid": 300.0},
            {"name": "blur sigma 2", "kind": "ladder", "fid": 900.0}]
    calibration.write_text(json.dumps({"evaluator_sha256": EVALUATOR, "n": N, "version": CALIBRATION_VERSION,
                                       "rows": rows}))


@pytest.mark.parametrize("name,claim", CLAIMS, ids=[f"{n}:{c.key}" for n, c in CLAIMS])
def test_every_claim_passes_when_satisfied_fails_otherwise_and_waits_for_its_epoch(name, claim, tmp_path):
    variant = VARIANTS[name]
    epoch = variant.claim_epoch(claim.check)
    written = set(metric_columns(list(variant.writeup_columns))) | set(LOG_COLUMNS)
    for good in (True, False):  # every column the check reads is one a real run writes (no typo passes)
        overrides, printed = designed(claim.check, good, epoch)
        assert set(overrides) | {k for row in printed for k in row} <= written
    for good, expected in ((True, REPRODUCED), (False, NOT_REPRODUCED)):
        root = tmp_path / str(good)
        for seed in range(2):
            write_designed_run(root, variant, claim.check, seed, epoch, good)
        verdict = judge(claim, load_runs(root)[0], variant)
        assert (verdict.kind, verdict.epoch) == (expected, epoch), verdict.reason
        assert ("conditional on" in verdict.reason) == bool(claim.assumes)
    if epoch > 1:  # a run that stopped before the claim's epoch cannot speak to it
        write_designed_run(tmp_path / "short", variant, claim.check, 0, epoch - 1, True)
        verdict = judge(claim, load_runs(tmp_path / "short")[0], variant)
        assert verdict.kind == NOT_CHECKABLE and f"ended at epoch {epoch - 1} of {epoch}" in verdict.reason


def test_a_two_epoch_study_leaves_every_later_claim_not_checkable(tmp_path):
    for name, variant in VARIANTS.items():
        for claim in variant.claims:
            if claim.check is None or claim.contradicted:
                continue
            root = tmp_path / f"{name}-{claim.key}"
            write_designed_run(root, variant, claim.check, 0, 2, True)
            verdict = judge(claim, load_runs(root)[0], variant)
            later = variant.claim_epoch(claim.check) > 2
            assert (verdict.kind == NOT_CHECKABLE) == later, (name, claim.key, verdict)


def test_contradicted_claims_say_so(tmp_path):
    contradicted = [(v, c) for v in VARIANTS.values() for c in v.claims if c.contradicted]
    assert {c.key for _, c in contradicted} == {"smoothing-helps", "same-as-infogan", "cnn-fewer-parameters"}
    for variant, claim in contradicted:
        assert judge(claim, [], variant).kind == CONTRADICTED
    cnn, mlp = VARIANTS["dcgan-xavier"].param_counts(), VARIANTS["torch7-mlp"].param_counts()
    reason = next(c for _, c in contradicted if c.key == "cnn-fewer-parameters").contradicted
    assert f"{cnn[0]:,}" in reason and f"{mlp[0]:,}" in reason and f"{cnn[1]:,}" in reason and f"{mlp[1]:,}" in reason
    assert f"{cnn[0] / mlp[0]:.1f} times" in reason


def test_a_printed_value_is_judged_by_its_quantile_not_the_pooled_range():
    from harness.claims import printed_quantile
    pooled = [float(v) for v in range(100)]  # 0..99
    assert printed_quantile(50.0, pooled) == pytest.approx(0.505) and printed_quantile(-1.0, pooled) == 0
    assert printed_quantile(1.0, pooled) == pytest.approx(0.015)  # inside the min-max, outside the central 95%
    rng = np.random.default_rng(0)  # a value from the same distribution: quantile uniform, in the central 95% ~95%
    inside = [0.025 <= printed_quantile(rng.normal(), list(rng.normal(size=200))) <= 0.975 for _ in range(2000)]
    assert 0.93 <= np.mean(inside) <= 0.97


def test_printed_values_need_their_step_to_exist(tmp_path):
    variant = VARIANTS["udacity"]
    claim = next(c for c in variant.claims if c.key == "final-print")
    write_designed_run(tmp_path, variant, Printed("d_loss", 1.0, step=0), 0, 100, True)  # printed: steps 0, 1
    verdict = judge(claim, load_runs(tmp_path)[0], variant)
    assert verdict.kind == NOT_CHECKABLE and "--protocol steps" in verdict.reason


# The digit criterion on real digits, noise and untrained generators --------------------------------------------------
@pytest.fixture(scope="module")
def real_reference(tmp_path_factory):
    import os
    root = os.environ.get("STUDY_DATA_ROOT")
    if not root or not (Path(root) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("real MNIST test split not available (set STUDY_DATA_ROOT to ../shared/data)")
    results = tmp_path_factory.mktemp("results")
    build_panel(results, Path(root), epochs=4)
    references = load_references(results, Path(root), "mnist", N, load_panel(results, "mnist"))
    reference, calibration = references[0], ensure_calibration(results, Path(root), references)[0]
    held_out = unit_images(protocol_sets(Path(root), "mnist", "test-thirds").train_images[N:2 * N])
    return reference, calibration, held_out


def _sets(held_out: torch.Tensor) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    pixel = (0.5 + 0.3 * torch.randn(held_out.shape, generator=generator)).clamp(0, 1)
    smooth = F.interpolate(torch.rand(len(held_out), 1, 7, 7, generator=generator), size=28, mode="bilinear")
    sets = {"pixel noise": pixel, "smooth noise": smooth}
    for name, variant in VARIANTS.items():
        torch.manual_seed(0)
        sets[f"untrained {name}"] = sample_images(Gan.create(variant, frozenset(), torch.device("cpu")), N, 0)
    return sets


def test_digit_criterion_passes_real_digits_and_fails_noise_and_untrained_generators(real_reference):
    reference, calibration, held_out = real_reference
    real = score_images(reference, held_out)
    for level in ("digit-like", "recognisable"):
        assert digits_hold(level, real, calibration)[0], (level, real)
    for name, images in _sets(held_out).items():
        scores = score_images(reference, images)
        for level in ("digit-like", "recognisable"):
            assert not digits_hold(level, scores, calibration)[0], (name, level, scores["fid"],
                                                                    scores["classes_covered"], scores["confidence"])


def test_every_negative_control_fails_every_digits_level_and_every_failure_label_is_right(real_reference):
    _, calibration, _ = real_reference
    for name, control in CONTROLS.items():
        row = row_named(calibration, name)
        for level in DIGIT_LEVELS:
            holds, measured = digits_hold(level, row, calibration)
            assert holds == (level in control.passes), (name, level, measured)
        label = failure_label(row, calibration)
        assert (label.split(":")[0] if label else None) == control.failure, (name, label)
    assert failure_label(row_named(calibration, "real"), calibration) is None
    assert failure_label(row_named(calibration, "uniform noise"), calibration).startswith("undertrained")
    assert {c.failure for c in CONTROLS.values()} == {None, "collapse"} and \
        sum(not c.passes for c in CONTROLS.values()) >= 7  # the issue's negatives are all there


def test_a_handful_of_classes_is_collapse_among_digits_and_undertrained_in_noise():
    calibration = [{"name": "real", "kind": "ladder", "fid": 10.0, "precision": 0.6, "coverage": 0.6},
                   {"name": "uniform noise", "kind": "ladder", "fid": 1000.0}]
    ones = {"fid": 800.0, "classes_covered": 1, "precision": 0.8, "density": 0.4, "self_nn_ratio": 0.5}
    noise = {**ones, "precision": 0.03}
    saturated = {**ones, "precision": 1.0, "density": 0.0}  # noise inside a few outliers' wide neighbourhoods
    assert failure_label(ones, calibration) == "collapse: 1 classes covered"
    assert failure_label(noise, calibration).startswith("undertrained: FID 800")
    assert failure_label(saturated, calibration).startswith("undertrained")
    assert failure_label({**noise, "self_nn_ratio": 0.1}, calibration).startswith("collapse: samples repeat")
    assert failure_label(noise, None) == "collapse: 1 classes covered (no calibration to tell it from noise)"


# The step-matched protocol ------------------------------------------------------------------------------------------
def test_batch_order_continues_passes_across_epochs_like_fresh_dataloaders():
    torch.manual_seed(3)
    loader = DataLoader(list(range(10)), batch_size=4, shuffle=True)
    expected = [batch for _ in range(4) for batch in loader]  # 4 passes of 3 batches
    after_loader = torch.rand(2)
    torch.manual_seed(3)
    order = BatchOrder(10, 4, True, torch.device("cpu"))
    ours = [b for _ in range(3) for b in order.batches(4)]  # 3 epochs of 4 steps: epochs end inside passes
    assert [b.tolist() for b in ours] == [b.tolist() for b in expected]
    assert torch.equal(torch.rand(2), after_loader)  # the same draws from the global RNG


def test_step_matched_runs_have_the_originals_steps_and_resume_exactly(tmp_path):
    data_root = tmp_path / "data"
    write_split(data_root, "MNIST", "train", 1100, seed=4)
    # batch 1024 (an alternative reading): 59 steps an epoch, passes of 2 batches over 1,100 images, so every
    # epoch ends inside a pass
    spec = dataclasses.replace(make_spec("nll-softmax", data_root, tmp_path / "whole", epochs=3, limit=1100,
                                         fixes=frozenset({"batch-1024"})), protocol="steps")
    whole = train_run(spec)
    metrics = load_runs(tmp_path / "whole")[0][0].metrics
    assert list(metrics["steps"]) == [math.ceil(60_000 / 1024)] * 3 and list(metrics["images"]) == [1100] * 3
    manifest = whole.folder.read_manifest()
    assert manifest.protocol == "steps" and manifest.steps_per_epoch == 59 and whole.run_id.endswith("-steps__seed0")
    cut = dataclasses.replace(spec, results=tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        train_run(cut, InterruptAt(epoch=2, step=30))
    train_run(cut)
    assert cut.folder.metrics_path.read_bytes() == whole.folder.metrics_path.read_bytes()


def test_step_matched_verdicts_name_their_protocol(data_root, tmp_path):
    spec = dataclasses.replace(make_spec("nll-softmax", data_root, tmp_path, epochs=1, limit=300), protocol="steps")
    train_run(spec)
    write_report(tmp_path, tmp_path / "out", VARIANTS, None, "md")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "*nll-softmax: mnist train (300 images), step-matched, 1 epochs trained*" in text


# Alternatives and quirk kinds ---------------------------------------------------------------------------------------
def test_alternatives_are_not_fixes(data_root, tmp_path):
    result = runner.invoke(cli.app, ["run", "nll-softmax", "--alt", "batch-1024", "--fix", "all", "--epochs", "1",
                                     "--limit", "64", "--split", "test", "--data-root", str(data_root), "--results",
                                     str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    manifest = RunFolder.of(tmp_path, "nll-softmax+g-backward+real-label~batch-1024__mnist-test-first64__seed0") \
        .read_manifest()
    assert manifest.fixes == ["g-backward", "real-label"] and manifest.alternatives == ["batch-1024"]
    assert manifest.recipe["batch_size"] == 1024
    bad = runner.invoke(cli.app, ["run", "udacity", "--alt", "batch-1024", "--data-root", str(data_root)])
    assert bad.exit_code == 1 and "unknown alternative 'batch-1024'" in bad.stderr
    assert VARIANTS["infogan"].recipe_for(frozenset({"two-runs-of-20"})).epochs == 40


def test_quirk_statuses_mean_what_they_say():
    assert next(q for q in VARIANTS["udacity"].quirks if q.name == "dropout-in-g").status == "behaviour"
    assert {name: v.alternative_names for name, v in VARIANTS.items() if v.alternative_names} == {
        "nll-softmax": ["batch-1024", "adam-2e-4"], "infogan": ["bn-gamma-uniform", "two-runs-of-20"],
        "dcgan-xavier": ["batch-64"]}
    assert "60,000" in next(q for q in VARIANTS["dcgan-xavier"].quirks if q.fix == "g-real-batch").inert


def test_a_second_run_of_the_script_keeps_the_weights_and_nothing_else(data_root):
    """infogan's 40 epochs as two runs of train.py: the second re-seeds (so it replays the first run's stream),
    loads the weights and starts fresh Adam states."""
    split = load_split(data_root, "mnist", "train", 100)
    gan = start_script(VARIANTS["infogan"], frozenset(), 0, torch.device("cpu"))
    stream_at_start = torch.get_rng_state()
    list(epoch_steps(gan, DeviceImages(split.images, gan.device, gan.recipe.pixel_range, gan.recipe.flatten_real)))
    assert gan.g_optimizer.state_dict()["state"] and gan.d_optimizer.state_dict()["state"]
    resumed = second_run(gan, 0)
    assert torch.equal(torch.get_rng_state(), stream_at_start)
    assert not resumed.g_optimizer.state_dict()["state"] and not resumed.d_optimizer.state_dict()["state"]
    for old, new in ((gan.generator, resumed.generator), (gan.discriminator, resumed.discriminator)):
        assert all(torch.equal(a, b) for a, b in zip(old.state_dict().values(), new.state_dict().values()))


def test_claims_about_the_write_ups_own_pictures_score_samples_drawn_that_way(data_root, tmp_path):
    torch.manual_seed(0)
    gan = Gan.create(VARIANTS["dcgan-xavier"], frozenset(), torch.device("cpu"))
    assert not torch.equal(sample_images(gan, 10, 0), sample_images(gan, 10, 0, writeup=True))
    scored = {}
    for name in ("dcgan-xavier", "udacity"):
        spec = dataclasses.replace(make_spec(name, data_root, tmp_path, limit=64, split="test"), eval_every=1)
        metrics = RunFolder.of(tmp_path, train_run(spec).run_id).read_metrics()
        scored[name] = not math.isnan(metrics["writeup_fid"].iloc[-1])
    assert scored == {"dcgan-xavier": True, "udacity": False}  # only a claim that needs them pays for them


@pytest.mark.parametrize("n", [6, 11, 501])
def test_train_mode_samples_come_in_whole_batches_whatever_the_count(n):
    """dcgan-xavier draws its write-up-style samples in batches of 5 with train-mode BatchNorm: a count that leaves
    a last batch of 1 (6, 11) once crashed scoring. The last batch is drawn whole and cut, so each sample equals
    the same sample drawn among more: sample k does not depend on n."""
    torch.manual_seed(0)
    gan = Gan.create(VARIANTS["dcgan-xavier"], frozenset(), torch.device("cpu"))
    for writeup in (True, False):
        images = sample_images(gan, n, 0, writeup=writeup)
        assert images.shape[0] == n
        assert torch.equal(images, sample_images(gan, 1000, 0, writeup=writeup)[:n])
