"""Planning runs: from study.toml's settings and the command line's choices to the list of runs to train.

A run is one (variant, fixes, dataset, split, limit, schedule, seed); ``RunSpec`` holds everything the driver needs
to train it. Nothing here knows about Typer: the CLI parses options into ``RunChoices`` and hands them over.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.config import MIN_EVAL_SAMPLES, SCHEDULES, StudyConfig, resolve_data_root, resolve_eval_every
from harness.data import DATASET_CLASSES, SPLIT_PREFIX
from harness.errors import StudyError
from harness.run_folder import RunFolder
from harness.seeding import resolve_device
from harness.variant import Fixes, Variant


@dataclass(frozen=True)
class RunSpec:
    variant: Variant
    fixes: Fixes
    seed: int
    epochs: int
    dataset: str
    split: str
    limit: int | None
    device: torch.device
    results: Path
    data_root: Path
    threads: int | None = None  # CPU intra-op threads; None keeps PyTorch's default (one per core)
    compile: bool = False  # torch.compile G and D: equal to eager to float32 rounding, not bit for bit
    eval_every: int = 0  # score G every this many epochs and at the last one; 0: never
    eval_samples: int = 10_000  # n generated and n real images per score (capped at the reference's size)
    tensorboard: bool = False  # also write TensorBoard event files into the run folder (harness/tensorboard.py)
    schedule: str = "epochs"  # epochs: an epoch is one pass over the images; steps: the original's steps per epoch

    @property
    def arm_name(self) -> str:
        """Variant, +fixes and ~alternative readings, e.g. 'nll-softmax+g-backward~batch-1024'."""
        fixes, alternatives = self.variant.split_toggles(self.fixes)
        return self.variant.name + "".join(f"+{f}" for f in fixes) + "".join(f"~{a}" for a in alternatives)

    @property
    def run_id(self) -> str:
        subset = f"-first{self.limit}" if self.limit is not None else ""
        schedule = "-steps" if self.schedule == "steps" else ""
        return f"{self.arm_name}__{self.dataset}-{self.split}{subset}{schedule}__seed{self.seed}"

    @property
    def label(self) -> str:
        """Short enough for a progress bar: variant, toggles and seed."""
        return f"{self.arm_name} seed {self.seed}"

    @property
    def folder(self) -> RunFolder:
        return RunFolder.of(self.results, self.run_id)


@dataclass(frozen=True)
class RunChoices:
    """What the command line chose; None (or empty) keeps study.toml's value or the write-up's own."""

    variants: list[Variant]
    fixes: list[str] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    schedule: str | None = None
    seeds: int | None = None  # seeds 0..seeds-1
    seed: list[int] = field(default_factory=list)  # explicit seeds
    epochs: int | None = None
    dataset: str | None = None
    split: str | None = None
    limit: int | None = None
    device: str | None = None
    threads: int | None = None
    results: Path | None = None
    data_root: Path | None = None
    compile: bool = False
    eval_every: int | None = None
    eval_samples: int | None = None
    tensorboard: bool = False
    claim_readings: bool = False  # also the alternative readings the claims need (Variant.claim_readings)


def resolve_eval_samples(option: int | None, configured: int, limit: int | None) -> int:
    """--eval-samples, else study.toml's, scaled down to about the training set under a small --limit: scoring
    10,000 samples dominates a run that trains on a few hundred images, and the score cannot be finer than the
    data the generator saw anyway."""
    if option is not None:
        return option
    return max(MIN_EVAL_SAMPLES, min(configured, limit)) if limit is not None else configured


def resolve_fixes(variants: list[Variant], requested: list[str]) -> dict[str, Fixes]:
    """Each requested fix applies to the selected variants that have it; a fix none of them has is an error."""
    if not requested or "all" in requested:
        return {v.name: v.resolve_fixes(requested) for v in variants}
    for fix in requested:
        if not any(fix in v.fix_names for v in variants):
            for variant in variants:
                if fix in variant.alternative_names:
                    variant.resolve_fixes([fix])  # raises: an alternative reading, with the --alt to use
            valid = "; ".join(f"{v.name}: {', '.join(v.fix_names) or 'none'}" for v in variants)
            raise StudyError(f"unknown fix '{fix}' for the selected variants; valid fixes are {valid} (or 'all')")
    return {v.name: frozenset(f for f in requested if f in v.fix_names) for v in variants}


def resolve_alternatives(variants: list[Variant], requested: list[str]) -> dict[str, Fixes]:
    """Each --alt applies to the selected variants that have that reading; one none of them has is an error."""
    for name in requested:
        if not any(name in v.alternative_names for v in variants):
            valid = "; ".join(f"{v.name}: {', '.join(v.alternative_names) or 'none'}" for v in variants)
            raise StudyError(f"unknown alternative '{name}' for the selected variants; valid: {valid}")
    return {v.name: frozenset(a for a in requested if a in v.alternative_names) for v in variants}


def resolve_seeds(seeds: int | None, seed: list[int], configured: list[int]) -> list[int]:
    if seeds is not None and seed:
        raise StudyError("use either --seeds N (seeds 0..N-1) or --seed S (repeatable), not both")
    if seeds is not None:
        return list(range(seeds))
    repeated = sorted({s for s in seed if seed.count(s) > 1})
    if repeated:
        raise StudyError(f"--seed {repeated[0]} is given more than once; name each seed once")
    return list(seed) or configured


def plan_runs(settings: StudyConfig, choices: RunChoices) -> list[RunSpec]:
    """Every run the command asks for, each at its write-up's own epoch count unless --epochs says otherwise; with
    ``claim_readings`` and no --fix or --alt, each variant's faithful runs are followed by those of the readings its
    claims need."""
    dataset, split = choices.dataset or settings.dataset, choices.split or settings.split
    if dataset not in DATASET_CLASSES:
        raise StudyError(f"unknown dataset '{dataset}'; valid datasets: {', '.join(DATASET_CLASSES)}")
    if split not in SPLIT_PREFIX:
        raise StudyError(f"unknown split '{split}'; valid splits: {', '.join(SPLIT_PREFIX)}")
    schedule = choices.schedule or settings.schedule
    if schedule not in SCHEDULES:
        raise StudyError(f"unknown schedule '{schedule}'; valid schedules: {', '.join(SCHEDULES)}")
    fixes = resolve_fixes(choices.variants, choices.fixes)
    alternatives = resolve_alternatives(choices.variants, choices.alternatives)
    seeds = resolve_seeds(choices.seeds, choices.seed, settings.seeds)
    device = resolve_device(choices.device or settings.device)
    every = choices.eval_every if choices.eval_every is not None else settings.eval_every
    limit = choices.limit if choices.limit is not None else settings.limit
    extra = choices.claim_readings and not choices.fixes and not choices.alternatives
    specs = []
    for variant in choices.variants:
        for toggles in [fixes[variant.name] | alternatives[variant.name], *(variant.claim_readings if extra else [])]:
            epochs = choices.epochs if choices.epochs is not None else variant.recipe_for(toggles).epochs
            specs += [RunSpec(variant=variant, fixes=toggles, seed=seed, epochs=epochs, schedule=schedule,
                              dataset=dataset, split=split,
                              limit=limit, device=device, results=choices.results or settings.results,
                              data_root=resolve_data_root(choices.data_root, settings),
                              threads=choices.threads if choices.threads is not None else settings.threads,
                              compile=choices.compile, eval_every=resolve_eval_every(every, epochs),
                              eval_samples=resolve_eval_samples(choices.eval_samples, settings.eval_samples, limit),
                              tensorboard=choices.tensorboard)
                      for seed in seeds]
    return refuse_repeats(specs)


def refuse_repeats(specs: list[RunSpec]) -> list[RunSpec]:
    named = [spec.run_id for spec in specs]
    repeated = sorted({run_id for run_id in named if named.count(run_id) > 1})
    if repeated:  # two workers would race for one run folder
        raise StudyError(f"run {repeated[0]} is asked for more than once; name each variant (and each arm) once")
    return specs


def plan_study(settings: StudyConfig, choices: RunChoices) -> list[RunSpec]:
    """The runs of a study.toml with [[arms]]: every arm of the chosen variants (all of them when none is named)
    with each seed, arm by arm in the file's order; --fix and --alt then train one arm instead. Without [[arms]]:
    plan_runs."""
    if not settings.arms or choices.fixes or choices.alternatives:
        return plan_runs(settings, choices)
    chosen = {variant.name: variant for variant in choices.variants}
    arms = [arm for arm in settings.arms if arm.variant in chosen]
    if not arms:
        raise StudyError(f"no [[arms]] of the config train {', '.join(chosen)}; the arms are of "
                         f"{', '.join(sorted({arm.variant for arm in settings.arms}))}")
    specs = [spec for arm in arms for spec in plan_runs(settings, dataclasses.replace(
        choices, variants=[chosen[arm.variant]], fixes=list(arm.fixes), alternatives=list(arm.alternatives)))]
    return refuse_repeats(specs)
