"""TensorBoard event files beside metrics.csv (`study run --tensorboard`): each epoch's numeric columns as scalars
and its fixed-noise sample grid as an image, written from the same row metrics.csv gets. metrics.csv stays the
source of truth; the event files are a view of it for people who track experiments in TensorBoard."""
from __future__ import annotations

import contextlib
import importlib.util
import math
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from harness.errors import StudyError
from harness.run_folder import RunFolder

EpochLogger = Callable[[dict, Path], None]  # (metrics row, sample grid) at the end of an epoch


def require_tensorboard() -> None:
    """Refuse --tensorboard before any training when the optional package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise StudyError("--tensorboard needs the tensorboard package; install it with "
                         "pip install -e \".[tensorboard]\"")


def tensorboard_dir(folder: RunFolder) -> Path:
    return folder.path / "tensorboard"


@contextlib.contextmanager
def epoch_logger(folder: RunFolder, enabled: bool) -> Iterator[EpochLogger]:
    """A function to call at each epoch's end; it writes nothing unless ``enabled``."""
    if not enabled:
        yield lambda row, grid: None
        return
    require_tensorboard()
    from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when asked for

    writer = SummaryWriter(log_dir=str(tensorboard_dir(folder)))

    def log(row: dict, grid: Path) -> None:
        epoch = int(row["epoch"])
        for name, value in row.items():
            if name != "epoch" and isinstance(value, (int, float)) and not math.isnan(value):
                writer.add_scalar(name, value, epoch)
        if grid.is_file():
            writer.add_image("samples", np.asarray(Image.open(grid).convert("L")), epoch, dataformats="HW")
        writer.flush()  # a run may be stopped at any epoch: what it logged is on disk
    try:
        yield log
    finally:
        writer.close()
