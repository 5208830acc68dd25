"""Verdicts: every claim's check passes on a case that satisfies it and fails on one that does not; claims are judged
at the epoch they speak of; the digit criterion tells digits from noise; the step-matched schedule; alternatives."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Callable

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
    PARTLY,
    REPRODUCED,
    Verdict,
    describe_check,
    digits_hold,
    judge,
)
from harness.data import BatchOrder, DeviceImages, load_split
from harness.evaluator import load_panel, partition_sets, unit_images
from harness.original_logs import read_original_log
from harness.panel import CROSS_CHECK_ARCHITECTURE, PANEL_SEEDS, PRIMARY_SEED
from harness.report import write_report
from harness.run_folder import LOG_COLUMNS, RunFolder, metric_columns
from harness.runs import failure_label, load_runs, row_named
from harness.scoring import (
    CONTROLS,
    ensure_calibration,
    load_references,
    sample_images,
    score_images,
)
from harness.seed_contract import second_run, start_script
from harness.steps import Gan
from harness.train import epoch_steps, train_run
from harness.variant import (
    Band,
    Check,
    Claim,
    Classes,
    Digits,
    Dip,
    Printed,
    Settles,
    Share,
    Similar,
    Trend,
    Variant,
)
from tests.conftest import copy_of, make_spec, write_split
from tests.fakes import N, write_calibration, write_run
from tests.test_training import InterruptAt
from variants import VARIANTS

runner = CliRunner()
LADDER = [{"name": "real", "kind": "ladder", "fid": 10.0, "precision": 0.6, "coverage": 0.6, "inception_score": 9.5},
          {"name": "noise sigma 0.4", "kind": "ladder", "fid": 300.0},
          {"name": "blur sigma 2", "kind": "ladder", "fid": 900.0}]
CLAIMS = [(name, claim) for name, v in VARIANTS.items() for claim in v.claims if claim.check and not claim.contradicted]
BASE = {"d_loss": 1.0, "g_loss": 1.0, "d_real": 0.7, "d_fake": 0.3, "d_accuracy": 0.7, "d_loss_real": 0.5,
        "d_loss_fake": 0.5, "d_loss_last": 1.0, "g_loss_last": 1.0, "fid": 50.0, "classes_covered": 10,
        "confidence": 0.9, "precision": 0.6, "coverage": 0.6, "density": 0.5, "kid": 0.01, "self_nn_ratio": 1.0,
        "inception_score": 9.0, "eval_n_fake": N, "eval_n_real": N, **{f"class_{c}": 0.1 for c in range(10)}}


def _band_value(check: Band, good: bool) -> float:
    middle, far = (check.low + check.high) / 2, check.high + abs(check.high - check.low) + 1
    return (middle if good else far) if check.expect == "inside" else (far if good else middle)


def _trend_value(check: Trend, good: bool, epoch: int, end: int) -> float:
    """A straight line from 50 over the trend's span whose whole change sits inside the allowed range (good) or
    runs the other way; every step then moves by the same share of it, well above any step resolution."""
    size = (check.min_change + check.max_change) / 2 if math.isfinite(check.max_change) else 2 * check.min_change
    size *= 50.0 if check.relative else 1.0
    sign = (-1 if check.direction == "falls" else 1) * (1 if good else -1)
    progress = min(max(epoch - check.from_epoch, 0) / (end - check.from_epoch), 1.0)
    return 50.0 + sign * size * progress


def _dip_value(check: Dip, good: bool, epoch: int, end: int) -> float:
    """A V with its point in the middle of ``bottom``, twice ``depth`` deep at both ends (good); a steady fall
    whose lowest value is the last (not good)."""
    middle = sum(check.bottom) // 2
    if not good:
        return 10.0 + 2 * check.depth * (end - epoch) / (end - check.from_epoch)
    return 10.0 + 2 * check.depth * min(1.0, abs(epoch - middle) / min(middle - check.from_epoch, end - middle))


def _digit_scores(good: bool) -> dict[str, float]:
    return {"fid": 20.0, "kid": 2.0, "classes_covered": 10, "confidence": 0.95, "precision": 0.6, "coverage": 0.6,
            "density": 0.9, "self_nn_ratio": 1.0, "inception_score": 9.0} if good else \
        {"fid": 2000.0, "kid": 500.0, "classes_covered": 3, "confidence": 0.3, "precision": 0.1, "coverage": 0.01,
         "density": 0.01, "self_nn_ratio": 1.5, "inception_score": 2.0}


def _printed_rows(check: Printed, good: bool, epoch: int) -> tuple[dict, list[dict]]:
    """Values on both sides of the write-up's (good) or all above it: epoch means alternate by epoch, printed
    values by step."""
    spread = [check.value - 0.1, check.value + 0.1] if good else [check.value + 1, check.value + 2]
    if check.step is None:
        return {check.column: spread[epoch % 2]}, []
    return {}, [{"epoch": epoch, "step": step, check.column: v} for step in (0, check.step) for v in spread[:1]] + \
        [{"epoch": epoch, "step": check.step + 1, check.column: spread[1]}]


def designed(check: Check, good: bool, epoch: int, end: int) -> tuple[dict, list[dict]]:
    """Metrics overrides at ``epoch`` (a function of the epoch for checks over a span ending at ``end``) and
    write-up log rows that satisfy the check (good) or not."""
    if isinstance(check, Band):
        return {c: _band_value(check, good) for c in check.columns}, []
    if isinstance(check, Trend):
        value = _trend_value(check, good, epoch, end)
        if check.table == "writeup_log":
            return {}, [{"epoch": epoch, "step": 0, check.column: value}]
        return {check.column: value, **({check.denominator: 1.0} if check.denominator else {})}, []
    if isinstance(check, Similar):
        return {check.first: 1.0, check.second: 1.0 if good else 2.0}, []
    if isinstance(check, Share):
        return {check.column: (check.low + check.high) / 2 if good else check.high + 10}, []
    if isinstance(check, Dip):
        return {check.column: _dip_value(check, good, epoch, end)}, []
    if isinstance(check, Settles):  # a swing of 10 before the last stretch, flat in it (good) or still swinging
        settled = good and epoch >= check.from_epoch
        return {check.column: 5.0 if settled else 10.0 * (epoch % 2)}, []
    if isinstance(check, Digits):
        prefix = "writeup_" if check.sampling == "writeup" else ""
        scores = _digit_scores(good == (check.expect == "met"))
        return {prefix + k: v for k, v in scores.items()}, []
    if isinstance(check, Classes):
        return {**_digit_scores(True), **{f"class_{c}": 0.1 if good else 0.0 for c in check.classes}}, []
    assert isinstance(check, Printed)
    return _printed_rows(check, good, epoch)


def write_designed_run(results: Path, variant: Variant, check: Check, seed: int, epochs: int, good: bool) -> None:
    rows, log = [], []
    for epoch in range(1, epochs + 1):
        overrides, printed = designed(check, good, epoch, variant.claim_epoch(check))
        rows.append(overrides)
        log += printed
    write_rows(results, variant, seed, rows, log)


def write_rows(results: Path, variant: Variant, seed: int, rows: list[dict], log: list[dict]) -> None:
    """A complete run of len(rows) epochs: epoch i + 1 records BASE updated with rows[i]; ``log`` its printed
    values; a calibration ladder beside its evaluator."""
    write_run(results, variant.name, seed, rows=[{"steps": 10_000, **BASE, **row} for row in rows], log=log,
              grids=False)
    write_calibration(results, LADDER)


@pytest.mark.parametrize("name,claim", CLAIMS, ids=[f"{n}:{c.key}" for n, c in CLAIMS])
def test_every_claim_passes_when_satisfied_fails_otherwise_and_waits_for_its_epoch(name, claim, tmp_path):
    variant = VARIANTS[name]
    epoch = variant.claim_epoch(claim.check)
    written = set(metric_columns(list(variant.writeup_columns))) | set(LOG_COLUMNS)
    for good in (True, False):  # every column the check reads is one a real run writes (no typo passes)
        overrides, printed = designed(claim.check, good, epoch, epoch)
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


def test_each_verdict_kind(tmp_path):
    claim = next(c for c in VARIANTS["dcgan-xavier"].claims if c.key == "d-loss-falls")  # by 0.07, steadily
    dcgan = VARIANTS["dcgan-xavier"]
    falls = [{"d_loss": 1.0 - 0.02 * e} for e in range(1, 21)]
    flat = [{"d_loss": 1.0} for _ in range(20)]
    for seeds_rows, expected in (((falls, falls), REPRODUCED), ((falls, flat), PARTLY), ((flat, flat), NOT_REPRODUCED)):
        root = tmp_path / expected.replace(" ", "-")
        for seed, rows in enumerate(seeds_rows):
            write_rows(root, dcgan, seed, rows, [])
        runs, _ = load_runs(root)
        verdict = judge(claim, runs, dcgan)
        assert verdict.kind == expected and [s for s, _ in verdict.values] == [0, 1] and verdict.epoch == 20
    short = tmp_path / "short"
    write_run(short, "dcgan-xavier", 0, epochs=3, grids=False)
    verdict = judge(claim, load_runs(short)[0], dcgan)  # an end-of-recipe claim on a 3-epoch run
    assert verdict.kind == NOT_CHECKABLE and "the run ended at epoch 3 of 20" in verdict.reason
    unchecked = next(c for c in dcgan.claims if c.check is None)
    assert judge(unchecked, runs, dcgan).kind == NOT_CHECKABLE


def test_outside_band_claims(tmp_path):
    claim = next(c for c in VARIANTS["torch7-mlp"].claims if c.key == "no-optimum-d")  # d_loss away from ln 4
    write_run(tmp_path, "torch7-mlp", 0, epochs=300, final={"d_loss": 1.386}, grids=False)
    write_run(tmp_path, "torch7-mlp", 1, epochs=300, final={"d_loss": 0.9}, grids=False)
    assert judge(claim, load_runs(tmp_path)[0], VARIANTS["torch7-mlp"]).kind == PARTLY


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
    assert verdict.kind == NOT_CHECKABLE and "--schedule steps" in verdict.reason
    assert "an epoch of these runs has 10000 steps" in verdict.reason  # what write_designed_run records


@pytest.mark.parametrize("steps", ["missing", "empty"])
def test_a_missing_printed_step_is_not_checkable_whatever_the_steps_column_holds(tmp_path, steps):
    """Runs whose metrics lack the steps per epoch (or hold none) still get a reason, not a crash."""
    variant = VARIANTS["udacity"]
    claim = next(c for c in variant.claims if c.key == "final-print")
    write_designed_run(tmp_path, variant, Printed("d_loss", 1.0, step=0), 0, 100, True)
    runs = load_runs(tmp_path)[0]
    if steps == "missing":
        del runs[0].metrics["steps"]
    else:
        runs[0].metrics["steps"] = np.nan
    verdict = judge(claim, runs, variant)
    assert verdict.kind == NOT_CHECKABLE and "these runs record no steps per epoch" in verdict.reason


# Checks whose sizes come from the write-ups' own logs -----------------------------------------------------------------
AUTHOR_CLAIMS = {"nll-softmax": ["log-shape-d", "log-shape-g", "log-epoch-10-d", "log-epoch-10-g"],
                 "dcgan-xavier": ["final-real-loss", "final-fake-loss", "final-g-loss", "d-loss-falls",
                                  "g-loss-rises"],
                 "infogan": ["fail-rate-dip", "fail-rate-rise", "plateau-real", "plateau-fake", "balance-d",
                             "balance-g"]}


def claim_of(name: str, key: str) -> Claim:
    return next(c for c in VARIANTS[name].claims if c.key == key)


def verdict_on(tmp_path: Path, name: str, key: str, rows: list[dict], log: list[dict] | None = None,
               check: Check | None = None) -> Verdict:
    """The verdict of one claim (or of ``check`` in its place) on one run with these per-epoch rows."""
    variant, claim = VARIANTS[name], claim_of(name, key)
    claim = dataclasses.replace(claim, check=check) if check is not None else claim
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    write_rows(root, variant, 0, rows, log or [])
    return judge(claim, load_runs(root)[0], variant)


def author_rows(name: str) -> tuple[list[dict], list[dict]]:
    """The write-up author's logged run as one run of the suite: per-epoch rows and printed rows, in its columns."""
    log = VARIANTS[name].original_logs[0]
    frame = read_original_log(log).rename(columns={**log.columns, "batch": "step"})
    if log.table == "writeup_log":
        return [{} for _ in range(int(frame["epoch"].max()))], frame.to_dict("records")
    rows = [{k: v for k, v in row.items() if k != "epoch"} for row in frame.to_dict("records")]
    for row in rows:  # the notebook printed D's two terms; its total is their sum (spec 004 §10)
        if "d_loss_real" in row:
            row["d_loss"] = row["d_loss_real"] + row["d_loss_fake"]
    return rows, []


