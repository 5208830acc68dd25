"""udacity: the Udacity nanodegree MNIST GAN as published by Shahrullo (spec 001-udacity-bcewithlogits.md).

Dropout MLPs in both nets, BCE-with-logits with one-sided 0.9 smoothing, Adam 2e-3, batch 64 unshuffled, 100 epochs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import DropoutMLP, identity
from harness.variant import (
    Claim,
    Classes,
    Digits,
    Draw,
    DrawContext,
    Fixes,
    Hyper,
    Latent,
    LoaderIterator,
    OriginalLog,
    Printed,
    Quirk,
    Recipe,
    Share,
    Variant,
    WriteupSamples,
)

SPEC = "spec 001"


def build(fixes: Fixes) -> tuple[nn.Module, nn.Module]:
    discriminator = DropoutMLP([784, 128, 64, 32, 1], identity)  # built first, as in the notebook
    generator = DropoutMLP([100, 32, 64, 128, 784], torch.tanh)
    return generator, discriminator


def _bce_logits(out: torch.Tensor, target: float) -> torch.Tensor:
    logits = out.squeeze()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def d_loss(out_real: torch.Tensor, out_fake: torch.Tensor, fixes: Fixes):
    real, fake = _bce_logits(out_real, 0.9), _bce_logits(out_fake, 0.0)  # one-sided smoothing on real only
    return real + fake, real, fake


def g_loss(out_fake: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return _bce_logits(out_fake, 1.0)


def real_prob(out: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return torch.sigmoid(out).view(-1)


def fixed_z(context: DrawContext) -> torch.Tensor:
    """The 16 uniform(-1,1) vectors from numpy that every epoch's sample row shows."""
    return context.recipe.latent.sample(16)


