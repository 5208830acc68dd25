"""The seed contract: seed S is the original run with ``random``, ``numpy`` and ``torch`` seeded with S right after
its imports (where the original seeds itself, S replaces its seed), every RNG draw it makes in its order.

The training steps draw what the originals' steps draw (harness/steps.py, and the DataLoader's draws in
harness/data.py). This module makes every other draw a variant declares (``Variant.draws``: display cells, shape
checks, test steps, progress bars, epoch-end pictures) at its moment, for every variant alike, and starts a run, or
a second run of the original script, the way the original does.
"""
from __future__ import annotations

import torch

from harness.seeding import draw_loader_seeds, seed_everything
from harness.steps import Gan
from harness.variant import DrawContext, DrawMoment, Fixes, LoaderIterator, Variant


def make_draws(variant: Variant, fixes: Fixes, moment: DrawMoment,
               generator: torch.nn.Module | None = None) -> dict[str, torch.Tensor]:
    """Make the variant's draws of one moment, in their order; returns the noise of those that keep it, by name."""
    recipe = variant.recipe_for(fixes)
    kept: dict[str, torch.Tensor] = {}
    for draw in variant.draws_at(moment):
        if isinstance(draw.action, LoaderIterator):
            draw_loader_seeds(recipe.shuffle, draw.action.takes_batch)
            continue
        noise = draw.action(DrawContext(recipe, fixes, generator))
        if noise is not None:
            kept[draw.name] = noise
    return kept


def start_script(variant: Variant, fixes: Fixes, seed: int, device: torch.device, compile: bool = False) -> Gan:
    """The original from its top: seeded, its draws before the models, its models (built as it builds them), then
    its draws before training (their noise kept in ``Gan.drawn``)."""
    seed_everything(seed)
    make_draws(variant, fixes, "before-models")
    gan = Gan.create(variant, fixes, device, compile)
    gan.drawn.update(make_draws(variant, fixes, "before-training", gan.generator))
    return gan


def second_run(gan: Gan, seed: int, compile: bool = False) -> Gan:
    """A second run of the original script that resumes the first one's weights: a new process seeded and built as
    from the top (the fresh init draws from the RNG, then the loaded weights replace it), with fresh optimizers."""
    resumed = start_script(gan.variant, gan.fixes, seed, gan.device, compile)
    resumed.generator.load_state_dict(gan.generator.state_dict())
    resumed.discriminator.load_state_dict(gan.discriminator.state_dict())
    return resumed
