"""One cache of evaluators per machine (harness/evaluator_cache.py): built once, copied into every results folder that
needs them and recorded there, found again by SHA-256; a results folder keeps the evaluators it holds, an entry is
never replaced, and a cache that cannot be written is skipped. Every test has a cache of its own (conftest.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import harness.evaluator
import harness.scoring
from harness import evaluator_cache
from harness.errors import StudyError
from harness.evaluator import (
    ensure_panel,
    evaluator_dir,
    evaluator_key,
    load_evaluator,
    load_panel,
    partition_sets,
)
from harness.panel import PANEL_SEEDS
from harness.scoring import ensure_calibration, load_references
from harness.storage import PROJECT_ROOT, user_cache
from tests.conftest import build_panel

PUBLISHED = PROJECT_ROOT / "docs" / "study" / "results"


def shas(panel) -> list[str]:
    return [info.sha256 for _, info in panel]


def refuse_training(*args, **kwargs):
    raise AssertionError("an evaluator was trained although the cache holds it")


def test_the_panel_is_built_once_per_machine_and_each_results_folder_records_it(data_root, tmp_path, monkeypatch):
    built = ensure_panel(tmp_path / "a", data_root, "mnist", "test")
    entries = sorted(evaluator_cache.cache_folder().iterdir())
    assert len(entries) == len(PANEL_SEEDS) and entries[0].parent == user_cache() / "evaluators"
    monkeypatch.setattr(harness.evaluator, "train_classifier", refuse_training)
    again = ensure_panel(tmp_path / "b", data_root, "mnist", "test")
    assert shas(again) == shas(built)
    for seed, (_, info) in zip(PANEL_SEEDS, again):
        member = evaluator_dir(tmp_path / "b", "mnist", "test-thirds", seed)
        record = json.loads((member / "cache.json").read_text())
        assert Path(record["entry"]) in entries and record["key"]["seed"] == seed
        assert (member / "evaluator.pt").read_bytes() == (Path(record["entry"]) / "evaluator.pt").read_bytes()
        assert json.loads((member / "evaluator.json").read_text())["sha256"] == info.sha256


def test_a_results_folder_keeps_the_evaluators_it_holds(data_root, tmp_path):
    ensure_panel(tmp_path / "cached", data_root, "mnist", "test")  # the cache's: the default epochs
    build_panel(tmp_path / "own", data_root, epochs=1)  # this folder's own, of 1 epoch
    before = {path: path.read_bytes() for path in (tmp_path / "own" / "evaluators").rglob("*")
              if path.is_file()}
    kept = ensure_panel(tmp_path / "own", data_root, "mnist", "test")
    assert shas(kept) != shas(load_panel(tmp_path / "cached", "mnist"))
    assert {path: path.read_bytes() for path in (tmp_path / "own" / "evaluators").rglob("*") if path.is_file()} \
        == before  # not a byte rewritten, nothing added


def test_an_entry_is_never_replaced(data_root, tmp_path):
    key = evaluator_key(partition_sets(data_root, "mnist", "test-thirds"), "mnist", "test-thirds", 0, 1)

    def writer(text: str):
        return lambda folder: [(folder / name).write_text(text) for name in ("evaluator.pt", "evaluator.json")]
    first = evaluator_cache.publish(key, writer("first"))
    assert first is not None and evaluator_cache.publish(key, writer("second")) == first
    assert (first / "evaluator.pt").read_text() == "first"
    assert [path.name for path in evaluator_cache.cache_folder().iterdir()] == [first.name]  # no leftovers


def test_the_key_holds_what_a_build_depends_on(data_root):
    sets = partition_sets(data_root, "mnist", "test-thirds")
    names = {evaluator_key(sets, "mnist", "test-thirds", seed, epochs).entry_name
             for seed in (0, 1) for epochs in (None, 1)}
    other_images = partition_sets(data_root, "fashion-mnist", "test-thirds")
    names.add(evaluator_key(other_images, "mnist", "test-thirds", 0, None).entry_name)
    assert len(names) == 5
    assert evaluator_key(sets, "mnist", "test-thirds", 0, None).epochs == 12  # the default for few images


def test_weights_a_results_folder_lacks_are_found_again_by_their_sha256(data_root, tmp_path, monkeypatch):
    info = ensure_panel(tmp_path, data_root, "mnist", "test")[0][1]
    (evaluator_dir(tmp_path, "mnist", "test-thirds") / "evaluator.pt").unlink()
    assert load_evaluator(tmp_path, "mnist")[1] == info
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "another-cache"))
    with pytest.raises(StudyError, match="evaluator.pt cannot be read"):
        load_evaluator(tmp_path, "mnist")


def test_calibration_rows_are_computed_once_and_shared_through_the_cache(data_root, tmp_path, monkeypatch):
    panels = {name: ensure_panel(tmp_path / name, data_root, "mnist", "test") for name in ("a", "b")}
    computed = ensure_calibration(tmp_path / "a", data_root,
                                  load_references(tmp_path / "a", data_root, "mnist", 40, panels["a"]))
    monkeypatch.setattr(harness.scoring, "calibration_rows", refuse_training)
    assert ensure_calibration(tmp_path / "b", data_root,
                              load_references(tmp_path / "b", data_root, "mnist", 40, panels["b"])) == computed
    assert (evaluator_dir(tmp_path / "b", "mnist", "test-thirds", 2) / "calibration-n40.json").is_file()
    ensure_panel(tmp_path / "c", data_root, "mnist", "test")  # installed after: the rows come with it
    assert (evaluator_dir(tmp_path / "c", "mnist", "test-thirds") / "calibration-n40.json").is_file()


def test_a_cache_that_cannot_be_written_builds_into_the_results_folder(data_root, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("STUDY_CACHE_DIR", str(blocked))
    panel = ensure_panel(tmp_path / "results", data_root, "mnist", "test")
    member = evaluator_dir(tmp_path / "results", "mnist", "test-thirds")
    assert len(panel) == len(PANEL_SEEDS) and not (member / "cache.json").exists()


def test_the_published_study_keeps_its_evaluators_and_its_runs_scores(data_root, tmp_path):
    """A copy of docs/study/results' evaluators, with an empty cache: the panel the runs were scored with, as it
    is, and nothing written to it or to the cache."""
    results = tmp_path / "published"
    shutil.copytree(PUBLISHED / "evaluators", results / "evaluators")
    manifests = sorted((PUBLISHED / "runs").glob("*/manifest.json"))
    scored_with = {tuple(json.loads(path.read_text())["evaluation"]["panel_sha256"]) for path in manifests}
    before = {path: path.read_bytes() for path in results.rglob("*") if path.is_file()}
    panel = ensure_panel(results, data_root, "mnist", "test")
    assert scored_with == {tuple(shas(panel))}
    assert {path: path.read_bytes() for path in results.rglob("*") if path.is_file()} == before
    assert not evaluator_cache.cache_folder().exists()
