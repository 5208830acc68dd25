"""Drawing samples from G without disturbing training: the study's fixed-noise grid and the write-up's own style."""
from __future__ import annotations

import contextlib
import zlib

import numpy as np
import torch

from harness.images import save_grid, to_unit
from harness.run_folder import RunFolder
from harness.seeding import rng_untouched
from harness.steps import Gan
from harness.variant import WriteupSamples

GRID_SIZE, GRID_ROW = 64, 8


def dedicated_seed(seed: int, purpose: str, epoch: int = 0) -> int:
    """A seed for a private generator, distinct per purpose, so study-only draws never touch training streams."""
    return zlib.crc32(f"{purpose}/{seed}/{epoch}".encode())


def private_generator(recipe_latent, seed: int) -> torch.Generator | np.random.RandomState:
    if recipe_latent.rng == "numpy":
        return np.random.RandomState(seed)
    return torch.Generator().manual_seed(seed)


def fixed_noise(gan: Gan, seed: int) -> torch.Tensor:
    latent = gan.recipe.latent
    return latent.sample(GRID_SIZE, private_generator(latent, dedicated_seed(seed, "fixed-noise")))


@torch.no_grad()
def generate(gan: Gan, noise: torch.Tensor, train_mode: bool) -> torch.Tensor:
    """G(noise) in the requested mode; G's mode and buffers (BatchNorm running stats) are restored afterwards."""
    generator = gan.generator
    was_training = generator.training
    buffers = {name: b.clone() for name, b in generator.named_buffers()}
    generator.train(train_mode)
    try:
        return generator(noise.to(gan.device))
    finally:
        generator.train(was_training)
        for name, buffer in generator.named_buffers():
            buffer.copy_(buffers[name])


def writeup_noise(gan: Gan, spec: WriteupSamples, seed: int, epoch: int) -> torch.Tensor:
    latent = gan.recipe.latent
    if spec.noise == "draw":  # the noise of a draw the original makes anyway (udacity's fixed_z, demonstrate())
        return gan.drawn[spec.draw]
    if spec.noise == "stream-fresh":  # from the original's global stream, as the original draws it
        return latent.sample(spec.n, distribution=spec.distribution)
    if spec.noise == "custom":
        assert spec.make_noise is not None
        return spec.make_noise()
    generator = private_generator(latent, dedicated_seed(seed, "writeup", epoch))
    return latent.sample(spec.n, generator, distribution=spec.distribution)


def save_epoch_samples(gan: Gan, folder: RunFolder, epoch: int, last_epoch: int, seed: int,
                       grid_noise: torch.Tensor) -> None:
    pixel_range = gan.recipe.pixel_range
    with rng_untouched():  # the study's grid, not the original's: a train-mode G must not draw from its streams
        grid = generate(gan, grid_noise, gan.recipe.sample_train_mode)
    save_grid(to_unit(grid, pixel_range), folder.sample_path(epoch), GRID_ROW)
    spec = gan.variant.writeup_samples
    if spec is None or (spec.final_only and epoch != last_epoch):
        return
    # A picture drawn inside the original's epochs is one of its draws; one drawn after training is not.
    with rng_untouched() if spec.final_only else contextlib.nullcontext():
        images = generate(gan, writeup_noise(gan, spec, seed, epoch), spec.train_mode)
    save_grid(to_unit(images, pixel_range, spec.pixel_map), folder.writeup_sample_path(epoch),
              spec.nrow)
