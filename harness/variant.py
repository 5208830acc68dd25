"""The schema every variant module fills in: what a write-up does, as data.

A variant says *what* the original does (networks, losses, recipe, quirks, claims); the harness decides *how* to run
it. Fixes are named, opt-in toggles attached to quirks: a fix either overrides recipe fields (``overrides``) or is
read by the variant's own builder and loss functions (by name, from ``fixes``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

import numpy as np
import torch
from torch import nn

from harness.errors import StudyError

QuirkStatus = Literal["reproduced", "behaviour", "alternative", "forced", "cosmetic"]
DrawMoment = Literal["before-models", "before-training", "epoch-start", "epoch-end"]
Fixes = frozenset[str]  # the toggles a run applies: bug fixes and alternative readings, by name
Table = Literal["metrics", "writeup_log"]


@dataclass(frozen=True)
class Hyper:
    """One ledger line: a hyperparameter, its value, and where in the spec it comes from."""

    name: str
    value: object
    source: str


@dataclass(frozen=True)
class Quirk:
    """Something the original does that a careful reader would not expect.

    reproduced:  a bug, on by default; ``fix`` names the opt-in toggle (``--fix``) that removes it.
    behaviour:   changes training but is part of the recipe as written, not a bug: reproduced, no toggle.
    alternative: the write-up can be read two ways; the default follows the spec, ``fix`` names the toggle
                 (``--alt``) for the other reading. Not a fix: never in ``--fix all`` or the quirk-cost table.
    forced:      the original cannot run on today's PyTorch; ``what`` says the minimal change made and why.
    cosmetic:    no effect on training; recorded only.
    ``inert`` says where a toggle changes nothing (e.g. no partial batch on the default data).
    """

    name: str
    status: QuirkStatus
    what: str
    fix: str = ""
    overrides: Mapping[str, object] = field(default_factory=dict)
    inert: str = ""


# Checks: each claim in a form a run can confirm or refute. ``epoch`` None means the end of the write-up's own
# recipe (its epoch count), never "wherever a shorter run stopped". Under the step-matched schedule epoch N is the
# original's epoch N in optimizer steps.
@dataclass(frozen=True)
class Band:
    """Every one of ``columns`` lies in [low, high] (``inside``) or away from it (``outside``)."""

    columns: tuple[str, ...]
    low: float
    high: float
    expect: Literal["inside", "outside"] = "inside"
    epoch: int | None = None


@dataclass(frozen=True)
class Steps:
    """The direction holds step by step: at least ``share`` of the steps between consecutive epochs read move in
    the trend's direction by more than ``resolution`` (a log's printed precision: a step it prints as no change is
    none, so a value that has collapsed to ~0 does not keep "falling")."""

    share: float
    resolution: float = 0.0


@dataclass(frozen=True)
class Ranked:
    """The direction holds over the whole span, not only between its ends: Kendall's tau of the values with the
    epoch has the trend's sign, one-sided p below ``alpha``."""

    alpha: float = 0.05


@dataclass(frozen=True)
class Trend:
    """``column`` falls (or rises) from ``from_epoch`` to ``epoch``: the least-squares slope has that sign and the
    end differs from the start by at least ``min_change`` (never 0: any drift would pass) and at most
    ``max_change`` in that direction; ``span``, where the claim says so, asks the direction to hold over the span.

    ``relative``: both changes and a ``Steps`` resolution are fractions of the start value (scores whose scale
    depends on the evaluator and n). ``denominator``: the trend of ``column`` divided by this column. ``at``: read
    only these epochs (a write-up's pictures), from ``from_epoch`` to the claim's epoch; runs score each of them."""

    column: str
    direction: Literal["falls", "rises"]
    from_epoch: int
    min_change: float
    epoch: int | None = None
    table: Table = "metrics"
    max_change: float = math.inf
    relative: bool = False
    span: Steps | Ranked | None = None
    denominator: str = ""
    at: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0 < self.min_change <= self.max_change:
            raise ValueError(f"Trend on {self.column}: need 0 < min_change <= max_change")
        if self.at and (self.at[0] != self.from_epoch or list(self.at) != sorted(set(self.at))
                        or (self.epoch is not None and self.at[-1] != self.epoch)):
            raise ValueError(f"Trend on {self.column}: at must rise from from_epoch to epoch")


