"""harness.stats against independent computations: closed forms of the t quantile, scipy's tests where the data
have no ties, brute-force enumeration of the permutation distributions where they do, hand-worked examples, and
the t-interval's coverage by simulation."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats

from harness.stats import (
    cliffs_delta,
    holm,
    mann_whitney_p,
    needed_for_holm,
    rank_biserial,
    smallest_mann_whitney_p,
    smallest_wilcoxon_p,
    t_interval,
    t_quantile,
    wilcoxon_p,
)


def t_quantile_closed_form(p: float, df: int) -> float:
    """The Student-t quantiles that have a closed form (Hill 1970): df 1 (Cauchy), 2 and 4."""
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    alpha = 4 * p * (1 - p)
    q = math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha)
    return math.copysign(2 * math.sqrt(q - 1), p - 0.5)


@pytest.mark.parametrize("df", [1, 2, 4])
@pytest.mark.parametrize("p", [0.975, 0.9, 0.3])
def test_t_quantile_matches_its_closed_forms(p, df):
    assert t_quantile(p, df) == pytest.approx(t_quantile_closed_form(p, df), rel=1e-9)


def test_t_interval_by_hand():
    low, high = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    half = t_quantile_closed_form(0.975, 2) / math.sqrt(3)  # 4.3027 / 1.7321
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert t_interval([5.0, 5.0]) == (5.0, 5.0)
    assert all(math.isnan(v) for v in t_interval([5.0]))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_t_interval_covers_the_mean_95_percent_of_the_time_on_normal_data(n):
    rng = np.random.default_rng(n)
    trials, true_mean = 4000, 40.0
    samples = rng.normal(true_mean, 7.0, size=(trials, n))
    covered = sum(low <= true_mean <= high for low, high in (t_interval(list(s)) for s in samples))
    # 4,000 trials: the share's standard error is 0.34%, so a correct interval lands in [93%, 97%] virtually always,
    # where the seeds' [min, max] (what a percentile bootstrap gives from 3 values) covers 50% at n = 2, 75% at 3
    assert 0.93 <= covered / trials <= 0.97


def brute_force_mann_whitney(a: list[float], b: list[float]) -> float:
    """Every split of the pooled values into len(a) and len(b), equally likely; U counts the pairs with a above b
    (a tie half), and p is the share of splits with U at least as far from len(a) len(b) / 2 as the observed U."""
    def u(first, second):
        return sum((x > y) + 0.5 * (x == y) for x in first for y in second)

    pooled, centre = [*a, *b], len(a) * len(b) / 2
    observed = abs(u(a, b) - centre)
    splits = list(itertools.combinations(range(len(pooled)), len(a)))
    extreme = sum(abs(u([pooled[i] for i in chosen], [pooled[i] for i in range(len(pooled)) if i not in chosen])
                      - centre) >= observed - 1e-12 for chosen in splits)
    return extreme / len(splits)


@pytest.mark.parametrize("sizes", [(2, 3), (3, 3), (4, 5), (5, 5), (6, 2)])
def test_mann_whitney_matches_scipy_without_ties(sizes):
    rng = np.random.default_rng(sum(sizes))
    a, b = list(rng.normal(0, 1, sizes[0])), list(rng.normal(0.8, 1, sizes[1]))
    expected = scipy.stats.mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue
    assert mann_whitney_p(a, b) == pytest.approx(expected, rel=1e-12)


def test_mann_whitney_with_ties_matches_brute_force_and_a_hand_count():
    # pooled ranks 1, 3, 3, 3, 5, 6; a's rank sum 7 against a mean of 10.5: 6 of the 20 splits lie as far
    assert mann_whitney_p([1.0, 2.0, 2.0], [2.0, 3.0, 4.0]) == pytest.approx(6 / 20)
    for a, b in [([1, 2, 2, 5], [2, 3, 3, 4, 6]), ([7, 7, 7], [7, 7, 8]), ([1, 1], [1, 1, 1])]:
        assert mann_whitney_p(a, b) == pytest.approx(brute_force_mann_whitney(a, b)), (a, b)


@pytest.mark.parametrize("n_a, n_b", [(2, 2), (3, 3), (4, 4), (6, 6), (3, 7)])
def test_smallest_mann_whitney_p_is_what_a_perfect_separation_gets(n_a, n_b):
    separated = mann_whitney_p([float(i) for i in range(n_a)], [100.0 + i for i in range(n_b)])
    assert smallest_mann_whitney_p(n_a, n_b) == pytest.approx(separated)
    assert smallest_mann_whitney_p(3, 3) == pytest.approx(0.1)  # 2 / C(6, 3)


def brute_force_wilcoxon(differences: list[float]) -> float:
    """Every sign pattern on the nonzero differences, equally likely: p is the share whose positive rank sum lies
    at least as far from half the total rank as the observed one."""
    nonzero = [d for d in differences if d != 0]
    ranks = scipy.stats.rankdata(np.abs(nonzero))
    centre = ranks.sum() / 2
    observed = abs(ranks[np.asarray(nonzero) > 0].sum() - centre)
    patterns = list(itertools.product([False, True], repeat=len(nonzero)))
    extreme = sum(abs(ranks[list(signs)].sum() - centre) >= observed - 1e-12 for signs in patterns)
    return extreme / len(patterns)


@pytest.mark.parametrize("n", [3, 5, 6, 8])
def test_wilcoxon_matches_scipy_without_ties(n):
    differences = list(np.random.default_rng(n).normal(0.5, 1, n))
    expected = scipy.stats.wilcoxon(differences, alternative="two-sided", method="exact").pvalue
    assert wilcoxon_p(differences) == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_with_zeros_and_ties_matches_brute_force_and_a_hand_count():
    # zero dropped; ranks 1-4 with one negative of rank 2: positive sum 8, 6 of the 16 patterns lie as far from 5
    assert wilcoxon_p([1.0, -2.0, 3.0, 4.0, 0.0]) == pytest.approx(6 / 16)
    for differences in ([2.0, 2.0, -2.0, 5.0], [16.7, 16.7, 16.7], [1.0, -1.0, 3.0, 3.0, -3.0, 0.0, 4.0]):
        assert wilcoxon_p(differences) == pytest.approx(brute_force_wilcoxon(differences)), differences
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0  # no pair favours either side


@pytest.mark.parametrize("pairs", [1, 3, 6])
def test_smallest_wilcoxon_p_is_what_differences_of_one_sign_get(pairs):
    assert smallest_wilcoxon_p(pairs) == pytest.approx(wilcoxon_p([float(i + 1) for i in range(pairs)]))


def test_effect_sizes_by_hand_and_against_scipy():
    # pairs (1,2) (1,3) (2,3) favour b, (2,2) neither: (0 - 3) / 4
    assert cliffs_delta([1.0, 2.0], [2.0, 3.0]) == pytest.approx(-0.75)
    a, b = [3.1, 0.2, 5.5, 4.0], [1.0, 2.5, 0.7]
    u = scipy.stats.mannwhitneyu(a, b).statistic  # U of a: delta = 2 U / (len(a) len(b)) - 1
    assert cliffs_delta(a, b) == pytest.approx(2 * u / (len(a) * len(b)) - 1)
    assert rank_biserial([1.0, -2.0, 3.0]) == pytest.approx((4 - 2) / 6)  # ranks 1 and 3 positive, 2 negative
    assert rank_biserial([5.0, 5.0, 0.0]) == 1.0 and rank_biserial([0.0, 0.0]) == 0.0


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 -> 0.06 (never below a smaller p's)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.02]) == pytest.approx([0.02]) and holm([]) == []


def test_seed_counts_needed_after_holm():
    def separated(n: int) -> float:
        return smallest_mann_whitney_p(n, n)

    assert needed_for_holm(separated, 1, 0.05) == 4  # 2 / C(8, 4) = 0.029, 2 / C(6, 3) = 0.1
    assert needed_for_holm(separated, 10, 0.05) == 6  # 5 arms: 2 / C(10, 5) * 10 = 0.079, 2 / C(12, 6) * 10 = 0.022
    assert needed_for_holm(smallest_wilcoxon_p, 1, 0.05) == 6  # 2 / 2^6 = 0.031, 2 / 2^5 = 0.063
    assert needed_for_holm(smallest_wilcoxon_p, 3, 0.05) == 7  # 3 * 2 / 2^7 = 0.047, 3 * 2 / 2^6 = 0.094
