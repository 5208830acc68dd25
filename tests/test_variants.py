"""Networks against the spec figures, and each reproduced quirk producing its documented effect."""
from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from harness.optim import DataAliasAdam
from harness.run_folder import STAT_NAMES
from harness.steps import Gan, train_step
from harness.variant import Variant, count_params
from variants import VARIANTS, dcgan_xavier, infogan, nll_softmax, torch7_mlp, udacity


def step_stats(stats: torch.Tensor) -> dict[str, float]:
    return dict(zip(STAT_NAMES, stats.tolist()))


def real_batch(gan: Gan, n: int, seed: int = 0) -> torch.Tensor:
    """A batch in the variant's pixel range and layout."""
    unit = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    x = unit * 2 - 1 if gan.recipe.pixel_range == "[-1,1]" else unit
    return x.view(n, -1) if gan.recipe.flatten_real else x


def make_gan(name: str, fixes: frozenset[str] = frozenset(), seed: int = 0) -> Gan:
    torch.manual_seed(seed)
    return Gan.create(VARIANTS[name], fixes, torch.device("cpu"))


def stated_params(variant: Variant, net: str) -> int:
    """The parameter count the ledger's G or D line quotes from the spec ('...; 283,920 params')."""
    line = next((h for h in variant.ledger if h.name == net), None)
    found = re.search(r"([\d,]+) params", str(line.value)) if line else None
    assert found, f"{variant.name}: the ledger needs a {net} line stating the spec's 'N params'"
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_parameter_counts_match_the_ledger_and_the_nets_fit_together(name):
    """The counts `study show` prints from the spec are the built nets' counts; G makes one image per vector, and D
    reads both G's output and a real batch in the variant's layout, giving one P(real) per image."""
    variant = VARIANTS[name]
    assert variant.param_counts() == (stated_params(variant, "G"), stated_params(variant, "D"))
    gan = make_gan(name)
    gan.generator.eval(), gan.discriminator.eval()
    fake = gan.generator(variant.recipe.latent.sample(2))
    assert fake.shape[0] == 2 and fake[0].numel() == 28 * 28
    for images in (fake, real_batch(gan, 2)):
        p_real = variant.real_prob(gan.discriminator(images), frozenset())
        assert p_real.shape == (2,) and bool(((0 <= p_real) & (p_real <= 1)).all())


def test_layer_sizes_match_spec():
    g, d = torch7_mlp.build(frozenset())
    assert [(m.in_features, m.out_features) for m in g if isinstance(m, nn.Linear)] == [(64, 256), (256, 256),
                                                                                          (256, 784)]
    assert isinstance(g[1], nn.ReLU) and isinstance(d[1], nn.LeakyReLU) and d[1].negative_slope == 0.2
    g, d = udacity.build(frozenset())
    assert [(m.in_features, m.out_features) for m in d.layers] == [(784, 128), (128, 64), (64, 32), (32, 1)]
    assert [(m.in_features, m.out_features) for m in g.layers] == [(100, 32), (32, 64), (64, 128), (128, 784)]
    assert d.dropout.p == 0.3
    g, d = nll_softmax.build(frozenset())
    assert [(m.in_features, m.out_features) for m in d.layers] == [(784, 200), (200, 100), (100, 50), (50, 2)]
    g, d = infogan.build(frozenset())
    dc3 = g.g_dc3[0]
    assert (dc3.kernel_size, dc3.stride, dc3.padding) == ((2, 2), (2, 2), (0, 0))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.g_dc3)
    assert all(m.negative_slope == 0.01 for m in list(g.modules()) + list(d.modules()) if isinstance(m, nn.LeakyReLU))
    g, d = dcgan_xavier.build(frozenset())
    assert [(c[0].kernel_size, c[0].stride, c[0].padding) for c in (g.deconv1, g.deconv2, g.deconv3)] == [
        ((5, 5), (1, 1), (2, 2)), ((6, 6), (2, 2), (2, 2)), ((6, 6), (2, 2), (2, 2))]
    assert [type(m) for m in d.conv1] == [nn.Conv2d, nn.BatchNorm2d, nn.LeakyReLU]


def test_dcgan_xavier_init_matches_spec_and_leaves_biases():
    torch.manual_seed(0)
    g, d = dcgan_xavier.build(frozenset())
    # Large tensors estimate the std well; the small conv1 (288 weights) gets a looser bound.
    for weight, std, tolerance in ((g.fc.weight, 0.012577, 0.01), (g.deconv1[0].weight, 0.014434, 0.01),
                                   (g.deconv2[0].weight, 0.017010, 0.01), (d.conv3[0].weight, 0.034021, 0.02),
                                   (d.conv1[0].weight, 0.082061, 0.15)):
        assert weight.std().item() == pytest.approx(std, rel=tolerance)
    assert torch.all(g.bn.weight == 1) and torch.all(d.conv1[1].weight == 1)
    bound = 1 / math.sqrt(100)  # PyTorch's default Linear bias init U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert g.fc.bias.abs().max().item() <= bound and g.fc.bias.std().item() > bound / 3