@dataclass(frozen=True)
class Similar:
    """Two columns agree as closely as two seeds do: on each seed, their difference at ``epoch`` lies in the
    central 95% of the differences between two seeds' values of one column at the same epoch, over the ``nearby``
    epochs up to it, both columns and every pair of seeds, pooled. The tolerance is the seeds' own spread, no
    chosen band, so it needs at least two seeds."""

    first: str
    second: str
    epoch: int | None = None
    nearby: int = 5


@dataclass(frozen=True)
class Share:
    """At least ``at_least`` of the epochs from ``from_epoch`` to ``epoch`` have ``column`` in [low, high]: what a
    reader sees in a curve ("mostly between ...")."""

    column: str
    low: float
    high: float
    from_epoch: int
    at_least: float
    epoch: int | None = None


@dataclass(frozen=True)
class Dip:
    """``column`` falls to a low and rises again between ``from_epoch`` and ``epoch``: its lowest value lies in
    the epochs ``bottom`` (first, last), inside the span, and at least ``depth`` below the values at both ends."""

    column: str
    from_epoch: int
    bottom: tuple[int, int]
    depth: float
    epoch: int | None = None


@dataclass(frozen=True)
class Settles:
    """``column`` converges: from ``from_epoch`` to ``epoch`` its values stay within a range (max - min) of at most
    ``within`` times the range it covered over the whole run, so it has stopped swinging as it did before."""

    column: str
    from_epoch: int
    within: float
    epoch: int | None = None


@dataclass(frozen=True)
class Digits:
    """The samples are digits, by the evaluator: FID below a calibration row of the same evaluator and n, all ten
    classes, confident predictions, and inception score and coverage near the real row's (``claims.DIGIT_LEVELS``).
    ``digit-like``: below blurred real digits (sigma 2), mean top probability 0.5, inception score and coverage at
    least 0.6 and 0.15 of real digits'. ``recognisable``: below real digits under pixel noise sigma 0.4, 0.7, 0.6,
    0.25.
    ``sampling``: "writeup" scores samples drawn the way the write-up drew the pictures it judged (its noise
    distribution, batch size and G mode, from ``Variant.writeup_samples``) instead of the study's. ``expect``
    "not met": the claim says the samples are not yet digits of that level (a write-up's early pictures)."""

    level: Literal["digit-like", "recognisable"]
    epoch: int | None = None
    sampling: Literal["study", "writeup"] = "study"
    expect: Literal["met", "not met"] = "met"


@dataclass(frozen=True)
class Classes:
    """Each of ``classes`` gets at least ``min_share`` of the samples (the evaluator's class histogram), and the
    samples meet the digit level ``level``: the evaluator assigns every image some class, noise included, so a
    histogram alone says nothing about digits."""

    classes: tuple[int, ...]
    level: Literal["digit-like", "recognisable"]
    min_share: float = 0.02
    epoch: int | None = None


@dataclass(frozen=True)
class Printed:
    """A value the write-up printed for one batch (``column`` at ``step`` of ``epoch``; ``step`` None: the epoch's
    mean, as metrics.csv records it), judged against the spread of the same printed value over seeds and the
    printed steps of the ``nearby`` epochs up to it: one run's value is noisy, so a claim holds when its quantile in
    that pooled distribution lies in the central 95%. The tolerance is the seeds' own spread, no chosen band."""

    column: str
    value: float
    step: int | None
    epoch: int | None = None
    nearby: int = 5


