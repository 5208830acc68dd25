"""The write-up authors' logged values placed among the seeds (harness/original_logs.py); the report's use of them:
tests/test_report_sections.py."""
from __future__ import annotations

import pytest

from harness.original_logs import Placement, summarise


def test_a_logged_value_is_placed_by_the_share_of_seeds_below_it():
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).position == 0.5  # a tie counts half
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).inside
    outside = Placement("d_loss", 1, 0, 0.3, (0.1, 0.2))
    assert outside.position == 1.0 and not outside.inside


def test_a_run_above_every_seed_far_more_often_than_one_more_seed_would_be_is_not_typical():
    """Beside 5 seeds a further seed lies above all of them at 1 point in 6: inside the range at 170 of 300 points
    but above every seed at 130 is no longer one more seed, as the old inside-at-half rule said."""
    seeds = (1.0, 2.0, 3.0, 4.0, 5.0)
    points = [Placement("d_loss", e, None, 2.5 if e < 170 else 9.0, seeds) for e in range(300)]
    summary = summarise(points)[0]
    assert (summary.inside, summary.above, summary.below) == (170, 130, 0)
    assert summary.one_side == pytest.approx(300 / 6) and not summary.typical
    balanced = [Placement("d_loss", e, None, [2.5, 2.5, 2.5, 2.5, 9.0, 0.5][e % 6], seeds) for e in range(300)]
    assert summarise(balanced)[0].typical  # above and below at 1 in 6 each, as a further seed would be