@pytest.mark.parametrize("name", AUTHOR_CLAIMS)
def test_the_authors_own_run_reproduces_the_claims_sized_from_it(name, tmp_path):
    rows, log = author_rows(name)
    for key in AUTHOR_CLAIMS[name]:
        verdict = verdict_on(tmp_path, name, key, rows, log)
        assert verdict.kind == REPRODUCED, (key, verdict.reason, verdict.values)


def test_similar_terms_agree_as_closely_as_the_seeds_do(tmp_path):
    """dcgan-xavier's "real and fake losses are similar" has no chosen band: the notebook's one run has no seed
    spread, so it cannot be judged alone, and two seeds are similar when their terms are as close as the seeds."""
    variant, claim = VARIANTS["dcgan-xavier"], claim_of("dcgan-xavier", "real-fake-similar")
    author, _ = author_rows("dcgan-xavier")  # epoch 20: real 0.2354, fake 0.2301, 2.3% apart

    def seeds(*runs: list[dict]) -> Verdict:
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        for seed, rows in enumerate(runs):
            write_rows(root, variant, seed, rows, [])
        return judge(claim, load_runs(root)[0], variant)

    def moved(rows: list[dict], by: float, fake_scale: float = 1.0) -> list[dict]:
        return [{**r, "d_loss_real": r["d_loss_real"] + by, "d_loss_fake": r["d_loss_fake"] * fake_scale + by}
                for r in rows]
    alone = seeds(author)
    assert alone.kind == NOT_CHECKABLE and "at least 2 seeds" in alone.reason
    assert seeds(author, moved(author, 0.02)).kind == REPRODUCED  # the gap is small next to the seeds' spread
    assert seeds(author, moved(author, 0.001)).kind == NOT_REPRODUCED  # seeds agree closer than the two terms do
    tight_15 = moved(author, 0.0, fake_scale=0.85)  # 15% apart: the old band's edge
    assert seeds(tight_15, moved(tight_15, 0.001)).kind == NOT_REPRODUCED
    verdict = seeds(author, moved(author, 0.02), author[:19])  # a third seed that stopped at 19 is left out
    assert verdict.kind == REPRODUCED and [s for s, _ in verdict.values] == [0, 1]


