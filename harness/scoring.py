"""Scoring images against a real reference set in the evaluator's feature space: generator samples during and after
training, and the calibration rows (real, noisy, blurred and noise images) that tell a reader what a score means."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch

from harness import evaluator_cache, metrics
from harness.errors import StudyError
from harness.evaluator import (
    Evaluator,
    EvaluatorInfo,
    Panel,
    Tick,
    evaluator_dir,
    load_evaluator,
    partition_sets,
    unit_images,
)
from harness.images import to_unit
from harness.panel import MEMBER_SCORES, PANEL_ARCHITECTURE, WRITEUP_PREFIX, member_column
from harness.run_folder import WRITEUP_COLUMNS, EvaluationRecord
from harness.sampling import dedicated_seed, generate, private_generator
from harness.seeding import rng_untouched
from harness.steps import Gan
from harness.storage import read_json, write_json

SAMPLE_CHUNK = 500  # generator batch for evaluation; train-mode BatchNorm sees batches of this size
CALIBRATION_VERSION = 3  # stored calibration of another version is recomputed (version 2 added the controls,
# 3 made the real images held out of the evaluators and every ladder row a mean over LADDER_DRAWS draws)
LADDER_DRAWS = 5


@dataclass
class ReferenceSet:
    """The n real images scores compare against, with their evaluator features computed once."""

    evaluator: Evaluator
    info: EvaluatorInfo
    images: torch.Tensor  # [0, 1], (n, 1, 28, 28)
    features: torch.Tensor
    logits: torch.Tensor
    first_test_index: int  # where the reference starts in the test split

    @classmethod
    def load(cls, results: Path, data_root: Path, dataset: str, n: int | None,
             evaluator: tuple[Evaluator, EvaluatorInfo] | None = None) -> "ReferenceSet":
        model, info = evaluator or load_evaluator(results, dataset)
        sets = partition_sets(data_root, dataset, info.partition)
        reference = sets.reference_images
        n = len(reference) if n is None else n
        if n > len(reference):
            raise StudyError(f"n = {n} exceeds the {len(reference)} real reference images of the {info.partition} "
                             f"partition for {dataset}; use --n {len(reference)} or less")
        return cls.of_images(model, info, unit_images(reference[:n]), sets.first_test_index)

    @classmethod
    def of_images(cls, evaluator: Evaluator, info: EvaluatorInfo, images: torch.Tensor,
                  first_test_index: int) -> "ReferenceSet":
        return cls(evaluator, info, images, *evaluator.features_and_logits(images), first_test_index)

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def self_distance(self) -> float:
        """How far a real reference digit lies from its nearest other one: what a sample set's spread is read
        against (same n, so the same density of points)."""
        return metrics.self_distance_median(self.images)


def feature_scores(reference: ReferenceSet, images: torch.Tensor) -> dict[str, float]:
    """The scores of [0, 1] ``images`` in the reference's evaluator: distances, manifold estimates, classes."""
    features, logits = reference.evaluator.features_and_logits(images)
    kid_mean, kid_std = metrics.kid(features, reference.features)
    return {"fid": metrics.fid(features, reference.features), "kid": kid_mean, "kid_std": kid_std,
            "inception_score": metrics.inception_score(logits), **metrics.prdc(reference.features, features),
            **metrics.class_coverage(logits)}


def pixel_scores(reference: ReferenceSet, images: torch.Tensor) -> dict[str, float]:
    """The scores that need no evaluator: the set's spread against real digits', and the sizes compared."""
    return {"self_nn_ratio": metrics.self_distance_median(images) / reference.self_distance,
            "eval_n_fake": len(images), "eval_n_real": len(reference)}


def score_images(reference: ReferenceSet, images: torch.Tensor) -> dict[str, float]:
    """Every score of [0, 1] ``images`` against the reference."""
    return feature_scores(reference, images) | pixel_scores(reference, images)


