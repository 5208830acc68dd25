"""The evaluator: a small CNN the suite trains itself, deterministically, whose features every score is computed in.

Scores from different classifiers cannot be compared, so each evaluator is identified by the SHA-256 of its weights
and every run and report names it. One evaluator is one training seed's opinion, so runs are scored by a panel of
them (PANEL_SEEDS: the same network and data, other initial weights and data order); the first is the primary one
whose scores the tables show, the others say whether a verdict depends on which evaluator judged it. A second
architecture (CROSS_CHECK_ARCHITECTURE, an MLP trained the same way) scores the calibration ladder and the controls
only, so that the report can show whether the ladder's order and the digit levels depend on the network's kind.

The evaluators' partition (PARTITION_OF_SPLIT: which one follows from the split runs train on) divides the images
three ways, so that nothing is judged by a network trained on it:
- evaluator training images, the reference set every score compares against, and calibration images (real digits
  held out of both: the ladder's floor is held-out against held-out);
- train-split: the evaluators train on the train split; the test split's first half is the reference, its second
  half the calibration images;
- test-thirds (MNIST here, where only the test split exists offline): the test split's first 4,000 images train the
  evaluators, the next 3,000 are the reference, the last 3,000 the calibration images.

Evaluators are built once per machine, into its cache (harness/evaluator_cache.py), keyed by the dataset, partition,
seed, epochs, the images and the code that trains them; a results folder gets a copy of each member it uses, and
keeps the members it holds.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness import evaluator_cache
from harness.data import load_split
from harness.errors import StudyError
from harness.evaluator_cache import EvaluatorKey, member_name
from harness.panel import CROSS_CHECK_ARCHITECTURE, PANEL_ARCHITECTURE, PANEL_SEEDS, PRIMARY_SEED
from harness.seeding import make_deterministic
from harness.storage import check_writable, read_json, save_checkpoint, write_json

ARCHITECTURES = {  # name: what it is (recorded in every evaluator.json)
    "cnn": "conv5x5(1->16)-ReLU-maxpool2, conv5x5(16->32)-ReLU-maxpool2, FC512->128-ReLU (features), FC128->10",
    "mlp": "FC784->256-ReLU, FC256->128-ReLU (features), FC128->10",
}
PARTITION_OF_SPLIT = {"train": "train-split", "test": "test-thirds"}
BATCH, MAX_LR = 64, 3e-3
TEST_THIRDS = (4000, 7000)  # where the reference and the calibration images start in the test split
FEATURE_DIM, CLASSES = 128, 10
Tick = Callable[[int, int], None]  # (done, total) of a long step, so that a progress bar can follow it
TRAINING_CODE = ("evaluator.py", "seeding.py")  # the harness files whose code trains an evaluator (its cache key)


def _body(architecture: str) -> nn.Sequential:
    """The feature network of ``architecture`` (one of ARCHITECTURES), ending in FEATURE_DIM ReLU features."""
    if architecture == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, FEATURE_DIM), nn.ReLU())
    if architecture == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, FEATURE_DIM), nn.ReLU())
    raise StudyError(f"unknown evaluator architecture '{architecture}'; known: {', '.join(ARCHITECTURES)}")


class Evaluator(nn.Module):
    def __init__(self, architecture: str = PANEL_ARCHITECTURE):
        super().__init__()
        self.body = _body(architecture)
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
    partition: str
    architecture: str
    seed: int
    epochs: int
    train_images: int
    reference_images: int
    calibration_images: int
    heldout_accuracy: float
    cpu_threads: int
    torch_version: str
    build_seconds: float

    @property
    def short(self) -> str:
        return self.sha256[:12]

    @property
    def architecture_name(self) -> str:
        """The key of ARCHITECTURES this record's description is (records store the description)."""
        return next((name for name, text in ARCHITECTURES.items() if text == self.architecture), self.architecture)

    @classmethod
    def from_dict(cls, value: object) -> "EvaluatorInfo":
        """evaluator.json read back (TypeError: not a record of these fields)."""
        if isinstance(value, dict) and "partition" not in value:  # records written before the rename: "protocol"
            value = {("partition" if key == "protocol" else key): item for key, item in value.items()}
        return cls(**value)  # type: ignore[arg-type]