def _nll_log(d_loss: list[float], g_loss: list[float]) -> tuple[list[dict], list[dict]]:
    return [{} for _ in d_loss], [{"epoch": e, "step": 0, "d_loss": d, "g_loss": g}
                                  for e, (d, g) in enumerate(zip(d_loss, g_loss), start=1)]


def test_a_discriminator_that_wins_at_once_does_not_reproduce_the_posted_log_shape(tmp_path):
    """As posted, Adam 2e-3 drives d_loss to ~0 within an epoch: 1.6 -> 1e-9 and g_loss 0.65 -> 33, every later
    epoch a hair further. The steps rule (a step the 4-decimal print cannot show is none) fails d_loss, the change
    being of another order than the log's fails both."""
    rows, log = _nll_log([1.6] + [1e-9 / e for e in range(2, 11)], [0.65] + [33.0 + e for e in range(2, 11)])
    for key in ("log-shape-d", "log-shape-g"):
        assert verdict_on(tmp_path, "nll-softmax", key, rows, log).kind == NOT_REPRODUCED, key
    d_check, g_check = claim_of("nll-softmax", "log-shape-d").check, claim_of("nll-softmax", "log-shape-g").check
    unbounded = {key: dataclasses.replace(check, max_change=math.inf)
                 for key, check in (("log-shape-d", d_check), ("log-shape-g", g_check))}
    assert verdict_on(tmp_path, "nll-softmax", "log-shape-d", rows, log, unbounded["log-shape-d"]).kind == \
        NOT_REPRODUCED  # 1 of 9 steps falls visibly
    assert verdict_on(tmp_path, "nll-softmax", "log-shape-g", rows, log, unbounded["log-shape-g"]).kind == \
        REPRODUCED  # g rises every epoch: only the size of its rise tells it from the log
    once = _nll_log([1.39, 0.86] + [0.86] * 8, [0.67, 0.99] + [0.99] * 8)  # the log's whole change in one step
    assert verdict_on(tmp_path, "nll-softmax", "log-shape-d", *once).kind == NOT_REPRODUCED


