"""Planning runs from study.toml: the [[arms]] of a study, the [run] keys a study needs, and their errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.config import ArmChoice, load_config
from harness.errors import StudyError
from harness.planning import RunChoices, plan_study
from harness.report_analysis import SIGNIFICANT_P
from harness.stats import needed_for_holm, smallest_mann_whitney_p
from harness.storage import PROJECT_ROOT
from tests.test_cli import assert_one_line_error, run_args, study
from variants import VARIANTS, get_variant

STUDY = """
[run]
seeds = [0, 1]
split = "test"
limit = 64
schedule = "steps"
threads = 1

[[arms]]
variant = "udacity"

[[arms]]
variant = "nll-softmax"
fixes = ["real-label", "g-backward"]

[[arms]]
variant = "udacity"
fixes = ["shuffle"]
"""


def write_config(tmp_path: Path, text: str = STUDY) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def test_arms_plan_every_arm_with_every_seed_in_the_files_order(tmp_path):
    settings = load_config(write_config(tmp_path))
    assert settings.arms == [ArmChoice("udacity"), ArmChoice("nll-softmax", ("real-label", "g-backward")),
                             ArmChoice("udacity", ("shuffle",))]
    specs = plan_study(settings, RunChoices(variants=[get_variant("udacity"), get_variant("nll-softmax")]))
    assert [spec.run_id for spec in specs] == [
        f"{arm}__mnist-test-first64-steps__seed{seed}"
        for arm in ("udacity", "nll-softmax+g-backward+real-label", "udacity+shuffle") for seed in (0, 1)]
    assert {(spec.limit, spec.schedule, spec.threads) for spec in specs} == {(64, "steps", 1)}


def test_naming_variants_trains_their_arms_only_and_fix_trains_one_arm(tmp_path):
    settings = load_config(write_config(tmp_path))
    udacity = plan_study(settings, RunChoices(variants=[get_variant("udacity")]))
    assert [spec.arm_name for spec in udacity] == ["udacity", "udacity", "udacity+shuffle", "udacity+shuffle"]
    fixed = plan_study(settings, RunChoices(variants=[get_variant("udacity")], fixes=["lr-2e-4"]))
    assert {spec.arm_name for spec in fixed} == {"udacity+lr-2e-4"}
    with pytest.raises(StudyError, match="no \\[\\[arms\\]\\] of the config train torch7-mlp"):
        plan_study(settings, RunChoices(variants=[get_variant("torch7-mlp")]))


@pytest.mark.parametrize("text, needle", [
    ("[[arms]]\nfixes = ['shuffle']\n", "[[arms]] number 1 must have variant"),
    ("[[arms]]\nvariant = 'udacity'\nfix = ['shuffle']\n", "[[arms]] number 1 must have variant"),
    ("arms = 3\n", "'arms' must be one or more [[arms]] tables"),
    ("[run]\nlimit = 0\n", "[run] limit must be a positive integer"),
    ("[run]\nprotocol = 'steps'\n", "[run] protocol is now called schedule"),  # its name before the rename
])
def test_a_bad_study_file_is_one_line(tmp_path, text, needle):
    result = study(*run_args(tmp_path, tmp_path / "results", "--config", str(write_config(tmp_path, text))))
    assert_one_line_error(result, needle)


def test_the_published_study_names_every_fix_of_the_mlp_write_ups():
    settings = load_config(Path(__file__).parents[1] / "docs" / "study" / "study.toml")
    assert settings.arms is not None and settings.seeds == [0, 1, 2, 3, 4]
    for name in ("torch7-mlp", "udacity", "nll-softmax"):
        arms = {arm.fixes for arm in settings.arms if arm.variant == name}
        fixes = VARIANTS[name].fix_names
        assert () in arms and all((fix,) in arms for fix in fixes)  # as written, and each fix alone
        assert len(fixes) < 2 or tuple(sorted(fixes)) in {tuple(sorted(a)) for a in arms}  # and all together


def test_run_warns_when_it_trains_on_the_reference_digits(data_root, tmp_path):
    args = run_args(data_root, tmp_path, "torch7-mlp", "--epochs", "1", "--eval-every", "1", "--eval-samples", "16")
    apart = study(*args, "--limit", "64")  # the synthetic test split's reference starts at image 80
    overlapping = study(*args, "--limit", "128")
    assert apart.exit_code == overlapping.exit_code == 0, overlapping.output
    assert "warning" not in apart.stderr
    assert "warning: 1 run(s) train on the test split's images from 80 on" in overlapping.stderr


def all_runs(claim_readings: bool = True) -> list:
    """What `study run --all` plans from the repository's study.toml (planning reads no data)."""
    return plan_study(load_config(PROJECT_ROOT / "study.toml"),
                      RunChoices(variants=list(VARIANTS.values()), claim_readings=claim_readings))


def unreachable_claims(specs: list) -> list[str]:
    """The checkable claims no faithful run of the plan reaches the epoch of."""
    return [f"{variant.name}:{claim.key}" for variant in VARIANTS.values() for claim in variant.claims
            if claim.check is not None and not claim.contradicted
            and not any(s.variant is variant and not variant.split_toggles(s.fixes)[0]
                        and s.epochs >= variant.claim_epoch(claim.check) for s in specs)]


def test_run_all_trains_the_runs_every_checkable_claim_needs():
    specs = all_runs()
    assert unreachable_claims(specs) == []
    forty = [s for s in specs if s.arm_name == "infogan~two-runs-of-20"]
    assert len(forty) == len(load_config(PROJECT_ROOT / "study.toml").seeds) and {s.epochs for s in forty} == {40}
    assert "infogan:fail-rate-rise" in unreachable_claims(all_runs(claim_readings=False))  # the write-up's 20 alone


def test_the_default_seeds_are_the_fewest_with_which_the_reports_tests_can_tell_two_arms_apart():
    specs = all_runs()
    arms = {(s.arm_name, s.epochs) for s in specs if not s.variant.split_toggles(s.fixes)[0]}
    pairs = len(arms) * (len(arms) - 1) // 2
    needed = needed_for_holm(lambda n: smallest_mann_whitney_p(n, n), pairs, SIGNIFICANT_P)
    seeds = load_config(PROJECT_ROOT / "study.toml").seeds
    assert seeds == list(range(needed)) and needed >= 6
    assert {s.seed for s in specs} == set(seeds)
