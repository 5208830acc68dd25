"""study.toml: the defaults of `study run`. Command-line options override it; STUDY_DATA_ROOT overrides its
data_root. Relative paths in the file are relative to the file's own folder."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from harness.errors import StudyError
from harness.neighbours import MIN_IMAGES as MIN_EVAL_SAMPLES

DEFAULT_CONFIG = Path("study.toml")
SCHEDULES = ("epochs", "steps")
RENAMED_KEYS = {"protocol": "schedule"}  # [run] keys renamed since, refused with their new name


@dataclass(frozen=True)
class ArmChoice:
    """One [[arms]] entry: a variant with the fixes and alternative readings it trains under."""

    variant: str
    fixes: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyConfig:
    variants: list[str] | None = None  # None: every variant
    seeds: list[int] = field(default_factory=lambda: [0])
    dataset: str = "mnist"
    split: str = "train"
    device: str = "auto"
    results: Path = Path("results")
    data_root: Path = Path("data")
    threads: int | None = None
    eval_every: int | str = "auto"  # "auto": about ten evaluations per run; 0: never
    eval_samples: int = 10_000
    schedule: str = "epochs"  # epochs | steps (step-matched: an epoch has the original's number of steps)
    limit: int | None = None  # train on the first N images only
    arms: list[ArmChoice] | None = None  # a study's arms; None: each variant as written (or as --fix/--alt say)


THREADS_MAX = 1024  # torch.set_num_threads takes a C int; no machine this suite targets has more cores
SEED_MAX = 2**32 - 1  # numpy's global RNG, which two write-ups draw from, takes seeds below 2**32


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML's true is a bool, never a count


def _problem(key: str, value: object) -> str | None:
    """What is wrong with one [run] value, or None."""
    if key in ("variants", "seeds"):
        if not isinstance(value, list) or not value:
            return "must be a non-empty list"
        if key == "seeds" and not all(_is_int(s) and 0 <= s <= SEED_MAX for s in value):
            return f"must be integers from 0 to {SEED_MAX}"
        if key == "variants" and not all(isinstance(v, str) for v in value):
            return "must be variant names"
        return None
    if key == "schedule":
        return None if value in SCHEDULES else f"must be one of {', '.join(SCHEDULES)}"
    if key in RENAMED_KEYS:
        return f"is now called {RENAMED_KEYS[key]}; rename it"
    if key in ("dataset", "split", "device", "results", "data_root"):
        return None if isinstance(value, str) and value else "must be a non-empty string"
    if key == "threads":
        return None if _is_int(value) and 1 <= value <= THREADS_MAX else f"must be an integer from 1 to {THREADS_MAX}"
    if key == "eval_every":
        return None if value == "auto" or (_is_int(value) and value >= 0) else \
            "must be \"auto\" or a non-negative integer"
    if key == "limit":
        return None if _is_int(value) and value >= 1 else "must be a positive integer"
    if key == "eval_samples":
        return None if _is_int(value) and value >= MIN_EVAL_SAMPLES else \
            f"must be an integer >= {MIN_EVAL_SAMPLES}"
    return "is not a known key; valid keys: variants, seeds, dataset, split, device, results, data_root, threads, " \
           "eval_every, eval_samples, schedule, limit"


ARM_KEYS = ("variant", "fixes", "alternatives")


def _arms(path: Path, entries: object) -> list[ArmChoice]:
    """The [[arms]] tables: each a variant name with optional lists of fixes and alternatives."""
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise StudyError(f"{path}: 'arms' must be one or more [[arms]] tables; fix the file or pass another --config")
    arms = []
    for number, entry in enumerate(entries, 1):
        unknown = sorted(set(entry) - set(ARM_KEYS))
        lists_ok = all(isinstance(entry.get(k, []), list) and all(isinstance(x, str) for x in entry.get(k, []))
                       for k in ("fixes", "alternatives"))
        if unknown or not isinstance(entry.get("variant"), str) or not lists_ok:
            raise StudyError(f"{path}: [[arms]] number {number} must have variant = \"NAME\" and optional lists "
                             f"fixes and alternatives of names (got {entry!r}); fix the file or pass another --config")
        arms.append(ArmChoice(entry["variant"], tuple(entry.get("fixes", [])), tuple(entry.get("alternatives", []))))
    return arms


def _check(path: Path, document: dict) -> dict:
    unknown = sorted(set(document) - {"run", "arms"})
    if unknown:  # e.g. a [Run] typo, whose settings would be silently ignored
        raise StudyError(f"{path}: unknown table [{unknown[0]}]; the valid tables are [run] and [[arms]]; fix the "
                         f"file or pass another --config")
    table = document.get("run", {})
    if not isinstance(table, dict):
        raise StudyError(f"{path}: 'run' must be a [run] table of settings, got {table!r}")
    for key, value in table.items():
        problem = _problem(key, value)
        if problem:
            raise StudyError(f"{path}: [run] {key} {problem} (got {value!r}); fix the file or pass another --config")
    return table


def load_config(path: Path | None) -> StudyConfig:
    """Read ``path`` (or ./study.toml when it exists); missing keys keep their defaults."""
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            return StudyConfig()
        path = DEFAULT_CONFIG
    try:
        document = tomllib.loads(path.read_text())
    except OSError as error:
        raise StudyError(f"cannot read config {path}: {error.strerror}; pass --config with an existing file") \
            from None
    except UnicodeDecodeError:
        raise StudyError(f"config {path} is not a text file; pass --config with a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise StudyError(f"config {path} is not valid TOML ({error}); fix the file or pass another --config") \
            from None
    table = _check(path, document)
    base = path.resolve().parent
    paths = {key: base / table[key] for key in ("results", "data_root") if key in table}
    arms = {"arms": _arms(path, document["arms"])} if "arms" in document else {}
    return StudyConfig(**(table | paths | arms))


def resolve_eval_every(value: int | str, epochs: int) -> int:
    """'auto' evaluates about ten times per run (and always at the last epoch)."""
    return max(1, round(epochs / 10)) if value == "auto" else int(value)


def resolve_recorded_root(option: Path | None, recorded: Path) -> Path:
    """Where a finished run's data is now: --data-root, else where it was trained from if that still exists,
    else $STUDY_DATA_ROOT."""
    if option is not None:
        return option
    if recorded.is_dir() or not os.environ.get("STUDY_DATA_ROOT"):
        return recorded
    return Path(os.environ["STUDY_DATA_ROOT"])


def resolve_data_root(option: Path | None, config: StudyConfig) -> Path:
    """--data-root, else $STUDY_DATA_ROOT, else study.toml's data_root, else ./data."""
    if option is not None:
        return option
    if os.environ.get("STUDY_DATA_ROOT"):
        return Path(os.environ["STUDY_DATA_ROOT"])
    return config.data_root
