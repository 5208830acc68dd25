"""One training step of any variant, as its recipe orders it, returning its statistics as one device tensor.

Two update orders cover the five write-ups:
- alternating (torch7-mlp, udacity, nll-softmax, dcgan-xavier): D on real and on G(z1), D update, then a G update
  on G(z2) from fresh noise;
- shared forward (infogan): one z and one G(z); D's forward serves D's update (when due) and G's loss.
The order of random draws matches the originals': D(real), z1, G(z1), D(fake), then z2, G(z2), D(G(z2)).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from harness.errors import StudyError
from harness.optim import DataAliasAdam
from harness.run_folder import STAT_NAMES
from harness.variant import Fixes, Recipe, Variant


@dataclass
class Gan:
    variant: Variant
    recipe: Recipe
    fixes: Fixes
    generator: nn.Module
    discriminator: nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer | DataAliasAdam
    device: torch.device
    g_params: list[nn.Parameter]  # what each backward differentiates for, listed once
    d_params: list[nn.Parameter]
    # The noise of the variant's draws that keep theirs (Variant.draws), as last made: the write-up's pictures.
    drawn: dict[str, torch.Tensor] = field(default_factory=dict)
    # The last D loss computed. Every epoch's step 0 updates D, so it never carries over an epoch boundary.
    held_d_loss: torch.Tensor | None = None

    @classmethod
    def create(cls, variant: Variant, fixes: Fixes, device: torch.device, compile: bool = False) -> "Gan":
        """Build the nets on the CPU (so their init draws the same numbers on any device), then move them.

        compile=True runs G and D through torch.compile; results then agree with eager to float32 rounding per
        step, not bit for bit."""
        recipe = variant.recipe_for(fixes)
        generator, discriminator = variant.build(fixes)
        generator.to(device).train()
        discriminator.to(device).train()
        if compile:
            _compile(variant, recipe, generator, discriminator)
        g_optimizer, d_optimizer = _optimizers(recipe, generator, discriminator)
        return cls(variant, recipe, fixes, generator, discriminator, g_optimizer, d_optimizer, device,
                   list(generator.parameters()), list(discriminator.parameters()))

    def latent(self, n: int) -> torch.Tensor:
        # Every original draws its noise on the CPU (torch or numpy) and moves it, so that is what we do.
        return self.recipe.latent.sample(n).to(self.device)

    def state_dict(self) -> dict:
        return {"generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                "drawn": dict(self.drawn)}

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.drawn = dict(state.get("drawn", {}))  # checkpoints from before the seed contract have none


def _optimizers(recipe: Recipe, generator: nn.Module,
                discriminator: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | DataAliasAdam]:
    # foreach=True: the multi-tensor Adam, bit-identical to the per-tensor default the originals ran (tested)
    # and faster on the CPU, where PyTorch would otherwise pick the per-tensor loop.
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=recipe.lr_g, betas=recipe.betas, foreach=True)
    d_optimizer_type = DataAliasAdam if recipe.shared_forward and recipe.g_through_pre_update_d else torch.optim.Adam
    d_optimizer = d_optimizer_type(discriminator.parameters(), lr=recipe.lr_d, betas=recipe.betas, foreach=True)
    return g_optimizer, d_optimizer


def _compile(variant: Variant, recipe: Recipe, *modules: nn.Module) -> None:
    if recipe.shared_forward and recipe.g_through_pre_update_d:
        raise StudyError(f"--compile cannot reproduce {variant.name}'s gradient through the pre-update D (a compiled "
                         f"backward does not see the in-place D update); drop --compile or add --fix recompute-fake")
    import torch._inductor.config as inductor_config
    inductor_config.fallback_random = True  # dropout draws from the eager RNG stream, as the originals do
    for module in modules:
        module.compile()


def _stats(gan: Gan, out_real: torch.Tensor, out_fake: torch.Tensor, d_terms: tuple | None,
           g_loss: torch.Tensor) -> torch.Tensor:
    """The step's statistics (run_folder.EPOCH_STATISTICS says what each is), stacked in STAT_NAMES order."""
    p_real = gan.variant.real_prob(out_real.detach(), gan.fixes)
    p_fake = gan.variant.real_prob(out_fake.detach(), gan.fixes)
    if d_terms is None:
        zero = torch.zeros((), device=gan.device)
        d_values = [zero, zero, zero, zero]
    else:
        d_values = [t.detach() for t in d_terms] + [torch.ones((), device=gan.device)]
        gan.held_d_loss = d_values[0]
    assert gan.held_d_loss is not None, "step 0 of an epoch always updates D"
    values = dict(zip(("d_loss", "d_loss_real", "d_loss_fake", "d_updates"), d_values)) | {
        "g_loss": g_loss.detach(), "d_real": p_real.mean(), "d_fake": p_fake.mean(),
        "d_real_acc": (p_real >= 0.5).float().mean(), "d_fake_acc": (p_fake <= 0.5).float().mean(),
        "d_loss_stale": gan.held_d_loss}
    return torch.stack([values[name] for name in STAT_NAMES])


