"""The neighbour counts of the k-NN scores, apart from harness.metrics so that the command line can check a sample
count against them without importing torch (seconds on a small machine)."""
from __future__ import annotations

K_PRECISION_RECALL, K_DENSITY_COVERAGE = 3, 5
MIN_IMAGES = K_DENSITY_COVERAGE + 1  # the k-th nearest neighbour of a point other than itself must exist
