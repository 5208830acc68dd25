"""Verdicts on the write-ups' claims: each claim's check applied to the runs of one arm, at the epoch the claim
speaks of, under the schedule the runs trained with.

Kinds: reproduced (every seed satisfies the check), partly (some), not reproduced (none), not checkable (and why:
the runs ended before the claim's epoch, a score was not measured, no check exists), contradicted by the code.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from harness.panel import DIGIT_SCORES, WRITEUP_PREFIX
from harness.run_folder import EVAL_COLUMNS, WRITEUP_COLUMNS
from harness.runs import Run, row_named
from harness.scoring import read_calibration
from harness.variant import (
    Band,
    Check,
    Claim,
    Classes,
    Digits,
    Dip,
    Printed,
    Ranked,
    Settles,
    Share,
    Similar,
    Steps,
    Trend,
    Variant,
)

REPRODUCED, NOT_REPRODUCED, PARTLY, NOT_CHECKABLE = "reproduced", "not reproduced", "partly", "not checkable"
CONTRADICTED = "contradicted by the code"
PRINTED_TAIL = 0.025  # a printed value holds inside the central 95% of the same printed value over seeds


@dataclass(frozen=True)
class DigitLevel:
    """A digit criterion: FID below a calibration row's, every class covered, confident predictions, and inception
    score and coverage at least these shares of the real row's (same evaluator and n). FID alone passes half real,
    half noise (FID averages over the set) and a handful of memorised digits; the inception score fails the first
    (each noise image is a weak vote for one class), coverage the second (a handful of points covers few real
    digits' neighbourhoods), the ten classes a set that drops digits. Precision is not read: the evaluators' features
    put uniform noise inside the neighbourhoods of outlying real digits (precision 0.99-1.0 for uniform noise, 0.93-0.94
    for half noise, against 0.87-0.89 for real digits, at n = 3,000 on each evaluator of the published study's
    panel), so it passed half noise and failed 2-px-shifted digits. The shares are set by the control rows
    (scoring.CONTROLS) on every panel member of the published study and on the small evaluators the tests build:
    half noise scores an inception score of 0.43-0.51 of real digits', shifted and GAN digits 0.69-0.72."""

    row: str
    classes: int
    confidence: float
    inception: float
    coverage: float


DIGIT_LEVELS = {"digit-like": DigitLevel("blur sigma 2", 10, 0.5, inception=0.6, coverage=0.15),
                "recognisable": DigitLevel("noise sigma 0.4", 10, 0.7, inception=0.6, coverage=0.25)}


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    kind: str
    values: tuple[tuple[int, str], ...]  # (seed, what was measured) of the runs it was measured on
    reason: str
    epoch: int | None = None  # the epoch it was judged at


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
    inception, coverage = row["inception_score"] / real["inception_score"], row["coverage"] / real["coverage"]
    measured = (f"FID {row['fid']:.4g} (< {ceiling:.4g}?), {int(row['classes_covered'])} classes, confidence "
                f"{row['confidence']:.2f}, inception score {inception:.2f} and coverage {coverage:.2f} of real "
                f"digits' (>= {criterion.inception}, {criterion.coverage}?)")
    holds = row["fid"] < ceiling and row["classes_covered"] >= criterion.classes and \
        row["confidence"] >= criterion.confidence and inception >= criterion.inception and \
        coverage >= criterion.coverage
    return bool(holds), measured


def _calibration(run: Run) -> list[dict] | None:
    """The calibration rows of the evaluator whose scores the run holds (see Run.judged_by), at the run's n."""
    key = run.calibration_key
    return read_calibration(run.folder.results, *key) if key is not None else None


def _measure_band(check: Band, run: Run, epoch: int) -> tuple[bool, str]:
    values = {column: _value(run, column, epoch) for column in check.columns}
    inside = all(check.low <= v <= check.high for v in values.values())
    away = all(not check.low <= v <= check.high for v in values.values())
    return inside if check.expect == "inside" else away, ", ".join(f"{c} {v:.4g}" for c, v in values.items())


def _trend_name(check: Trend) -> str:
    return f"{check.column} / {check.denominator}" if check.denominator else check.column


def _trend_series(check: Trend, run: Run, epoch: int) -> pd.Series:
    """The values a trend reads: every recorded epoch of its span, or only its ``at`` epochs; a ratio where it has a
    denominator."""
    series = _series(run, check.column, check.from_epoch, epoch, check.table)
    if check.denominator:
        series = series / _series(run, check.denominator, check.from_epoch, epoch, check.table)
    series = series.dropna()
    missing = [e for e in check.at if e not in series.index]
    if missing:
        raise Unmeasurable(f"{_trend_name(check)} was not recorded at epoch {missing[0]}")
    series = series.loc[list(check.at)] if check.at else series
    if len(series) < 2:
        raise Unmeasurable(f"{_trend_name(check)} needs two epochs from {check.from_epoch} to {epoch}")
    return series


def _span_agrees(span: Steps | Ranked, sign: int, series: pd.Series, scale: float) -> tuple[bool, str]:
    """Whether the direction holds over the span (see Steps, Ranked), and what was measured."""
    if isinstance(span, Steps):
        moves = sign * np.diff(series.to_numpy(float)) > span.resolution * scale
        return float(moves.mean()) >= span.share, f"{int(moves.sum())} of {len(moves)} steps in that direction"
    result = scipy.stats.kendalltau(series.index.to_numpy(float), series.to_numpy(float),
                                    alternative="greater" if sign > 0 else "less")
    tau, p = float(result.statistic), float(result.pvalue)
    return p < span.alpha, f"Kendall tau {tau:+.2f} (one-sided p {p:.2g})"


def _measure_trend(check: Trend, run: Run, epoch: int) -> tuple[bool, str]:
    series = _trend_series(check, run, epoch)
    start, end = float(series.iloc[0]), float(series.iloc[-1])
    sign = -1 if check.direction == "falls" else 1
    scale = max(abs(start), 1e-12) if check.relative else 1.0
    slope = float(np.polyfit(series.index.to_numpy(float), series.to_numpy(float), 1)[0])
    change = sign * (end - start) / scale  # in the claimed direction; relative: a fraction of the start
    holds = sign * slope > 0 and check.min_change <= change <= check.max_change
    measured = f"{_trend_name(check)} {start:.4g} -> {end:.4g} (slope {slope:+.3g}/epoch)"
    if check.span is None:
        return holds, measured
    agrees, how = _span_agrees(check.span, sign, series, scale)
    return holds and agrees, f"{measured}, {how}"


def _similar_measure(check: Similar, runs: list[Run], epoch: int) -> Callable:
    """The per-seed measure of ``check``: it holds each seed's gap between the two columns to how far two seeds'
    values of one column lie apart at the same epoch, over the nearby epochs, both columns and every seed pair that
    reaches ``epoch``, pooled (both signs of each pair, so the pool is centred on zero)."""
    first = max(1, epoch - check.nearby + 1)
    curves, reasons = [], []
    for run in runs:
        try:
            curves.append({c: _series(run, c, first, epoch) for c in (check.first, check.second)})
        except Unmeasurable as why:
            reasons.append(str(why))
    if len(curves) < 2:
        raise Unmeasurable(reasons[0] if not curves else
                           f"the seeds' spread needs at least 2 seeds that reach epoch {epoch}; 1 does")
    between = [value for a, b in itertools.permutations(curves, 2) for column in a
               for value in (a[column] - b[column]).dropna()]

    def measure(check: Similar, run: Run, epoch: int) -> tuple[bool, str]:
        gap = _value(run, check.first, epoch) - _value(run, check.second, epoch)
        quantile = printed_quantile(gap, between)
        return PRINTED_TAIL <= quantile <= 1 - PRINTED_TAIL, \
            f"{check.first} - {check.second} = {gap:+.4g}, at quantile {quantile:.2f} of two seeds' differences"
    return measure


def _measure_share(check: Share, run: Run, epoch: int) -> tuple[bool, str]:
    series = _series(run, check.column, check.from_epoch, epoch).dropna()
    share = float(((series >= check.low) & (series <= check.high)).mean())
    return share >= check.at_least, f"{share:.0%} of epochs {check.from_epoch}-{epoch} in [{check.low}, {check.high}]"


def _measure_dip(check: Dip, run: Run, epoch: int) -> tuple[bool, str]:
    series = _series(run, check.column, check.from_epoch, epoch).dropna()
    if len(series) < 3:
        raise Unmeasurable(f"{check.column} needs three epochs from {check.from_epoch} to {epoch}")
    lowest, low = int(series.idxmin()), float(series.min())
    start, end = float(series.iloc[0]), float(series.iloc[-1])
    holds = check.bottom[0] <= lowest <= check.bottom[1] and low <= min(start, end) - check.depth
    return holds, (f"{check.column} {start:.4g} at epoch {series.index[0]}, lowest {low:.4g} at epoch {lowest}, "
                   f"{end:.4g} at epoch {series.index[-1]}")


def _measure_settles(check: Settles, run: Run, epoch: int) -> tuple[bool, str]:
    whole = _series(run, check.column, 1, epoch).dropna()
    tail = whole[whole.index >= check.from_epoch]
    if len(tail) < 2:
        raise Unmeasurable(f"{check.column} needs two epochs from {check.from_epoch} to {epoch}")
    swing, settled = float(whole.max() - whole.min()), float(tail.max() - tail.min())
    share = settled / swing if swing > 0 else math.nan
    # A column that never moved has not converged to anything: it fails (share NaN).
    return share <= check.within, (f"{check.column} spans {settled:.3g} over epochs {check.from_epoch}-{epoch}, "
                                   f"{share:.0%} of its {swing:.3g} over epochs 1-{epoch}")


def _measure_digits(check: Digits, run: Run, epoch: int, shift: int = 0) -> tuple[bool, str]:
    rows = _rows(run, epoch)
    prefix = WRITEUP_PREFIX if check.sampling == "writeup" else ""
    if prefix + "inception_score" not in rows:
        raise Unmeasurable("the inception score, which a digits level reads, is not recorded for samples drawn the "
                           "write-up's way")
    row = {c: float(rows[prefix + c].iloc[0]) for c in DIGIT_SCORES if prefix + c in rows}
    if len(row) < len(DIGIT_SCORES) or any(math.isnan(v) for v in row.values()):
        raise Unmeasurable(f"the samples were not scored at epoch {epoch} (scoring off or not due)")
    return digits_hold(check.level, row, _calibration(run), shift)


def _measure_digit_level(check: Digits, run: Run, epoch: int, shift: int = 0) -> tuple[bool, str]:
    """The digit level met, or not met where the claim says the samples are not digits yet."""
    holds, measured = _measure_digits(check, run, epoch, shift)
    return holds == (check.expect == "met"), measured


def _measure_classes(check: Classes, run: Run, epoch: int, shift: int = 0) -> tuple[bool, str]:
    shares = {c: _value(run, f"class_{c}", epoch) for c in check.classes}
    digits, scores = _measure_digits(Digits(check.level), run, epoch, shift)
    present = all(s >= check.min_share for s in shares.values())
    return present and digits, (", ".join(f"{c}: {s:.1%}" for c, s in shares.items()) +
                                f"; {check.level} {'met' if digits else 'not met'}: {scores}")


MEASURES: dict[type, Callable] = {Band: _measure_band, Trend: _measure_trend, Share: _measure_share, Dip: _measure_dip,
                                  Settles: _measure_settles, Digits: _measure_digit_level, Classes: _measure_classes}


def _printed_values(check: Printed, run: Run, epoch: int) -> tuple[float, list[float]]:
    """The run's value at the printed step of ``epoch`` (or that epoch's mean), and its values of the nearby
    epochs that the write-up's value is held against."""
    rows = _rows(run, epoch, "metrics" if check.step is None else "writeup_log")
    if check.step is not None:
        rows = rows[rows["step"] == check.step]
        if rows.empty:
            raise Unmeasurable(f"no printed step {check.step} in epoch {epoch}: {_epoch_steps(run)} (train with "
                               f"--schedule steps)")
    value = float(rows[check.column].iloc[0]) if check.column in rows else math.nan
    if math.isnan(value):
        raise Unmeasurable(f"{check.column} was not recorded at epoch {epoch}")
    return value, _nearby_values(run, check.column, epoch, check.nearby,
                                 "metrics" if check.step is None else "writeup_log")


def _nearby_values(run: Run, column: str, epoch: int, nearby: int, table: str = "metrics") -> list[float]:
    """The run's values of ``column`` over the ``nearby`` epochs up to ``epoch`` (every printed step of them)."""
    _rows(run, epoch, table)  # the run reached the epoch and recorded it
    frame = run.metrics if table == "metrics" else run.log
    window = frame[(frame["epoch"] > epoch - nearby) & (frame["epoch"] <= epoch)]
    values = window[column].dropna().tolist() if column in window else []
    if not values:
        raise Unmeasurable(f"{column} was not recorded in epochs {max(1, epoch - nearby + 1)}-{epoch}")
    return values


def _epoch_steps(run: Run) -> str:
    """How many steps an epoch of the run has, as its metrics record (a run of an older format may not)."""
    steps = run.metrics["steps"].dropna() if "steps" in run.metrics else pd.Series(dtype=float)
    return f"an epoch of these runs has {int(steps.iloc[-1])} steps" if len(steps) else \
        "these runs record no steps per epoch"


def _judge_printed(check: Printed, runs: list[Run], epoch: int) -> tuple[str, tuple, str]:
    """One printed value against the spread of the same printed value over seeds and nearby epochs."""
    exact, pooled = [], []
    for run in runs:
        try:
            value, nearby = _printed_values(check, run, epoch)
        except Unmeasurable as why:
            return NOT_CHECKABLE, (), str(why)
        exact.append((run.seed, f"{value:.4g}"))
        pooled += nearby
    quantile = printed_quantile(check.value, pooled)
    kind = REPRODUCED if PRINTED_TAIL <= quantile <= 1 - PRINTED_TAIL else NOT_REPRODUCED
    where = "inside" if kind == REPRODUCED else "outside"
    return kind, tuple(exact), (f"{check.value} sits at quantile {quantile:.2f} of the {len(pooled)} "
                                f"{_printed_what(check)} of epochs {_nearby(check, epoch)} over {len(runs)} seeds, "
                                f"{where} their central {1 - 2 * PRINTED_TAIL:.0%}")


def _printed_what(check: Printed) -> str:
    return "epoch means" if check.step is None else "printed values"


def _nearby(check: Printed | Similar, epoch: int) -> str:
    return f"{max(1, epoch - check.nearby + 1)}-{epoch}"


def printed_quantile(value: float, pooled: list[float]) -> float:
    """The share of the pooled values below ``value``, ties counted half: unlike the pooled min-max, which widens
    with every seed added, the quantile of a value drawn from the same distribution stays uniform."""
    data = np.asarray(pooled, dtype=float)
    return float(((data < value).sum() + 0.5 * (data == value).sum()) / len(data))


def judge(claim: Claim, runs: list[Run], variant: Variant, shift: int = 0) -> Verdict:
    """The verdict on one claim from the runs of one arm (its seeds); ``shift`` moves a digits level's FID cut
    that many rungs along the ladder (how the verdicts move)."""
    if claim.contradicted:
        return Verdict(claim, CONTRADICTED, (), claim.contradicted)
    if claim.check is None:
        return Verdict(claim, NOT_CHECKABLE, (), claim.checkable)
    if not runs:
        return Verdict(claim, NOT_CHECKABLE, (), "no faithful runs")
    epoch = variant.claim_epoch(claim.check)
    assumption = f"; conditional on {claim.assumes}" if claim.assumes else ""
    runs = sorted(runs, key=lambda r: r.seed)
    if isinstance(claim.check, Printed):
        kind, values, reason = _judge_printed(claim.check, runs, epoch)
        return Verdict(claim, kind, values, reason + (assumption if kind != NOT_CHECKABLE else ""), epoch)
    if isinstance(claim.check, Similar):
        try:
            measure = _similar_measure(claim.check, runs, epoch)
        except Unmeasurable as why:
            return Verdict(claim, NOT_CHECKABLE, (), str(why), epoch)
    else:
        measure = MEASURES[type(claim.check)]
    measured, reasons, passed = [], [], 0
    for run in runs:
        try:
            moves_with_cuts = isinstance(claim.check, (Digits, Classes))  # the checks that read a digits level
            holds, value = measure(claim.check, run, epoch, shift) if moves_with_cuts else \
                measure(claim.check, run, epoch)
        except Unmeasurable as why:
            reasons.append(str(why))
            continue
        measured.append((run.seed, value))
        passed += holds
    if not measured:
        return Verdict(claim, NOT_CHECKABLE, (), reasons[0], epoch)
    kind = REPRODUCED if passed == len(measured) else NOT_REPRODUCED if passed == 0 else PARTLY
    return Verdict(claim, kind, tuple(measured),
                   f"{passed} of {len(measured)} seeds satisfy the claim at epoch {epoch}{assumption}", epoch)


def describe_check(check: Check | None, variant: Variant) -> str:
    """The check in one sentence, as `study show` prints it: what is measured, at which epoch, what passes."""
    if check is None:
        return "No run can check this claim on its own; the claim says how it is judged."
    return DESCRIBERS[type(check)](check, variant.claim_epoch(check))


def describe_runs(claim: Claim, variant: Variant) -> str:
    """Which runs a claim needs, as `study show` prints it: the arm whose runs reach the claim's epoch at their own
    length, and what else they must have."""
    if claim.contradicted:
        return "none: the code contradicts it"
    if claim.check is None:
        return "none: no run checks it on its own (see check)"
    epoch = variant.claim_epoch(claim.check)
    reading = variant.reading_for(epoch)
    if reading is None:
        runs = f"faithful runs of at least {epoch} epochs (`study run {variant.name} --epochs {epoch}`)"
    elif reading:
        alternative = next(iter(reading))
        runs = (f"the --alt {alternative} runs, which reach epoch {epoch} (`study run {variant.name} --alt "
                f"{alternative}`; `study run --all` trains them)")
    else:
        runs = f"the faithful runs (`study run {variant.name}`), at epoch {epoch} of their {variant.recipe.epochs}"
    needs = ["scored (not --eval-every 0)"] if reads_scores(claim.check) else []
    if isinstance(claim.check, Printed) and claim.check.step is not None:
        needs.append("with the original's steps per epoch (the train split's 60,000 images, or --schedule steps)")
    return runs + "".join(f", {need}" for need in needs)


SCORED_COLUMNS = frozenset(EVAL_COLUMNS + WRITEUP_COLUMNS)


def reads_scores(check: Check) -> bool:
    """Whether a check reads what scoring measures (not the training statistics alone)."""
    if isinstance(check, (Digits, Classes)):
        return True
    if isinstance(check, Band):
        columns: tuple[str, ...] = check.columns
    elif isinstance(check, Similar):
        columns = (check.first, check.second)
    elif isinstance(check, Trend):
        columns = (check.column, check.denominator) if check.denominator else (check.column,)
    else:
        columns = (check.column,)
    return any(column in SCORED_COLUMNS for column in columns)


def _listed(items: Sequence[object]) -> str:
    words = [str(item) for item in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def level_words(level: str) -> str:
    """A digit level with every threshold it applies, in words."""
    criterion = DIGIT_LEVELS[level]
    return (f"the {level} level (FID below the '{criterion.row}' calibration row's, {criterion.classes} classes, "
            f"mean top-class probability at least {criterion.confidence}, inception score and coverage at least "
            f"{criterion.inception} and {criterion.coverage} of real digits')")


def _describe_band(check: Band, epoch: int) -> str:
    each = "it lies" if len(check.columns) == 1 else "each lies"
    return f"Reads {_listed(check.columns)} at epoch {epoch}; passes when {each} {check.expect} " \
           f"[{check.low:g}, {check.high:g}]."


def _trend_change(check: Trend) -> str:
    if check.relative:
        size = f"at least {check.min_change:.0%}" if math.isinf(check.max_change) else \
            f"{check.min_change:.0%} to {check.max_change:.0%}"
        return f"{size} of its epoch-{check.from_epoch} value"
    return f"at least {check.min_change:g}" if math.isinf(check.max_change) else \
        f"{check.min_change:g} to {check.max_change:g}"


def _trend_span(check: Trend) -> str:
    if isinstance(check.span, Steps):
        unit = f"{check.span.resolution:.0%} of that value" if check.relative else f"{check.span.resolution:g}"
        steps = f"every step between the epochs read {check.direction}" if check.span.share >= 1 else \
            f"at least {check.span.share:.0%} of the steps between the epochs read {check.direction.removesuffix('s')}"
        return f", and {steps} by more than {unit}"
    if isinstance(check.span, Ranked):
        sign = "negative" if check.direction == "falls" else "positive"
        return f", and Kendall's tau of the values with the epoch is {sign} at one-sided p < {check.span.alpha:g}"
    return ""


def _describe_trend(check: Trend, epoch: int) -> str:
    printed = " as the write-up printed it" if check.table == "writeup_log" else ""
    epochs = f"at epochs {_listed(check.at)}" if check.at else \
        f"at each epoch recorded from {check.from_epoch} to {epoch}"
    slope = "negative" if check.direction == "falls" else "positive"
    return f"Reads {_trend_name(check)}{printed} {epochs}; passes when it {check.direction} by " \
           f"{_trend_change(check)} from the first epoch read to the last with a {slope} least-squares slope" \
           f"{_trend_span(check)}."


def _describe_similar(check: Similar, epoch: int) -> str:
    return f"Reads {check.first} and {check.second} at epoch {epoch} on every seed; passes when, on a seed, their " \
           f"difference sits in the central {1 - 2 * PRINTED_TAIL:.0%} of the differences between two seeds' values " \
           f"of one column at the same epoch (epochs {_nearby(check, epoch)}, both columns, every pair of seeds): " \
           f"the terms agree as closely as two seeds do (at least 2 seeds)."


def _describe_share(check: Share, epoch: int) -> str:
    return f"Reads {check.column} at every epoch from {check.from_epoch} to {epoch}; passes when at least " \
           f"{check.at_least:.0%} of them lie in [{check.low:g}, {check.high:g}]."


def _describe_dip(check: Dip, epoch: int) -> str:
    return f"Reads {check.column} at every epoch from {check.from_epoch} to {epoch}; passes when its lowest value " \
           f"comes in epochs {check.bottom[0]}-{check.bottom[1]} and lies at least {check.depth:g} below its " \
           f"values at epochs {check.from_epoch} and {epoch}."


def _describe_settles(check: Settles, epoch: int) -> str:
    return f"Reads {check.column} at every epoch up to {epoch}; passes when its range over epochs " \
           f"{check.from_epoch}-{epoch} is at most {check.within:.0%} of its range over epochs 1-{epoch}."


def _describe_digits(check: Digits, epoch: int) -> str:
    samples = "samples drawn as the write-up drew its pictures" if check.sampling == "writeup" else \
        "the study's samples"
    verb = "meet" if check.expect == "met" else "fail"
    return f"Scores {samples} at epoch {epoch} against the calibration rows of the same evaluator and n; passes " \
           f"when they {verb} {level_words(check.level)}."


def _describe_classes(check: Classes, epoch: int) -> str:
    return f"Reads the evaluator's class histogram of the samples at epoch {epoch}; passes when each of " \
           f"{_listed(check.classes)} gets at least {check.min_share:.0%} of the samples and the samples meet " \
           f"{level_words(check.level)}."


def _describe_printed(check: Printed, epoch: int) -> str:
    what = f"the epoch mean of {check.column} at epoch {epoch}" if check.step is None else \
        f"{check.column} printed at step {check.step} of epoch {epoch}"
    return f"Reads {what} on every seed; passes when the write-up's {check.value:g} sits in the " \
           f"central {1 - 2 * PRINTED_TAIL:.0%} of the seeds' {_printed_what(check)} of epochs " \
           f"{_nearby(check, epoch)}, pooled."


DESCRIBERS: dict[type, Callable] = {Band: _describe_band, Trend: _describe_trend, Similar: _describe_similar,
                                    Share: _describe_share, Dip: _describe_dip, Settles: _describe_settles,
                                    Digits: _describe_digits, Classes: _describe_classes, Printed: _describe_printed}
