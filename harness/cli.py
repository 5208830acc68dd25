"""The `study` command: list and show the variants, train runs."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table

from harness.bench import bench_scoring, bench_variant, measure_ceilings
from harness.config import ALL_VARIANTS, load_config, resolve_data_root, resolve_eval_every
from harness.data import load_split
from harness.evaluate import Reference, calibration_rows
from harness.evaluator import PROTOCOL_OF_SPLIT, build_evaluator, ensure_evaluator, evaluator_dir, load_evaluator
from harness.storage import check_writable, write_json
from harness.errors import StudyError
from harness.jobs import train_in_parallel
from harness.progress import BarProgress, QuietProgress, RunsBar, summary_line
from harness.ray_executor import import_ray, train_on_ray
from harness.seeding import resolve_device
from harness.train import RunSpec, evaluate_run, train_run
from harness.variant import Variant
from variants import VARIANTS, get_variant

app = typer.Typer(
    help="Reproduce and compare five published 'GAN on MNIST' write-ups, faithfully, under fixed seeds.\n\n"
         "Start with `study list`, read a recipe with `study show udacity`, train with `study run udacity --seeds 3`, "
         "then compare everything with `study report`.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def friendly_errors(command: Callable) -> Callable:
    """StudyError becomes one line on stderr and exit 1; Ctrl-C exits 130 with how to resume."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StudyError as error:
            print(f"error: {error}", file=sys.stderr)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            print("interrupted: the unfinished run keeps its last completed epoch; re-run the same command to "
                  "resume it", file=sys.stderr)
            raise typer.Exit(130) from None
    return wrapper


