"""A sixth write-up added as docs/adding-a-variant.md says: declared in a module of its own
(tests/fixtures/tiny_mlp.py) and registered through ``variants.register`` as the five are, it passes the very tests
the five get from the registry, and every command lists, shows, trains and reports it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

from harness import cli
from harness.variant import Quirk, Variant
from tests import test_claims as claims_tests
from tests import test_fast_path as fast_path_tests
from tests import test_training as training_tests
from tests import test_variants as variant_tests
from tests.conftest import small_limit
from tests.fixtures import tiny_mlp
from variants import VARIANTS, register

NAME = tiny_mlp.VARIANT.name
runner = CliRunner()


@pytest.fixture
def tiny() -> Iterator[Variant]:
    """tiny-mlp in the registry for one test; the registry holds the five again afterwards."""
    before = dict(VARIANTS)
    try:
        yield register(tiny_mlp.VARIANT)
    finally:
        VARIANTS.clear()
        VARIANTS.update(before)


def study(*args: str | Path):
    return runner.invoke(cli.app, [str(a) for a in args])


def test_the_registry_appends_it_after_the_five(tiny):
    assert list(VARIANTS) == ["torch7-mlp", "udacity", "nll-softmax", "infogan", "dcgan-xavier", NAME]


@pytest.mark.parametrize("change, needle", [
    ({"name": "udacity"}, "already registered"),
    ({"name": "Tiny_MLP"}, "lowercase letters"),
    ({"name": "tiny+mlp"}, "lowercase letters"),
    ({"quirks": (Quirk("a", "reproduced", "a bug", fix="all"),)}, "not 'all'"),
    ({"quirks": (Quirk("a", "reproduced", "a bug", fix="x"), Quirk("b", "alternative", "a reading", fix="x"))},
     "two quirks")])
def test_names_a_run_id_could_not_tell_apart_are_refused(change, needle):
    with pytest.raises(ValueError, match=needle):
        register(dataclasses.replace(tiny_mlp.VARIANT, **change))
    assert NAME not in VARIANTS and len(VARIANTS) == 5


def test_its_declarations_pass_the_variant_checks(tiny):
    variant_tests.test_parameter_counts_match_the_ledger_and_the_nets_fit_together(NAME)
    variant_tests.test_every_variant_declares_ledger_quirks_and_claims(NAME)


def test_it_trains_deterministically_and_resumes_identically(tiny, data_root, tmp_path):
    training_tests.test_every_variant_trains_an_epoch_end_to_end(NAME, data_root, tmp_path / "one-epoch")
    for fixes in (frozenset(), frozenset({"shuffle"})):
        folder = tmp_path / "-".join(sorted(fixes))
        training_tests.test_identical_seeds_give_identical_bytes_and_different_seeds_differ(
            NAME, fixes, data_root, folder / "seeds")
        training_tests.test_resume_after_interrupt_equals_uninterrupted(NAME, fixes, data_root, folder / "resume")


def test_it_computes_what_the_original_script_computes(tiny, data_root, tmp_path):
    """Bit for bit against harness/original_loop.py: 20 steps (its display cell and epoch-end preview drawn), then
    whole epochs with each toggle (a loss read by name, a recipe override, the alternative batch size)."""
    fast_path_tests.test_twenty_steps_equal_the_original_script_bit_for_bit(NAME, data_root)
    for toggle in ("", "non-saturating", "shuffle", "batch-32"):
        fast_path_tests.test_a_trained_run_equals_the_original_script(NAME, (toggle,) if toggle else (), 3,
                                                                        data_root, tmp_path / (toggle or "faithful"))


def test_every_claim_is_judged(tiny, tmp_path):
    checked = [claim for claim in tiny.claims if claim.check and not claim.contradicted]
    assert len(checked) == 3
    for claim in checked:
        claims_tests.test_every_claim_passes_when_satisfied_fails_otherwise_and_waits_for_its_epoch(
            NAME, claim, tmp_path / claim.key)
    claims_tests.test_every_check_reads_as_one_sentence_in_study_show()


def test_the_commands_list_show_train_and_report_it(tiny, data_root, tmp_path):
    listed = study("list")
    assert listed.exit_code == 0 and NAME in listed.stdout and "26,160" in listed.stdout, listed.output
    shown = json.loads(study("show", NAME, "--json").stdout)
    assert [h["source"] for h in shown["ledger"]][0] == "spec 900 §1"
    assert {q["toggle"] for q in shown["quirks"]} == {"--fix non-saturating", "--fix shuffle", "--alt batch-32", ""}
    assert [d["name"] for d in shown["draws"]] == ["data-display", "preview"]
    assert study("show", NAME).exit_code == 0
    results = tmp_path / "results"
    trained = study("run", NAME, "--fix", "all", "--alt", "batch-32", "--epochs", "1", "--limit",
                    small_limit(tiny), "--eval-every", "0", "--data-root", data_root, "--results", results, "--quiet")
    assert trained.exit_code == 0, trained.output
    run_id = f"{NAME}+non-saturating+shuffle~batch-32__mnist-train-first32__seed0"
    assert json.loads((results / "runs" / run_id / "manifest.json").read_text())["status"] == "complete"
    faithful = study("run", NAME, "--epochs", "1", "--limit", small_limit(tiny), "--eval-every", "0", "--data-root",
                     data_root, "--results", results, "--quiet")  # claims are judged on the faithful arm
    assert faithful.exit_code == 0, faithful.output
    reported = study("report", "--results", results)
    assert reported.exit_code == 0, reported.output
    report = (results / "report" / "report.md").read_text()
    assert f"### {NAME}: {tiny.title}" in report and all(f"| {claim.key} |" in report for claim in tiny.claims)
