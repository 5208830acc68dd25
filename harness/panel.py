"""The evaluator panel's vocabulary: which evaluator seeds judge every run, which scores depend on the evaluator,
and the columns they are recorded under. The primary evaluator's scores keep the plain column names ("fid"); every
other member's are recorded as "evaluator<seed>_<score>" (after the "writeup_" prefix for samples drawn the
write-up's way), so any verdict can be recomputed as each member would give it (`judged_by`)."""
from __future__ import annotations

import pandas as pd

PANEL_SEEDS = (0, 1, 2)  # evaluator training seeds; the first is the primary evaluator
PRIMARY_SEED = PANEL_SEEDS[0]
PANEL_ARCHITECTURE = "cnn"  # the panel's network (harness/evaluator.py ARCHITECTURES)
CROSS_CHECK_ARCHITECTURE = "mlp"  # a second kind of network that scores the calibration ladder and controls only
MEMBER_SCORES = ("fid", "kid", "kid_std", "inception_score", "precision", "recall", "density", "coverage",
                 "classes_covered", "class_tv", "confidence", *[f"class_{c}" for c in range(10)])  # those that
# depend on the evaluator (the rest are measured in pixels, the same for every member)
WRITEUP_MEMBER_SCORES = ("fid", "kid", "precision", "density", "coverage", "classes_covered", "confidence")  # what
# a digits level reads of the samples drawn the write-up's way
WRITEUP_SCORES = WRITEUP_MEMBER_SCORES + ("self_nn_ratio",)  # what is recorded of samples drawn the write-up's way
DIGIT_SCORES = ("fid", "classes_covered", "confidence", "inception_score", "coverage", "self_nn_ratio")  # what a
# digits level and a failure label read
WRITEUP_PREFIX = "writeup_"


def member_column(seed: int, score: str, prefix: str = "") -> str:
    """The column of one member's score (``prefix``: "" for the run's evaluation samples, WRITEUP_PREFIX for
    samples drawn the write-up's way)."""
    return f"{prefix}{score}" if seed == PRIMARY_SEED else f"{prefix}evaluator{seed}_{score}"


def member_columns(prefix: str = "") -> list[str]:
    """The columns the members other than the primary add to a metrics row."""
    scores = WRITEUP_MEMBER_SCORES if prefix else MEMBER_SCORES
    return [member_column(seed, score, prefix) for seed in PANEL_SEEDS[1:] for score in scores]


def judged_by(metrics: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The metrics table as member ``seed`` scored it: its scores under the plain names (the primary's table is
    returned as it is). A score the member did not record reads as missing, never as the primary's."""
    if seed == PRIMARY_SEED:
        return metrics
    replaced = {}
    for prefix, scores in (("", MEMBER_SCORES), (WRITEUP_PREFIX, WRITEUP_MEMBER_SCORES)):
        for score in scores:
            member = member_column(seed, score, prefix)
            replaced[prefix + score] = metrics[member] if member in metrics else float("nan")
    columns = {**{column: metrics[column] for column in metrics}, **replaced}  # built at once: one block
    return pd.DataFrame(columns, index=metrics.index)
