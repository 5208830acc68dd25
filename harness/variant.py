"""The schema every variant module fills in: what a write-up does, as data.

A variant says *what* the original does (networks, losses, recipe, quirks, claims); the harness decides *how* to run
it. Fixes are named, opt-in toggles attached to quirks: a fix either overrides recipe fields (``overrides``) or is
read by the variant's own builder and loss functions (by name, from ``fixes``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

import numpy as np
import torch
from torch import nn

from harness.errors import StudyError

QuirkStatus = Literal["reproduced", "forced", "cosmetic"]
Fixes = frozenset[str]


@dataclass(frozen=True)
class Hyper:
    """One ledger line: a hyperparameter, its value, and where in the spec it comes from."""

    name: str
    value: object
    source: str


@dataclass(frozen=True)
class Quirk:
    """Something the original does that a careful reader would not expect.

    reproduced: on by default; ``fix`` names the opt-in toggle that removes it.
    forced:     the original cannot run on today's PyTorch; ``what`` says the minimal change made and why.
    cosmetic:   no effect on training; recorded only.
    """

    name: str
    status: QuirkStatus
    what: str
    fix: str = ""
    overrides: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """A claim in checkable form: ``column`` of ``table`` at ``epoch`` (None: the last) lies in [low, high]
    (``inside``) or away from it (``outside``)."""

    column: str
    low: float
    high: float
    expect: Literal["inside", "outside"] = "inside"
    epoch: int | None = None
    table: Literal["metrics", "writeup_log"] = "metrics"
    step: int | None = None  # writeup_log only: which printed step of the epoch


@dataclass(frozen=True)
class Claim:
    key: str
    quote: str
    checkable: str  # the claim restated as something a run can confirm or refute
    check: Check | None = None  # None: needs a human or a metric from a later stage; ``checkable`` says which


@dataclass(frozen=True)
class Latent:
    """The latent distribution and which RNG the original draws it from (matters for seeded replay)."""

    dim: int
    distribution: Literal["normal", "uniform(-1,1)", "uniform[0,1)"]
    rng: Literal["torch-cpu", "numpy"]

    def sample(self, n: int, generator: torch.Generator | np.random.RandomState | None = None,
               distribution: str | None = None) -> torch.Tensor:
        """Draw n vectors. generator=None draws from the global stream the original uses (torch CPU or numpy)."""
        dist = distribution or self.distribution
        if self.rng == "numpy":
            assert generator is None or isinstance(generator, np.random.RandomState)
            rng = generator if generator is not None else np.random
            if dist != "uniform(-1,1)":
                raise ValueError(f"numpy latent supports uniform(-1,1) only, not {dist}")
            # The originals draw float64 and cast with .float(): keep that rounding.
            return torch.from_numpy(rng.uniform(-1, 1, size=(n, self.dim))).float()
        assert generator is None or isinstance(generator, torch.Generator)
        if dist == "normal":
            return torch.randn(n, self.dim, generator=generator)
        if dist == "uniform[0,1)":
            return torch.rand(n, self.dim, generator=generator)
        return torch.rand(n, self.dim, generator=generator) * 2 - 1


@dataclass(frozen=True)
class Recipe:
    """Every number and switch the training driver needs. Fixes override fields by name."""

    epochs: int
    batch_size: int
    shuffle: bool
    pixel_range: Literal["[0,1]", "[-1,1]"]
    flatten_real: bool  # the original flattens real images before D (D has no reshape of its own)
    latent: Latent
    lr_d: float
    lr_g: float
    betas: tuple[float, float] = (0.9, 0.999)
    d_every: int = 1  # D is updated on steps where step % d_every == 0 (step counts from 0 each epoch)
    shared_forward: bool = False  # one z and one G(z) per step, shared by the D and G updates
    g_through_pre_update_d: bool = False  # shared_forward: G's loss reuses D(G(z)) computed before D's update
    g_backward: bool = True  # False: g_optimizer.step() runs without g_loss.backward()
    g_batch: Literal["real", "configured"] = "real"  # size of the G step's noise batch
    sample_train_mode: bool = False  # G's mode when the original draws samples


@dataclass(frozen=True)
class WriteupSamples:
    """The write-up's own sample picture, where it differs from the study's fixed-noise grid.

    noise: 'stream-fixed' draws once at the start of the run from the original's global RNG (consuming it as the
    original does); 'stream-fresh' draws anew from it each time; 'seeded' uses a dedicated generator derived from
    the run seed and epoch; 'custom' calls ``make_noise`` once. The last two leave the training streams untouched.
    """

    n: int
    nrow: int
    noise: Literal["stream-fixed", "stream-fresh", "seeded", "custom"]
    train_mode: bool
    make_noise: Callable[[], torch.Tensor] | None = None
    distribution: str | None = None  # overrides the training latent distribution
    final_only: bool = False
    pixel_map: Literal["clamp", "uint8-wrap"] = "clamp"
    note: str = ""


@dataclass(frozen=True)
class Variant:
    name: str
    writeup: str  # file name under shared/writeups and shared/specs
    title: str
    architecture: str
    loss: str
    recipe: Recipe
    build: Callable[[Fixes], tuple[nn.Module, nn.Module]]  # (G, D), in the original's construction order
    d_loss: Callable[[torch.Tensor, torch.Tensor, Fixes], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    g_loss: Callable[[torch.Tensor, Fixes], torch.Tensor]
    real_prob: Callable[[torch.Tensor, Fixes], torch.Tensor]  # D output -> P(real), shape (B,)
    ledger: tuple[Hyper, ...]
    quirks: tuple[Quirk, ...]
    claims: tuple[Claim, ...]
    log_every: Callable[[int], list[int]]  # batches per epoch -> steps whose single-batch values the original prints
    writeup_samples: WriteupSamples | None = None
    writeup_columns: Mapping[str, Callable[[Mapping[str, float]], float]] = field(default_factory=dict)

    @property
    def fix_names(self) -> list[str]:
        return [q.fix for q in self.quirks if q.fix]

    def resolve_fixes(self, requested: list[str]) -> Fixes:
        """'all' expands to every fix; unknown names are an error that lists the valid ones."""
        if "all" in requested:
            return frozenset(self.fix_names)
        unknown = sorted(set(requested) - set(self.fix_names))
        if unknown:
            valid = ", ".join(self.fix_names) or "none"
            raise StudyError(f"unknown fix {', '.join(unknown)!s} for {self.name}; valid fixes: {valid} (or 'all')")
        return frozenset(requested)

    @property
    def claim_epochs(self) -> set[int]:
        """Epochs the claims look at; runs score these too, whatever their schedule."""
        return {c.check.epoch for c in self.claims if c.check is not None and c.check.epoch is not None}

    def param_counts(self, fixes: Fixes = frozenset()) -> tuple[int, int]:
        """(G, D) trainable parameters; builds the nets without disturbing the global RNG."""
        with torch.random.fork_rng(devices=[]):
            generator, discriminator = self.build(fixes)
        return count_params(generator), count_params(discriminator)

    def recipe_for(self, fixes: Fixes) -> Recipe:
        overrides: dict[str, object] = {}
        for quirk in self.quirks:
            if quirk.fix in fixes:
                overrides.update(quirk.overrides)
        return dataclasses.replace(self.recipe, **overrides)  # type: ignore[arg-type]


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
