"""Sample-quality scores on evaluator features and class probabilities. Pure functions, float64 statistics.

fid, kid:                Frechet and kernel distances between feature sets (Heusel et al. 2017; Binkowski et al. 2018).
inception_score:         exp E[KL(p(y|x) || p(y))] with the evaluator as classifier.
class_coverage:          histogram of predicted classes, how many classes are covered, total variation to uniform.
prdc:                    precision, recall, density, coverage: k-NN manifold estimates (Kynkaanniemi et al.
                         2019; Naeem et al. 2020, as the prdc package).
nearest_distance_median: median L2 distance from each image to its nearest image of another set (memorisation).
self_distance_median:    median L2 distance from each image to its nearest other image of the same set (duplicates).
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch

from harness.neighbours import K_DENSITY_COVERAGE, K_PRECISION_RECALL

CHUNK = 2048


def fid(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    a, b = features_a.double().numpy(), features_b.double().numpy()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # dead ReLU features make the covariances singular; handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # as pytorch-fid does: regularise and retry
            offset = np.eye(len(cov_a)) * 1e-6
            root = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    trace = np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root.real)
    return float(np.sum((mean_a - mean_b) ** 2) + trace)


def _cubic_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The polynomial kernel (x.y/d + 1)^3 of every pair, in float64."""
    return ((x.double() @ y.double().T) / x.shape[1] + 1) ** 3


def kid(features_a: torch.Tensor, features_b: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the unbiased MMD^2 over random equal-size subsets (seeded: deterministic).
    The three kernel matrices are computed once for the whole sets; each subset's sums are then quadratic forms
    with its 0/1 membership vector (all subsets in one matrix product), instead of three kernels per subset."""
    size = min(subset_size, len(features_a), len(features_b))
    generator = torch.Generator().manual_seed(seed)
    in_a = torch.zeros(len(features_a), subsets, dtype=torch.float64)
    in_b = torch.zeros(len(features_b), subsets, dtype=torch.float64)
    for subset in range(subsets):  # each subset draws its picks of a, then of b
        in_a[torch.randperm(len(features_a), generator=generator)[:size], subset] = 1
        in_b[torch.randperm(len(features_b), generator=generator)[:size], subset] = 1
    k_aa, k_bb = _cubic_kernel(features_a, features_a), _cubic_kernel(features_b, features_b)
    within_a = (in_a * (k_aa @ in_a)).sum(0) - in_a.T @ k_aa.diagonal()
    within_b = (in_b * (k_bb @ in_b)).sum(0) - in_b.T @ k_bb.diagonal()
    across = (in_a * (_cubic_kernel(features_a, features_b) @ in_b)).sum(0)
    values = (within_a + within_b) / (size * (size - 1)) - 2 * across / size ** 2
    return float(values.mean()), float(values.std(unbiased=False))


def inception_score(logits: torch.Tensor) -> float:
    log_p = torch.log_softmax(logits.double(), dim=1)
    p = log_p.exp()
    log_marginal = torch.log(p.mean(0))
    return float(torch.exp((p * (log_p - log_marginal)).sum(1).mean()))


def class_coverage(logits: torch.Tensor, classes: int = 10) -> dict[str, float]:
    """A class counts as covered when it gets at least a fifth of its uniform share of the predictions. Confidence
    is the mean top-class probability: noise that happens to land in many classes is classified without it."""
    histogram = torch.bincount(logits.argmax(1), minlength=classes).double() / len(logits)
    covered = int((histogram >= 0.2 / classes).sum())
    total_variation = float(0.5 * (histogram - 1 / classes).abs().sum())
    confidence = float(torch.softmax(logits.double(), dim=1).max(1).values.mean())
    return {"classes_covered": covered, "class_tv": total_variation, "confidence": confidence,
            **{f"class_{c}": float(histogram[c]) for c in range(classes)}}


def _distance_chunks(x: torch.Tensor, y: torch.Tensor):
    for start in range(0, len(x), CHUNK):
        yield start, torch.cdist(x[start:start + CHUNK].double(), y.double())


def kth_neighbour_radii(x: torch.Tensor, ks: tuple[int, ...]) -> dict[int, torch.Tensor]:
    """For each k, the distance from each point to its k-th nearest other point (the point itself is the 0-th)."""
    nearest = torch.cat([d.topk(max(ks) + 1, dim=1, largest=False).values for _, d in _distance_chunks(x, x)])
    return {k: nearest[:, k] for k in ks}


def prdc(real: torch.Tensor, fake: torch.Tensor, k_pr: int = K_PRECISION_RECALL,
         k_dc: int = K_DENSITY_COVERAGE) -> dict[str, float]:
    """Precision and recall with k_pr neighbours, density and coverage with k_dc, as the prdc package defines them,
    from one pass over each of the real-real, fake-fake and real-fake distance matrices."""
    real_radii = kth_neighbour_radii(real, (k_pr, k_dc))
    fake_radii = kth_neighbour_radii(fake, (k_pr,))[k_pr]
    fake_in_real_ball = torch.zeros(len(fake), dtype=torch.bool)
    real_balls_per_fake = torch.zeros(len(fake), dtype=torch.float64)
    real_in_fake_ball, real_covered = [], []
    for start, d in _distance_chunks(real, fake):  # rows: real points, columns: fake points
        rows = slice(start, start + len(d))
        fake_in_real_ball |= (d < real_radii[k_pr][rows, None]).any(0)
        real_balls_per_fake += (d < real_radii[k_dc][rows, None]).sum(0)
        real_in_fake_ball.append((d < fake_radii[None, :]).any(1))
        real_covered.append(d.min(1).values < real_radii[k_dc][rows])
    return {"precision": float(fake_in_real_ball.double().mean()),
            "recall": float(torch.cat(real_in_fake_ball).double().mean()),
            "density": float(real_balls_per_fake.mean() / k_dc),
            "coverage": float(torch.cat(real_covered).double().mean())}


def nearest_distance_median(images: torch.Tensor, bank: torch.Tensor) -> float:
    """Median over ``images`` of the L2 distance (pixels in [0, 1]) to the nearest image of ``bank``."""
    flat_bank = bank.reshape(len(bank), -1).float()
    nearest = [torch.cdist(part.reshape(len(part), -1).float(), flat_bank).min(1).values
               for part in images.split(CHUNK)]
    return float(torch.cat(nearest).median())


def self_distance_median(images: torch.Tensor) -> float:
    """Median over ``images`` of the L2 distance (pixels in [0, 1]) to the nearest *other* image of the same set: 0
    when most images are repeated (a collapsed or memorised sample set)."""
    flat = images.reshape(len(images), -1).float()
    nearest = []
    for start in range(0, len(flat), CHUNK):
        distances = torch.cdist(flat[start:start + CHUNK], flat)
        distances[torch.arange(len(distances)), torch.arange(start, start + len(distances))] = float("inf")
        nearest.append(distances.min(1).values)
    return float(torch.cat(nearest).median())