def _update_d(gan: Gan, out_real: torch.Tensor, out_fake: torch.Tensor, retain_graph: bool) -> tuple:
    terms = gan.variant.d_loss(out_real, out_fake, gan.fixes)
    gan.d_optimizer.zero_grad()
    # Gradients for D's parameters only: the originals also fill G's (and in the G step D's) gradients, which are
    # zeroed before anyone reads them, so skipping that work leaves every kept number bit-identical (tested).
    terms[0].backward(retain_graph=retain_graph, inputs=gan.d_params)
    gan.d_optimizer.step()
    return terms


def _update_g(gan: Gan, out_fake: torch.Tensor) -> torch.Tensor:
    loss = gan.variant.g_loss(out_fake, gan.fixes)
    gan.g_optimizer.zero_grad()
    if gan.recipe.g_backward:  # nll-softmax as posted steps G's optimizer without ever calling backward
        loss.backward(inputs=gan.g_params)
    gan.g_optimizer.step()
    return loss


def latent_sizes(recipe: Recipe, n: int) -> tuple[int, ...]:
    """The latent batches a step on n real images draws, in its order: one z that D and G share, or z1 for D's
    fakes and then z2 for G's update."""
    if recipe.shared_forward:
        return (n,)
    return n, n if recipe.g_batch == "real" else recipe.batch_size


def train_step(gan: Gan, real: torch.Tensor, step: int,
               latent: Callable[[int], torch.Tensor] | None = None) -> torch.Tensor:
    """One iteration on one real batch; ``step`` counts from 0 within the epoch. Returns STAT_NAMES values.
    ``latent(n)`` gives the step's noise: by default drawn at its moment, as the original draws it; an epoch plan
    (train.plan_epoch) hands out noise drawn ahead."""
    recipe, generator, discriminator = gan.recipe, gan.generator, gan.discriminator
    latent = latent or gan.latent
    n = real.shape[0]
    d_due = step % recipe.d_every == 0
    if recipe.shared_forward:
        fake = generator(latent(n))
        out_real, out_fake = discriminator(real), discriminator(fake)
        # G's graph is reused after D's backward, so D's backward must keep it.
        d_terms = _update_d(gan, out_real, out_fake, retain_graph=True) if d_due else None
        out_for_g = out_fake if recipe.g_through_pre_update_d or not d_due else discriminator(fake)
        g_loss = _update_g(gan, out_for_g)
        return _stats(gan, out_real, out_fake, d_terms, g_loss)
    out_real = discriminator(real)
    # The originals that skip .detach() here give identical updates: G's stray gradients are zeroed before use.
    d_size, g_size = latent_sizes(recipe, n)
    out_fake = discriminator(generator(latent(d_size)).detach())
    d_terms = _update_d(gan, out_real, out_fake, retain_graph=False) if d_due else None
    g_loss = _update_g(gan, discriminator(generator(latent(g_size))))
    return _stats(gan, out_real, out_fake, d_terms, g_loss)
