"""Seeds, RNG state capture for exact resume, determinism switches, and device choice."""
from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from harness.errors import StudyError

# cuBLAS reads this when CUDA starts, so it is set on import: reproducible matrix products on CUDA.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# The seed contract's version (harness/seed_contract.py), recorded in every manifest. Runs of another version mean
# something else by their seed: they are never resumed, extended or pooled with these.
SEED_CONTRACT = 2
# What each earlier version's seed S was, against the current one: the report of such runs says so.
EARLIER_SEED_CONTRACTS = {
    1: "a scored run built its evaluator networks after seeding and building its own models, drawing their initial "
       "weights from torch's stream, so its training noise, dropout masks and batch order came from a later point "
       "of that stream than the original run with seed S draws them from (an unscored run, eval_every 0, was the "
       "original's)",
}
SEED_CONTRACT_TEXT = (f"Seed contract {SEED_CONTRACT}: seed S is the original run with random.seed(S); "
                      f"numpy.random.seed(S); torch.manual_seed(S) right after its imports (S replaces any seed the "
                      f"original sets itself), run as written, every RNG draw it makes in its order: display cells, "
                      f"shape checks, test steps, progress bars and epoch-end pictures included; the suite's own "
                      f"work (building evaluators, scoring, its sample grids) draws nothing from those streams.")


def earlier_contract_words(version: int) -> str:
    """What seed S meant for runs of an earlier seed contract ``version``, for a report of them."""
    return (f"Seed contract {version}, not the current {SEED_CONTRACT}: every variant made its original's draws, but "
            f"{EARLIER_SEED_CONTRACTS.get(version, 'its seeds are not described here')}. Seed S of these runs is a "
            f"seed of the recipe, not the original's seed S; `study run` now trains under contract {SEED_CONTRACT}.")


def seed_everything(seed: int) -> None:
    """Every stream an original may draw from: Python, numpy's global RNG (udacity, nll-softmax), torch CPU/CUDA."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def draw_loader_seeds(shuffle: bool, takes_batch: bool) -> int | None:
    """What a fresh DataLoader iterator draws from torch's global RNG: its base seed when it is created (even with
    no workers and no shuffling), then, when a batch is taken from a shuffling loader, the RandomSampler's seed for
    its private generator. Returns that sampler seed (None when none is drawn)."""
    torch.empty((), dtype=torch.int64).random_()
    if not (shuffle and takes_batch):
        return None
    return int(torch.empty((), dtype=torch.int64).random_().item())


def make_deterministic() -> None:
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def capture_rng() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def rng_untouched() -> Iterator[None]:
    """Work of the suite's own (loading evaluators builds networks, scoring runs G): every stream is put back as it
    was, so the original's draws stay the original's whether or how often a run is scored."""
    state = capture_rng()
    try:
        yield
    finally:
        restore_rng(state)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise StudyError(f"--device {name} asked for, but PyTorch sees no CUDA device here; use --device cpu "
                             f"or --device auto")
        return torch.device(name)
    raise StudyError(f"unknown device '{name}'; use auto, cpu or cuda")


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