def test_a_trend_needs_a_change_and_where_the_claim_says_so_its_direction_over_the_span(tmp_path):
    with pytest.raises(ValueError, match="min_change"):
        Trend("d_loss", "falls", from_epoch=1, min_change=0.0)
    with pytest.raises(ValueError, match="at must"):
        Trend("fid", "falls", from_epoch=1, epoch=20, at=(1, 20, 11), min_change=0.1)
    drift = [{"d_loss": 1.0 - 1e-4 * e} for e in range(1, 21)]  # falls every epoch, by nothing a reader sees
    assert verdict_on(tmp_path, "dcgan-xavier", "d-loss-falls", drift).kind == NOT_REPRODUCED
    # Ends 0.2 apart around epochs that swing with no direction: the ends and the slope pass, the rank test not.
    swing = [{"d_loss": 1.0 if e <= 3 else 0.8 if e == 20 else 0.85 + 0.1 * (e % 2)} for e in range(1, 21)]
    check = claim_of("dcgan-xavier", "d-loss-falls").check
    assert verdict_on(tmp_path, "dcgan-xavier", "d-loss-falls", swing).kind == NOT_REPRODUCED
    assert verdict_on(tmp_path, "dcgan-xavier", "d-loss-falls", swing,
                      check=dataclasses.replace(check, span=None)).kind == REPRODUCED


