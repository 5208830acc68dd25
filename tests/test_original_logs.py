"""The write-up authors' logged values placed among the seeds (harness/original_logs.py); the report's use of them:
tests/test_report_sections.py."""
from __future__ import annotations

from harness.original_logs import Placement


def test_a_logged_value_is_placed_by_the_share_of_seeds_below_it():
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).position == 0.5  # a tie counts half
    assert Placement("d_loss", 1, None, 0.5, (0.4, 0.5, 0.6)).inside
    outside = Placement("d_loss", 1, 0, 0.3, (0.1, 0.2))
    assert outside.position == 1.0 and not outside.inside
