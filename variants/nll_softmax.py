"""nll-softmax: shangeth's "GAN 3: MNIST Linear GAN" (spec 002-logsoftmax-nll.md), as posted.

A 2-class log_softmax D trained with NLLLoss. Two silent bugs are reproduced by default: the "smoothed" real label
(ones*0.9).long() is class 0, the fake class; and g_optimizer.step() runs without g_loss.backward(), so G never
trains. The post names no optimizer; Udacity's Adam(lr=0.002), which the loop is adapted from, is an assumption.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from harness.nets import DropoutMLP, log_softmax_rows
from harness.variant import (
    Claim,
    Digits,
    Fixes,
    Hyper,
    Latent,
    OriginalLog,
    Printed,
    Quirk,
    Recipe,
    Steps,
    Trend,
    Variant,
    WriteupSamples,
)

SPEC = "spec 002"
ASSUMED_OPTIMIZER = "Adam lr 2e-3 (Udacity's), assumed: the post never defines its optimizers"
FAKE_CLASS, REAL_CLASS = 0, 1


def build(fixes: Fixes) -> tuple[nn.Module, nn.Module]:
    discriminator = DropoutMLP([784, 200, 100, 50, 2], log_softmax_rows)  # D(784, 50, 2), built first
    generator = DropoutMLP([100, 50, 100, 200, 784], torch.tanh)  # G(100, 50, 784)
    return generator, discriminator


def real_target(batch: int, fixes: Fixes, device: torch.device | str = "cpu") -> torch.Tensor:
    """The post's real_loss(smooth=True): (ones*0.9).long() truncates to 0, the fake class."""
    if "real-label" in fixes:
        return torch.full((batch,), REAL_CLASS, dtype=torch.long, device=device)
    return (torch.ones(batch, device=device) * 0.9).long()


def _nll(out: torch.Tensor, target_class: int) -> torch.Tensor:
    target = torch.full((out.shape[0],), target_class, dtype=torch.long, device=out.device)
    return F.nll_loss(out.squeeze(), target)


def d_loss(out_real: torch.Tensor, out_fake: torch.Tensor, fixes: Fixes):
    real = F.nll_loss(out_real.squeeze(), real_target(out_real.shape[0], fixes, out_real.device))
    fake = _nll(out_fake, FAKE_CLASS)
    return real + fake, real, fake