def test_getting_more_like_digits_is_a_trend_over_the_write_ups_three_pictures(tmp_path):
    variant = VARIANTS["dcgan-xavier"]
    assert {1, 11, 20} <= variant.claim_epochs  # runs score the pictures' epochs, whatever their schedule

    def fids(at_1: float, at_11: float, at_20: float) -> list[dict]:
        return [{"writeup_fid": {1: at_1, 11: at_11, 20: at_20}.get(e, math.nan)} for e in range(1, 21)]
    assert verdict_on(tmp_path, "dcgan-xavier", "digits-by-20", fids(400, 200, 100)).kind == REPRODUCED
    assert verdict_on(tmp_path, "dcgan-xavier", "digits-by-20", fids(400, 420, 100)).kind == NOT_REPRODUCED
    assert verdict_on(tmp_path, "dcgan-xavier", "digits-by-20", fids(400, 380, 360)).kind == NOT_REPRODUCED
    unscored = verdict_on(tmp_path, "dcgan-xavier", "digits-by-20", fids(400, math.nan, 100))
    assert unscored.kind == NOT_CHECKABLE and "not recorded at epoch 11" in unscored.reason


def test_a_dip_is_a_fall_to_a_low_inside_the_span_and_a_rise_after_it(tmp_path):
    def fail_rates(low_epoch: int, low: float) -> list[dict]:
        return [{"fail_real_pct": low if e == low_epoch else 25.0} for e in range(1, 21)]
    assert verdict_on(tmp_path, "infogan", "fail-rate-dip", fail_rates(10, 1.5)).kind == REPRODUCED
    assert verdict_on(tmp_path, "infogan", "fail-rate-dip", fail_rates(18, 1.5)).kind == NOT_REPRODUCED  # too late
    assert verdict_on(tmp_path, "infogan", "fail-rate-dip", fail_rates(10, 20.0)).kind == NOT_REPRODUCED  # shallow
    no_rise = [{"fail_real_pct": max(25.0 - 2.5 * e, 1.5)} for e in range(1, 21)]  # falls, never rises again
    assert verdict_on(tmp_path, "infogan", "fail-rate-dip", no_rise).kind == NOT_REPRODUCED