def test_dcgan_apply_redraws_each_weight_as_the_notebook_does(monkeypatch):
    draws: dict[tuple, int] = {}
    original = nn.init.xavier_normal_

    def counting(tensor, *args, **kwargs):
        draws[tuple(tensor.shape)] = draws.get(tuple(tensor.shape), 0) + 1
        return original(tensor, *args, **kwargs)
    monkeypatch.setattr(nn.init, "xavier_normal_", counting)
    dcgan_xavier.build(frozenset())
    assert draws[(12544, 100)] == 2 and draws[(1, 2048)] == 2  # Linear: leaf and root
    assert draws[(256, 128, 5, 5)] == 3 and draws[(32, 1, 3, 3)] == 3  # conv in a block: leaf, block, root


def test_dcgan_he_init_arm_draws_he_normal_weights_from_the_same_stream():
    """--alt he-init is the README's He arm: kaiming_normal_'s N(0, 2/fan_in) on the same weights, drawn in the
    same order, so the seeded stream after the models are built is the Xavier arm's."""
    states = {}
    for fixes in (frozenset(), frozenset({"he-init"})):
        torch.manual_seed(0)
        g, d = dcgan_xavier.build(fixes)
        states[fixes] = torch.get_rng_state()
    assert torch.equal(*states.values())
    assert g.fc.weight.std().item() == pytest.approx(math.sqrt(2 / 100), rel=0.01)  # fan_in 100
    assert d.conv1[0].weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.15)  # fan_in 1 x 3 x 3
    assert torch.all(g.bn.weight == 1)  # 1-D parameters untouched, as in the Xavier arm
    assert "he-init" in VARIANTS["dcgan-xavier"].alternative_names


def test_infogan_bn_gamma_toggle():
    g, _ = infogan.build(frozenset())
    assert torch.all(g.g_fc1[1].weight == 1)
    g, _ = infogan.build(frozenset({"bn-gamma-uniform"}))
    gamma = g.g_fc1[1].weight
    assert 0 <= gamma.min().item() and gamma.max().item() <= 1 and gamma.std().item() > 0.2


def test_nll_real_label_is_the_fake_class_and_fix_restores_it():
    assert nll_softmax.real_target(4, frozenset()).tolist() == [0, 0, 0, 0]
    assert nll_softmax.real_target(4, frozenset({"real-label"})).tolist() == [1, 1, 1, 1]


def test_nll_generator_never_changes_and_g_backward_fix_trains_it():
    gan = make_gan("nll-softmax")
    before = [p.detach().clone() for p in gan.generator.parameters()]
    for step in range(3):
        train_step(gan, real_batch(gan, 16, step), step)
    assert all(torch.equal(a, b) for a, b in zip(before, gan.generator.parameters()))
    assert all(p.grad is None for p in gan.generator.parameters())
    fixed = make_gan("nll-softmax", frozenset({"g-backward"}))
    before = [p.detach().clone() for p in fixed.generator.parameters()]
    train_step(fixed, real_batch(fixed, 16), 0)
    assert not all(torch.equal(a, b) for a, b in zip(before, fixed.generator.parameters()))


def test_nll_as_posted_teaches_d_to_call_real_images_fake():
    """Both halves of the posted d_loss target class 0, so D's P(real) on real images falls; with the fix it rises."""
    def p_real_after(fixes: frozenset[str]) -> tuple[float, float]:
        gan = make_gan("nll-softmax", fixes)
        first = step_stats(train_step(gan, real_batch(gan, 64), 0))["d_real"]
        for step in range(1, 40):
            last = step_stats(train_step(gan, real_batch(gan, 64), step))["d_real"]
        return first, last
    first, last = p_real_after(frozenset())
    assert last < first and last < 0.05
    first, last = p_real_after(frozenset({"real-label"}))
    assert last > first and last > 0.9


def test_udacity_smoothing_bounds_the_real_loss():
    optimum = torch.tensor([[math.log(9.0)]])  # sigmoid = 0.9: the best D can do against a 0.9 target
    _, real, _ = udacity.d_loss(optimum.expand(8, 1), torch.zeros(8, 1), frozenset())
    entropy = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert real.item() == pytest.approx(entropy, abs=1e-6) and real.item() == pytest.approx(0.325, abs=1e-3)
    _, real_confident, _ = udacity.d_loss(torch.full((8, 1), 10.0), torch.zeros(8, 1), frozenset())
    assert real_confident.item() > real.item()


def test_udacity_fixes_override_recipe():
    recipe = VARIANTS["udacity"].recipe_for(frozenset({"shuffle", "lr-2e-4"}))
    assert recipe.shuffle and recipe.lr_d == recipe.lr_g == 2e-4
    assert not VARIANTS["udacity"].recipe.shuffle and VARIANTS["udacity"].recipe.lr_d == 2e-3


