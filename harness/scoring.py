"""Scoring images against a real reference set in the evaluator's feature space: generator samples during and after
training, and the calibration rows (real, noisy, blurred and noise images) that tell a reader what a score means."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch
import torchvision.transforms.functional as TF

from harness import metrics
from harness.errors import StudyError
from harness.evaluator import Evaluator, EvaluatorInfo, evaluator_dir, load_evaluator, protocol_sets, unit_images
from harness.images import to_unit
from harness.sampling import dedicated_seed, generate, private_generator
from harness.steps import Gan
from harness.storage import read_json, write_json

SAMPLE_CHUNK = 500  # generator batch for evaluation; train-mode BatchNorm sees batches of this size
DIGIT_SCORES = ("fid", "classes_covered", "confidence", "precision", "coverage", "self_nn_ratio")  # what a
# digits level and a failure label read; runs score them on the write-up's own samples too where a claim needs it
CALIBRATION_VERSION = 2  # stored calibration of another version is recomputed (version 2 added the controls)


@dataclass
class ReferenceSet:
    """The n real images scores compare against, with their evaluator features computed once."""

    evaluator: Evaluator
    info: EvaluatorInfo
    images: torch.Tensor  # [0, 1], (n, 1, 28, 28)
    features: torch.Tensor
    logits: torch.Tensor
    first_test_index: int  # where the reference starts in the test split (the half-test protocol uses the 2nd half)

    @classmethod
    def load(cls, results: Path, data_root: Path, dataset: str, n: int | None,
             evaluator: tuple[Evaluator, EvaluatorInfo] | None = None) -> "ReferenceSet":
        model, info = evaluator or load_evaluator(results, dataset)
        sets = protocol_sets(data_root, dataset, info.protocol)
        reference = sets.reference_images
        n = len(reference) if n is None else n
        if n > len(reference):
            raise StudyError(f"n = {n} exceeds the {len(reference)} real reference images of the {info.protocol} "
                             f"protocol for {dataset}; use --n {len(reference)} or less")
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


def score_images(reference: ReferenceSet, images: torch.Tensor) -> dict[str, float]:
    """Every feature-space score of [0, 1] ``images`` against the reference."""
    features, logits = reference.evaluator.features_and_logits(images)
    kid_mean, kid_std = metrics.kid(features, reference.features)
    scores = {"fid": metrics.fid(features, reference.features), "kid": kid_mean, "kid_std": kid_std,
              "inception_score": metrics.inception_score(logits), **metrics.prdc(reference.features, features),
              **metrics.class_coverage(logits),
              "self_nn_ratio": metrics.self_distance_median(images) / reference.self_distance,
              "eval_n_fake": len(images), "eval_n_real": len(reference)}
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
    """What scoring one run's generator needs: the reference, and for the memorisation check the run's training
    images and the median nearest-training-image distance of held-out real images (reference images the run did
    not train on)."""

    reference: ReferenceSet
    training_images: torch.Tensor
    heldout_median: float
    reference_overlap: int  # reference images that are also among the run's training images

    @classmethod
    def prepare(cls, reference: ReferenceSet, training: torch.Tensor, split: str) -> "RunEvaluation":
        training_images = unit_images(training)
        trained_on = max(0, min(len(reference), len(training) - reference.first_test_index)) if split == "test" \
            else 0
        heldout = reference.images[trained_on:]
        median = metrics.nearest_distance_median(heldout, training_images) if len(heldout) else float("nan")
        return cls(reference, training_images, median, trained_on)

    def score(self, gan: Gan, seed: int) -> dict[str, float]:
        images = sample_images(gan, len(self.reference), seed)
        scores = {**score_images(self.reference, images),
                  "nn_median": metrics.nearest_distance_median(images, self.training_images),
                  "nn_median_heldout": self.heldout_median}
        if gan.variant.scores_writeup_samples:
            drawn = score_images(self.reference, sample_images(gan, len(self.reference), seed, writeup=True))
            scores |= {f"writeup_{k}": drawn[k] for k in DIGIT_SCORES}
        return scores

    def describe(self) -> dict:
        info = self.reference.info
        return {"evaluator_sha256": info.sha256, "protocol": info.protocol, "heldout_accuracy": info.heldout_accuracy,
                "n_fake": len(self.reference), "n_real": len(self.reference),
                "reference_overlap": self.reference_overlap}


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



def calibration_rows(reference: ReferenceSet, candidates: torch.Tensor, labels: torch.Tensor,
                     seed: int = 0) -> list[dict]:
    """Scores of known image sets against exactly the reference runs of this n are scored against. The ladder
    (kind "ladder"): real digits the reference does not hold (the floor), Gaussian pixel noise at four strengths,
    two blurs, and uniform noise (the ceiling). Then the controls (kind "control"). ``candidates``: [0, 1] real
    images outside the reference, at least as many as it holds, with their ``labels``."""
    n = len(reference)
    real = candidates[:n]
    generator = torch.Generator().manual_seed(seed)
    sets = {"real": real}
    for sigma in (0.1, 0.2, 0.4, 0.8):
        sets[f"noise sigma {sigma}"] = (real + sigma * torch.randn(real.shape, generator=generator)).clamp(0, 1)
    sets["blur sigma 1"] = TF.gaussian_blur(real, kernel_size=5, sigma=1.0)
    sets["blur sigma 2"] = TF.gaussian_blur(real, kernel_size=9, sigma=2.0)
    sets["uniform noise"] = torch.rand(real.shape, generator=generator)
    rows = [{"name": name, "kind": "ladder", **score_images(reference, images)} for name, images in sets.items()]
    return rows + [{"name": control.name, "kind": "control",
                    **score_images(reference, control.make(candidates, labels, n, generator))}
                   for control in CONTROLS.values()]


def largest_calibration_n(info: EvaluatorInfo) -> int:
    """Calibration's real images come from the evaluator's training set, so n is bounded by both sets."""
    return min(info.reference_images, info.train_images)


def calibration_path(results: Path, dataset: str, protocol: str, n: int) -> Path:
    return evaluator_dir(results, dataset, protocol) / f"calibration-n{n}.json"


def read_calibration(results: Path, dataset: str, protocol: str, sha256: str, n: int) -> list[dict] | None:
    """The stored calibration rows of an evaluator at n, or None (absent, damaged, or of another evaluator)."""
    try:
        stored = read_json(calibration_path(results, dataset, protocol, n))
    except StudyError:
        return None
    if not isinstance(stored, dict) or stored.get("evaluator_sha256") != sha256 or stored.get("n") != n \
            or stored.get("version") != CALIBRATION_VERSION:
        return None
    return stored["rows"]


def ensure_calibration(results: Path, data_root: Path, reference: ReferenceSet) -> list[dict]:
    """The calibration rows at the reference's n, computed once per evaluator and n and kept beside the evaluator,
    so every score can be read against a floor and a ceiling of the same n."""
    info, n = reference.info, len(reference)
    rows = read_calibration(results, info.dataset, info.protocol, info.sha256, n)
    if rows is None:
        if n > largest_calibration_n(info):
            raise StudyError(f"n = {n} exceeds the {largest_calibration_n(info)} real images calibration can draw "
                             f"on for this evaluator; use --n {largest_calibration_n(info)} or less")
        sets = protocol_sets(data_root, info.dataset, info.protocol)
        rows = calibration_rows(reference, unit_images(sets.train_images), sets.train_labels)
        write_json(calibration_path(results, info.dataset, info.protocol, n),
                   {"evaluator_sha256": info.sha256, "n": n, "version": CALIBRATION_VERSION, "rows": rows})
    return rows
