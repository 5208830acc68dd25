"""Verdicts on the write-ups' claims: each claim's check applied to every seed of the faithful runs."""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.runs import Run
from harness.variant import Check, Claim

REPRODUCED, NOT_REPRODUCED, PARTLY, NOT_CHECKABLE = "reproduced", "not reproduced", "partly", "not checkable"


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    kind: str
    values: tuple[tuple[int, float], ...]  # (seed, measured value) of the runs it was measured on
    reason: str


def measure(check: Check, run: Run) -> tuple[float | None, str]:
    """The checked value in one run, or None and why it is missing."""
    epoch = check.epoch if check.epoch is not None else int(run.metrics["epoch"].iloc[-1])
    table = run.metrics if check.table == "metrics" else run.log
    if table.empty or epoch not in set(table["epoch"]):
        return None, f"the runs have {int(run.metrics['epoch'].iloc[-1])} epochs, the claim needs epoch {epoch}"
    rows = table[table["epoch"] == epoch]
    if check.step is not None:
        rows = rows[rows["step"] == check.step]
        if rows.empty:
            return None, f"no step {check.step} in epoch {epoch} (the runs have fewer batches per epoch)"
    if check.column not in rows or math.isnan(rows[check.column].iloc[0]):
        return None, f"{check.column} was not measured at epoch {epoch} (scoring off or not due)"
    return float(rows[check.column].iloc[0]), ""


def holds(check: Check, value: float) -> bool:
    inside = check.low <= value <= check.high
    return inside if check.expect == "inside" else not inside


def judge(claim: Claim, runs: list[Run]) -> Verdict:
    if claim.check is None:
        return Verdict(claim, NOT_CHECKABLE, (), claim.checkable)
    measured, reasons = [], []
    for run in sorted(runs, key=lambda r: r.seed):
        value, reason = measure(claim.check, run)
        if value is None:
            reasons.append(reason)
        else:
            measured.append((run.seed, value))
    if not measured:
        return Verdict(claim, NOT_CHECKABLE, (), reasons[0] if reasons else "no faithful runs")
    passed = sum(holds(claim.check, value) for _, value in measured)
    kind = REPRODUCED if passed == len(measured) else NOT_REPRODUCED if passed == 0 else PARTLY
    return Verdict(claim, kind, tuple(measured), f"{passed} of {len(measured)} seeds satisfy the claim")