def weights_sha256(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def unit_images(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(255).unsqueeze(1)


@dataclass(frozen=True)
class PartitionSets:
    """A partition's three disjoint image sets (uint8) with their labels."""

    train_images: torch.Tensor  # what the evaluators train on
    train_labels: torch.Tensor
    reference_images: torch.Tensor  # what every score compares against
    reference_labels: torch.Tensor
    calibration_images: torch.Tensor  # held-out real digits the calibration rows are made of
    calibration_labels: torch.Tensor
    first_test_index: int  # where the reference starts in the test split


def partition_sets(data_root: Path, dataset: str, partition: str) -> PartitionSets:
    if partition == "train-split":  # the train split first: a missing one is what a train-split user must hear of
        train = load_split(data_root, dataset, "train")
        test = load_split(data_root, dataset, "test")
        half = len(test.images) // 2
        return PartitionSets(train.images, train.labels, test.images[:half], test.labels[:half], test.images[half:],
                            test.labels[half:], 0)
    test = load_split(data_root, dataset, "test")
    reference, calibration = (round(len(test.images) * start / 10_000) for start in TEST_THIRDS)
    return PartitionSets(test.images[:reference], test.labels[:reference], test.images[reference:calibration],
                        test.labels[reference:calibration], test.images[calibration:], test.labels[calibration:],
                        reference)


def default_epochs(train_images: int) -> int:
    return 12 if train_images <= 10_000 else 6


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int,
                     tick: Tick | None = None, architecture: str = PANEL_ARCHITECTURE) -> Evaluator:
    """Adam with a one-cycle schedule, the seed's initial weights and data order: the same weights on the same
    machine. ``tick`` hears of every step."""
    make_deterministic()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Evaluator(architecture)
        generator = torch.Generator().manual_seed(seed)
        steps = epochs * math.ceil(len(images) / BATCH)
        optimizer = torch.optim.Adam(model.parameters(), lr=MAX_LR)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=MAX_LR, total_steps=steps)
        x, y = unit_images(images), labels.long()
        model.train()
        done = 0
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=generator).split(BATCH):
                loss = F.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                done += 1
                if tick is not None:
                    tick(done, steps)
    return model.eval()


def evaluator_dir(results: Path, dataset: str, partition: str, seed: int = PRIMARY_SEED,
                  architecture: str = PANEL_ARCHITECTURE) -> Path:
    return results / "evaluators" / member_name(dataset, partition, seed, architecture)


