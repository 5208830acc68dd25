"""Fixtures: small synthetic IDX datasets written by the tests, the real offline data when present, run specs, and a
fake study (tests/fakes.py) for the report's tests."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from harness.evaluator import build_evaluator
from harness.panel import PANEL_SEEDS
from harness.planning import RunSpec
from harness.variant import Fixes, Variant
from tests.fakes import write_fake_study
from variants import get_variant

TRAIN_IMAGES, TEST_IMAGES = 300, 200


def idx_bytes(tensor: torch.Tensor) -> bytes:
    """Encode a uint8 tensor as an IDX file (magic 0x0000 08 ndim, big-endian dims, data)."""
    header = bytes([0, 0, 0x08, tensor.ndim]) + b"".join(d.to_bytes(4, "big") for d in tensor.shape)
    return header + tensor.contiguous().numpy().tobytes()


def synthetic_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Bright strokes on black, like MNIST's value distribution (mostly 0, some 255), with labels 0-9."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    rows = torch.randint(6, 22, (n,), generator=generator)
    images[torch.arange(n), rows, 6:22] = 255
    images[:, 10:18, 12:16] = torch.randint(0, 256, (n, 8, 4), generator=generator, dtype=torch.uint8)
    return images, torch.randint(0, 10, (n,), generator=generator, dtype=torch.uint8)


def write_split(root: Path, class_name: str, prefix: str, n: int, seed: int) -> None:
    raw = root / class_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images, labels = synthetic_digits(n, seed)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """All four MNIST files (train 300, test 200 images) and FashionMNIST's test split, synthetic."""
    root = tmp_path / "data"
    write_split(root, "MNIST", "train", TRAIN_IMAGES, seed=1)
    write_split(root, "MNIST", "t10k", TEST_IMAGES, seed=2)
    write_split(root, "FashionMNIST", "t10k", TEST_IMAGES, seed=3)
    return root


@pytest.fixture
def fake_study(tmp_path: Path) -> Path:
    """A results folder of fake runs (tests.fakes.write_fake_study): several variants, a fix, failures, an unfinished
    run; no calibration (tests.fakes.write_calibration adds it)."""
    return write_fake_study(tmp_path / "results")


def offline_mnist_root() -> Path:
    """$STUDY_DATA_ROOT when it holds MNIST's real test split; the test skips otherwise."""
    root = os.environ.get("STUDY_DATA_ROOT")
    if not root or not (Path(root) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("real MNIST test split not available (set STUDY_DATA_ROOT to ../shared/data)")
    return Path(root)


@pytest.fixture
def real_data_root() -> Path:
    return offline_mnist_root()


@pytest.fixture(scope="session")
def real_panel(tmp_path_factory) -> tuple[Path, Path]:
    """A results folder holding the evaluator panel trained on the real test split, and that data's root: built once
    (the slowest setup of the suite) for every test that scores real digits. Tests copy the folder, never write in
    it."""
    root = offline_mnist_root()
    results = tmp_path_factory.mktemp("real-panel")
    build_panel(results, root, epochs=12)
    return results, root


def copy_of(results: Path, into: Path) -> Path:
    """A writable copy of a shared results folder."""
    shutil.copytree(results, into)
    return into


@pytest.fixture(autouse=True)
def isolated_working_directory(tmp_path, monkeypatch):
    """No test reads the repository's study.toml or writes into the checkout."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


@pytest.fixture(autouse=True, scope="session")
def isolated_session_cache(tmp_path_factory):
    """A cache for what runs before any test's own: module and session fixtures (the real-digit panel, the Ray
    cluster and the workers it starts, which keep the environment they started in). Never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDY_CACHE_DIR", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's cache: of what `study list` and `show` print (harness/catalogue.py), nor
    of evaluators (harness/evaluator_cache.py). Child processes (--jobs, Ray workers) inherit it."""
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "study-cache"))


@pytest.fixture(autouse=True)
def offline_downloads(monkeypatch):
    """Tests never touch the network: any torchvision download fails as it does offline."""
    def refuse(self, *args, **kwargs):
        raise RuntimeError("download refused in tests")
    for name in ("MNIST", "FashionMNIST"):
        monkeypatch.setattr(getattr(__import__("torchvision").datasets, name), "download", refuse)


def make_spec(variant: str, data_root: Path, results: Path, *, seed: int = 0, epochs: int = 1,
              limit: int | None = 128, fixes: frozenset[str] = frozenset(), split: str = "train") -> RunSpec:
    return RunSpec(variant=get_variant(variant), fixes=fixes, seed=seed, epochs=epochs, dataset="mnist", split=split,
                   limit=limit, device=torch.device("cpu"), results=results, data_root=data_root)


def small_limit(variant: Variant, fixes: Fixes = frozenset()) -> int:
    """Two of the variant's batches, at most every synthetic training image (nll-softmax's 512 then take one partial
    batch): runs stay tiny, and wherever the data allow an epoch has a second step for a resume to cut before."""
    return min(2 * variant.recipe_for(fixes).batch_size, TRAIN_IMAGES)


def build_panel(results: Path, data_root: Path, split: str = "test", epochs: int = 1) -> None:
    """Every evaluator of the panel, quickly trained (runs and `study eval` score with all of them)."""
    for seed in PANEL_SEEDS:
        build_evaluator(results, data_root, "mnist", split, seed, epochs)
