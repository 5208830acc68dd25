"""The five write-ups, one module each. ``VARIANTS`` maps the fixed short names to their declarations."""
from __future__ import annotations

from harness.errors import StudyError
from harness.variant import Variant
from variants import dcgan_xavier, infogan, nll_softmax, torch7_mlp, udacity

VARIANTS: dict[str, Variant] = {m.VARIANT.name: m.VARIANT for m in (torch7_mlp, udacity, nll_softmax, infogan,
                                                                    dcgan_xavier)}


def get_variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise StudyError(f"unknown variant '{name}'; valid variants: {', '.join(VARIANTS)}")
    return VARIANTS[name]