VARIANT = Variant(
    name="udacity",
    writeup="001-udacity-bcewithlogits.md",
    title="Udacity Deep Learning nanodegree MNIST GAN (Shahrullo/GAN)",
    architecture="dropout MLP 100-32-64-128-784 G (LeakyReLU 0.2, Dropout 0.3, Tanh); "
                 "dropout MLP 784-128-64-32-1 D (logit)",
    loss="BCE-with-logits, real target 0.9 (one-sided smoothing), non-saturating G",
    recipe=Recipe(epochs=100, batch_size=64, shuffle=False, pixel_range="[-1,1]", flatten_real=False,
                  latent=Latent(100, "uniform(-1,1)", "numpy"), lr_d=2e-3, lr_g=2e-3),
    build=build, d_loss=d_loss, g_loss=g_loss, real_prob=real_prob,
    log_every=lambda batches: [i for i in range(batches) if i % 400 == 0],
    draws=(
        Draw("data-display", "before-models",
             "the data-display cell takes one batch from iter(train_loader) before D and G are built: the "
             "iterator draws its base seed from torch's RNG, so every initial weight depends on it",
             f"{SPEC} §9", LoaderIterator(takes_batch=True)),
        Draw("fixed-z", "before-training", "fixed_z: 16 uniform(-1,1) vectors from numpy, drawn once before the loop",
             f"{SPEC} §6", fixed_z),
    ),
    original_logs=(
        OriginalLog("udacity-shahrullo.csv", "Shahrullo/GAN MNIST_GAN.ipynb (the write-up's run)", "writeup_log",
                    {"d_loss": "d_loss", "g_loss": "g_loss"}),
        OriginalLog("udacity-udacity2018-solution.csv", "Udacity's MNIST_GAN_Solution.ipynb (2018)", "writeup_log",
                    {"d_loss": "d_loss", "g_loss": "g_loss"}),
    ),
    writeup_samples=WriteupSamples(
        n=16, nrow=4, noise="draw", draw="fixed-z", train_mode=False,
        note="fixed_z: 16 uniform(-1,1) vectors drawn from numpy before training, G in eval mode (dropout off)"),
    ledger=(
        Hyper("dataset", "MNIST train, 60,000", f"{SPEC} §1"),
        Hyper("transform", "ToTensor, then images*2-1 in the loop -> [-1, 1]", f"{SPEC} §1"),
        Hyper("batch_size", 64, f"{SPEC} §1"),
        Hyper("shuffle", False, f"{SPEC} §1"),
        Hyper("drop_last", "False: 938 batches, the last of 32", f"{SPEC} §1"),
        Hyper("latent", "100, uniform(-1,1), numpy float64 cast to float32, two draws per step", f"{SPEC} §2"),
        Hyper("D", "784-128-64-32-1, LeakyReLU 0.2 + Dropout 0.3 after each hidden layer, logit; 110,849 params",
              f"{SPEC} §2"),
        Hyper("G", "100-32-64-128-784, LeakyReLU 0.2 + Dropout 0.3, Tanh; 114,800 params", f"{SPEC} §2"),
        Hyper("init", "PyTorch default", f"{SPEC} §2"),
        Hyper("loss", "BCEWithLogits; d = real(0.9) + fake(0); g = real(1.0)", f"{SPEC} §3"),
        Hyper("optimizer", "Adam lr 0.002, betas (0.9, 0.999), both nets", f"{SPEC} §4"),
        Hyper("schedule", "1 D step then 1 G step; both nets in train mode throughout", f"{SPEC} §4"),
        Hyper("epochs", 100, f"{SPEC} §5 (the exercise template uses 40)"),
        Hyper("logging", "print at batches 0, 400, 800; loss history = last (32-image) batch of each epoch",
              f"{SPEC} §6"),
    ),
    quirks=(
        Quirk("lr-0.002", "reproduced", "Adam lr 0.002 for both nets, 10x the usual GAN 2e-4, default betas",
              fix="lr-2e-4", overrides={"lr_d": 2e-4, "lr_g": 2e-4}),
        Quirk("no-shuffle", "reproduced", "the DataLoader is not shuffled: the same batch order every epoch",
              fix="shuffle", overrides={"shuffle": True}),
        Quirk("last-batch-loss-history", "cosmetic",
              "the per-epoch loss record is the last, 32-image batch, not an epoch mean; the suite logs both "
              "(d_loss_last, g_loss_last and the epoch means)"),
        Quirk("dropout-in-g", "behaviour",
              "G has dropout too: training fakes are made in train mode, fixed-z samples in eval mode; reproduced "
              "as the recipe"),
        Quirk("numpy-latent", "cosmetic",
              "the latent comes from numpy's global RNG while dropout uses torch's; the suite seeds both"),
        Quirk("fakes-not-detached", "cosmetic",
              "D-step fakes are not detached (Udacity >= 2021 uses no_grad); bitwise-identical updates "
              "(spec §3, verified), so the suite detaches"),
        Quirk("missing-checkpoint", "cosmetic", "the text refers to a saved checkpoint; no weights are saved"),
        Quirk("samples-every-10", "cosmetic", "the 'every 10 epochs' figure shows epochs 1, 11, ..., 91"),
    ),
    claims=(
        Claim("final-print", "Epoch [  100/  100] | d_loss: 1.3607 | g_loss: 1.2538",
              "d_loss 1.3607 printed for batch 800 of epoch 100 lies within the spread of that printed value over "
              "seeds and the printed batches of epochs 96-100", Printed("d_loss", 1.3607, step=800, epoch=100)),
        Claim("final-print-g", "Epoch [  100/  100] | d_loss: 1.3607 | g_loss: 1.2538",
              "g_loss 1.2538 likewise", Printed("g_loss", 1.2538, step=800, epoch=100)),
        Claim("plateau-d", "Training Losses plot (the last 32-image batch of each epoch): D mostly 1.1-1.35",
              "after epoch 10, at least half of the epochs' last-batch d_loss lie in 1.1-1.35",
              Share("d_loss_last", low=1.1, high=1.35, from_epoch=11, at_least=0.5)),
        Claim("plateau-g", "Training Losses plot (the last 32-image batch of each epoch): G mostly 0.8-1.5",
              "after epoch 10, at least half of the epochs' last-batch g_loss lie in 0.8-1.5",
              Share("g_loss_last", low=0.8, high=1.5, from_epoch=11, at_least=0.5)),
        Claim("blob-to-digits", "It starts out as all noise. Then it learns to make only the center white ... "
                                "You can start to see some number like structures",
              "epoch-20 samples are digit-like: FID below blurred real digits at the same n, 10 classes, "
              "confident, inception score and coverage near real digits'", Digits("digit-like", epoch=20)),
        Claim("final-digits", "the generator is able to reproduce numbers like 1, 7, 3, 2",
              "the final samples are digit-like (FID below blurred real digits at the same n, 10 classes, "
              "confident, inception score and coverage near real digits') and include 1, 7, 3 and 2: each gets at "
              "least 2% of the evaluator's predictions", Classes((1, 7, 3, 2), level="digit-like")),
    ),
)