def test_infogan_updates_d_on_every_third_step_only():
    gan = make_gan("infogan")
    changed = []
    for step in range(6):
        before = [p.detach().clone() for p in gan.discriminator.parameters()]
        stats = step_stats(train_step(gan, real_batch(gan, 8, step), step))
        changed.append(not all(torch.equal(a, b) for a, b in zip(before, gan.discriminator.parameters())))
        assert stats["d_updates"] == (1.0 if step % 3 == 0 else 0.0)
    assert changed == [True, False, False, True, False, False]


def test_infogan_pre_update_forward_raises_on_modern_pytorch_without_the_emulation():
    """The reason the quirk needs emulating: a plain optimizer step makes the original backward raise."""
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    out = d(torch.randn(3, 4, requires_grad=True))
    optimizer = torch.optim.Adam(d.parameters(), lr=0.1)
    out.mean().backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_data_alias_adam_gives_the_old_hybrid_gradient():
    """Through the .data-alias update, the old graph's backward uses the NEW weights and the OLD activations.

    For p = sigmoid(W x + b), d(-log p)/dx = -(1 - p) W: p must be the pre-update output, W the post-update weight.
    """
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    x = torch.randn(3, 4, requires_grad=True)
    optimizer = DataAliasAdam(d.parameters(), lr=0.1)
    p_old = d(x)
    optimizer.zero_grad()
    p_old.mean().backward(retain_graph=True)
    w_old = d[0].weight.detach().clone()
    optimizer.step()
    w_new = d[0].weight.detach().clone()
    assert not torch.equal(w_old, w_new)
    x.grad = None
    (-torch.log(p_old)).sum().backward()
    expected = -(1 - p_old.detach()) * w_new
    assert torch.allclose(x.grad, expected, atol=1e-6)
    assert not torch.allclose(x.grad, -(1 - p_old.detach()) * w_old, atol=1e-4)


def test_infogan_recompute_fix_changes_g_update():
    def g_after_one_step(fixes):
        gan = make_gan("infogan", fixes)
        train_step(gan, real_batch(gan, 8), 0)
        return torch.cat([p.detach().flatten() for p in gan.generator.parameters()])
    assert not torch.equal(g_after_one_step(frozenset()), g_after_one_step(frozenset({"recompute-fake"})))


def test_dcgan_g_step_uses_the_global_batch_size_and_fix_uses_the_real_one():
    def g_batches(fixes):
        gan = make_gan("dcgan-xavier", fixes)
        sizes = []
        gan.generator.register_forward_hook(lambda module, inputs, output: sizes.append(inputs[0].shape[0]))
        train_step(gan, real_batch(gan, 8), 0)  # a partial batch of 8 against batch_size 32
        return sizes
    assert g_batches(frozenset()) == [8, 32]
    assert g_batches(frozenset({"g-real-batch"})) == [8, 8]


def test_torch7_stable_bce_fix_agrees_away_from_saturation():
    plain = make_gan("torch7-mlp", seed=1)
    stable = make_gan("torch7-mlp", frozenset({"stable-bce"}), seed=1)
    assert count_params(plain.discriminator) == count_params(stable.discriminator)
    assert isinstance(plain.discriminator[-1], nn.Sigmoid) and not isinstance(stable.discriminator[-1], nn.Sigmoid)
    torch.manual_seed(5)
    a = step_stats(train_step(plain, real_batch(plain, 32), 0))
    torch.manual_seed(5)
    b = step_stats(train_step(stable, real_batch(stable, 32), 0))
    assert a["d_loss"] == pytest.approx(b["d_loss"], abs=1e-5) and a["d_real"] == pytest.approx(b["d_real"], abs=1e-6)


def test_unknown_fix_lists_valid_ones():
    from harness.errors import StudyError
    with pytest.raises(StudyError, match="valid fixes: real-label, g-backward "):
        VARIANTS["nll-softmax"].resolve_fixes(["nope"])
    assert VARIANTS["nll-softmax"].resolve_fixes(["all"]) == {"real-label", "g-backward"}  # never an alternative
    with pytest.raises(StudyError, match="is an alternative reading .* use --alt batch-1024"):
        VARIANTS["nll-softmax"].resolve_fixes(["batch-1024"])


@pytest.mark.parametrize("name", list(VARIANTS))
def test_every_variant_declares_ledger_quirks_and_claims(name):
    variant = VARIANTS[name]
    assert variant.ledger and variant.claims
    assert {q.status for q in variant.quirks} <= {"reproduced", "behaviour", "alternative", "forced", "cosmetic"}
    assert all(q.fix for q in variant.quirks if q.status in ("reproduced", "alternative"))
    assert all(not q.fix for q in variant.quirks if q.status not in ("reproduced", "alternative"))
    for quirk in variant.quirks:
        if quirk.overrides:  # every override names a real recipe field and changes it
            recipe = variant.recipe_for(frozenset({quirk.fix}))
            assert all(getattr(recipe, k) == v != getattr(variant.recipe, k) for k, v in quirk.overrides.items())