Check = Band | Trend | Similar | Share | Dip | Settles | Digits | Classes | Printed


@dataclass(frozen=True)
class Claim:
    key: str
    quote: str
    checkable: str  # the claim restated as something a run can confirm or refute
    check: Check | None = None  # None: needs a human; ``checkable`` says why
    contradicted: str = ""  # the code itself contradicts the claim: how
    assumes: str = ""  # what the verdict rests on that the write-up does not state


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
    # A second run of the original script after this epoch, resuming the weights: it re-seeds as the script does,
    # makes the script's draws and builds its models again (their init draws from the RNG), loads the weights, and
    # starts with fresh Adam states and a fresh DataLoader.
    second_run_after: int | None = None
    original_images: int = 60_000  # the original's training set (MNIST train): sets its steps per epoch
    sample_train_mode: bool = False  # G's mode when the original draws samples


@dataclass(frozen=True)
class WriteupSamples:
    """The write-up's own sample picture, where it differs from the study's fixed-noise grid.

    noise: 'draw' shows G on the noise of the variant's ``draw`` of that name (a draw the original makes anyway,
    such as udacity's fixed_z or dcgan-xavier's demonstrate()); 'stream-fresh' draws anew from the original's global
    RNG after its last epoch (``final_only``), leaving the streams as training left them; 'seeded' uses a dedicated
    generator derived from the run seed and epoch; 'custom' calls ``make_noise`` once. The last two leave the
    training streams untouched.
    """

    n: int
    nrow: int
    noise: Literal["draw", "stream-fresh", "seeded", "custom"]
    train_mode: bool
    draw: str = ""  # noise="draw": the name of the Draw whose noise the picture shows
    make_noise: Callable[[], torch.Tensor] | None = None
    distribution: str | None = None  # overrides the training latent distribution
    final_only: bool = False
    pixel_map: Literal["clamp", "uint8-wrap"] = "clamp"
    note: str = ""


@dataclass(frozen=True)
class DrawContext:
    """What a draw may use: the run's recipe and toggles, and from 'before-training' on its generator (in training
    mode)."""

    recipe: Recipe
    fixes: Fixes
    generator: nn.Module | None = None


@dataclass(frozen=True)
class LoaderIterator:
    """A fresh DataLoader iterator over the training set, as a display cell or a progress bar makes one. Creating it
    draws the base seed from torch's global RNG; taking a batch from a shuffling loader also draws its sampler's
    seed. The suite makes those draws (``seeding.draw_loader_seeds``); the reference loop builds the iterator."""

    takes_batch: bool


@dataclass(frozen=True)
class Draw:
    """A random draw the original makes outside its training steps: a display cell, a shape check, a test step, a
    progress bar, an epoch-end picture. None is cosmetic: each shifts every later batch order and latent draw (and
    some change state, such as BatchNorm running statistics), so the harness makes each at its moment, for every
    variant alike: before the models are built, after they are (before training), or at each epoch's start or end.

    ``action`` is a DataLoader iterator, or a function doing what the original does, from the global RNG streams;
    it returns the noise it drew where the write-up's picture shows G on it (``WriteupSamples.draw``)."""

    name: str
    moment: DrawMoment
    what: str
    source: str
    action: LoaderIterator | Callable[[DrawContext], torch.Tensor | None]


