"""The evaluator: a small CNN the suite trains itself, deterministically, whose features every score is computed in.

Scores from different classifiers cannot be compared, so each evaluator is identified by the SHA-256 of its weights
and every run and report names it. Two protocols:
- train-split: trained on the dataset's train split, scored against the whole test split;
- half-test:   trained on the first half of the test split, scored against the second half (MNIST here, where only
               the test split exists offline).
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from harness.data import load_split
from harness.errors import StudyError
from harness.seeding import make_deterministic
from harness.storage import check_writable, read_json, save_checkpoint, write_json

ARCHITECTURE = "conv5x5(1->16)-ReLU-maxpool2, conv5x5(16->32)-ReLU-maxpool2, FC512->128-ReLU (features), FC128->10"
PROTOCOL_OF_SPLIT = {"train": "train-split", "test": "half-test"}
SEED, BATCH, MAX_LR = 0, 64, 3e-3
FEATURE_DIM, CLASSES = 128, 10


class Evaluator(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))

    @torch.no_grad()
    def features_and_logits(self, images: torch.Tensor, chunk: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features and logits (float64) of [0, 1] images shaped (N, 1, 28, 28)."""
        features, logits = [], []
        for part in images.split(chunk):
            body = self.body(part.float())
            features.append(body.double())
            logits.append(self.head(body).double())
        return torch.cat(features), torch.cat(logits)


@dataclass(frozen=True)
class EvaluatorInfo:
    sha256: str
    dataset: str
    protocol: str
    architecture: str
    seed: int
    epochs: int
    train_images: int
    reference_images: int
    heldout_accuracy: float
    cpu_threads: int
    torch_version: str
    build_seconds: float

    @property
    def short(self) -> str:
        return self.sha256[:12]


def weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def unit_images(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(255).unsqueeze(1)


@dataclass(frozen=True)
class ProtocolSets:
    train_images: torch.Tensor  # uint8
    train_labels: torch.Tensor
    reference_images: torch.Tensor
    reference_labels: torch.Tensor
    first_test_index: int  # where the reference starts in the test split


def protocol_sets(data_root: Path, dataset: str, protocol: str) -> ProtocolSets:
    if protocol == "train-split":  # the train split first: a missing one is what a train-split user must hear of
        train = load_split(data_root, dataset, "train")
        test = load_split(data_root, dataset, "test")
        return ProtocolSets(train.images, train.labels, test.images, test.labels, 0)
    test = load_split(data_root, dataset, "test")
    half = len(test.images) // 2
    return ProtocolSets(test.images[:half], test.labels[:half], test.images[half:], test.labels[half:], half)


def default_epochs(train_images: int) -> int:
    return 12 if train_images <= 10_000 else 6


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int) -> Evaluator:
    """Adam with a one-cycle schedule, a fixed seed and a fixed data order: the same weights on the same machine."""
    make_deterministic()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = Evaluator()
        generator = torch.Generator().manual_seed(SEED)
        steps = epochs * math.ceil(len(images) / BATCH)
        optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=steps)
        x, y = unit_images(images), labels.long()
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=generator).split(BATCH):
                loss = F.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
    return model.eval()


def evaluator_dir(results: Path, dataset: str, protocol: str) -> Path:
    return results / "evaluators" / f"{dataset}-{protocol}"


def build_evaluator(results: Path, data_root: Path, dataset: str, split: str,
                    epochs: int | None = None) -> EvaluatorInfo:
    protocol = PROTOCOL_OF_SPLIT[split]
    check_writable(results)
    started = time.perf_counter()
    sets = protocol_sets(data_root, dataset, protocol)
    epochs = epochs or default_epochs(len(sets.train_images))
    model = train_classifier(sets.train_images, sets.train_labels, epochs)
    _, logits = model.features_and_logits(unit_images(sets.reference_images))
    accuracy = (logits.argmax(1) == sets.reference_labels.long()).double().mean().item()
    info = EvaluatorInfo(sha256=weights_sha256(model), dataset=dataset, protocol=protocol, architecture=ARCHITECTURE,
                         seed=SEED, epochs=epochs, train_images=len(sets.train_images),
                         reference_images=len(sets.reference_images),
                         heldout_accuracy=accuracy, cpu_threads=torch.get_num_threads(),
                         torch_version=torch.__version__, build_seconds=time.perf_counter() - started)
    folder = evaluator_dir(results, dataset, protocol)
    save_checkpoint(folder / "evaluator.pt", model.state_dict())
    write_json(folder / "evaluator.json", asdict(info))
    return info


def find_evaluator(results: Path, dataset: str, protocol: str | None = None) -> Path | None:
    """The folder of the cached evaluator for ``dataset`` (train-split preferred when ``protocol`` is None)."""
    for name in [protocol] if protocol else ["train-split", "half-test"]:
        folder = evaluator_dir(results, dataset, name)
        if (folder / "evaluator.json").is_file() and (folder / "evaluator.pt").is_file():
            return folder
    return None


def load_evaluator(results: Path, dataset: str, protocol: str | None = None) -> tuple[Evaluator, EvaluatorInfo]:
    folder = find_evaluator(results, dataset, protocol)
    if folder is not None:
        rebuild = f"delete {folder} and rebuild it with `study evaluator build --dataset {dataset}`"
        try:
            info = EvaluatorInfo(**read_json(folder / "evaluator.json"))  # type: ignore[arg-type]
        except (StudyError, TypeError) as error:
            raise StudyError(f"evaluator record {folder / 'evaluator.json'} is damaged ({error}); {rebuild}") \
                from None
        model = Evaluator()
        try:
            model.load_state_dict(torch.load(folder / "evaluator.pt", map_location="cpu", weights_only=True))
        except Exception as error:  # a damaged file can fail in many ways
            raise StudyError(f"evaluator {folder / 'evaluator.pt'} cannot be read ({error}); {rebuild}") from None
        if weights_sha256(model) != info.sha256:
            raise StudyError(f"evaluator in {folder} does not match its recorded SHA-256; {rebuild}")
        return model.eval(), info
    split = "train" if protocol == "train-split" else "test"
    raise StudyError(f"no {dataset} evaluator under {results / 'evaluators'}; build one with `study evaluator build "
                     f"--dataset {dataset} --split {split}` (train needs the train split, test uses half of the test "
                     f"split)")


def ensure_evaluator(results: Path, data_root: Path, dataset: str, split: str) -> tuple[Evaluator, EvaluatorInfo]:
    """The evaluator a run of ``split`` uses: the cached one, else one built now under the matching protocol."""
    if find_evaluator(results, dataset) is None:
        build_evaluator(results, data_root, dataset, split)
    return load_evaluator(results, dataset)

