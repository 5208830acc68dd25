"""What `study list` and `study show` print about the variants, and a cache of it that cannot go stale.

Both commands show the variants' parameter counts, and counting builds the networks: that imports torch, which alone
takes more than 2 s on a 2-core machine. So the descriptions are cached together with everything they were computed
from: the SHA-256 of every harness and variants module loaded when they were, the installed version of each
dependency the project declares (torch defines the layers counted), and the Python version. A cache is used only
while all of these are unchanged; anything else recomputes it, and a cache that cannot be read or written is
recomputed or skipped, never an error. This module imports nothing heavy itself, so a fresh cache answers without
torch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import time
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.storage import atomic_write_text, user_cache

if TYPE_CHECKING:
    from harness.variant import Quirk, Variant

FORMAT = 4  # the cached document's layout; a file of another layout is recomputed (3: claims' runs; 4: "schedule")
PROJECT_PACKAGES = ("harness", "variants")
DISTRIBUTION = "mnist-gan-study"
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
CLAIMS_SCHEDULE = ("Claims are judged on the faithful runs (no --fix; an --alt reading is labelled) at the epoch "
                   "named, under the schedule the runs trained with: `--schedule steps` gives each epoch the "
                   "original's number of optimizer steps whatever the number of images; `--schedule epochs` (the "
                   "default) makes an epoch one pass over the images, fewer steps than the original's on a subset.")


@dataclass(frozen=True)
class Catalogue:
    rows: list[dict[str, Any]]  # `study list --json`, in VARIANTS' order
    details: dict[str, dict[str, Any]]  # `study show VARIANT --json`, by name


def load_catalogue() -> Catalogue:
    """The descriptions from the cache when nothing they depend on has changed, else computed (and cached)."""
    path = cache_path()
    document = read_cache(path)
    if document is not None and is_fresh(document):
        return Catalogue(document["rows"], document["details"])
    started = time.time()
    catalogue = compute()
    write_cache(path, catalogue, started)
    return catalogue


def compute() -> Catalogue:
    from variants import VARIANTS  # torch: only when the cache cannot answer

    rows = [summary(variant) for variant in VARIANTS.values()]
    details = {row["name"]: row | details_of(variant) for row, variant in zip(rows, VARIANTS.values())}
    # Through JSON, as a cache read gives them back, so that a computed and a cached answer print the same.
    return Catalogue(**json.loads(json.dumps({"rows": rows, "details": details}, default=str)))


def summary(variant: Variant) -> dict[str, Any]:
    g_params, d_params = variant.param_counts()
    return {"name": variant.name, "writeup": variant.writeup, "title": variant.title,
            "architecture": variant.architecture, "loss": variant.loss, "epochs": variant.recipe.epochs,
            "batch_size": variant.recipe.batch_size, "g_params": g_params, "d_params": d_params,
            "fixes": variant.fix_names}


def details_of(variant: Variant) -> dict[str, Any]:
    from harness.claims import describe_check, describe_runs
    from harness.seeding import SEED_CONTRACT_TEXT

    return {
        "recipe": dataclasses.asdict(variant.recipe),
        "ledger": [dataclasses.asdict(h) for h in variant.ledger],
        "quirks": [{"name": q.name, "status": q.status, "what": q.what, "toggle": toggle(q), "inert": q.inert}
                   for q in variant.quirks],
        "claims": [{"key": c.key, "quote": c.quote, "checkable": c.checkable, "check": describe_check(c.check, variant),
                    "runs": describe_runs(c, variant),
                    "judged_at_epoch": variant.claim_epoch(c.check) if c.check else None,
                    "contradicted_by_the_code": c.contradicted, "assumes": c.assumes} for c in variant.claims],
        "schedule": CLAIMS_SCHEDULE, "seed_contract": SEED_CONTRACT_TEXT,
        "draws": [{"name": d.name, "moment": d.moment, "what": d.what, "source": d.source} for d in variant.draws]}


def toggle(quirk: Quirk) -> str:
    """How a quirk is toggled on the command line, if it can be."""
    if not quirk.fix:
        return ""
    return f"--{'alt' if quirk.status == 'alternative' else 'fix'} {quirk.fix}"


def cache_path() -> Path:
    """In the machine's cache of the study, one file per checkout, so that two checkouts of different code never
    take each other's answers."""
    checkout = str(Path(__file__).resolve().parents[1])
    return user_cache() / f"catalogue-{hashlib.sha256(checkout.encode()).hexdigest()[:16]}.json"


def read_cache(path: Path) -> dict[str, Any] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or damaged: computed again
        return None
    keys = {"format", "python", "versions", "sources", "rows", "details"}
    if not isinstance(document, dict) or set(document) != keys or document["format"] != FORMAT:
        return None
    return document


def is_fresh(document: dict[str, Any]) -> bool:
    return (document["python"] == sys.version
            and all(installed_version(name) == version for name, version in document["versions"].items())
            and all(file_sha256(Path(path)) == digest for path, digest in document["sources"].items()))


def write_cache(path: Path, catalogue: Catalogue, started: float) -> None:
    sources = project_sources()
    if any(os.stat(source).st_mtime >= started for source in sources):
        return  # a module was edited while the descriptions were computed: its hash may not be what was loaded
    document = {"format": FORMAT, "python": sys.version, "versions": dependency_versions(), "sources": sources,
                "rows": catalogue.rows, "details": catalogue.details}
    try:
        atomic_write_text(path, json.dumps(document))
    except OSError:
        pass  # e.g. a read-only home: the commands still answer, by computing


def project_sources() -> dict[str, str]:
    """SHA-256 of every loaded harness and variants module, by path: the code the descriptions came from."""
    files = [getattr(module, "__file__", None) for name, module in list(sys.modules.items())
             if name.partition(".")[0] in PROJECT_PACKAGES]
    paths = {Path(file).resolve() for file in files if file}
    return {str(path): file_sha256(path) or "" for path in sorted(paths)}


def dependency_versions() -> dict[str, str | None]:
    """The installed version (None: not installed) of each dependency the project declares. Declared, not loaded:
    what a process has loaded depends on what it did (Ray puts vendored copies of colorama and psutil on sys.path,
    whose versions another process does not find), so a cache keyed on the loaded distributions was stale in every
    fresh process after one that had started Ray."""
    return {name: installed_version(name) for name in declared_dependencies()}


def declared_dependencies() -> list[str]:
    """[project] dependencies, from the installed distribution's metadata, else (a checkout run from PYTHONPATH,
    not installed) from the checkout's pyproject.toml; extras excluded."""
    try:
        requirements = [r for r in metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        except (OSError, ValueError, KeyError):
            requirements = []
    return sorted({match.group(0).lower() for r in requirements if (match := REQUIREMENT_NAME.match(r.strip()))})


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