def training_code_sha256() -> str:
    digest = hashlib.sha256()
    for name in TRAINING_CODE:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def sets_sha256(sets: PartitionSets) -> str:
    digest = hashlib.sha256()
    for tensor in (sets.train_images, sets.train_labels, sets.reference_images, sets.reference_labels,
                   sets.calibration_images, sets.calibration_labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def evaluator_key(sets: PartitionSets, dataset: str, partition: str, seed: int, epochs: int | None,
                  architecture: str = PANEL_ARCHITECTURE) -> EvaluatorKey:
    """What a build of this evaluator depends on (``epochs`` None: the default for its training images)."""
    return EvaluatorKey(dataset, partition, seed, epochs or default_epochs(len(sets.train_images)), sets_sha256(sets),
                        training_code_sha256(), torch.__version__, architecture)


def train_evaluator(sets: PartitionSets, key: EvaluatorKey, tick: Tick | None = None) -> tuple[Evaluator,
                                                                                              EvaluatorInfo]:
    started = time.perf_counter()
    model = train_classifier(sets.train_images, sets.train_labels, key.epochs, key.seed, tick, key.architecture)
    _, logits = model.features_and_logits(unit_images(sets.reference_images))
    accuracy = (logits.argmax(1) == sets.reference_labels.long()).double().mean().item()
    info = EvaluatorInfo(sha256=weights_sha256(model), dataset=key.dataset, partition=key.partition,
                         architecture=ARCHITECTURES[key.architecture], seed=key.seed, epochs=key.epochs,
                         train_images=len(sets.train_images), reference_images=len(sets.reference_images),
                         calibration_images=len(sets.calibration_images),
                         heldout_accuracy=accuracy, cpu_threads=torch.get_num_threads(),
                         torch_version=torch.__version__, build_seconds=time.perf_counter() - started)
    return model, info


def save_evaluator(folder: Path, model: Evaluator, info: EvaluatorInfo) -> None:
    save_checkpoint(folder / evaluator_cache.WEIGHTS, model.state_dict())
    write_json(folder / evaluator_cache.RECORD, asdict(info))  # last: a member counts as there once its record is


def build_evaluator(results: Path, data_root: Path, dataset: str, split: str, seed: int = PRIMARY_SEED,
                    epochs: int | None = None, tick: Tick | None = None) -> EvaluatorInfo:
    """Train one evaluator into the results folder (`study evaluator build`), and into the machine's cache where it
    has none of this key yet."""
    partition = PARTITION_OF_SPLIT[split]
    check_writable(results)
    sets = partition_sets(data_root, dataset, partition)
    key = evaluator_key(sets, dataset, partition, seed, epochs)
    model, info = train_evaluator(sets, key, tick)
    member = evaluator_dir(results, dataset, partition, seed)
    (member / evaluator_cache.SOURCE).unlink(missing_ok=True)  # the weights it named are being replaced
    save_evaluator(member, model, info)
    entry = evaluator_cache.find(key) or evaluator_cache.publish(key, lambda folder: save_evaluator(folder, model,
                                                                                                     info))
    if entry is not None and evaluator_cache.sha256_of(entry) == info.sha256:
        evaluator_cache.record_source(entry, member)
    return info


def split_of(partition: str) -> str:
    """The split option (train | test) whose runs use ``partition``'s evaluators."""
    return next(split for split, name in PARTITION_OF_SPLIT.items() if name == partition)


def find_partition(results: Path, dataset: str) -> str | None:
    """The partition whose primary evaluator is cached for ``dataset`` (train-split preferred)."""
    for partition in PARTITION_OF_SPLIT.values():
        if (evaluator_dir(results, dataset, partition) / evaluator_cache.RECORD).is_file():
            return partition
    return None


def load_evaluator(results: Path, dataset: str, partition: str | None = None, seed: int = PRIMARY_SEED,
                   architecture: str = PANEL_ARCHITECTURE) -> tuple[Evaluator, EvaluatorInfo]:
    partition = partition or find_partition(results, dataset)
    if partition is None:
        raise StudyError(f"no {dataset} evaluator under {results / 'evaluators'}; build them with `study evaluator "
                         f"build --dataset {dataset} --split SPLIT` (train needs the train split, test uses the "
                         f"test split's first 4,000 images)")
    folder = evaluator_dir(results, dataset, partition, seed, architecture)
    build = f"`study evaluator build --dataset {dataset} --split {split_of(partition)}`" \
        if architecture == PANEL_ARCHITECTURE else f"`study calibrate --dataset {dataset}`"
    rebuild = f"delete {folder} and rebuild it with {build}"
    if not (folder / "evaluator.json").is_file():
        raise StudyError(f"no evaluator {folder} (seed {seed} of the panel); build it with {build}")
    try:
        info = EvaluatorInfo.from_dict(read_json(folder / "evaluator.json"))
    except (StudyError, TypeError) as error:
        raise StudyError(f"evaluator record {folder / 'evaluator.json'} is damaged ({error}); {rebuild}") from None
    weights = folder / evaluator_cache.WEIGHTS
    if not weights.is_file():  # a results folder kept without its weights: found again in the cache by SHA-256
        weights = evaluator_cache.weights_of(info.sha256) or weights
    model = Evaluator(architecture)
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except Exception as error:  # a damaged file can fail in many ways
        raise StudyError(f"evaluator {folder / 'evaluator.pt'} cannot be read ({error}); {rebuild}") from None
    if weights_sha256(model) != info.sha256:
        raise StudyError(f"evaluator in {folder} does not match its recorded SHA-256; {rebuild}")
    return model.eval(), info


Panel = list[tuple[Evaluator, EvaluatorInfo]]  # primary first


def load_panel(results: Path, dataset: str, partition: str | None = None) -> Panel:
    partition = partition or find_partition(results, dataset)
    return [load_evaluator(results, dataset, partition, seed) for seed in PANEL_SEEDS]


def ensure_panel(results: Path, data_root: Path, dataset: str, split: str,
                 ticks: Callable[[str], Tick] | None = None) -> Panel:
    """The evaluators a run of ``split`` is scored by: those of the partition the results folder holds already (it
    keeps one, and keeps the members it holds), else those of ``split``'s partition. Each member it lacks comes from
    the machine's cache, built there first where the cache has none, each build followed by the tick ``ticks``
    gives for its name."""
    partition = find_partition(results, dataset) or PARTITION_OF_SPLIT[split]
    members = {seed: evaluator_dir(results, dataset, partition, seed) for seed in PANEL_SEEDS}
    missing = [seed for seed, member in members.items() if not (member / evaluator_cache.RECORD).is_file()]
    if missing:
        check_writable(results)
        sets = partition_sets(data_root, dataset, partition)
        keys = {seed: evaluator_key(sets, dataset, partition, seed, None) for seed in missing}
        to_build = [seed for seed in missing if evaluator_cache.find(keys[seed]) is None]
        for seed in missing:
            tick = ticks(f"evaluator seed {seed}, {to_build.index(seed) + 1} of {len(to_build)} to build") \
                if ticks is not None and seed in to_build else None
            provide(members[seed], sets, keys[seed], tick)
    return load_panel(results, dataset, partition)


def ensure_cross_check(results: Path, data_root: Path, primary: EvaluatorInfo,
                       tick: Tick | None = None) -> tuple[Evaluator, EvaluatorInfo]:
    """The second-architecture evaluator of the primary's partition, trained as the primary was (its seed and
    epochs), built (into the cache first) where the results folder lacks it; ``tick`` follows a build."""
    dataset, partition = primary.dataset, primary.partition
    member = evaluator_dir(results, dataset, partition, primary.seed, CROSS_CHECK_ARCHITECTURE)
    if not (member / evaluator_cache.RECORD).is_file():
        check_writable(results)
        sets = partition_sets(data_root, dataset, partition)
        provide(member, sets, evaluator_key(sets, dataset, partition, primary.seed, primary.epochs,
                                            CROSS_CHECK_ARCHITECTURE), tick)
    return load_evaluator(results, dataset, partition, primary.seed, CROSS_CHECK_ARCHITECTURE)


def provide(member: Path, sets: PartitionSets, key: EvaluatorKey, tick: Tick | None) -> None:
    """A results folder's member copied from the cache, built into the cache first where it has none (straight
    into the results folder where the cache cannot be written)."""
    entry = evaluator_cache.find(key)
    if entry is None:
        model, info = train_evaluator(sets, key, tick)
        entry = evaluator_cache.publish(key, lambda folder: save_evaluator(folder, model, info))
        if entry is None:
            save_evaluator(member, model, info)
            return
    evaluator_cache.install(entry, member)