def parse_count(option: str, text: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        kind = "a non-negative" if minimum == 0 else f"an integer >= {minimum}, i.e. a"
        raise StudyError(f"{option} must be {kind} integer, got '{text}'")
    return value


def describe(variant: Variant) -> dict:
    g_params, d_params = variant.param_counts()
    return {"name": variant.name, "writeup": variant.writeup, "title": variant.title,
            "architecture": variant.architecture, "loss": variant.loss, "epochs": variant.recipe.epochs,
            "batch_size": variant.recipe.batch_size, "g_params": g_params, "d_params": d_params,
            "fixes": variant.fix_names}


@app.command("list")
@friendly_errors
def list_variants(as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table.")):
    """One row per variant: write-up, architecture, loss, default epochs, batch size, parameter counts."""
    rows = [describe(v) for v in VARIANTS.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="The five write-ups", show_lines=True)
    for column in ("variant", "write-up", "architecture", "loss"):
        table.add_column(column, no_wrap=column == "variant", overflow="fold")
    for column in ("epochs", "batch", "G params", "D params"):
        table.add_column(column, no_wrap=True, justify="right")
    for row in rows:
        table.add_row(row["name"], row["title"], row["architecture"], row["loss"], str(row["epochs"]),
                      str(row["batch_size"]), f"{row['g_params']:,}", f"{row['d_params']:,}")
    stdout.print(table)


@app.command("show")
@friendly_errors
def show(variant_name: str = typer.Argument(..., metavar="VARIANT", help=f"One of: {', '.join(ALL_VARIANTS)}."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")):
    """A variant's hyperparameter ledger (with sources), its quirks and their status, and its claims."""
    variant = get_variant(variant_name)
    details = describe(variant) | {
        "recipe": dataclasses.asdict(variant.recipe),
        "ledger": [dataclasses.asdict(h) for h in variant.ledger],
        "quirks": [{"name": q.name, "status": q.status, "what": q.what, "fix": q.fix} for q in variant.quirks],
        "claims": [{"key": c.key, "quote": c.quote, "checkable": c.checkable,
                    "check": dataclasses.asdict(c.check) if c.check else None} for c in variant.claims]}
    if as_json:
        print(json.dumps(details, indent=2, default=str))
        return
    stdout.print(f"[bold]{variant.name}[/bold]: {variant.title}\nspec and write-up: {variant.writeup}\n"
                 f"G {details['g_params']:,} params, D {details['d_params']:,} params")
    ledger = Table("hyperparameter", "value", "source", title="Ledger", show_lines=True)
    for hyper in variant.ledger:
        ledger.add_row(hyper.name, str(hyper.value), hyper.source)
    quirks = Table("quirk", "status", "fix (opt-in)", "what the original does", title="Quirks", show_lines=True)
    for quirk in variant.quirks:
        quirks.add_row(quirk.name, quirk.status, quirk.fix or "-", quirk.what)
    claims = Table("claim", "quote", "checkable form", title="Claims", show_lines=True)
    for claim in variant.claims:
        claims.add_row(claim.key, claim.quote, claim.checkable)
    for table in (ledger, quirks, claims):
        stdout.print(table)


def resolve_fixes(variants: list[Variant], requested: list[str]) -> dict[str, frozenset[str]]:
    """Each requested fix applies to the selected variants that have it; a fix none of them has is an error."""
    if not requested or "all" in requested:
        return {v.name: v.resolve_fixes(requested) for v in variants}
    for fix in requested:
        if not any(fix in v.fix_names for v in variants):
            valid = "; ".join(f"{v.name}: {', '.join(v.fix_names) or 'none'}" for v in variants)
            raise StudyError(f"unknown fix '{fix}' for the selected variants; valid fixes are {valid} (or 'all')")
    return {v.name: frozenset(f for f in requested if f in v.fix_names) for v in variants}


def resolve_seeds(seeds: Optional[str], seed: List[str], configured: list[int]) -> list[int]:
    if seeds is not None and seed:
        raise StudyError("use either --seeds N (seeds 0..N-1) or --seed S (repeatable), not both")
    if seeds is not None:
        return list(range(parse_count("--seeds", seeds, minimum=1)))
    if seed:
        return [parse_count("--seed", s) for s in seed]
    return configured


def check_executor(executor: str, address: Optional[str], gpus_per_run: Optional[str], jobs: int) -> None:
    if executor not in ("local", "ray"):
        raise StudyError(f"unknown executor '{executor}'; use local or ray")
    if executor == "local" and (address is not None or gpus_per_run is not None):
        raise StudyError("--address and --gpus-per-run are options of --executor ray")
    if executor == "ray" and jobs > 1:
        raise StudyError("--jobs is for --executor local; Ray runs as many runs at once as the cluster has CPUs "
                         "(--threads per run)")
    if executor == "ray":
        import_ray()  # before any work: a missing extra is one line, not a traceback after the evaluator is built


def parse_gpus_per_run(text: Optional[str], device_type: str) -> float:
    """Default: a whole GPU per CUDA run, none per CPU run. Ray hides GPUs from a task that reserves none."""
    if text is None:
        return 1.0 if device_type == "cuda" else 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 <= value <= 1 or (value > 1 and value.is_integer())):
        raise StudyError(f"--gpus-per-run must be a fraction from 0 to 1 (several runs share a GPU) or a whole "
                         f"number, got '{text}'")
    if (device_type == "cuda") != (value > 0):
        raise StudyError(f"--gpus-per-run {text} does not fit --device {device_type}: CUDA runs need a share of a "
                         f"GPU above 0, CPU runs reserve none")
    return value


def run_on_ray(specs: list[RunSpec], force: bool, address: Optional[str], gpus_per_run: float, quiet: bool) -> None:
    with RunsBar(stdout, len(specs), bar=not quiet and stdout.is_terminal) as runs:
        train_on_ray(specs, force, address, gpus_per_run, runs.done, runs.failed)
    if runs.failed_runs:
        raise StudyError(f"{runs.failed_runs} of {len(specs)} runs failed (listed above); fix the cause and re-run "
                         f"the same command: finished runs are skipped, unfinished ones resume")


@app.command("run")
@friendly_errors
def run(
    variant_names: Optional[List[str]] = typer.Argument(None, metavar="[VARIANT]...",
                                                        help="Variants to train (default: study.toml's list)."),
    all_variants: bool = typer.Option(False, "--all", help="Train every variant."),
    seeds: Optional[str] = typer.Option(None, "--seeds", metavar="N", help="Seeds 0..N-1."),
    seed: List[str] = typer.Option([], "--seed", metavar="S", help="One seed; repeat for several."),
    epochs: Optional[str] = typer.Option(None, "--epochs", metavar="E",
                                         help="Epochs per run (default: each write-up's own count)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="mnist | fashion-mnist."),
    split: Optional[str] = typer.Option(None, "--split", help="train | test (test: the 10k digits available "
                                                              "offline in ../shared/data)."),
    limit: Optional[str] = typer.Option(None, "--limit", metavar="N", help="Train on the first N images only "
                                                                          "(smoke tests)."),
    fix: List[str] = typer.Option([], "--fix", metavar="QUIRK", help="Apply an opt-in fix (repeatable; 'all' for "
                                                                     "every fix). See `study show VARIANT`."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda."),
    threads: Optional[str] = typer.Option(None, "--threads", metavar="T",
                                          help="CPU threads per run (default: study.toml, else one per core). "
                                               "Part of a CPU run's identity: results depend on it."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results folder (runs go to RESULTS/runs/)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding <Class>/raw/ IDX files "
                                                                       "(else $STUDY_DATA_ROOT, else study.toml)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: ./study.toml)."),
    force: bool = typer.Option(False, "--force", help="Retrain runs that are already complete."),
    compile_models: bool = typer.Option(False, "--compile", help="torch.compile G and D (slow to start, faster "
                                                                  "per step; equal to eager to float32 rounding, "
                                                                  "not bit for bit)."),
    eval_every: Optional[str] = typer.Option(None, "--eval-every", metavar="E",
                                             help="Score G (FID, KID, IS, PRDC, class coverage) every E epochs and "
                                                  "at the last; 0 turns scoring off (default: study.toml, 'auto' = "
                                                  "about ten times per run)."),
    jobs: str = typer.Option("1", "--jobs", metavar="N", help="Train N runs at once in separate processes (one "
                                                              "GPU is shared). Each run's results are what it "
                                                              "gives alone; on CPU set --threads so N x threads "
                                                              "fits the cores."),
    quiet: bool = typer.Option(False, "--quiet", help="Print one line per finished run, no progress bar."),
    executor: str = typer.Option("local", "--executor", help="local: train here (one run at a time, or --jobs N); "
                                                             "ray: each run is a Ray task, on a local Ray or a "
                                                             "cluster (pip install -e \".[ray]\")."),
    address: Optional[str] = typer.Option(None, "--address", metavar="ADDR",
                                          help="With --executor ray: the Ray cluster to join ('auto': the one this "
                                               "machine is part of); omitted: start a local Ray."),
    gpus_per_run: Optional[str] = typer.Option(None, "--gpus-per-run", metavar="F",
                                               help="With --executor ray: GPUs each run reserves; a fraction packs "
                                                    "several runs on one GPU (default: 1 with --device cuda, 0 on "
                                                    "CPU)."),
):
    """Train each (variant, seed) run; an unfinished run resumes from its last epoch, a finished one is skipped.

    Example: study run udacity --seeds 2 --epochs 1 --split test --limit 512
    """
    job_count = parse_count("--jobs", jobs, minimum=1)
    check_executor(executor, address, gpus_per_run, job_count)
    settings = load_config(config)
    names = ALL_VARIANTS if all_variants else (variant_names or settings.variants)
    variants = [get_variant(name) for name in names]
    fixes = resolve_fixes(variants, fix)
    seed_list = resolve_seeds(seeds, seed, settings.seeds)
    epoch_count = parse_count("--epochs", epochs) if epochs is not None else None
    image_limit = parse_count("--limit", limit, minimum=1) if limit is not None else None
    torch_device = resolve_device(device or settings.device)
    thread_count = parse_count("--threads", threads, minimum=1) if threads is not None else settings.threads
    if executor == "ray" and thread_count is None:
        thread_count = 1  # each run reserves `threads` CPUs of the cluster: one each packs runs onto the cores
    gpu_share = parse_gpus_per_run(gpus_per_run, torch_device.type) if executor == "ray" else 0.0
    every = parse_count("--eval-every", eval_every) if eval_every is not None else settings.eval_every
    specs = []
    for v in variants:
        epochs_of_run = epoch_count if epoch_count is not None else v.recipe_for(fixes[v.name]).epochs
        specs += [RunSpec(variant=v, fixes=fixes[v.name], seed=s, epochs=epochs_of_run,
                          dataset=dataset or settings.dataset, split=split or settings.split, limit=image_limit,
                          device=torch_device, results=results or settings.results,
                          data_root=resolve_data_root(data_root, settings), threads=thread_count,
                          compile=compile_models, eval_every=resolve_eval_every(every, epochs_of_run),
                          eval_samples=settings.eval_samples)
                  for s in seed_list]
    for spec in specs:  # build a missing evaluator once, before any run (or parallel job) needs it
        if spec.eval_every:
            with stderr.status(f"preparing the {spec.dataset} evaluator (built once, cached in "
                               f"{spec.results / 'evaluators'})"):
                ensure_evaluator(spec.results, spec.data_root, spec.dataset, spec.split)
    if executor == "ray":
        run_on_ray(specs, force, address, gpu_share, quiet)
        return
    if job_count > 1:
        train_in_parallel(specs, job_count, force, lambda outcome: stdout.print(summary_line(outcome),
                                                                                highlight=False))
        return
    if quiet:
        progress = QuietProgress(stdout)
        for spec in specs:
            train_run(spec, progress, force)
        return
    with BarProgress(stdout) as progress:
        for spec in specs:
            train_run(spec, progress, force)


@app.command("bench")
@friendly_errors
def bench(
    variant_names: Optional[List[str]] = typer.Argument(None, metavar="[VARIANT]...",
                                                        help="Variants to time (default: all)."),
    steps: str = typer.Option("100", "--steps", metavar="N", help="Timed steps per loop, after a warm-up."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="mnist | fashion-mnist."),
    split: Optional[str] = typer.Option(None, "--split", help="train | test."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding <Class>/raw/ IDX files."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: ./study.toml)."),
    compile_models: bool = typer.Option(False, "--compile", help="Time the suite's loop with torch.compile "
                                                                  "(compilation happens in the warm-up)."),
    scoring: bool = typer.Option(False, "--scoring", help="Time the scoring of n samples (all scores, and the "
                                                          "memorisation check) instead of training."),
    n: Optional[str] = typer.Option(None, "--n", metavar="N", help="With --scoring: images per set (default: the "
                                                                   "evaluator's whole reference set)."),
    results: Optional[Path] = typer.Option(None, "--results", help="With --scoring: results folder holding "
                                                                   "evaluators/."),
):
    """Time the suite's training loop against a reference loop written the way the write-ups train.

    Same variant, data, seed and number of steps, in one process: the reference uses a torchvision-style dataset
    with its transform, a DataLoader and .item() on the losses every step. Prints images/s of each and the ratio.
    """
    settings = load_config(config)
    if scoring:
        return bench_scoring_command(settings, dataset, split, n, as_json, results, data_root)
    step_count = parse_count("--steps", steps, minimum=1)
    variants = [get_variant(name) for name in (variant_names or ALL_VARIANTS)]
    torch_device = resolve_device(device or settings.device)
    data = load_split(resolve_data_root(data_root, settings), dataset or settings.dataset, split or settings.split)
    results = []
    with stderr.status("timing...") as status:
        status.update("measuring this machine's matrix-product rate and memory bandwidth")
        ceilings = measure_ceilings(torch_device)
        for variant in variants:
            status.update(f"timing {variant.name} ({step_count} steps per loop)")
            results.append(bench_variant(variant, data, torch_device, step_count, warmup=max(2, step_count // 10),
                                         ceilings=ceilings, compile=compile_models))
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return
    cuda = torch_device.type == "cuda"
    table = Table("variant", "suite img/s", "reference img/s", "ratio", "suite ms/step", "ref. ms/step",
                  "floor ms/step", *(["peak GPU MiB suite/ref."] if cuda else []),
                  title=f"Training throughput on {results[0].device}, {step_count} steps per loop, "
                        f"{data.dataset} {data.split} ({len(data.images)} images)")
    for r in results:
        memory = [f"{r.suite_peak_device_mb:,.0f}/{r.reference_peak_device_mb:,.0f}"] if cuda else []
        table.add_row(r.variant, f"{r.suite_images_per_s:,.0f}", f"{r.reference_images_per_s:,.0f}",
                      f"{r.ratio:.2f}x", f"{r.suite_ms_per_step:.2f}", f"{r.reference_ms_per_step:.2f}",
                      f"{r.floor_ms_per_step:.2f}", *memory)
    stdout.print(table)
    versions = results[0].provenance["versions"]
    stdout.print(f"torch {versions['torch']}, torchvision {versions['torchvision']}, python {versions['python']}, "
                 f"code {results[0].provenance['code_version']}", highlight=False)
    stdout.print(f"floor: each step's FLOPs (counted by PyTorch) at this machine's best measured float32 rate "
                 f"({ceilings.gemm_flops_per_s / 1e9:.0f} GFLOP/s) plus Adam's memory traffic at its measured "
                 f"bandwidth ({ceilings.bytes_per_s / 1e9:.1f} GB/s)\npeak host memory of this process: "
                 f"{max(r.peak_host_mb for r in results):,.0f} MiB", highlight=False)


def bench_scoring_command(settings, dataset, split, n, as_json, results, data_root) -> None:
    name, root = dataset or settings.dataset, resolve_data_root(data_root, settings)
    evaluator = load_evaluator(results or settings.results, name)
    count = parse_count("--n", n, minimum=2) if n is not None else None
    reference = Reference.load(results or settings.results, root, name, count, evaluator)
    training = load_split(root, name, split or settings.split).images.float().div(255).unsqueeze(1)
    with stderr.status(f"timing the scoring of {len(reference)} images"):
        figures = bench_scoring(reference, training)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    stdout.print(f"scoring {figures['n']} samples against {figures['n']} reference images on {figures['device']}: "
                 f"{figures['scores_seconds']:.1f} s for features, FID, KID, IS, class coverage and PRDC; "
                 f"{figures['memorisation_seconds']:.1f} s for nearest-training-image distances against "
                 f"{figures['training_images']} training images", highlight=False)


@app.command("report")
@friendly_errors
def report(
    results: Optional[Path] = typer.Option(None, "--results", help="Results folder to read (default: study.toml)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write (default: RESULTS/report/)."),
    variant_names: Optional[List[str]] = typer.Option(None, "--variants", metavar="VARIANT",
                                                      help="Only these variants (repeatable)."),
    format: str = typer.Option("md", "--format", help="md | html."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: ./study.toml)."),
):
    """Write report.md (or .html) comparing every run: setup and provenance, summary with bootstrap intervals over
    seeds, every seed, curves, samples and GIFs, a verdict on each write-up's claim, the cost of each quirk, and
    which variants differ. Tables also go to tables/*.csv, figures to figures/."""
    settings = load_config(config)
    folder = results or settings.results
    for name in variant_names or []:
        get_variant(name)
    from harness.report import write_report  # matplotlib and seaborn: imported only when a report is written
    with stderr.status("writing the report"):
        path = write_report(folder, out or folder / "report", variant_names, format)
    stdout.print(f"report written: {path}", highlight=False)


evaluator_app = typer.Typer(help="The evaluator network every score is computed in.", no_args_is_help=True,
                            rich_markup_mode=None)
app.add_typer(evaluator_app, name="evaluator")


@evaluator_app.command("build")
@friendly_errors
def evaluator_build(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="mnist | fashion-mnist."),
    split: Optional[str] = typer.Option(None, "--split", help="train: train on the train split, score against the "
                                                              "test split; test: train on the first half of the "
                                                              "test split, score against the second half."),
    epochs: Optional[str] = typer.Option(None, "--epochs", metavar="E", help="Training epochs (default: 12 up to "
                                                                             "10k images, else 6); part of the "
                                                                             "evaluator's identity."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results folder (evaluators go to "
                                                                   "RESULTS/evaluators/)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding <Class>/raw/ IDX files."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: ./study.toml)."),
):
    """Train the evaluator CNN deterministically and cache it with its SHA-256 and held-out accuracy."""
    settings = load_config(config)
    chosen_split = split or settings.split
    if chosen_split not in PROTOCOL_OF_SPLIT:
        raise StudyError(f"unknown split '{chosen_split}'; valid splits: train, test")
    with stderr.status("training the evaluator..."):
        info = build_evaluator(results or settings.results, resolve_data_root(data_root, settings),
                               dataset or settings.dataset, chosen_split,
                               parse_count("--epochs", epochs, minimum=1) if epochs else None)
    folder = evaluator_dir(results or settings.results, info.dataset, info.protocol)
    stdout.print(f"evaluator {info.sha256}\n  {info.dataset}, {info.protocol} protocol: trained on "
                 f"{info.train_images} images for {info.epochs} epochs, held-out accuracy "
                 f"{100 * info.heldout_accuracy:.2f}% on {info.reference_images} reference images, built in "
                 f"{info.build_seconds:.0f} s\n  -> {folder}", highlight=False)


SCORE_COLUMNS = ["fid", "kid", "inception_score", "precision", "recall", "density", "coverage", "classes_covered"]


def score_table(title: str, first: str, rows: list[dict]) -> Table:
    table = Table(first, *SCORE_COLUMNS, title=title)
    for row in rows:
        table.add_row(str(row[first]), *[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                                         for c in SCORE_COLUMNS])
    return table


@app.command("eval")
@friendly_errors
def evaluate(
    run_dirs: List[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Run folders under results/runs/."),
    n: Optional[str] = typer.Option(None, "--n", metavar="N", help="Generated and real images per score "
                                                                   "(default: the whole reference set)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
):
    """Score finished runs again from their last checkpoint; the scores replace those of the last metrics row."""
    count = parse_count("--n", n, minimum=2) if n is not None else None
    torch_device = resolve_device(device)
    rows = []
    for run_dir in run_dirs:
        with stderr.status(f"scoring {run_dir.name}"):
            rows.append(evaluate_run(run_dir, count, torch_device))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    stdout.print(score_table("Scores of the last checkpoint", "run_id", rows))


@app.command("calibrate")
@friendly_errors
def calibrate(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="mnist | fashion-mnist."),
    split: Optional[str] = typer.Option(None, "--split", help="Which evaluator: train (train-split protocol) or "
                                                              "test (half-test); default: whichever is built."),
    n: Optional[str] = typer.Option(None, "--n", metavar="N", help="Images per set (default and maximum: half the "
                                                                   "reference set)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    results: Optional[Path] = typer.Option(None, "--results", help="Results folder holding evaluators/."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Folder holding <Class>/raw/ IDX files."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (default: ./study.toml)."),
):
    """Scores of known image sets, to read any score by: real vs real (the floor), Gaussian pixel noise of sigma
    0.1-0.8, two blurs, and uniform noise images (the ceiling). Also saved beside the evaluator for the report."""
    settings = load_config(config)
    name = dataset or settings.dataset
    if split is not None and split not in PROTOCOL_OF_SPLIT:
        raise StudyError(f"unknown split '{split}'; valid splits: train, test")
    folder = results or settings.results
    check_writable(folder)
    evaluator = load_evaluator(folder, name, PROTOCOL_OF_SPLIT[split] if split else None)
    half = evaluator[1].reference_images // 2
    count = parse_count("--n", n, minimum=2) if n is not None else half
    if count > half:
        raise StudyError(f"--n {count} exceeds half of the {evaluator[1].reference_images} reference images (each "
                         f"row compares two disjoint sets); use --n {half} or less")
    with stderr.status(f"scoring the calibration sets ({count} images each)"):
        reference = Reference.load(folder, resolve_data_root(data_root, settings), name, 2 * count, evaluator)
        rows = calibration_rows(reference)
    write_json(evaluator_dir(folder, name, evaluator[1].protocol) / f"calibration-n{count}.json", rows)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    stdout.print(score_table(f"Calibration, {name} {evaluator[1].protocol}, evaluator {evaluator[1].short}, "
                             f"n = {count}", "name", rows))
