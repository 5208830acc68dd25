"""study.toml: the defaults of `study run`. Command-line options override it; STUDY_DATA_ROOT overrides its
data_root. Relative paths in the file are relative to the file's own folder."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import StudyError

DEFAULT_CONFIG = Path("study.toml")
ALL_VARIANTS = ["torch7-mlp", "udacity", "nll-softmax", "infogan", "dcgan-xavier"]


@dataclass(frozen=True)
class StudyConfig:
    variants: list[str] = field(default_factory=lambda: list(ALL_VARIANTS))
    seeds: list[int] = field(default_factory=lambda: [0])
    dataset: str = "mnist"
    split: str = "train"
    device: str = "auto"
    results: Path = Path("results")
    data_root: Path = Path("data")
    threads: int | None = None
    eval_every: int | str = "auto"  # "auto": about ten evaluations per run; 0: never
    eval_samples: int = 10_000


def _check_types(path: Path, table: dict) -> None:
    expected = {"variants": list, "seeds": list, "dataset": str, "split": str, "device": str, "results": str,
                "data_root": str, "threads": int, "eval_every": (int, str), "eval_samples": int}
    for key, value in table.items():
        if key not in expected:
            raise StudyError(f"{path}: unknown key '{key}' in [run]; valid keys: {', '.join(expected)}")
        if not isinstance(value, expected[key]):
            raise StudyError(f"{path}: [run] {key} has the wrong type: {value!r}")
    if table.get("eval_every", 0) != "auto" and (isinstance(table.get("eval_every", 0), str)
                                                 or table.get("eval_every", 0) < 0):
        raise StudyError(f"{path}: [run] eval_every must be \"auto\" or a non-negative integer")
    if table.get("eval_samples", 1) < 1:
        raise StudyError(f"{path}: [run] eval_samples must be at least 1")
    if table.get("threads", 1) < 1:
        raise StudyError(f"{path}: [run] threads must be at least 1, got {table['threads']}")
    seeds = table.get("seeds", [])
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise StudyError(f"{path}: [run] seeds must be non-negative integers, got {seeds!r}")


def load_config(path: Path | None) -> StudyConfig:
    """Read ``path`` (or ./study.toml when it exists); missing keys keep their defaults."""
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            return StudyConfig()
        path = DEFAULT_CONFIG
    try:
        table = tomllib.loads(path.read_text()).get("run", {})
    except OSError as error:
        raise StudyError(f"cannot read config {path}: {error.strerror}; pass --config with an existing file") \
            from None
    except tomllib.TOMLDecodeError as error:
        raise StudyError(f"config {path} is not valid TOML ({error}); fix the file or pass another --config") \
            from None
    _check_types(path, table)
    base = path.resolve().parent
    paths = {key: base / table[key] for key in ("results", "data_root") if key in table}
    return StudyConfig(**(table | paths))


def resolve_eval_every(value: int | str, epochs: int) -> int:
    """'auto' evaluates about ten times per run (and always at the last epoch)."""
    return max(1, round(epochs / 10)) if value == "auto" else int(value)


def resolve_data_root(option: Path | None, config: StudyConfig) -> Path:
    """--data-root, else $STUDY_DATA_ROOT, else study.toml's data_root, else ./data."""
    if option is not None:
        return option
    if os.environ.get("STUDY_DATA_ROOT"):
        return Path(os.environ["STUDY_DATA_ROOT"])
    return config.data_root