def test_balance_is_convergence_not_a_level(tmp_path):
    author, _ = author_rows("infogan")
    shifted = [{**row, "g_loss": row["g_loss"] + 5.0} for row in author]  # the same curve at another level
    assert verdict_on(tmp_path, "infogan", "balance-g", shifted).kind == REPRODUCED
    drifting = [{**row, "g_loss": row["g_loss"] + 0.05 * max(e - 30, 0)} for e, row in enumerate(author, start=1)]
    assert verdict_on(tmp_path, "infogan", "balance-g", drifting).kind == NOT_REPRODUCED
    flat = [{"g_loss": 0.83} for _ in range(40)]  # never moved: nothing converged
    assert verdict_on(tmp_path, "infogan", "balance-g", flat).kind == NOT_REPRODUCED


def test_named_classes_count_only_among_digits(tmp_path):
    digits = {**_digit_scores(True), **{f"class_{c}": 0.1 for c in range(10)}}
    noise = {**digits, **_digit_scores(False)}  # every class predicted, on noise
    assert verdict_on(tmp_path, "udacity", "final-digits", [digits] * 100).kind == REPRODUCED
    verdict = verdict_on(tmp_path, "udacity", "final-digits", [noise] * 100)
    assert verdict.kind == NOT_REPRODUCED and "digit-like not met" in verdict.values[0][1]


def test_the_infogan_early_grids_are_not_digits(tmp_path):
    noise, digits = _digit_scores(False), _digit_scores(True)
    for key, epochs in (("checkerboard-5", 5), ("blobs-10", 10)):
        assert verdict_on(tmp_path, "infogan", key, [noise] * epochs).kind == REPRODUCED
        assert verdict_on(tmp_path, "infogan", key, [digits] * epochs).kind == NOT_REPRODUCED


def test_overfitting_is_read_as_the_memorisation_ratio_falling_after_epoch_80(tmp_path):
    def distances(sample: Callable[[int], float], train: Callable[[int], float]) -> list[dict]:
        return [{"nn_median": sample(e), "nn_median_train": train(e)} for e in range(1, 301)]
    closer = distances(lambda e: 6.0 - 0.01 * max(e - 80, 0), lambda e: 6.0)
    assert verdict_on(tmp_path, "torch7-mlp", "overfit-80", closer).kind == REPRODUCED
    same_ratio = distances(lambda e: 6.0 - 0.01 * e, lambda e: 6.0 - 0.01 * e)  # no closer to the training set
    assert verdict_on(tmp_path, "torch7-mlp", "overfit-80", same_ratio).kind == NOT_REPRODUCED
    older = verdict_on(tmp_path, "torch7-mlp", "overfit-80", [{"nn_median": 5.0}] * 300)
    assert older.kind == NOT_CHECKABLE and "nn_median_train was not recorded" in older.reason


