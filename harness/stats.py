"""Statistics over seeds: mean, standard deviation, percentile-bootstrap confidence intervals, rank tests, and the
Clopper-Pearson interval of a share of seeds."""
from __future__ import annotations

import math

import numpy as np
import scipy.stats

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same intervals


def mean_sd(values: list[float]) -> tuple[float, float]:
    data = np.asarray(values, dtype=float)
    return float(data.mean()), float(data.std(ddof=1)) if len(data) > 1 else math.nan


def bootstrap_ci(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; NaN with fewer than two values."""
    data = np.asarray(values, dtype=float)
    if len(data) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = data[rng.integers(0, len(data), size=(BOOTSTRAP_RESAMPLES, len(data)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def rank_test(a: list[float], b: list[float]) -> tuple[float, float]:
    """Two-sided Mann-Whitney U test (exact for small samples): (p-value, smallest p these sample sizes allow)."""
    if len(a) < 1 or len(b) < 1:
        return math.nan, math.nan
    p = float(scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue)
    smallest = 2 / math.comb(len(a) + len(b), len(a))
    return p, min(1.0, smallest)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a proportion from k successes in n trials: k of n seeds."""
    interval = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(interval.low), float(interval.high)
