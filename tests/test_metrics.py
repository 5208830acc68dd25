"""Scores against independent computations (torchmetrics, numpy eigenvalues, the prdc package, brute force)."""
from __future__ import annotations

import numpy as np
import prdc
import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from harness import metrics


class PrecomputedFeatures(nn.Module):
    """Lets torchmetrics consume features we already have: its 'images' are the features."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


MIXING = torch.randn(16, 16, generator=torch.Generator().manual_seed(123), dtype=torch.float64) / 4


def features(n: int, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Correlated Gaussian features; one distribution for every seed (shifted by ``shift``)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 16, generator=generator, dtype=torch.float64) @ MIXING + shift


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    a, b = features(500), features(500, shift=0.3, seed=1)
    assert abs(metrics.fid(a, a)) < 1e-6
    assert metrics.fid(a, b) == pytest.approx(metrics.fid(b, a), rel=1e-9)
    assert metrics.fid(a, b) > 0.5


def test_fid_matches_eigenvalue_formula_and_torchmetrics():
    a, b = features(600, seed=2), features(400, shift=0.5, seed=3)
    x, y = a.numpy(), b.numpy()
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    trace_root = np.sqrt(np.linalg.eigvals(cov_x @ cov_y).real.clip(min=0)).sum()
    by_eigenvalues = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cov_x) + np.trace(cov_y) - 2 * trace_root
    assert metrics.fid(a, b) == pytest.approx(by_eigenvalues, rel=1e-8)
    reference = FrechetInceptionDistance(feature=PrecomputedFeatures(16))
    reference.update(a.float(), real=True)
    reference.update(b.float(), real=False)
    assert metrics.fid(b, a) == pytest.approx(reference.compute().item(), rel=1e-3)


def test_kid_matches_torchmetrics_on_whole_sets():
    a, b = features(200, seed=4), features(200, shift=0.4, seed=5)
    ours, spread = metrics.kid(a, b, subsets=1, subset_size=200)
    reference = KernelInceptionDistance(feature=PrecomputedFeatures(16), subsets=1, subset_size=200)
    reference.update(a.float(), real=True)
    reference.update(b.float(), real=False)
    assert ours == pytest.approx(reference.compute()[0].item(), rel=1e-4) and spread == 0
    same, _ = metrics.kid(a, features(200, seed=6), subsets=20, subset_size=100)
    assert abs(same) < ours / 10  # unbiased: near zero for two samples of one distribution


def test_kid_subsets_match_a_brute_force_mmd_per_subset():
    a, b = features(90, seed=7), features(70, shift=0.3, seed=8)
    ours, spread = metrics.kid(a, b, subsets=5, subset_size=40, seed=3)
    generator, values = torch.Generator().manual_seed(3), []
    for _ in range(5):  # the same picks, each subset's MMD^2 summed pair by pair
        x, y = a[torch.randperm(90, generator=generator)[:40]], b[torch.randperm(70, generator=generator)[:40]]
        kernel = lambda p, q: (float(p @ q) / 16 + 1) ** 3  # noqa: E731
        xx = sum(kernel(x[i], x[j]) for i in range(40) for j in range(40) if i != j)
        yy = sum(kernel(y[i], y[j]) for i in range(40) for j in range(40) if i != j)
        xy = sum(kernel(x[i], y[j]) for i in range(40) for j in range(40))
        values.append((xx + yy) / (40 * 39) - 2 * xy / 40 ** 2)
    assert ours == pytest.approx(float(np.mean(values)), rel=1e-9)
    assert spread == pytest.approx(float(np.std(values)), rel=1e-6)


def test_inception_score_extremes():
    confident_uniform = torch.eye(10).repeat(30, 1) * 50  # one-hot predictions, each class equally often
    assert metrics.inception_score(confident_uniform) == pytest.approx(10, rel=1e-6)
    single_class = torch.zeros(300, 10)
    single_class[:, 3] = 50
    assert metrics.inception_score(single_class) == pytest.approx(1, abs=1e-6)


def test_class_coverage_counts_classes_with_a_fifth_of_their_share():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 8 + [3] * 2)  # shares .6 .3 .08 .02 of 100
    logits = torch.nn.functional.one_hot(labels, 10).double()
    coverage = metrics.class_coverage(logits)
    assert coverage["classes_covered"] == 4  # 0.02 == a fifth of the uniform 0.1 share: counts
    assert coverage["class_0"] == pytest.approx(0.6) and coverage["class_9"] == 0
    assert coverage["class_tv"] == pytest.approx(0.5 * (0.5 + 0.2 + 0.02 + 0.08 + 6 * 0.1))


@pytest.mark.parametrize("seed", [0, 1])
def test_prdc_matches_the_prdc_package(seed, capsys):
    real, fake = features(300, seed=seed), features(250, shift=0.2, seed=seed + 10)
    ours = metrics.prdc(real, fake, k_pr=3, k_dc=5)
    with_k3 = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=3)
    with_k5 = prdc.compute_prdc(real.numpy(), fake.numpy(), nearest_k=5)
    assert ours["precision"] == pytest.approx(with_k3["precision"])
    assert ours["recall"] == pytest.approx(with_k3["recall"])
    assert ours["density"] == pytest.approx(with_k5["density"])
    assert ours["coverage"] == pytest.approx(with_k5["coverage"])


def test_prdc_chunks_agree_with_one_block(monkeypatch):
    real, fake = features(300, seed=7), features(300, shift=0.1, seed=8)
    whole = metrics.prdc(real, fake)
    monkeypatch.setattr(metrics, "CHUNK", 64)
    assert metrics.prdc(real, fake) == whole


def test_nearest_distance_median_brute_force():
    generator = torch.Generator().manual_seed(0)
    images, bank = torch.rand(40, 1, 28, 28, generator=generator), torch.rand(70, 1, 28, 28, generator=generator)
    brute = torch.stack([((bank - image) ** 2).sum(dim=(1, 2, 3)).sqrt().min() for image in images]).median()
    assert metrics.nearest_distance_median(images, bank) == pytest.approx(brute.item(), rel=1e-5)
    # an image's distance to itself: the float32 cancellation of |a|^2 + |b|^2 - 2ab (distinct images are ~11 apart)
    assert metrics.nearest_distance_median(bank[:10], bank) == pytest.approx(0, abs=1e-2)


def test_self_distance_median_brute_force_and_repeats():
    images = torch.rand(30, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    flat = images.reshape(30, -1).double()
    brute = torch.stack([torch.cat([(flat[:i] - row).norm(dim=1), (flat[i + 1:] - row).norm(dim=1)]).min()
                         for i, row in enumerate(flat)]).median()
    assert metrics.self_distance_median(images) == pytest.approx(brute.item(), rel=1e-4)
    # repeats sit at distance 0 up to float32 cancellation in |a|^2 + |b|^2 - 2ab (distinct images are ~11 apart)
    assert metrics.self_distance_median(images[:3].repeat(10, 1, 1, 1)) == pytest.approx(0, abs=2e-2)