def panel_scores(references: list[ReferenceSet], images: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """Every score of ``images`` by the primary evaluator (references[0]), and each other member's digit scores
    under its own columns."""
    scores = {prefix + key: value for key, value in score_images(references[0], images).items()}
    for reference in references[1:]:
        measured = feature_scores(reference, images)
        scores |= {member_column(reference.info.seed, key, prefix): measured[key] for key in MEMBER_SCORES}
    return scores


def sample_images(gan: Gan, n: int, seed: int, writeup: bool = False) -> torch.Tensor:
    """n samples from fixed evaluation noise (a private generator per run seed), in the original's sampling mode;
    ``writeup``: drawn as the write-up drew its pictures (its noise distribution, batch size and G mode)."""
    latent, style = gan.recipe.latent, gan.variant.writeup_samples
    # Every sample is drawn in a batch of the full size (train-mode BatchNorm normalises over the batch): the last
    # batch is drawn whole and cut to n, so no sample comes from a smaller batch, nor a batch of one, which
    # train-mode BatchNorm cannot normalise.
    if writeup and style is not None:
        chunk, train_mode = style.n, style.train_mode
        generator = private_generator(latent, dedicated_seed(seed, "writeup-evaluation"))
        noise = latent.sample(math.ceil(n / chunk) * chunk, generator, distribution=style.distribution)
    else:
        chunk, train_mode = SAMPLE_CHUNK, gan.recipe.sample_train_mode
        noise = latent.sample(math.ceil(n / chunk) * chunk,
                              private_generator(latent, dedicated_seed(seed, "evaluation")))
    parts = [generate(gan, part, train_mode) for part in noise.split(chunk)]
    return to_unit(torch.cat(parts)[:n], gan.recipe.pixel_range)


@dataclass
class RunEvaluation:
    """What scoring one run's generator needs: the panel's references (the same real images in each member's
    features, primary first), and for the memorisation check the run's training images, the median distance of a
    training image to its nearest other one, and of held-out real images (reference images the run did not train
    on) to their nearest training image."""

    references: list[ReferenceSet]
    training_images: torch.Tensor
    heldout_median: float
    training_self_median: float
    reference_overlap: int  # reference images that are also among the run's training images

    @classmethod
    def prepare(cls, references: list[ReferenceSet], training: torch.Tensor, split: str) -> "RunEvaluation":
        reference = references[0]
        training_images = unit_images(training)
        trained_on = max(0, min(len(reference), len(training) - reference.first_test_index)) if split == "test" \
            else 0
        heldout = reference.images[trained_on:]
        median = metrics.nearest_distance_median(heldout, training_images) if len(heldout) else float("nan")
        return cls(references, training_images, median, metrics.self_distance_median(training_images), trained_on)

    @property
    def reference(self) -> ReferenceSet:
        return self.references[0]

    def score(self, gan: Gan, seed: int) -> dict[str, float]:
        """Every score of G's samples; the original's streams are left as they were (its samples come from
        private generators, but a train-mode G, KID's subsets and the panel may draw from the global ones)."""
        with rng_untouched():
            images = sample_images(gan, len(self.reference), seed)
            scores = {**panel_scores(self.references, images),
                      "nn_median": metrics.nearest_distance_median(images, self.training_images),
                      "nn_median_heldout": self.heldout_median, "nn_median_train": self.training_self_median}
            if gan.variant.scores_writeup_samples:
                drawn = panel_scores(self.references, sample_images(gan, len(self.reference), seed, writeup=True),
                                     WRITEUP_PREFIX)
                scores |= {key: value for key, value in drawn.items() if key in WRITEUP_COLUMNS}
            return scores

    def record(self, eval_every: int | None) -> EvaluationRecord:
        """What the manifest says of this scoring; ``eval_every``: how often training scores (None: never)."""
        info = self.reference.info
        return EvaluationRecord(evaluator_sha256=info.sha256, panel_sha256=[r.info.sha256 for r in self.references],
                                partition=info.partition, heldout_accuracy=info.heldout_accuracy,
                                panel_heldout_accuracy=[r.info.heldout_accuracy for r in self.references],
                                n_fake=len(self.reference), n_real=len(self.reference),
                                reference_overlap=self.reference_overlap, eval_every=eval_every)


def load_references(results: Path, data_root: Path, dataset: str, n: int | None, panel: Panel) -> list[ReferenceSet]:
    """The first n reference images in the features of each member of the panel."""
    primary = ReferenceSet.load(results, data_root, dataset, n, panel[0])
    return [primary] + [ReferenceSet.of_images(*member, primary.images, primary.first_test_index)
                        for member in panel[1:]]


@dataclass(frozen=True)
class Control:
    """A sample set whose verdict is known in advance, scored beside the ladder so every report shows whether the
    digit levels and failure labels judge it right. ``passes``: the digit levels it must meet (none: a negative);
    ``failure``: the failure label it must get (None: not failed)."""

    name: str
    make: Callable[[torch.Tensor, torch.Tensor, int, torch.Generator], torch.Tensor]  # (pool, labels, n, rng)
    passes: tuple[str, ...]
    failure: str | None
    why: str


def _repeat_to(images: torch.Tensor, n: int) -> torch.Tensor:
    """``images`` cycled to exactly n (a class subset of the pool can hold fewer than n)."""
    return images.repeat(-(-n // len(images)), 1, 1, 1)[:n]


def _speckled(pool: torch.Tensor, labels: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    images = pool[:n].clone()
    speckles = torch.rand(images.shape, generator=rng) < 0.05
    images[speckles] = torch.rand(int(speckles.sum()), generator=rng)
    return images


def _half_noise(pool: torch.Tensor, labels: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    images = pool[:n].clone()
    images[n // 2:] = torch.rand(images[n // 2:].shape, generator=rng)
    return images


def _class_means(pool: torch.Tensor, labels: torch.Tensor, n: int, rng: torch.Generator) -> torch.Tensor:
    return _repeat_to(torch.stack([pool[labels == c].mean(0) for c in range(10)]), n)


CONTROLS = {control.name: control for control in (
    Control("speckled digits", _speckled, ("digit-like", "recognisable"), None,
            "real digits with 5% of pixels set at random: legible, so a digits level must pass them"),
    Control("shifted 2 px", lambda pool, labels, n, rng: torch.roll(pool[:n], shifts=(2, 2), dims=(2, 3)),
            ("digit-like",), None, "real digits moved 2 px off centre: legible digits (digit-like), but not the "
                                   "data's centred digits (not recognisable)"),
    Control("half noise", _half_noise, (), None,
            "half real digits, half uniform noise: half the samples are no digits"),
    Control("class drop 8-9", lambda pool, labels, n, rng: _repeat_to(pool[labels < 8], n), (), None,
            "real digits with no 8 or 9: two digits missing"),
    Control("memorised 10", lambda pool, labels, n, rng: _repeat_to(pool[:10], n), (), "collapse",
            "10 training digits repeated: a memorised, collapsed generator"),
    Control("class means", _class_means, (), "collapse", "the 10 class-mean images repeated: blurry prototypes"),
    Control("one digit repeated", lambda pool, labels, n, rng: _repeat_to(pool[:1], n), (), "collapse",
            "one perfect digit, n times"),
    Control("all 1s", lambda pool, labels, n, rng: _repeat_to(pool[labels == 1], n), (), "collapse",
            "real 1s only: one class"),
    Control("constant grey", lambda pool, labels, n, rng: torch.full_like(pool[:n], 0.5), (), "collapse",
            "every image the same mid-grey"),
)}



def ladder_sets(pool: torch.Tensor, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One draw of the ladder: n real digits of ``pool`` (held out of the evaluators and the reference), Gaussian
    pixel noise on them at four strengths, two blurs, and uniform noise."""
    import torchvision.transforms.functional as TF  # here, not at import: commands that only read runs start faster
    real = pool[torch.randperm(len(pool), generator=generator)[:n]]
    sets = {"real": real}
    for sigma in (0.1, 0.2, 0.4, 0.8):
        sets[f"noise sigma {sigma}"] = (real + sigma * torch.randn(real.shape, generator=generator)).clamp(0, 1)
    sets["blur sigma 1"] = TF.gaussian_blur(real, kernel_size=5, sigma=1.0)
    sets["blur sigma 2"] = TF.gaussian_blur(real, kernel_size=9, sigma=2.0)
    sets["uniform noise"] = torch.rand(real.shape, generator=generator)
    return sets


def _mean_and_sd(draws: list[dict[str, float]]) -> dict[str, float]:
    """Each score's mean over the draws, with its standard deviation under "<score>_sd"."""
    summary: dict[str, float] = {"draws": len(draws)}
    for key in draws[0]:
        values = torch.tensor([draw[key] for draw in draws], dtype=torch.float64)
        summary[key] = float(values.mean())
        summary[f"{key}_sd"] = float(values.std(unbiased=True)) if len(draws) > 1 else 0.0
    return summary


def calibration_rows(references: list[ReferenceSet], pool: torch.Tensor, labels: torch.Tensor,
                     draws: int = LADDER_DRAWS, tick: Tick | None = None) -> list[list[dict]]:
    """Scores of known image sets against exactly the reference runs of this n are scored against, for each member
    of the panel (one list of rows per reference). The ladder (kind "ladder"): real digits the reference and the
    evaluators do not hold (the floor: held-out against held-out), pixel noise, blurs and uniform noise (the
    ceiling), each row the mean and sd over ``draws`` draws; then the controls (kind "control"), one draw each.
    ``pool``: [0, 1] calibration images, at least as many as the reference holds, with their ``labels``; ``tick``
    hears of every set scored."""
    n = len(references[0])
    measured: list[dict[str, list[dict]]] = [{} for _ in references]
    done, total = 0, len(CONTROLS)
    for draw in range(draws):
        sets = ladder_sets(pool, n, torch.Generator().manual_seed(draw))
        total = draws * len(sets) + len(CONTROLS)
        for name, images in sets.items():
            pixels = pixel_scores(references[0], images)
            for member, reference in zip(measured, references):
                member.setdefault(name, []).append(feature_scores(reference, images) | pixels)
            done += 1
            if tick is not None:
                tick(done, total)
    rows: list[list[dict]] = [[{"name": name, "kind": "ladder", **_mean_and_sd(scores)}
                               for name, scores in member.items()] for member in measured]
    generator = torch.Generator().manual_seed(draws)
    for control in CONTROLS.values():
        images = control.make(pool, labels, n, generator)
        pixels = pixel_scores(references[0], images)
        for member_rows, reference in zip(rows, references):
            member_rows.append({"name": control.name, "kind": "control", **feature_scores(reference, images),
                                **pixels})
        done += 1
        if tick is not None:
            tick(done, total)
    return rows


def largest_calibration_n(info: EvaluatorInfo) -> int:
    """Calibration's real images are held out of the reference, so n is bounded by both sets."""
    return min(info.reference_images, info.calibration_images)


def calibration_path(results: Path, dataset: str, partition: str, seed: int, n: int,
                     architecture: str = PANEL_ARCHITECTURE) -> Path:
    return evaluator_dir(results, dataset, partition, seed, architecture) / f"calibration-n{n}.json"


def read_calibration(results: Path, dataset: str, partition: str, seed: int, sha256: str, n: int,
                     architecture: str = PANEL_ARCHITECTURE) -> list[dict] | None:
    """The stored calibration rows of an evaluator at n, or None (absent, damaged, or of another evaluator)."""
    try:
        stored = read_json(calibration_path(results, dataset, partition, seed, n, architecture))
    except StudyError:
        return None
    if not isinstance(stored, dict) or stored.get("evaluator_sha256") != sha256 or stored.get("n") != n \
            or stored.get("version") != CALIBRATION_VERSION:
        return None
    return stored["rows"]


def ensure_calibration(results: Path, data_root: Path, references: list[ReferenceSet],
                       tick: Tick | None = None) -> list[list[dict]]:
    """The calibration rows of each member of the panel at the references' n, computed once per panel and n and
    kept beside each evaluator (and in the machine's cache of evaluators, for the other results folders that use
    them), so every score can be read against a floor and a ceiling of the same n; ``tick`` follows the
    computing."""
    n = len(references[0])
    stored = [stored_calibration(results, r.info, n) for r in references]
    if all(rows is not None for rows in stored):
        return [rows for rows in stored if rows is not None]
    info = references[0].info
    if n > largest_calibration_n(info):
        raise StudyError(f"n = {n} exceeds the {largest_calibration_n(info)} real images calibration can draw on "
                         f"for this evaluator; use --n {largest_calibration_n(info)} or less")
    sets = partition_sets(data_root, info.dataset, info.partition)
    computed = calibration_rows(references, unit_images(sets.calibration_images), sets.calibration_labels,
                                tick=tick)
    for reference, rows in zip(references, computed):
        member = reference.info
        path = calibration_path(results, *member_identity(member), n, member.architecture_name)
        write_json(path, {"evaluator_sha256": member.sha256, "n": n, "version": CALIBRATION_VERSION, "rows": rows})
        evaluator_cache.share(path.parent, path.name)
    return computed


def stored_calibration(results: Path, info: EvaluatorInfo, n: int) -> list[dict] | None:
    """The member's calibration rows at n: its own, else those its cache entry holds (copied beside it)."""
    identity, architecture = member_identity(info), info.architecture_name
    rows = read_calibration(results, *identity, info.sha256, n, architecture)
    path = calibration_path(results, *identity, n, architecture)
    if rows is None and evaluator_cache.fetch(path.parent, path.name):
        rows = read_calibration(results, *identity, info.sha256, n, architecture)
    return rows


def member_identity(info: EvaluatorInfo) -> tuple[str, str, int]:
    """(dataset, partition, seed): where an evaluator's calibration is kept, with its architecture."""
    return info.dataset, info.partition, info.seed
