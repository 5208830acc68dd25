"""Statistics over seeds: mean, standard deviation and the Student-t interval of the mean; exact rank tests
(Mann-Whitney U between arms, Wilcoxon signed-rank for pairs by seed) with their rank effect sizes; Holm's
correction and the seed counts a comparison needs; the Clopper-Pearson interval of a share of seeds.

The rank tests enumerate the permutation distribution of the rank sum, with mid-ranks for ties, so they are exact
at every sample size and with ties (scipy's "exact" methods ignore ties). Seeds are few, so nothing here leans on
a large-sample approximation."""
from __future__ import annotations

import itertools
import math
from typing import Callable, Sequence

import numpy as np
import scipy.stats


def mean_sd(values: list[float]) -> tuple[float, float]:
    data = np.asarray(values, dtype=float)
    return float(data.mean()), float(data.std(ddof=1)) if len(data) > 1 else math.nan


def t_quantile(probability: float, df: int) -> float:
    """The Student-t quantile: t such that P(T <= t) = probability with ``df`` degrees of freedom."""
    return float(scipy.stats.t.ppf(probability, df))


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean, mean ± t(n - 1) · sd / √n: it covers the true mean at ``level`` when the
    seeds' values are normal, at any n (a percentile bootstrap from 3 values is their range and covers 74%).
    NaN with fewer than two values."""
    if len(values) < 2:
        return math.nan, math.nan
    mean, sd = mean_sd(values)
    half_width = t_quantile(1 - (1 - level) / 2, len(values) - 1) * sd / math.sqrt(len(values))
    return mean - half_width, mean + half_width


def _doubled_ranks(values: Sequence[float]) -> np.ndarray:
    """Mid-ranks times two: whole numbers (a tie's mid-rank is a half), so rank sums can index a table."""
    return np.rint(2 * scipy.stats.rankdata(values)).astype(int)


def _subset_sums(weights: np.ndarray) -> np.ndarray:
    """ways[j, s]: how many j-element subsets of ``weights`` (positive integers) sum to s. Python integers, so the
    counts stay exact however large they grow."""
    ways = np.zeros((len(weights) + 1, int(weights.sum()) + 1), dtype=object)
    ways[0, 0] = 1
    for weight in weights:
        # each subset either leaves this weight out (the row as it was) or takes it (one element and weight more);
        # the right side is computed whole before the assignment, so no subset takes the same weight twice
        ways[1:, weight:] = ways[1:, weight:] + ways[:-1, :ways.shape[1] - weight]
    return ways


def _two_sided_p(ways: np.ndarray, observed: int, centre: tuple[int, int]) -> float:
    """The share of equally likely rank sums (``ways[s]`` of them sum to s) at least as far from the centre as the
    observed sum: the two-sided p. The centre is a fraction (numerator, denominator), so distances stay whole."""
    numerator, denominator = centre
    distances = np.abs(denominator * np.arange(len(ways)) - numerator)
    return float(ways[distances >= abs(denominator * observed - numerator)].sum() / ways.sum())


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Exact two-sided Mann-Whitney U test of two independent samples: under no difference every split of the pooled
    ranks into len(a) and len(b) is equally likely, and p is the share of splits whose rank sum for ``a`` lies at
    least as far from its mean, len(a) / n of all ranks, as the observed one."""
    ranks = _doubled_ranks([*a, *b])
    ways = _subset_sums(ranks)[len(a)]
    return _two_sided_p(ways, int(ranks[:len(a)].sum()), (len(a) * int(ranks.sum()), len(ranks)))


def smallest_mann_whitney_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p these sample sizes allow, 2 / C(n_a + n_b, n_a): every value of one sample below
    every value of the other (1 where one sample is empty)."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def cliffs_delta(a: list[float], b: list[float]) -> float:
    """Cliff's delta, P(a > b) - P(a < b) over every pair of one value from each: the effect size the Mann-Whitney
    test tests, in [-1, 1] (1: every a above every b)."""
    return float(np.mean([np.sign(x - y) for x, y in itertools.product(a, b)]))


def wilcoxon_p(differences: list[float]) -> float:
    """Exact two-sided Wilcoxon signed-rank test of paired differences: under no effect each difference is as
    likely positive as negative, so every sign pattern on the ranks of |difference| is equally likely, and p is
    the share of patterns whose positive rank sum lies at least as far from half the total as the observed one.
    Zero differences favour neither side and are dropped (Wilcoxon's rule); p is 1 when none is left."""
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return 1.0
    ranks = _doubled_ranks([abs(d) for d in nonzero])
    ways = _subset_sums(ranks).sum(axis=0)  # a sign pattern is the subset of positive differences, of any size
    positive = int(ranks[np.asarray(nonzero) > 0].sum())
    return _two_sided_p(ways, positive, (int(ranks.sum()), 2))


def smallest_wilcoxon_p(pairs: int) -> float:
    """The smallest two-sided p ``pairs`` nonzero differences allow, 2 / 2^pairs: all of one sign."""
    return min(1.0, 2 / 2 ** pairs)


def rank_biserial(differences: list[float]) -> float:
    """The matched-pairs rank-biserial correlation, (positive rank sum - negative rank sum) / all ranks, over the
    nonzero differences: the effect size the Wilcoxon test tests, in [-1, 1] (1: every difference positive); 0 when
    every difference is zero."""
    nonzero = np.asarray([d for d in differences if d != 0])
    if not len(nonzero):
        return 0.0
    ranks = scipy.stats.rankdata(np.abs(nonzero))
    return float((ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum())


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: calling a comparison significant where its adjusted
    p is below alpha keeps the chance of any false call among them at most alpha. The k-th smallest p is multiplied
    by (m - k + 1), and an adjusted p never falls below the one of a smaller raw p."""
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, index in enumerate(sorted(range(len(p_values)), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def needed_for_holm(smallest_p: Callable[[int], float], comparisons: int, alpha: float) -> int:
    """The least n for which a comparison can reach adjusted p < alpha among ``comparisons`` Holm-corrected ones:
    even the most significant comparison is multiplied by their number, so its smallest possible p,
    ``smallest_p(n)``, must fall below alpha / comparisons."""
    return next(n for n in itertools.count(1) if smallest_p(n) * max(comparisons, 1) < alpha)


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a proportion from k successes in n trials: k of n seeds."""
    interval = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(interval.low), float(interval.high)
