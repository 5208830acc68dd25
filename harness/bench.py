"""`study bench`: the suite's loop against the write-ups' reference loop, same variant, data, seed and step count."""
from __future__ import annotations

import itertools
import resource
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import torch
from torch.utils.flop_counter import FlopCounterMode

from harness import metrics
from harness.data import DeviceImages, Split
from harness.original_loop import OriginalRun
from harness.run_folder import STAT_NAMES
from harness.scoring import ReferenceSet, panel_scores
from harness.seed_contract import start_script
from harness.seeding import device_description, make_deterministic
from harness.steps import Gan, train_step
from harness.storage import code_version, library_versions
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
    floor_ms_per_step: float  # what no implementation beats here: step FLOPs at the measured GEMM rate plus
    # Adam's memory traffic at the measured bandwidth
    peak_host_mb: float  # the process's peak resident memory so far (both loops and everything before)
    suite_peak_device_mb: float | None
    reference_peak_device_mb: float | None
    provenance: dict  # data, library versions, code version

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
    for last in itertools.islice(loop, steps):  # noqa: B007 (the last step is read after the loop)
        pass
    if isinstance(last, torch.Tensor):
        last.tolist()  # the suite reads its statistics back once, as the driver does at an epoch's end
    _synchronize(device)
    seconds = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return seconds, peak


@dataclass(frozen=True)
class Ceilings:
    gemm_flops_per_s: float
    bytes_per_s: float


def _best_rate(work: Callable[[], object], units: float, device: torch.device, repeats: int = 5) -> float:
    """The best of several timings: a ceiling is what the machine can do, not what it usually does."""
    work()
    rates = []
    for _ in range(repeats):
        _synchronize(device)
        started = time.perf_counter()
        work()
        _synchronize(device)
        rates.append(units / (time.perf_counter() - started))
    return max(rates)


def measure_ceilings(device: torch.device) -> Ceilings:
    """This machine's float32 arithmetic rate (the best of 1024^3 and 2048^3 matrix products and a 5x5
    convolution, whose kernels may outrun the matrix library) and memory bandwidth (a 128 MiB copy, bytes read plus
    written)."""
    rates = []
    for size in (1024, 2048):
        a = torch.randn(size, size, device=device)
        rates.append(_best_rate(lambda: a @ a, 2 * size**3, device))
    images, conv = torch.randn(64, 256, 14, 14, device=device), torch.nn.Conv2d(256, 256, 5, padding=2).to(device)
    with torch.no_grad():
        rates.append(_best_rate(lambda: conv(images), 2 * 64 * 256 * 256 * 25 * 14 * 14, device))
    data = torch.randn(32 * 2**20, device=device)
    return Ceilings(max(rates), _best_rate(data.clone, 2 * data.numel() * 4, device))


def step_floor_seconds(gan: Gan, data: DeviceImages, ceilings: Ceilings) -> float:
    """FLOPs of real steps (counted by PyTorch, averaged over a D-update cycle) at the GEMM rate, plus Adam's
    traffic: each updated parameter read with its gradient and two moments, and written back with the moments."""
    steps = gan.recipe.d_every
    batch = data.batch(torch.arange(gan.recipe.batch_size, device=gan.device) % len(data))
    with FlopCounterMode(display=False) as counter:
        for step in range(steps):
            train_step(gan, batch, step)
    flops = counter.get_total_flops() / steps
    g_params = sum(p.numel() for p in gan.g_params)
    d_params = sum(p.numel() for p in gan.d_params) / gan.recipe.d_every
    adam_bytes = 7 * 4 * (g_params * gan.recipe.g_backward + d_params)
    return flops / ceilings.gemm_flops_per_s + adam_bytes / ceilings.bytes_per_s


def bench_variant(variant: Variant, split: Split, device: torch.device, steps: int, warmup: int,
                  ceilings: Ceilings, seed: int = 0, compile: bool = False) -> BenchResult:
    make_deterministic()
    floor_gan = start_script(variant, frozenset(), seed, device)
    floor = step_floor_seconds(floor_gan, DeviceImages(split.images, device, floor_gan.recipe.pixel_range,
                                                       floor_gan.recipe.flatten_real), ceilings)
    runs: dict[str, tuple[float, float | None]] = {}
    suite_gan = start_script(variant, frozenset(), seed, device, compile)
    loops: dict[str, Callable[[], Iterator]] = {
        "suite": lambda: suite_loop(suite_gan, DeviceImages(split.images, device, suite_gan.recipe.pixel_range,
                                                            suite_gan.recipe.flatten_real)),
        "reference": lambda: OriginalRun(variant, frozenset(), seed, split.images, split.labels, device).steps(),
    }
    for name, make_loop in loops.items():
        runs[name] = _timed(make_loop(), warmup, steps, device)
    batch = variant.recipe.batch_size
    suite_s, reference_s = runs["suite"][0], runs["reference"][0]
    return BenchResult(
        variant=variant.name, device=device_description(device), steps=steps, batch_size=batch,
        suite_images_per_s=steps * batch / suite_s, reference_images_per_s=steps * batch / reference_s,
        ratio=reference_s / suite_s, suite_ms_per_step=1000 * suite_s / steps,
        reference_ms_per_step=1000 * reference_s / steps, floor_ms_per_step=1000 * floor,
        peak_host_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        suite_peak_device_mb=runs["suite"][1], reference_peak_device_mb=runs["reference"][1],
        provenance=provenance(split))


def provenance(split: Split) -> dict:
    return {"dataset": split.dataset, "split": split.split, "images": len(split.images),
            "versions": library_versions(), "code_version": code_version()}


def bench_scoring(references: list[ReferenceSet], training_images: torch.Tensor) -> dict[str, object]:
    """Seconds to score n images against the n reference images by the whole panel: every score (features, FID,
    KID, IS, class coverage, PRDC, spread) by the primary and every evaluator-dependent one by each other member,
    and separately the memorisation check against ``training_images``."""
    reference = references[0]
    images = torch.rand(reference.images.shape, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    panel_scores(references, images)
    scores_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics.nearest_distance_median(images, training_images)
    return {"n": len(reference), "training_images": len(training_images), "scores_seconds": scores_seconds,
            "memorisation_seconds": time.perf_counter() - started, "device": device_description(torch.device("cpu")),
            "panel": len(references),
            "evaluator_sha256": reference.info.sha256, "versions": library_versions(), "code_version": code_version()}
