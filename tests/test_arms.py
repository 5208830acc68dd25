"""Arms: the name a fixed or alternative arm goes by, the faithful arm it is held against, its label where one name
comes at several lengths, and the report's order."""
from __future__ import annotations

from harness.arms import Arm

PROTOCOL = "mnist test (512 images), equal epochs"


def arm(variant: str, fixes: tuple[str, ...] = (), alternatives: tuple[str, ...] = (), epochs: int = 3) -> Arm:
    return Arm(variant, fixes, alternatives, PROTOCOL, epochs)


def test_an_arm_is_named_by_its_fixes_and_readings_and_held_against_its_faithful_arm():
    fixed = arm("nll-softmax", ("g-backward", "real-label"), ("batch-1024",))
    assert fixed.name == "nll-softmax+g-backward+real-label~batch-1024"
    assert not fixed.is_faithful and fixed.faithful == arm("nll-softmax", (), ("batch-1024",))
    assert arm("nll-softmax", (), ("batch-1024",)).is_faithful  # another reading of the write-up, no bug fixed
    assert fixed.label(with_epochs=True) == "nll-softmax+g-backward+real-label~batch-1024 (3 epochs)"
    assert fixed.label(with_epochs=False) == fixed.name


def test_arms_sort_by_the_variants_order_then_readings_then_fixes():
    order = ["torch7-mlp", "udacity"]
    arms = [arm("udacity", ("shuffle",)), arm("udacity", (), ("x",)), arm("udacity"), arm("torch7-mlp", epochs=5),
            arm("unknown"), arm("torch7-mlp", epochs=2)]
    assert [(a.name, a.epochs) for a in sorted(arms, key=lambda a: a.sort_key(order))] == [
        ("torch7-mlp", 2), ("torch7-mlp", 5), ("udacity", 3), ("udacity+shuffle", 3), ("udacity~x", 3),
        ("unknown", 3)]