def test_the_he_comparison_names_the_arm_that_checks_it():
    claim = claim_of("dcgan-xavier", "xavier-beats-he")
    assert claim.check is None and "--alt he-init" in claim.checkable and "which variants differ" in claim.checkable
    assert judge(claim, [], VARIANTS["dcgan-xavier"]).kind == NOT_CHECKABLE


def test_nothing_about_the_generator_s_images_is_conditional_on_the_assumed_optimizer():
    assert not claim_of("nll-softmax", "decent-images").assumes
    assert all(c.assumes for c in VARIANTS["nll-softmax"].claims if c.key.startswith("log-"))


def test_every_check_reads_as_one_sentence_in_study_show():
    for variant in VARIANTS.values():
        for claim in variant.claims:
            sentence = describe_check(claim.check, variant)
            assert sentence.endswith(".") and not re.search(r"\.\s+[A-Z]", sentence[:-1]), sentence
            assert not re.search(r"\w=", sentence) and type(claim.check).__name__ + "(" not in sentence, sentence
            if claim.check is not None:
                assert str(variant.claim_epoch(claim.check)) in sentence and "passes when" in sentence, sentence
    shown = json.loads(runner.invoke(cli.app, ["show", "dcgan-xavier", "--json"]).stdout)
    check = next(c["check"] for c in shown["claims"] if c["key"] == "digits-by-20")
    assert check.startswith("Reads writeup_fid at epochs 1, 11 and 20; passes when it falls by at least 16%")


# The digit criterion on real digits, noise and untrained generators --------------------------------------------------
@pytest.fixture(scope="module")
def real_reference(real_panel, tmp_path_factory):
    panel, root = real_panel
    results = copy_of(panel, tmp_path_factory.mktemp("real-reference") / "results")
    references = load_references(results, root, "mnist", N, load_panel(results, "mnist"))
    reference, calibration = references[0], ensure_calibration(results, root, references)[0]
    held_out = unit_images(partition_sets(root, "mnist", "test-thirds").train_images[N:2 * N])
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
    """On the small evaluators the tests build (4 epochs, n = 500): the negatives fail every level and every label
    is right. Of the positives only speckled digits must pass here: these weaker classifiers read 2-px-shifted digits
    less surely (inception score 0.54-0.56 of real digits', against 0.69-0.71 on the published panel, where the
    next test judges them)."""
    _, calibration, _ = real_reference
    for name, control in CONTROLS.items():
        row = row_named(calibration, name)
        for level in DIGIT_LEVELS:
            holds, measured = digits_hold(level, row, calibration)
            assert not holds or control.passes, (name, level, measured)
        label = failure_label(row, calibration)
        assert (label.split(":")[0] if label else None) == control.failure, (name, label)
    assert all(digits_hold(level, row_named(calibration, "speckled digits"), calibration)[0] for level in DIGIT_LEVELS)
    assert failure_label(row_named(calibration, "real"), calibration) is None
    assert failure_label(row_named(calibration, "uniform noise"), calibration).startswith("undertrained")
    assert {c.failure for c in CONTROLS.values()} == {None, "collapse"} and \
        sum(not c.passes for c in CONTROLS.values()) >= 7  # the issue's negatives are all there


