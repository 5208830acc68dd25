"""Fake runs: run folders written through harness.run_folder as the trainer writes them (manifest, tables, sample
grids) and the evaluator's calibration beside them, so the report and the claims can be tested without training.
Every test that needs a run it does not train builds it here."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import torch

from harness.evaluator import ARCHITECTURES, EvaluatorInfo, evaluator_dir
from harness.images import save_grid
from harness.panel import CROSS_CHECK_ARCHITECTURE, PANEL_ARCHITECTURE, PRIMARY_SEED
from harness.planning import RunSpec
from harness.run_folder import COMPLETE, DataRecord, EvaluationRecord, Manifest, RunFolder, metric_columns
from harness.scoring import CALIBRATION_VERSION
from harness.seeding import SEED_CONTRACT
from harness.storage import write_json
from variants import get_variant

EVALUATOR, N = "ab" * 32, 500  # the evaluator every fake run is scored by, and the n it scores at
SCORED = EvaluationRecord(evaluator_sha256=EVALUATOR, partition="test-thirds", heldout_accuracy=0.98, n_fake=N,
                          n_real=N)
# A calibration ladder at n = 500 (FIDs): real 5, pixel noise 20/50/120/400, blurs 80/300, uniform noise 1000.
LADDER = {"real": 5.0, "noise sigma 0.1": 20.0, "noise sigma 0.2": 50.0, "noise sigma 0.4": 120.0,
          "noise sigma 0.8": 400.0, "blur sigma 1": 80.0, "blur sigma 2": 300.0, "uniform noise": 1000.0}


def steady_rows(epochs: int, seed: int, final: Mapping[str, float] | None = None) -> list[dict]:
    """A run that trains steadily: FID 100 / epoch + seed, every class, half the real digits' precision; ``final``
    overrides the last epoch's values."""
    rows = [{"d_loss": 1.0 + 0.1 * epoch + seed, "g_loss": 0.8, "d_real": 0.6, "d_fake": 0.4, "d_accuracy": 0.7,
             "d_loss_real": 0.5, "d_loss_fake": 0.5, "fid": 100.0 / epoch + seed, "kid": 1.0, "inception_score": 5.0,
             "precision": 0.5, "recall": 0.4, "classes_covered": 10, "confidence": 0.95, "coverage": 0.5,
             "density": 0.5, "self_nn_ratio": 1.0, "eval_n_fake": N, "eval_n_real": N}
            for epoch in range(1, epochs + 1)]
    rows[-1].update(final or {})
    return rows


def write_run(results: Path, variant: str, seed: int, *, epochs: int = 3, final: Mapping[str, float] | None = None,
              rows: Sequence[Mapping[str, float]] | None = None, log: Sequence[Mapping[str, float]] | None = None,
              fixes: Sequence[str] = (), alternatives: Sequence[str] = (), status: str = COMPLETE,
              epochs_done: int | None = None, images: int = 512, schedule: str = "epochs",
              evaluation: EvaluationRecord | None = SCORED, grids: bool = True) -> Path:
    """A run folder of ``variant`` trained on ``images`` test digits, named as `study run` names it. Epoch i records
    rows[i - 1] (default: steady_rows(epochs, seed, final)); ``log`` holds its printed values (default: one a
    epoch). A run that is not complete has recorded ``epochs_done`` (default 1) in its manifest while its tables hold
    every row: the moment between the trainer writing its tables and its manifest. ``evaluation`` None: trained with
    scoring off; ``grids``: a fixed-noise grid per epoch."""
    rows = steady_rows(epochs, seed, final) if rows is None else rows
    epochs = len(rows)
    log = [{"epoch": e, "step": 0, "d_loss": 1.3, "g_loss": 0.7} for e in range(1, epochs + 1)] if log is None else log
    declared = get_variant(variant)
    spec = RunSpec(variant=declared, fixes=frozenset((*fixes, *alternatives)), seed=seed, epochs=epochs,
                   dataset="mnist", split="test", limit=images, device=torch.device("cpu"), results=results,
                   data_root=Path("data"), schedule=schedule)
    folder = RunFolder.of(results, spec.run_id)
    folder.write_tables([{"epoch": epoch, **row} for epoch, row in enumerate(rows, start=1)],
                        metric_columns(list(declared.writeup_columns)), list(log), [])
    if grids:
        for epoch in range(1, epochs + 1):
            save_grid(torch.full((4, 1, 28, 28), epoch / epochs), folder.sample_path(epoch), nrow=2)
    complete = status == COMPLETE
    folder.write_manifest(Manifest(
        run_id=folder.run_id, seed_contract=SEED_CONTRACT, status=status, variant=variant, fixes=sorted(fixes),
        alternatives=sorted(alternatives), seed=seed, epochs_requested=epochs,
        epochs_done=(epochs if complete else 1) if epochs_done is None else epochs_done,
        data=DataRecord(dataset="mnist", split="test", images=images, limit=images, root="data"),
        device="cpu (2 threads)", cpu_threads=2, versions={"torch": "2.x", "torchvision": "0.x", "python": "3.11"},
        code_version="abc123", evaluation=evaluation, schedule=schedule,
        steps_per_epoch=int(rows[0]["steps"]) if "steps" in rows[0] else None))
    return folder.path


