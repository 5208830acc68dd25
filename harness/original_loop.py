"""The original loop: training the way the write-ups do it, to check and to time the suite's loop against.

A torchvision-style dataset turns each uint8 image into a PIL image and through the variant's transform, a DataLoader
batches them, fakes are not detached in the D step, the optimizers are PyTorch's default Adam, and both losses are
read with .item() every step. The run starts as the original script does under the seed contract: seeded at its
top, its display cells' and progress bars' DataLoader iterators really created, its other draws made where it makes
them, and a second run of the script re-seeded and rebuilt. It shares only the variant's declarations (networks,
losses, recipe, draws) with the suite.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from harness.optim import DataAliasAdam
from harness.seeding import seed_everything
from harness.steps import Gan
from harness.variant import DrawContext, DrawMoment, Fixes, LoaderIterator, Variant


class IdxImageDataset(Dataset):
    """What torchvision's MNIST.__getitem__ does: PIL image of the uint8 array, then the transform."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: transforms.Compose):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[index].numpy(), mode="L")), int(self.labels[index])


def variant_transform(pixel_range: str) -> transforms.Compose:
    steps: list = [transforms.ToTensor()]
    if pixel_range == "[-1,1]":
        steps.append(transforms.Normalize((0.5,), (0.5,)))
    return transforms.Compose(steps)


def original_optimizers(gan: Gan) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | DataAliasAdam]:
    """Adam as the originals construct it (PyTorch picks the per-tensor implementation on the CPU)."""
    recipe = gan.recipe
    g_optimizer = torch.optim.Adam(gan.generator.parameters(), lr=recipe.lr_g, betas=recipe.betas)
    d_type = DataAliasAdam if recipe.shared_forward and recipe.g_through_pre_update_d else torch.optim.Adam
    return g_optimizer, d_type(gan.discriminator.parameters(), lr=recipe.lr_d, betas=recipe.betas)


def _alternating(gan: Gan, optimizers, real: torch.Tensor, step: int) -> tuple[float, float]:
    g_optimizer, d_optimizer = optimizers
    generator, discriminator, variant, recipe = gan.generator, gan.discriminator, gan.variant, gan.recipe
    d_value = math.nan
    if step % recipe.d_every == 0:
        d_optimizer.zero_grad()
        out_real = discriminator(real)
        out_fake = discriminator(generator(gan.latent(real.size(0))))  # not detached, as most originals write it
        d_loss = variant.d_loss(out_real, out_fake, gan.fixes)[0]
        d_loss.backward()
        d_optimizer.step()
        d_value = d_loss.item()
    g_optimizer.zero_grad()
    g_noise = gan.latent(real.size(0) if recipe.g_batch == "real" else recipe.batch_size)
    g_loss = variant.g_loss(discriminator(generator(g_noise)), gan.fixes)
    if recipe.g_backward:
        g_loss.backward()
    g_optimizer.step()
    return d_value, g_loss.item()


def _shared_forward(gan: Gan, optimizers, real: torch.Tensor, step: int) -> tuple[float, float]:
    g_optimizer, d_optimizer = optimizers
    generator, discriminator, variant, recipe = gan.generator, gan.discriminator, gan.variant, gan.recipe
    fake = generator(gan.latent(real.size(0)))
    prob_real, prob_fake = discriminator(real), discriminator(fake)
    d_value = math.nan
    if step % recipe.d_every == 0:
        d_loss = variant.d_loss(prob_real, prob_fake, gan.fixes)[0]
        d_optimizer.zero_grad()
        d_loss.backward(retain_graph=True)
        d_optimizer.step()
        d_value = d_loss.item()
        if not recipe.g_through_pre_update_d:
            prob_fake = discriminator(fake)
    g_loss = variant.g_loss(prob_fake, gan.fixes)
    g_optimizer.zero_grad()
    g_loss.backward()
    g_optimizer.step()
    return d_value, g_loss.item()


class OriginalRun:
    """One run of the original script from its top: ``steps()`` yields (d_loss, g_loss) per step, epoch after
    epoch; ``gan`` holds the models being trained."""

    def __init__(self, variant: Variant, fixes: Fixes, seed: int, images: torch.Tensor, labels: torch.Tensor,
                 device: torch.device):
        self.variant, self.fixes, self.seed, self.device = variant, fixes, seed, device
        self.recipe = variant.recipe_for(fixes)
        self.loader = DataLoader(IdxImageDataset(images, labels, variant_transform(self.recipe.pixel_range)),
                                 batch_size=self.recipe.batch_size, shuffle=self.recipe.shuffle)
        self.gan = self._start_script()

    def _start_script(self) -> Gan:
        seed_everything(self.seed)
        self._draws("before-models", None)
        gan = Gan.create(self.variant, self.fixes, self.device)
        self._draws("before-training", gan)
        return gan

    def _draws(self, moment: DrawMoment, gan: Gan | None) -> None:
        for draw in self.variant.draws_at(moment):
            if isinstance(draw.action, LoaderIterator):
                iterator = iter(self.loader)
                if draw.action.takes_batch:
                    next(iterator)
            else:
                draw.action(DrawContext(self.recipe, self.fixes, gan.generator if gan else None))

    def steps(self, epochs: int | None = None) -> Iterator[tuple[float, float]]:
        """Every step of ``epochs`` whole epochs (their epoch-end draws made), or of as many as the caller takes."""
        optimizers = original_optimizers(self.gan)
        step_function = _shared_forward if self.recipe.shared_forward else _alternating
        epoch = 0
        while epochs is None or epoch < epochs:
            epoch += 1
            if epoch - 1 == self.recipe.second_run_after:  # the script run again, resuming the weights
                first = self.gan
                self.gan = self._start_script()
                self.gan.generator.load_state_dict(first.generator.state_dict())
                self.gan.discriminator.load_state_dict(first.discriminator.state_dict())
                optimizers = original_optimizers(self.gan)
            self._draws("epoch-start", self.gan)
            for step, (batch, _) in enumerate(self.loader):
                real = batch.to(self.device)
                if self.recipe.flatten_real:
                    real = real.view(real.size(0), -1)
                yield step_function(self.gan, optimizers, real, step)
            self._draws("epoch-end", self.gan)
