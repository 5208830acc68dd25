"""The five write-ups, one module each. ``VARIANTS`` maps the fixed short names to their declarations; a sixth
write-up joins them through ``register`` (docs/adding-a-variant.md)."""
from __future__ import annotations

import re

from harness.errors import StudyError
from harness.variant import Variant
from variants import dcgan_xavier, infogan, nll_softmax, torch7_mlp, udacity

# Names go into run ids ("udacity+shuffle__mnist-test__seed0") and folder names: lowercase words joined by single
# hyphens can never be mistaken for the "+", "~" and "__" that separate a run id's parts.
NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")

VARIANTS: dict[str, Variant] = {}


def register(variant: Variant) -> Variant:
    """Add a write-up to the registry, refusing names a run id or the command line could not tell apart."""
    if not NAME.fullmatch(variant.name):
        raise ValueError(f"variant name '{variant.name}': use lowercase letters, digits and single hyphens")
    if variant.name in VARIANTS:
        raise ValueError(f"a variant named '{variant.name}' is already registered")
    toggles = [quirk.fix for quirk in variant.quirks if quirk.fix]
    for toggle in toggles:
        if not NAME.fullmatch(toggle) or toggle == "all":  # "all" is --fix all
            raise ValueError(f"{variant.name}: toggle '{toggle}' must be lowercase words and hyphens, not 'all'")
        if toggles.count(toggle) > 1:
            raise ValueError(f"{variant.name}: toggle '{toggle}' belongs to two quirks")
    VARIANTS[variant.name] = variant
    return variant


for module in (torch7_mlp, udacity, nll_softmax, infogan, dcgan_xavier):
    register(module.VARIANT)


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise StudyError(f"unknown variant '{name}'; valid variants: {', '.join(VARIANTS)}")
    return VARIANTS[name]
