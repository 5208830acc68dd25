"""`study bench`: the suite's loop against the write-ups' reference loop, same variant, data, seed and step count."""
from __future__ import annotations

import itertools
import resource
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch

from harness import metrics
from harness.data import DeviceImages, Split
from harness.evaluate import Reference, score_images
from harness.reference import reference_loop
from harness.seeding import device_description, make_deterministic, seed_everything
from harness.steps import STAT_NAMES, Gan
from harness.train import epoch_steps
from harness.variant import Variant


@dataclass(frozen=True)
class BenchResult:
    variant: str
    device: str
    steps: int
    batch_size: int
    suite_images_per_s: float
    reference_images_per_s: float
    ratio: float
    suite_ms_per_step: float
    reference_ms_per_step: float
    peak_host_mb: float  # the process's peak resident memory so far (both loops and everything before)
    suite_peak_device_mb: float | None
    reference_peak_device_mb: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def suite_loop(gan: Gan, data: DeviceImages) -> Iterator[torch.Tensor]:
    """The training driver's loop with its per-epoch accumulation, epoch after epoch."""
    while True:
        totals = torch.zeros(len(STAT_NAMES), device=gan.device)
        for _, stats in epoch_steps(gan, data):
            totals += stats
            yield totals


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(loop: Iterator, warmup: int, steps: int, device: torch.device) -> tuple[float, float | None]:
    """Seconds for ``steps`` steps after ``warmup`` steps, and the peak device memory (MiB) on CUDA."""
    for _ in itertools.islice(loop, warmup):
        pass
    _synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    last = None
    for last in itertools.islice(loop, steps):
        pass
    if isinstance(last, torch.Tensor):
        last.tolist()  # the suite reads its statistics back once, as the driver does at an epoch's end
    _synchronize(device)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return seconds, peak


def _fresh_gan(variant: Variant, device: torch.device, seed: int, compile: bool = False) -> Gan:
    seed_everything(seed)
    return Gan.create(variant, frozenset(), device, compile)


def bench_variant(variant: Variant, split: Split, device: torch.device, steps: int, warmup: int,
                  seed: int = 0, compile: bool = False) -> BenchResult:
    make_deterministic()
    runs: dict[str, tuple[float, float | None]] = {}
    suite_gan = _fresh_gan(variant, device, seed, compile)
    loops: dict[str, Callable[[], Iterator]] = {
        "suite": lambda: suite_loop(suite_gan, DeviceImages(split.images, device, suite_gan.recipe.pixel_range,
                                                            suite_gan.recipe.flatten_real)),
        "reference": lambda: reference_loop(_fresh_gan(variant, device, seed), split.images, split.labels),
    }
    for name, make_loop in loops.items():
        runs[name] = _timed(make_loop(), warmup, steps, device)
    batch = variant.recipe.batch_size
    suite_s, reference_s = runs["suite"][0], runs["reference"][0]
    return BenchResult(
        variant=variant.name, device=device_description(device), steps=steps, batch_size=batch,
        suite_images_per_s=steps * batch / suite_s, reference_images_per_s=steps * batch / reference_s,
        ratio=reference_s / suite_s, suite_ms_per_step=1000 * suite_s / steps,
        reference_ms_per_step=1000 * reference_s / steps,
        peak_host_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        suite_peak_device_mb=runs["suite"][1], reference_peak_device_mb=runs["reference"][1])


def bench_scoring(reference: Reference, training_images: torch.Tensor) -> dict[str, float]:
    """Seconds to score n images against the n reference images: every feature-space score (features, FID, KID,
    IS, class coverage, PRDC), and separately the memorisation check against ``training_images``."""
    images = torch.rand(reference.images.shape, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    score_images(reference, images)
    scores_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics.nearest_distance_median(images, training_images)
    return {"n": len(reference), "training_images": len(training_images), "scores_seconds": scores_seconds,
            "memorisation_seconds": time.perf_counter() - started, "device": device_description(torch.device("cpu"))}
