"""Verdicts on the write-ups' claims: each claim's check applied to the runs of one arm, at the epoch the claim
speaks of, under the protocol the runs trained with.

Kinds: reproduced (every seed satisfies the check), partly (some), not reproduced (none), not checkable (and why:
the runs ended before the claim's epoch, a score was not measured, no check exists), contradicted by the code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd

from harness.panel import DIGIT_SCORES, WRITEUP_PREFIX
from harness.runs import Run, row_named, saturated_precision
from harness.scoring import read_calibration
from harness.variant import Band, Check, Claim, Classes, Digits, Printed, Share, Similar, Trend, Variant

REPRODUCED, NOT_REPRODUCED, PARTLY, NOT_CHECKABLE = "reproduced", "not reproduced", "partly", "not checkable"
CONTRADICTED = "contradicted by the code"
PRINTED_TAIL = 0.025  # a printed value holds inside the central 95% of the same printed value over seeds


@dataclass(frozen=True)
class DigitLevel:
    """A digit criterion: FID below a calibration row's, every class covered, confident predictions, and precision
    and coverage at least these shares of the real row's (same evaluator and n). FID alone passes half real, half
    noise (FID averages over the set) and a handful of memorised digits; precision fails the first (half the samples
    lie off the digits), coverage the second (a handful of points covers few real digits' neighbourhoods), the ten
    classes a set that drops digits. The shares are set by the control rows (scoring.CONTROLS): every negative fails,
    every positive passes, with a margin of at least 0.05 on the evaluator the tests build."""

    row: str
    classes: int
    confidence: float
    precision: float
    coverage: float


DIGIT_LEVELS = {"digit-like": DigitLevel("blur sigma 2", 10, 0.5, precision=0.6, coverage=0.15),
                "recognisable": DigitLevel("noise sigma 0.4", 10, 0.7, precision=0.8, coverage=0.25)}


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    kind: str
    values: tuple[tuple[int, str], ...]  # (seed, what was measured) of the runs it was measured on
    reason: str
    epoch: int | None = None  # the epoch it was judged at
    protocol: str = ""  # the runs' protocol


class Unmeasurable(Exception):
    """Why a check cannot be measured on a run; the message becomes the verdict's reason."""


def _rows(run: Run, epoch: int, table: str = "metrics") -> pd.DataFrame:
    if run.epochs < epoch:
        raise Unmeasurable(f"the run ended at epoch {run.epochs} of {epoch}")
    frame = run.metrics if table == "metrics" else run.log
    rows = frame[frame["epoch"] == epoch] if not frame.empty else frame
    if rows.empty:
        raise Unmeasurable(f"nothing was recorded at epoch {epoch}")
    return rows


def _value(run: Run, column: str, epoch: int) -> float:
    rows = _rows(run, epoch)
    value = float(rows[column].iloc[0]) if column in rows else math.nan
    if math.isnan(value):
        raise Unmeasurable(f"{column} was not measured at epoch {epoch} (scoring off or not due)")
    return value


def _series(run: Run, column: str, first: int, last: int, table: str = "metrics") -> pd.Series:
    """Per-epoch values from ``first`` to ``last``; several printed steps of one epoch are averaged."""
    _rows(run, last, table)
    frame = run.metrics if table == "metrics" else run.log
    window = frame[(frame["epoch"] >= first) & (frame["epoch"] <= last)]
    if column not in window or window[column].isna().all():
        raise Unmeasurable(f"{column} was not recorded from epoch {first} to {last}")
    return window.groupby("epoch")[column].mean()


def ceiling_row(level: str, calibration: list[dict], shift: int = 0) -> dict:
    """The calibration row whose FID a digits level must beat: the level's own rung, or the rung ``shift`` steps
    looser (positive: a higher FID) or stricter (negative) on this evaluator's ladder, ordered by FID."""
    rungs = sorted((row for row in calibration if row["kind"] == "ladder"), key=lambda row: row["fid"])
    index = next(i for i, row in enumerate(rungs) if row["name"] == DIGIT_LEVELS[level].row)
    return rungs[min(max(index + shift, 0), len(rungs) - 1)]


def digits_hold(level: str, row: Mapping[str, float], calibration: list[dict] | None,
                shift: int = 0) -> tuple[bool, str]:
    """The digit criterion on one scored sample set (see DigitLevel), against the calibration rows of the same
    evaluator and n; ``shift`` moves its FID cut along the ladder (see ceiling_row)."""
    if calibration is None:
        raise Unmeasurable("no calibration rows at the runs' n (run `study calibrate --n N`)")
    criterion = DIGIT_LEVELS[level]
    ceiling = float(ceiling_row(level, calibration, shift)["fid"])
    real = row_named(calibration, "real")
    precision, coverage = row["precision"] / real["precision"], row["coverage"] / real["coverage"]
    measured = (f"FID {row['fid']:.4g} (< {ceiling:.4g}?), {int(row['classes_covered'])} classes, confidence "
                f"{row['confidence']:.2f}, precision {precision:.2f} and coverage {coverage:.2f} of real digits' "
                f"(>= {criterion.precision}, {criterion.coverage}?)")
    holds = row["fid"] < ceiling and row["classes_covered"] >= criterion.classes and \
        row["confidence"] >= criterion.confidence and precision >= criterion.precision and \
        coverage >= criterion.coverage and not saturated_precision(row)
    return bool(holds), measured


def _calibration(run: Run) -> list[dict] | None:
    """The calibration rows of the evaluator whose scores the run holds (see Run.judged_by), at the run's n."""
    evaluation, sha256 = run.manifest.evaluation, run.evaluator_sha256
    if not evaluation or sha256 is None:
        return None
    return read_calibration(run.folder.results, run.manifest.data.dataset, evaluation["protocol"],
                            run.evaluator_seed, sha256, evaluation["n_fake"])


def _measure_band(check: Band, run: Run, epoch: int) -> tuple[bool, str]:
    values = {column: _value(run, column, epoch) for column in check.columns}
    inside = all(check.low <= v <= check.high for v in values.values())
    away = all(not check.low <= v <= check.high for v in values.values())
    return inside if check.expect == "inside" else away, ", ".join(f"{c} {v:.4g}" for c, v in values.items())


def _measure_trend(check: Trend, run: Run, epoch: int) -> tuple[bool, str]:
    series = _series(run, check.column, check.from_epoch, epoch, check.table).dropna()
    if len(series) < 2:
        raise Unmeasurable(f"{check.column} needs two epochs from {check.from_epoch} to {epoch}")
    slope = float(np.polyfit(series.index.to_numpy(float), series.to_numpy(float), 1)[0])
    change = float(series.iloc[-1] - series.iloc[0])
    sign = -1 if check.direction == "falls" else 1
    holds = sign * slope > 0 and sign * change >= check.min_change
    return holds, f"{check.column} {series.iloc[0]:.4g} -> {series.iloc[-1]:.4g} (slope {slope:+.3g}/epoch)"


def _measure_similar(check: Similar, run: Run, epoch: int) -> tuple[bool, str]:
    a, b = _value(run, check.first, epoch), _value(run, check.second, epoch)
    relative = abs(a - b) / max((abs(a) + abs(b)) / 2, 1e-12)
    return relative <= check.tolerance, f"{check.first} {a:.4g}, {check.second} {b:.4g} ({relative:.0%} apart)"


def _measure_share(check: Share, run: Run, epoch: int) -> tuple[bool, str]:
    series = _series(run, check.column, check.from_epoch, epoch).dropna()
    share = float(((series >= check.low) & (series <= check.high)).mean())
    return share >= check.at_least, f"{share:.0%} of epochs {check.from_epoch}-{epoch} in [{check.low}, {check.high}]"


def _measure_digits(check: Digits, run: Run, epoch: int, shift: int = 0) -> tuple[bool, str]:
    rows = _rows(run, epoch)
    prefix = WRITEUP_PREFIX if check.sampling == "writeup" else ""
    row = {c: float(rows[prefix + c].iloc[0]) for c in DIGIT_SCORES if prefix + c in rows}
    if len(row) < len(DIGIT_SCORES) or any(math.isnan(v) for v in row.values()):
        raise Unmeasurable(f"the samples were not scored at epoch {epoch} (scoring off or not due)")
    return digits_hold(check.level, row, _calibration(run), shift)


def _measure_classes(check: Classes, run: Run, epoch: int) -> tuple[bool, str]:
    shares = {c: _value(run, f"class_{c}", epoch) for c in check.classes}
    return all(s >= check.min_share for s in shares.values()), ", ".join(f"{c}: {s:.1%}" for c, s in shares.items())


MEASURES: dict[type, Callable] = {Band: _measure_band, Trend: _measure_trend, Similar: _measure_similar,
                                  Share: _measure_share, Digits: _measure_digits, Classes: _measure_classes}


def _judge_printed(check: Printed, runs: list[Run], epoch: int) -> tuple[str, tuple, str]:
    """One printed batch value against the spread of the same printed value over seeds and nearby epochs."""
    exact, pooled = [], []
    for run in runs:
        try:
            rows = _rows(run, epoch, "writeup_log")
        except Unmeasurable as why:
            return NOT_CHECKABLE, (), str(why)
        at_step = rows[rows["step"] == check.step]
        if at_step.empty:
            return NOT_CHECKABLE, (), (f"no printed step {check.step} in epoch {epoch}: an epoch of these runs has "
                                       f"{int(run.metrics['steps'].iloc[-1])} steps (train with --protocol steps)")
        exact.append((run.seed, f"{float(at_step[check.column].iloc[0]):.4g}"))
        log = run.log
        pooled += log[(log["epoch"] > epoch - check.nearby) & (log["epoch"] <= epoch)][check.column].dropna().tolist()
    quantile = printed_quantile(check.value, pooled)
    kind = REPRODUCED if PRINTED_TAIL <= quantile <= 1 - PRINTED_TAIL else NOT_REPRODUCED
    where = "inside" if kind == REPRODUCED else "outside"
    return kind, tuple(exact), (f"{check.value} sits at quantile {quantile:.2f} of the {len(pooled)} printed values "
                                f"of epochs {max(1, epoch - check.nearby + 1)}-{epoch} over {len(runs)} seeds, "
                                f"{where} their central {1 - 2 * PRINTED_TAIL:.0%}")


def printed_quantile(value: float, pooled: list[float]) -> float:
    """The share of the pooled values below ``value``, ties counted half: unlike the pooled min-max, which widens
    with every seed added, the quantile of a value drawn from the same distribution stays uniform."""
    data = np.asarray(pooled, dtype=float)
    return float(((data < value).sum() + 0.5 * (data == value).sum()) / len(data))


def judge(claim: Claim, runs: list[Run], variant: Variant, shift: int = 0) -> Verdict:
    """The verdict on one claim from the runs of one arm (its seeds); ``shift`` moves a digits level's FID cut
    that many rungs along the ladder (how the verdicts move)."""
    protocol = runs[0].protocol if runs else ""
    if claim.contradicted:
        return Verdict(claim, CONTRADICTED, (), claim.contradicted, None, protocol)
    if claim.check is None:
        return Verdict(claim, NOT_CHECKABLE, (), claim.checkable, None, protocol)
    if not runs:
        return Verdict(claim, NOT_CHECKABLE, (), "no faithful runs", None, protocol)
    epoch = variant.claim_epoch(claim.check)
    assumption = f"; conditional on {claim.assumes}" if claim.assumes else ""
    runs = sorted(runs, key=lambda r: r.seed)
    if isinstance(claim.check, Printed):
        kind, values, reason = _judge_printed(claim.check, runs, epoch)
        return Verdict(claim, kind, values, reason + (assumption if kind != NOT_CHECKABLE else ""), epoch, protocol)
    measured, reasons, passed = [], [], 0
    for run in runs:
        try:
            measure = MEASURES[type(claim.check)]
            holds, value = measure(claim.check, run, epoch, shift) if isinstance(claim.check, Digits) else \
                measure(claim.check, run, epoch)
        except Unmeasurable as why:
            reasons.append(str(why))
            continue
        measured.append((run.seed, value))
        passed += holds
    if not measured:
        return Verdict(claim, NOT_CHECKABLE, (), reasons[0], epoch, protocol)
    kind = REPRODUCED if passed == len(measured) else NOT_REPRODUCED if passed == 0 else PARTLY
    return Verdict(claim, kind, tuple(measured),
                   f"{passed} of {len(measured)} seeds satisfy the claim at epoch {epoch}{assumption}", epoch, protocol)


def describe_check(check: Check | None, variant: Variant) -> str:
    """The check as `study show` prints it, with the epoch it is judged at."""
    if check is None:
        return "-"
    fields = ", ".join(f"{k}={v}" for k, v in vars(check).items() if k != "epoch")
    return f"{type(check).__name__}({fields}) at epoch {variant.claim_epoch(check)}"
