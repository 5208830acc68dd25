"""Run folders: names, manifest, CSV tables and checkpoints, every file written atomically.

torch, torchvision and numpy are imported only by the functions that use them: importing them takes seconds, and
commands such as `study list` write files here without any of them."""
from __future__ import annotations

import csv
import ctypes
import errno
import io
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from harness.errors import StudyError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()  # what open() would give: shared results stay readable by colleagues


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it over: readers see the old or the new file, whole.
    The file gets the mode the user's umask allows (mkstemp alone would make it private)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_RENAME_EXCHANGE = 2  # linux/fs.h: renameat2 swaps the two paths
_AT_FDCWD = -100


def exchange_paths(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE), so a reader sees one or the other,
    never neither. False where the filesystem or kernel cannot (e.g. NFS): the caller then renames in two steps."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, value: object) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> object:
    """The JSON value in ``path``; a missing or damaged file is a StudyError (callers add what to do about it)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StudyError(f"cannot read {path}: {error}") from None


def format_value(value: object) -> str:
    """repr of floats is exact and stable, so identical runs give byte-identical CSV files."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def write_csv(path: Path, rows: Iterable[Mapping[str, object]], columns: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(column, "")) for column in columns])
    atomic_write_text(path, buffer.getvalue())


def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a damaged pickle can raise almost anything
        raise StudyError(f"checkpoint {path} cannot be read ({error}); re-run with --force to train this run "
                         f"afresh") from None


def user_cache() -> Path:
    """This machine's cache of the study, shared by its checkouts and results folders: $STUDY_CACHE_DIR, else the
    user's cache folder ($XDG_CACHE_HOME, else ~/.cache) / mnist-gan-study."""
    return Path(os.environ.get("STUDY_CACHE_DIR") or
                Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnist-gan-study")


def check_writable(folder: Path, option: str = "--results") -> None:
    """Create ``folder`` if needed and prove a file can be written there; ``option`` names the flag that moves it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise StudyError(f"folder {folder} is not writable ({error.strerror}); pass {option} with a folder you can "
                         f"write to") from None


def code_version() -> str:
    """The project's git commit, marked '-dirty' when the working tree differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit}-dirty" if dirty else commit


def library_versions() -> dict[str, str]:
    import numpy as np
    import torch
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__}