def test_a_handful_of_classes_is_collapse_among_digits_and_undertrained_in_noise():
    calibration = [{"name": "real", "kind": "ladder", "fid": 10.0, "precision": 0.6, "coverage": 0.6},
                   {"name": "uniform noise", "kind": "ladder", "fid": 1000.0}]
    ones = {"fid": 800.0, "classes_covered": 1, "precision": 0.8, "coverage": 0.06, "self_nn_ratio": 0.5}
    noise = {**ones, "coverage": 0.002}
    inside_outliers = {**noise, "precision": 1.0}  # noise inside a few outliers' wide neighbourhoods: still noise
    assert failure_label(ones, calibration) == "collapse: 1 classes covered"
    assert failure_label(noise, calibration).startswith("undertrained: FID 800")
    assert failure_label(inside_outliers, calibration).startswith("undertrained")
    assert failure_label({**noise, "self_nn_ratio": 0.1}, calibration).startswith("collapse: samples repeat")
    assert failure_label(noise, None) == "collapse: 1 classes covered (no calibration to tell it from noise)"


# Every control judged right by every evaluator of the published study's panel, at its n = 3,000: the cuts were
# first set on the small evaluators the tests build, where precision told half noise from digits; on the real
# panel it does not (uniform noise scores precision 0.99-1.0), which this test found. One miss is known and kept
# visible: evaluator 2 reads most 2-px-shifted 9s as 7s (9s are 1.4% of its predictions), so the set covers 9
# classes there and is not digit-like to it. The second architecture (an MLP, which scores the ladder and the
# controls only) misses the same set the same way: it finds 9 classes among the shifted digits. A new miss, or one
# of these gone, fails the test.
PUBLISHED_PANEL = Path(__file__).resolve().parents[1] / "docs" / "study" / "results" / "evaluators"
KNOWN_MISSES = {("seed2", "shifted 2 px", "digit-like"), ("mlp-seed0", "shifted 2 px", "digit-like")}


def test_every_control_is_judged_right_by_every_evaluator_of_the_published_panel():
    misses = set()
    for member in [f"seed{seed}" for seed in PANEL_SEEDS] + [f"{CROSS_CHECK_ARCHITECTURE}-seed{PRIMARY_SEED}"]:
        calibration = json.loads((PUBLISHED_PANEL / f"mnist-test-thirds-{member}" /
                                  "calibration-n3000.json").read_text())["rows"]
        for name, control in CONTROLS.items():
            row = row_named(calibration, name)
            misses |= {(member, name, level) for level in DIGIT_LEVELS
                       if digits_hold(level, row, calibration)[0] != (level in control.passes)}
            label = failure_label(row, calibration)
            if (label.split(":")[0] if label else None) != control.failure:
                misses.add((member, name, "failure label"))
        assert failure_label(row_named(calibration, "real"), calibration) is None
        assert failure_label(row_named(calibration, "uniform noise"), calibration).startswith("undertrained")
    assert misses == KNOWN_MISSES


# The step-matched schedule ------------------------------------------------------------------------------------------
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
                                         fixes=frozenset({"batch-1024"})), schedule="steps")
    whole = train_run(spec)
    metrics = load_runs(tmp_path / "whole")[0][0].metrics
    assert list(metrics["steps"]) == [math.ceil(60_000 / 1024)] * 3 and list(metrics["images"]) == [1100] * 3
    manifest = whole.folder.read_manifest()
    assert manifest.schedule == "steps" and manifest.steps_per_epoch == 59 and whole.run_id.endswith("-steps__seed0")
    cut = dataclasses.replace(spec, results=tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        train_run(cut, InterruptAt(epoch=2, step=30))
    train_run(cut)
    assert cut.folder.metrics_path.read_bytes() == whole.folder.metrics_path.read_bytes()


def test_step_matched_verdicts_name_their_run_set(data_root, tmp_path):
    spec = dataclasses.replace(make_spec("nll-softmax", data_root, tmp_path, epochs=1, limit=300), schedule="steps")
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
        "dcgan-xavier": ["batch-64", "he-init"]}
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
