"""Data: find or download the IDX files, validate them, and serve batches in the original DataLoader's order.

The whole split lives as one uint8 tensor on the training device; a batch is indexed out of it and scaled there,
giving exactly the values ToTensor (and Normalize(0.5, 0.5) or ``x*2-1``) would.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torchvision

from harness.errors import StudyError
from harness.seeding import draw_loader_seeds

DATASET_CLASSES = {"mnist": torchvision.datasets.MNIST, "fashion-mnist": torchvision.datasets.FashionMNIST}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}
IDX_UINT8 = 0x08


def raw_folder(root: Path, dataset: str) -> Path:
    return root / DATASET_CLASSES[dataset].__name__ / "raw"


def idx_stems(split: str) -> tuple[str, str]:
    prefix = SPLIT_PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _existing(raw: Path, stem: str) -> Path | None:
    for candidate in (raw / stem, raw / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, ndim: int) -> torch.Tensor:
    """Parse an IDX file of unsigned bytes (plain or gzip), refusing a wrong header or a wrong length."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise StudyError(f"cannot read {path}: {error}; delete it so it is downloaded again, or point --data-root "
                         f"at intact files") from None
    header = 4 + 4 * ndim
    if len(data) < header or data[0:2] != b"\0\0" or data[2] != IDX_UINT8 or data[3] != ndim:
        raise StudyError(f"{path} is not an IDX file of {ndim}-D unsigned bytes (bad header); delete it so it is "
                         f"downloaded again, or point --data-root at intact files")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + torch.Size(dims).numel()
    if len(data) != expected:
        raise StudyError(f"{path} is truncated or corrupt ({len(data)} bytes, header promises {expected}); delete "
                         f"it so it is downloaded again, or point --data-root at intact files")
    if len(data) == header:  # no items: frombuffer refuses an empty buffer
        return torch.empty(dims, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=header).view(*dims)


def _download(root: Path, dataset: str, split: str) -> None:
    """torchvision fetches and unpacks the files into <root>/<Class>/raw; offline it fails and we say what to do."""
    images, labels = idx_stems(split)
    raw = raw_folder(root, dataset)
    created = [folder for folder in (root, raw.parent, raw) if not folder.exists()]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            DATASET_CLASSES[dataset](str(root), train=split == "train", download=True)
    except Exception:  # torchvision raises RuntimeError or URLError variants; the message below says it all
        for folder in reversed(created):  # torchvision made them for the download: leave no empty folders behind
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise StudyError(
            f"{dataset} {split} data not found (looked for {raw / images}[.gz] and {raw / labels}[.gz]) and the "
            f"download failed; point --data-root, STUDY_DATA_ROOT or data_root in study.toml at a folder holding "
            f"<Class>/raw/ IDX files (e.g. ../shared/data with --split test)") from None


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8, (N, 28, 28), CPU
    labels: torch.Tensor  # uint8, (N,)
    dataset: str
    split: str
    files: tuple[str, ...]


def images_sha256(images: torch.Tensor) -> str:
    """The identity of a set of images: what a resumed run checks it still trains on."""
    return hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()


def load_split(root: Path, dataset: str, split: str, limit: int | None = None) -> Split:
    """The first ``limit`` images (all when None) and labels of a split, downloading them if they are missing."""
    if dataset not in DATASET_CLASSES:
        raise StudyError(f"unknown dataset '{dataset}'; valid datasets: {', '.join(DATASET_CLASSES)}")
    if split not in SPLIT_PREFIX:
        raise StudyError(f"unknown split '{split}'; valid splits: {', '.join(SPLIT_PREFIX)}")
    raw = raw_folder(root, dataset)
    stems = idx_stems(split)
    if any(_existing(raw, stem) is None for stem in stems):
        _download(root, dataset, split)
    image_path, label_path = (_existing(raw, stem) for stem in stems)
    assert image_path is not None and label_path is not None
    images, labels = read_idx(image_path, 3), read_idx(label_path, 1)
    _check_contents(images, labels, image_path, label_path)
    if limit is not None:
        if limit > images.shape[0]:
            raise StudyError(f"--limit {limit} exceeds the {images.shape[0]} images of {dataset} {split}; use a "
                             f"smaller --limit")
        images, labels = images[:limit], labels[:limit]
    return Split(images, labels, dataset, split, (str(image_path), str(label_path)))


def _check_contents(images: torch.Tensor, labels: torch.Tensor, image_path: Path, label_path: Path) -> None:
    """What every variant and the evaluator assume: some 28x28 images, one label 0-9 each."""
    fix = "replace the files with intact MNIST-format ones, or point --data-root elsewhere"
    if images.shape[1:] != (28, 28):
        raise StudyError(f"{image_path} holds {tuple(images.shape[1:])} images, not 28x28; {fix}")
    if images.shape[0] == 0:
        raise StudyError(f"{image_path} holds no images; {fix}")
    if images.shape[0] != labels.shape[0]:
        raise StudyError(f"{image_path} holds {images.shape[0]} images but {label_path} {labels.shape[0]} labels; "
                         f"the two files are from different releases, replace both")
    if int(labels.max()) > 9:
        raise StudyError(f"{label_path} holds label {int(labels.max())}, outside 0-9; {fix}")


def epoch_order(n: int, shuffle: bool) -> torch.Tensor:
    """The sample order a fresh DataLoader(shuffle=...) iterator yields, consuming the global CPU RNG as it does:
    its base seed, and when shuffling the seed of a private generator from which RandomSampler takes randperm(n)."""
    sampler_seed = draw_loader_seeds(shuffle, takes_batch=True)
    if sampler_seed is None:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(sampler_seed))


class BatchOrder:
    """Batch indices in the original DataLoader's order, pass after pass over the available images.

    Each pass starts as a fresh DataLoader iterator does, drawing from the global RNG at the moment the previous
    pass runs out (so draws interleave with training exactly as in the original). An epoch takes a set number of
    batches: one pass under the equal-epochs schedule; the original's batches per epoch under the step-matched one,
    where an epoch can end inside a pass and the next continues it (``pending``, kept in checkpoints).
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, device: torch.device,
                 pending: torch.Tensor | None = None):
        self.n, self.batch_size, self.shuffle, self.device = n, batch_size, shuffle, device
        self.pending = pending.to(device) if pending is not None else torch.empty(0, dtype=torch.int64,
                                                                                   device=device)

    def batches(self, steps: int) -> Iterator[torch.Tensor]:
        for _ in range(steps):
            if not len(self.pending):
                self.pending = epoch_order(self.n, self.shuffle).to(self.device)
            batch, self.pending = self.pending[:self.batch_size], self.pending[self.batch_size:]
            yield batch


class DeviceImages:
    """All images of a split as uint8 on the training device; batches come out scaled as the original scales."""

    def __init__(self, images: torch.Tensor, device: torch.device, pixel_range: str, flatten: bool):
        self.images = images.to(device)
        self.pixel_range = pixel_range
        self.flatten = flatten

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        unit = self.images[indices].float().div(255)  # ToTensor's arithmetic
        scaled = unit * 2 - 1 if self.pixel_range == "[-1,1]" else unit  # == Normalize(0.5, 0.5) bit for bit
        return scaled.view(len(indices), -1) if self.flatten else scaled.unsqueeze(1)