def g_loss(out_fake: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return _nll(out_fake, REAL_CLASS)  # real_loss(smooth=False)


def real_prob(out: torch.Tensor, fixes: Fixes) -> torch.Tensor:
    return out[:, REAL_CLASS].exp()


VARIANT = Variant(
    name="nll-softmax",
    writeup="002-logsoftmax-nll.md",
    title="GAN 3: MNIST Linear GAN (shangeth, 2019)",
    architecture="dropout MLP 100-50-100-200-784 G (LeakyReLU 0.2, Dropout 0.3, Tanh); "
                 "dropout MLP 784-200-100-50-2 D (log_softmax)",
    loss="NLLLoss on a 2-class log_softmax D; real label (0.9).long() = 0 (bug); G step without backward (bug)",
    recipe=Recipe(epochs=100, batch_size=512, shuffle=False, pixel_range="[-1,1]", flatten_real=False,
                  latent=Latent(100, "uniform(-1,1)", "numpy"), lr_d=2e-3, lr_g=2e-3, g_backward=False),
    build=build, d_loss=d_loss, g_loss=g_loss, real_prob=real_prob,
    log_every=lambda batches: [i for i in range(batches) if i % 400 == 0],
    original_logs=(
        OriginalLog("nll-softmax-shangeth-post.csv", "The post's printed log, epochs 1-10 (optimizer not stated)",
                    "writeup_log", {"d_loss": "d_loss", "g_loss": "g_loss"}),
    ),
    writeup_samples=WriteupSamples(
        n=16, nrow=4, noise="stream-fresh", train_mode=False, final_only=True,
        note="after training only: 16 fresh uniform(-1,1) vectors from numpy, G in eval mode"),
    ledger=(
        Hyper("dataset", "MNIST train, 60,000", f"{SPEC} Data"),
        Hyper("transform", "ToTensor, then images*2-1 in the loop -> [-1, 1]", f"{SPEC} Data"),
        Hyper("batch_size", "512 (write-up text; a same-day edit says 1024)", f"{SPEC} Data, quirk 10"),
        Hyper("shuffle", False, f"{SPEC} Data"),
        Hyper("drop_last", "False: 118 batches, the last of 96", f"{SPEC} Data"),
        Hyper("latent", "100 (implied by G(100, ...)), uniform(-1,1), numpy", f"{SPEC} Generator"),
        Hyper("D", "784-200-100-50-2, LeakyReLU 0.2 + Dropout 0.3, log_softmax; 182,252 params",
              f"{SPEC} Discriminator"),
        Hyper("G", "100-50-100-200-784, LeakyReLU 0.2 + Dropout 0.3, Tanh; 187,934 params", f"{SPEC} Generator"),
        Hyper("init", "PyTorch default", f"{SPEC} Generator"),
        Hyper("loss", "NLLLoss; d = NLL(D(x), (0.9).long()=0) + NLL(D(G(z)), 0); g = NLL(D(G(z)), 1)",
              f"{SPEC} Loss"),
        Hyper("optimizer", "ASSUMPTION: Adam lr 0.002, betas (0.9, 0.999), both nets (the post defines none; "
                           "Udacity's loop, which it adapts, uses this)", f"{SPEC} Sources found, quirk 11"),
        Hyper("schedule", "1 D step then an empty G step (no backward)", f"{SPEC} Training loop"),
        Hyper("epochs", 100, f"{SPEC} Training loop"),
        Hyper("logging", "print at batch 0 of each epoch only (print_every 400 > batches per epoch)",
              f"{SPEC} Logging"),
    ),
    quirks=(
        Quirk("real-label-is-fake-class", "reproduced",
              "real_loss(smooth=True) builds (ones*0.9).long() = 0, the fake class: D is trained to call "
              "everything fake; the fix uses class 1 for real images", fix="real-label"),
        Quirk("g-never-updated", "reproduced",
              "g_optimizer.step() runs without g_loss.backward(): G keeps its initial weights for all epochs; the "
              "fix adds the backward", fix="g-backward", overrides={"g_backward": True}),
        Quirk("batch-size-512-or-1024", "alternative",
              "the write-up text says 512, the post's same-day edit 1024; --alt batch-1024 reads 1024",
              fix="batch-1024", overrides={"batch_size": 1024}),
        Quirk("optimizer-lr", "alternative",
              "the optimizers are never defined; the default assumes Udacity's Adam lr 2e-3, which drives D to "
              "'all fake' within 50 steps, unlike the posted log; --alt adam-2e-4 reads the common Adam lr 2e-4",
              fix="adam-2e-4", overrides={"lr_d": 2e-4, "lr_g": 2e-4}),
        Quirk("optimizer-unspecified", "forced",
              "the post never defines d_optimizer or g_optimizer; the suite assumes Udacity's Adam(lr=0.002)"),
        Quirk("names-do-not-bind", "forced",
              "the loop uses undefined names (train_loader, z_size, d_optimizer, g_optimizer) and class names D/G; "
              "the suite binds them to the loader, 100, the assumed optimizers and the network instances"),
        Quirk("labels-on-cuda-only", "forced",
              "labels are moved with .cuda() while models, images and z are not (a device mismatch on any "
              "machine); the suite puts everything on one device"),
        Quirk("fakes-not-detached", "cosmetic",
              "D-step fakes are not detached; G's stray gradients are discarded, so the suite detaches"),
        Quirk("deprecated-calls", "cosmetic", "F.log_softmax without dim (resolves to 1) and F.tanh"),
        Quirk("print-once-per-epoch", "cosmetic", "print_every 400 exceeds the batches per epoch: one line per epoch"),
    ),
    claims=(
        # The log's shape, as the post printed it (4 decimals): d_loss falls in 8 of its 9 steps and by 0.53 in all,
        # g_loss rises in all 9 and by 0.32. A step counts when the print shows it (more than 0.0001), at least 7 of
        # 9 steps must agree, and the whole change must be half to twice the log's: a D that drives d_loss to ~0 in
        # one epoch (1.6 -> 1e-9, g_loss 0.65 -> 33) moves once and by another order, not as the log does.
        Claim("log-shape-d", "Epoch 1/100 d_loss: 1.3925 ... Epoch 10/100 d_loss: 0.8604 (falling every epoch)",
              "the printed d_loss falls from epoch 1 to epoch 10 by 0.27-1.06 (half to twice the log's 0.53), in at "
              "least 7 of the 9 steps between epochs",
              Trend("d_loss", "falls", from_epoch=1, epoch=10, table="writeup_log", min_change=0.27, max_change=1.06,
                    span=Steps(share=7 / 9, resolution=1e-4)), assumes=ASSUMED_OPTIMIZER),
        Claim("log-shape-g", "Epoch 1/100 g_loss: 0.6747 ... Epoch 10/100 g_loss: 0.9908 (rising every epoch)",
              "the printed g_loss rises from epoch 1 to epoch 10 by 0.16-0.63 (half to twice the log's 0.32), in at "
              "least 7 of the 9 steps between epochs",
              Trend("g_loss", "rises", from_epoch=1, epoch=10, table="writeup_log", min_change=0.16, max_change=0.63,
                    span=Steps(share=7 / 9, resolution=1e-4)), assumes=ASSUMED_OPTIMIZER),
        Claim("log-epoch-10-d", "Epoch    10/  100 d_loss: 0.8604  g_loss: 0.9908",
              "d_loss 0.8604 printed at epoch 10 lies within the spread of the printed d_loss over seeds and "
              "epochs 6-10", Printed("d_loss", 0.8604, step=0, epoch=10), assumes=ASSUMED_OPTIMIZER),
        Claim("log-epoch-10-g", "Epoch    10/  100 d_loss: 0.8604  g_loss: 0.9908",
              "g_loss 0.9908 likewise", Printed("g_loss", 0.9908, step=0, epoch=10), assumes=ASSUMED_OPTIMIZER),
        Claim("decent-images", "Linear GAN Model does a decent job in generating MNIST images.",
              "the final samples are recognisable digits: FID below real digits under pixel noise 0.4, 10 "
              "classes, confident, inception score and coverage near real digits' (G never trains as posted, whatever "
              "the optimizer: no verdict here rests on the assumed one)", Digits("recognisable")),
        Claim("smoothing-helps", "label smoothing is also done for better convergence",
              "the smoothed real label is the fake class", contradicted="real_loss(smooth=True) casts (ones*0.9) to "
              "long, i.e. class 0, the fake class: the 'smoothing' teaches D that real images are fake (quirk "
              "real-label-is-fake-class)"),
    ),
)
