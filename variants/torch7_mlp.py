"""torch7-mlp: BeierZhu's PyTorch port of the Torch7 GAN post (spec 000-torch7-port-mlp.md).

MLP G and D, BCE on a sigmoid D, Adam 2e-4 with default betas, batch 32, 300 epochs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.variant import (
    Band,
    Claim,
    Digits,
    Fixes,
    Hyper,
    Latent,
    Quirk,
    Ranked,
    Recipe,
    Trend,
    Variant,
    WriteupSamples,
)

LATENT, HIDDEN, IMAGE = 64, 256, 784
SPEC = "spec 000"


def build(fixes: Fixes) -> tuple[nn.Module, nn.Module]:
    # D is defined before G in the original, so it draws its default init from the RNG first.
    d_layers: list[nn.Module] = [nn.Linear(IMAGE, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN),
                                 nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1)]
    if "stable-bce" not in fixes:
        d_layers.append(nn.Sigmoid())
    discriminator = nn.Sequential(*d_layers)
    generator = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                              nn.Linear(HIDDEN, IMAGE), nn.Tanh())
    return generator, discriminator


def _bce(out: torch.Tensor, target: float, fixes: Fixes) -> torch.Tensor:
    labels = torch.full_like(out, target)
    if "stable-bce" in fixes:
        return F.binary_cross_entropy_with_logits(out, labels)
    return F.binary_cross_entropy(out, labels)


def d_loss(out_real: torch.Tensor, out_fake: torch.Tensor, fixes: Fixes):
    real, fake = _bce(out_real, 1.0, fixes), _bce(out_fake, 0.0, fixes)
    return real + fake, real, fake  # a sum, not a mean of the two terms


def g_loss(out_fake: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return _bce(out_fake, 1.0, fixes)  # non-saturating


def real_prob(out: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return (torch.sigmoid(out) if "stable-bce" in fixes else out).view(-1)


VARIANT = Variant(
    name="torch7-mlp",
    writeup="000-torch7-port-mlp.md",
    title="GAN-MNIST-Pytorch (BeierZhu, port of the Torch7 GAN post)",
    architecture="MLP 64-256-256-784 G (ReLU, Tanh); MLP 784-256-256-1 D (LeakyReLU 0.2, Sigmoid)",
    loss="BCE on sigmoid D, D = real + fake terms, non-saturating G",
    recipe=Recipe(epochs=300, batch_size=32, shuffle=True, pixel_range="[-1,1]", flatten_real=True,
                  latent=Latent(LATENT, "normal", "torch-cpu"), lr_d=2e-4, lr_g=2e-4),
    build=build, d_loss=d_loss, g_loss=g_loss, real_prob=real_prob,
    log_every=lambda batches: [i for i in range(batches) if (i + 1) % 200 == 0],
    writeup_samples=WriteupSamples(
        n=32, nrow=8, noise="seeded", train_mode=True,
        note="the write-up saves the 32 fakes of the epoch's last G step (fresh noise, no fixed grid); the suite "
             "draws 32 fresh vectors after the epoch's last update from a dedicated generator"),
    ledger=(
        Hyper("dataset", "MNIST train, 60,000", f"{SPEC} §1"),
        Hyper("transform", "ToTensor, Normalize(0.5, 0.5) -> [-1, 1]", f"{SPEC} §1, quirk 1"),
        Hyper("batch_size", 32, f"{SPEC} §1"),
        Hyper("shuffle", True, f"{SPEC} §1"),
        Hyper("drop_last", False, f"{SPEC} §1 (never matters: 60000 % 32 == 0)"),
        Hyper("latent", "64, N(0,1), torch CPU RNG, two draws per step", f"{SPEC} §2"),
        Hyper("G", "Linear 64-256, ReLU, 256-256, ReLU, 256-784, Tanh; 283,920 params", f"{SPEC} §2"),
        Hyper("D", "Linear 784-256, LeakyReLU 0.2, 256-256, LeakyReLU 0.2, 256-1, Sigmoid; 267,009 params",
              f"{SPEC} §2"),
        Hyper("init", "PyTorch default", f"{SPEC} §2"),
        Hyper("loss", "BCELoss mean; d_loss = real + fake; g_loss = BCE(D(G(z2)), 1)", f"{SPEC} §3"),
        Hyper("optimizer", "Adam lr 2e-4, betas (0.9, 0.999), both nets", f"{SPEC} §4"),
        Hyper("schedule", "1 D step then 1 G step, separate real/fake forwards", f"{SPEC} §4"),
        Hyper("epochs", 300, f"{SPEC} §5"),
        Hyper("logging", "print every 200 steps; epoch means of d_loss, g_loss, D(x), D(G(z))", f"{SPEC} §6"),
    ),
    quirks=(
        Quirk("normalize-3-channel", "forced",
              "Normalize((0.5,0.5,0.5), (0.5,0.5,0.5)) on 1-channel MNIST ran on torchvision 0.2 (zip truncation, "
              "effective (x-0.5)/0.5) but raises on torchvision >= 0.3; the suite uses the 1-channel equivalent, "
              "which gives the same [-1, 1] values"),
        Quirk("hard-coded-view", "cosmetic",
              "images are flattened with view(batch_size, -1), which would crash on a partial last batch; never "
              "happens on 60,000 images, and the suite flattens per batch so --limit values work"),
        Quirk("fakes-not-detached", "cosmetic",
              "D-step fakes are not detached; G's stray gradients are zeroed before its own backward, so the "
              "updates equal detached fakes (the suite detaches)"),
        Quirk("accuracy-is-mean-output", "cosmetic",
              "the 'accuracy' plot shows mean D(x) and D(G(z)) from the D step, not a classification accuracy; "
              "the suite logs both (d_real, d_fake) and a real accuracy (d_accuracy)"),
        Quirk("no-fixed-noise", "cosmetic",
              "per-epoch images come from fresh noise; the suite adds a fixed-noise grid"),
        Quirk("sigmoid-bce", "reproduced",
              "BCELoss on a Sigmoid output is less stable than BCE-with-logits (PyTorch clamps log at -100)",
              fix="stable-bce"),
        Quirk("no-seed-gpu-only", "forced",
              "the original hard-codes .cuda() and sets no seed; the suite runs on any device under a fixed seed"),
    ),
    claims=(
        Claim("blurry-5", "After at around 5 epochs you should start to see blurr digits.",
              "epoch-5 samples are digit-like: FID below blurred real digits at the same n, 10 classes, "
              "confident, inception score and coverage near real digits'", Digits("digit-like", epoch=5)),
        Claim("pleasant-80", "after 80 epochs the results look pleasant.",
              "epoch-80 samples are recognisable digits: FID below real digits under pixel noise 0.4, 10 classes, "
              "confident, inception score and coverage near real digits'", Digits("recognisable", epoch=80)),
        Claim("no-optimum-d", "the loss should be -log4 ... Our model does not achieve the ideal result.",
              "the final epoch-mean d_loss stays away from ln 4 = 1.386 (outside 1.386 +- 0.1)",
              Band(("d_loss",), low=1.286, high=1.486, expect="outside")),
        Claim("no-optimum-score", "the accuracy should be 0.5. Our model does not achieve the ideal result.",
              "the final mean D(x) and mean D(G(z)) both stay away from 0.5 (outside 0.5 +- 0.1)",
              Band(("d_real", "d_fake"), low=0.4, high=0.6, expect="outside")),
        # "Overfit" for a generator is memorising: samples drawing closer to training images than training images
        # are to each other. The memorisation ratio nn_median / nn_median_train is near 1 for samples as far from
        # the training set as its own digits are and falls toward 0 as G copies them; 0.05 is a twentieth of that
        # spacing, frozen before any 300-epoch run (no seed spread of the ratio exists yet).
        Claim("overfit-80", "our model start to overfit at around 80 epochs.",
              "the write-up does not define it; read as memorisation: from epoch 80 to the end the median distance "
              "of samples to their nearest training image, over that of training images to their nearest other "
              "one, falls by at least 0.05, steadily over the scored epochs (rank correlation with the epoch)",
              Trend("nn_median", "falls", from_epoch=80, min_change=0.05, denominator="nn_median_train",
                    span=Ranked())),
    ),
)