@dataclass(frozen=True)
class OriginalLog:
    """What the write-up author's own run logged (variants/original_logs/, from shared/original-logs): one real run
    of the recipe (on a GPU, unseeded, on MNIST's 60,000 training images), to hold against the suite's seed spread.
    Rows are keyed by epoch, and for printed single-batch values also by batch index (column ``batch``)."""

    file: str  # under variants/original_logs/
    run: str  # whose run, and where it was logged
    table: Table  # the suite's table it matches: metrics (per-epoch values) or writeup_log (printed batches)
    columns: Mapping[str, str]  # the log's column -> the suite's column of the same quantity


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
    reported_epochs: int | None = None  # the length the write-up's results come from, where it differs from its code
    writeup_columns: Mapping[str, Callable[[Mapping[str, float]], float]] = field(default_factory=dict)
    draws: tuple[Draw, ...] = ()  # the original's RNG draws outside its training steps, in their order
    original_logs: tuple[OriginalLog, ...] = ()

    def draws_at(self, moment: DrawMoment) -> tuple[Draw, ...]:
        return tuple(d for d in self.draws if d.moment == moment)

    @property
    def fix_names(self) -> list[str]:
        """The bug fixes (``--fix``)."""
        return [q.fix for q in self.quirks if q.fix and q.status == "reproduced"]

    @property
    def alternative_names(self) -> list[str]:
        """The alternative readings of the write-up (``--alt``)."""
        return [q.fix for q in self.quirks if q.fix and q.status == "alternative"]

    def resolve_fixes(self, requested: list[str]) -> Fixes:
        """'all' expands to every fix (never to an alternative); unknown names are an error naming the valid ones."""
        if "all" in requested:
            return frozenset(self.fix_names)
        misplaced = sorted(set(requested) & set(self.alternative_names))
        if misplaced:
            raise StudyError(f"{misplaced[0]} is an alternative reading of {self.name}'s write-up, not a bug fix; "
                             f"use --alt {misplaced[0]}")
        unknown = sorted(set(requested) - set(self.fix_names))
        if unknown:
            valid = ", ".join(self.fix_names) or "none"
            raise StudyError(f"unknown fix {', '.join(unknown)!s} for {self.name}; valid fixes: {valid} (or 'all')")
        return frozenset(requested)

    def split_toggles(self, toggles: Fixes) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(fixes, alternatives) among a run's toggles, each sorted."""
        return (tuple(sorted(t for t in toggles if t in self.fix_names)),
                tuple(sorted(t for t in toggles if t in self.alternative_names)))

    @property
    def claims_end(self) -> int:
        """The epoch the write-up's end-of-training claims speak of: its own epoch count unless it says otherwise."""
        return self.reported_epochs or self.recipe.epochs

    @property
    def scores_writeup_samples(self) -> bool:
        """Whether a claim is judged on samples drawn as the write-up drew them (a digit level of them, or a trend
        of their scores): runs then score those too."""
        return any(isinstance(c.check, Digits) and c.check.sampling == "writeup"
                   or isinstance(c.check, Trend) and c.check.column.startswith("writeup_") for c in self.claims)

    def claim_epoch(self, check: Check) -> int:
        return check.epoch if check.epoch is not None else self.claims_end

    @property
    def claim_epochs(self) -> set[int]:
        """Epochs the claims look at (a trend read at a write-up's pictures at each of them); runs score these too,
        whatever their schedule."""
        epochs = {self.claim_epoch(c.check) for c in self.claims if c.check is not None}
        return epochs.union(*(c.check.at for c in self.claims if isinstance(c.check, Trend)))

    def reading_for(self, epoch: int) -> Fixes | None:
        """The toggles of faithful runs that reach ``epoch`` at their own length: none (the write-up's recipe), else
        the first alternative reading that is long enough (infogan's 40 epochs, two-runs-of-20); None if none is."""
        if self.recipe.epochs >= epoch:
            return frozenset()
        return next((frozenset({name}) for name in self.alternative_names
                     if self.recipe_for(frozenset({name})).epochs >= epoch), None)

    @property
    def claim_readings(self) -> list[Fixes]:
        """The alternative readings that reach a checkable claim's epoch where the write-up's recipe does not: the
        runs `study run --all` trains besides the faithful ones."""
        readings = (self.reading_for(self.claim_epoch(claim.check)) for claim in self.claims
                    if claim.check is not None and not claim.contradicted)
        return list(dict.fromkeys(reading for reading in readings if reading))

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
