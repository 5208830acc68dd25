"""One cache of evaluators per machine, shared by every results folder: the panel takes minutes to build, and two
builds of one evaluator from the same code and images give the same weights (harness/evaluator.py).

An entry is one evaluator, under $STUDY_CACHE_DIR/evaluators (else ~/.cache/mnist-gan-study/evaluators), in a
folder named by its key (``EvaluatorKey``: what a build depends on) holding the weights, their record with their
SHA-256, the key, and the calibration rows computed for it. An entry is written whole under a temporary name and
renamed into place, and is never changed after, but for calibration files added: where two commands build one
evaluator at once, the first to finish is the one every results folder gets.

A results folder gets a copy of the entry (a few hundred kB) in RESULTS/evaluators/<dataset>-<partition>-seed<k>/,
with ``cache.json`` naming the entry it came from: each results folder records the evaluators it used and stays
whole on its own (published, moved to another machine, the cache cleared). A results folder that already holds an
evaluator keeps it whatever the cache holds; weights it records but lacks are found again by their SHA-256.

A cache that cannot be written is skipped (the evaluator is built into the results folder, as without a cache).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import StudyError
from harness.panel import PANEL_ARCHITECTURE
from harness.storage import atomic_write_bytes, read_json, user_cache, write_json

RECORD, WEIGHTS, KEY, SOURCE = "evaluator.json", "evaluator.pt", "key.json", "cache.json"


@dataclass(frozen=True)
class EvaluatorKey:
    """What one evaluator's build depends on."""

    dataset: str
    partition: str  # the evaluators' partition: which images they train on, score against and are calibrated with
    seed: int
    epochs: int
    images_sha256: str  # of the partition's three image sets, so a data folder of other images builds anew
    code_sha256: str  # of the source files that train it: any edit to them builds anew
    torch_version: str
    architecture: str = PANEL_ARCHITECTURE  # a key of evaluator.ARCHITECTURES

    @property
    def entry_name(self) -> str:
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()
        return f"{member_name(self.dataset, self.partition, self.seed, self.architecture)}-{digest[:16]}"


def member_name(dataset: str, partition: str, seed: int, architecture: str) -> str:
    """An evaluator's folder name: the panel's CNN by dataset, partition and seed; another architecture named too."""
    kind = "" if architecture == PANEL_ARCHITECTURE else f"{architecture}-"
    return f"{dataset}-{partition}-{kind}seed{seed}"


def cache_folder() -> Path:
    return user_cache() / "evaluators"


def find(key: EvaluatorKey) -> Path | None:
    """The entry of ``key``, or None."""
    entry = cache_folder() / key.entry_name
    try:
        whole = (entry / WEIGHTS).is_file() and (entry / RECORD).is_file()
        return entry if whole and read_json(entry / KEY) == dataclasses.asdict(key) else None
    except StudyError:  # none, or one being replaced by hand
        return None


def publish(key: EvaluatorKey, write: Callable[[Path], None]) -> Path | None:
    """The entry of ``key``: ``write`` fills a new folder with the evaluator's files, which becomes the entry unless
    another command's build got there first (then that one is the entry). None where the cache cannot be written."""
    try:
        cache_folder().mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=cache_folder(), prefix=f".{key.entry_name}."))
    except OSError:
        return None
    try:
        write(building)
        write_json(building / KEY, dataclasses.asdict(key))
        os.rename(building, cache_folder() / key.entry_name)
    except OSError:  # another build was renamed into place first (or the disk is full): keep what is there
        pass
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return find(key)


def install(entry: Path, member: Path) -> None:
    """Copy an entry into a results folder's member folder: weights and calibration rows first and the record
    last, since a member counts as there once its record is; then where it came from."""
    for path in sorted(entry.glob("calibration-n*.json")) + [entry / WEIGHTS, entry / RECORD]:
        atomic_write_bytes(member / path.name, path.read_bytes())
    record_source(entry, member)


def record_source(entry: Path, member: Path) -> None:
    """Say which entry a member is (installed from it, or built in the results folder with the same weights), so
    the two share calibration rows."""
    write_json(member / SOURCE, {"entry": str(entry), "key": read_json(entry / KEY)})


def sha256_of(entry: Path) -> str | None:
    """The SHA-256 of the weights an entry's record names (None where it cannot be read)."""
    try:
        record = read_json(entry / RECORD)
    except StudyError:
        return None
    return record.get("sha256") if isinstance(record, dict) else None


def weights_of(sha256: str) -> Path | None:
    """Cached weights whose record names this SHA-256 (loading checks them against it), or None."""
    for record in sorted(cache_folder().glob(f"*/{RECORD}")):
        if sha256_of(record.parent) == sha256 and (record.parent / WEIGHTS).is_file():
            return record.parent / WEIGHTS
    return None


def source_entry(member: Path) -> Path | None:
    """The cache entry a results folder's member came from, where it still exists."""
    try:
        source = read_json(member / SOURCE)
    except StudyError:
        return None
    entry = Path(source["entry"]) if isinstance(source, dict) and "entry" in source else None
    return entry if entry is not None and entry.is_dir() else None


def fetch(member: Path, name: str) -> bool:
    """Copy a file the member's cache entry holds (calibration rows the member lacks, or holds of another version)
    into the member; whether there was one."""
    entry = source_entry(member)
    if entry is None or not (entry / name).is_file():
        return False
    atomic_write_bytes(member / name, (entry / name).read_bytes())
    return True


def share(member: Path, name: str) -> None:
    """Copy a file the member has computed (calibration rows) into its cache entry, unless the entry has one."""
    entry = source_entry(member)
    if entry is not None and not (entry / name).exists():
        try:
            atomic_write_bytes(entry / name, (member / name).read_bytes())
        except OSError:  # a cache that cannot be written only means another results folder computes it again
            pass
