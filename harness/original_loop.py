"""The original loop: training the way the write-ups do it, to check and to time the suite's loop against.

A torchvision-style dataset turns each uint8 image into a PIL image and through the variant's transform, a DataLoader
batches them, fakes are not detached in the D step, the optimizers are PyTorch's default Adam, and both losses are
read with .item() every step. It shares only the variant's declarations (networks, losses, recipe) with the suite.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from harness.optim import DataAliasAdam
from harness.steps import Gan


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


def original_loop(gan: Gan, images: torch.Tensor, labels: torch.Tensor) -> Iterator[tuple[float, float]]:
    """(d_loss, g_loss) per step, epoch after epoch, for as long as the caller takes them."""
    recipe = gan.recipe
    loader = DataLoader(IdxImageDataset(images, labels, variant_transform(recipe.pixel_range)),
                        batch_size=recipe.batch_size, shuffle=recipe.shuffle)
    optimizers = original_optimizers(gan)
    step_function = _shared_forward if recipe.shared_forward else _alternating
    while True:
        for step, (batch, _) in enumerate(loader):
            real = batch.to(gan.device)
            if recipe.flatten_real:
                real = real.view(real.size(0), -1)
            yield step_function(gan, optimizers, real, step)