def ladder_rows(fids: Mapping[str, float] = LADDER) -> list[dict]:
    """Calibration rows of the ladder's sets at these FIDs: KID a tenth of FID, the other scores the real digits'."""
    return [{"name": name, "kind": "ladder", "fid": fid, "kid": fid / 10, "inception_score": 5.0, "precision": 0.5,
             "recall": 0.5, "density": 0.5, "coverage": 0.5, "classes_covered": 10} for name, fid in fids.items()]


def write_calibration(results: Path, rows: list[dict], n: int = N, sha256: str = EVALUATOR,
                      seed: int = PRIMARY_SEED, architecture: str = PANEL_ARCHITECTURE) -> None:
    """The calibration rows `study run` stores beside the evaluator that scored the runs, at n."""
    write_json(evaluator_dir(results, "mnist", "test-thirds", seed, architecture) / f"calibration-n{n}.json",
               {"evaluator_sha256": sha256, "n": n, "version": CALIBRATION_VERSION, "rows": rows})


def write_cross_check(results: Path, rows: list[dict], n: int = N) -> None:
    """The second-architecture evaluator's record and its calibration at n, as `study calibrate` leaves them."""
    sha256 = "cd" * 32
    info = EvaluatorInfo(sha256=sha256, dataset="mnist", partition="test-thirds",
                         architecture=ARCHITECTURES[CROSS_CHECK_ARCHITECTURE], seed=PRIMARY_SEED, epochs=12,
                         train_images=4000, reference_images=3000, calibration_images=3000, heldout_accuracy=0.94,
                         cpu_threads=2, torch_version="2.x", build_seconds=1.0)
    write_json(evaluator_dir(results, "mnist", "test-thirds", PRIMARY_SEED, CROSS_CHECK_ARCHITECTURE) /
               "evaluator.json", asdict(info))
    write_calibration(results, rows, n, sha256, architecture=CROSS_CHECK_ARCHITECTURE)


def write_fake_study(root: Path) -> Path:
    """The report tests' standard study under ``root``, 3 epochs on 512 test digits, no calibration: udacity and
    dcgan-xavier training steadily (3 seeds), nll-softmax collapsed to 2 classes (counted as failed) beside its
    g-backward fix (digit-like: coverage 0.2 of real digits'), an infogan run still marked running at epoch 1, and
    one torch7-mlp seed with NaN losses."""
    for seed in range(3):
        write_run(root, "udacity", seed)
        write_run(root, "dcgan-xavier", seed)
        write_run(root, "nll-softmax", seed, final={"classes_covered": 2})
        write_run(root, "nll-softmax", seed, fixes=("g-backward",), final={"fid": 50.0 + seed, "coverage": 0.1})
    write_run(root, "infogan", 0, status="running")
    write_run(root, "torch7-mlp", 0, final={"g_loss": float("nan")})
    return root
