"""The `study` command: list and show the variants, train runs, score them, and report on them.

Options shared by several commands are declared once below; integer options parse through one parser; a usage
error, like every StudyError, is one line on stderr. Each command imports what it needs when it runs: torch and
torchvision take seconds to import, and `study --help`, `list` and `show` need neither (see harness/catalogue.py).
"""
from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, List, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from harness.catalogue import load_catalogue
from harness.config import MIN_EVAL_SAMPLES, SEED_MAX, THREADS_MAX, load_config, resolve_data_root
from harness.errors import StudyError
from harness.listing import paragraph, print_lines, text_width, variant_details, variant_list
from harness.signals import StoppedBeforeTraining, Terminated, preparing, terminate_as_interrupt
from harness.storage import check_writable

if TYPE_CHECKING:
    from harness.evaluator import EvaluatorInfo
    from harness.forecast import Projection
    from harness.planning import RunSpec
    from harness.progress import RunsWatch, StepWatch
    from harness.scoring import ReferenceSet


# Options renamed since, by command: the old name gets one line naming the new one ("protocol" used to mean what an
# epoch is in `study run` and which set of runs in `study report`).
RENAMED_OPTIONS = {("run", "--protocol"): "--schedule", ("report", "--protocol"): "--run-set"}


class StudyGroup(TyperGroup):
    """Usage errors (a bad option value, an unknown option) as one line on stderr, like every other error."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False  # errors come back here, to be printed as one line
        try:
            result = super().main(*args, **kwargs)
        except typer.TyperException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # `study` alone: the help text, as usual
                error.show()  # type: ignore[attr-defined]
                sys.exit(error.exit_code)  # type: ignore[attr-defined]
            param = getattr(error, "param", None)
            message = f"{param.opts[0] if param is not None and param.opts else ''} {error.message}".strip() \
                if isinstance(error, typer.BadParameter) else error.format_message()  # type: ignore[attr-defined]
            if type(error).__name__ == "NoSuchOption":
                message = renamed_option(error) or message
            print(f"error: {message}; see --help", file=sys.stderr)
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        sys.exit(result if isinstance(result, int) else 0)


def renamed_option(error: Any) -> str | None:
    """What to say of an option that was renamed (a click NoSuchOption), or None."""
    command = error.ctx.info_name if error.ctx is not None else ""
    new = RENAMED_OPTIONS.get((command, error.option_name))
    return f"{error.option_name} is now {new}" if new else None


app = typer.Typer(
    cls=StudyGroup,
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
        except OSError as error:  # disk full, permissions, a path too long: what was written before stays
            where = f" ({error.filename})" if error.filename else ""
            print(f"error: {error.strerror or error}{where}; free space or fix the path or permissions, then re-run "
                  f"the same command (completed epochs are kept)", file=sys.stderr)
            raise typer.Exit(1) from None
        except StoppedBeforeTraining as interrupt:
            print("interrupted before any run started: nothing was trained; re-run the same command to start",
                  file=sys.stderr)
            raise typer.Exit(143 if interrupt.terminated else 130) from None
        except KeyboardInterrupt as interrupt:
            print("interrupted: each unfinished run keeps the epochs it completed (one stopped in its first epoch "
                  "starts again); re-run the same command to resume", file=sys.stderr)
            raise typer.Exit(143 if isinstance(interrupt, Terminated) else 130) from None
    return wrapper


def count(minimum: int = 0, maximum: int | None = None) -> Callable[[str], int]:
    """The parser of every integer option: a whole number in [minimum, maximum]."""
    def parse(text: str) -> int:
        try:
            value: int | None = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            wanted = f"an integer from {minimum} to {maximum}" if maximum is not None else \
                "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
            raise typer.BadParameter(f"must be {wanted}, got '{text}'")
        return value
    return parse


def count_option(name: str, metavar: str, help: str, minimum: int = 0, maximum: int | None = None) -> Any:
    return typer.Option(name, metavar=metavar, help=help, parser=count(minimum, maximum))


# Options several commands share, declared once.
DatasetOption = Annotated[Optional[str], typer.Option("--dataset", help="mnist | fashion-mnist.")]
SplitOption = Annotated[Optional[str], typer.Option(
    "--split", help="train | test. Runs: the split trained on (test: the 10k digits available offline in "
                    "../shared/data). Evaluators: train trains on the train split and scores against the test split; "
                    "test trains on the first half of the test split and scores against the second half.")]
DataRootOption = Annotated[Optional[Path], typer.Option(
    "--data-root", help="Folder holding <Class>/raw/ IDX files (else $STUDY_DATA_ROOT, else study.toml).")]
ResultsOption = Annotated[Optional[Path], typer.Option(
    "--results", help="Results folder: runs in RESULTS/runs/, the evaluators they are scored with in "
                      "RESULTS/evaluators/ (copied from this machine's cache, $STUDY_CACHE_DIR/evaluators, else "
                      "~/.cache/mnist-gan-study/evaluators; a folder keeps those it holds) (default: study.toml's).")]
ConfigOption = Annotated[Optional[Path], typer.Option("--config", help="Config file (default: ./study.toml).")]
DeviceOption = Annotated[Optional[str], typer.Option("--device", help="auto | cpu | cuda.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ImagesOption = Annotated[Optional[int], count_option("--n", "N", "Generated and real images per set (default: the "
                                                                 "evaluator's whole reference set).",
                                                     minimum=MIN_EVAL_SAMPLES)]
VariantArguments = Annotated[Optional[List[str]], typer.Argument(metavar="[VARIANT]...", help="Variants (default: "
                                                                                               "all).")]


@app.command("list")
@friendly_errors
def list_variants(as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of text.")):
    """A block per variant: write-up, architecture, loss, default epochs, batch size, parameter counts, fixes."""
    rows = load_catalogue().rows
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print_lines(stdout, variant_list(rows, text_width(stdout)))


@app.command("show")
@friendly_errors
def show(variant_name: str = typer.Argument(..., metavar="VARIANT", help="A variant's name, as `study list` "
                                                                          "prints it."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text.")):
    """A variant's hyperparameter ledger (with sources), its quirks and their status, and its claims."""
    details = load_catalogue().details
    if variant_name not in details:
        from variants import get_variant  # raises the error that names the valid variants

        get_variant(variant_name)
    if as_json:
        print(json.dumps(details[variant_name], indent=2))
        return
    print_lines(stdout, variant_details(details[variant_name], text_width(stdout)))


@app.command("run")
@friendly_errors
def run(
    variant_names: Annotated[Optional[List[str]], typer.Argument(
        metavar="[VARIANT]...", help="Variants to train (default: study.toml's list).")] = None,
    all_variants: Annotated[bool, typer.Option(
        "--all", help="Train every variant, with the alternative readings its checkable claims need to be judged "
                      "(infogan's 40 epochs, --alt two-runs-of-20; `study show VARIANT` says which runs each claim "
                      "needs), unless --fix, --alt or the config's [[arms]] name the arms.")] = False,
    seeds: Annotated[Optional[int], count_option("--seeds", "N", "Seeds 0..N-1.", minimum=1)] = None,
    seed: Annotated[Optional[List[int]], count_option("--seed", "S", "One seed; repeat for several.",
                                                      maximum=SEED_MAX)] = None,
    epochs: Annotated[Optional[int], count_option("--epochs", "E", "Epochs per run (default: each write-up's own "
                                                                   "count).", minimum=1)] = None,
    dataset: DatasetOption = None,
    split: SplitOption = None,
    limit: Annotated[Optional[int], count_option("--limit", "N", "Train on the first N images only (default: "
                                                              "study.toml's limit, else all).",
                                                 minimum=1)] = None,
    fix: Annotated[Optional[List[str]], typer.Option(
        "--fix", metavar="QUIRK", help="Apply an opt-in bug fix (repeatable; 'all' for every fix). See `study show "
                                       "VARIANT`.")] = None,
    alt: Annotated[Optional[List[str]], typer.Option(
        "--alt", metavar="READING", help="Train an alternative reading of a write-up (repeatable), e.g. "
                                         "nll-softmax's batch-1024 or infogan's two-runs-of-20. Not a fix.")] = None,
    schedule: Annotated[Optional[str], typer.Option(
        "--schedule", help="What an epoch is. epochs: one pass over the images (default); steps: as many optimizer "
                           "steps as the original's epoch over 60,000 images, passing over the available images as "
                           "often as that takes, so claims about epoch N compare at equal steps.")] = None,
    device: DeviceOption = None,
    threads: Annotated[Optional[int], count_option(
        "--threads", "T", "CPU threads per run (default: study.toml, else one per core; one with --executor "
                          "ray). Part of a CPU run's identity: results depend on it.", minimum=1,
        maximum=THREADS_MAX)] = None,
    results: ResultsOption = None,
    data_root: DataRootOption = None,
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain runs that are already complete.")] = False,
    compile_models: Annotated[bool, typer.Option(
        "--compile", help="torch.compile G and D (slow to start, faster per step; equal to eager to float32 "
                          "rounding, not bit for bit).")] = False,
    eval_every: Annotated[Optional[int], count_option(
        "--eval-every", "E", "Score G (FID, KID, IS, PRDC, class coverage) every E epochs and at the last; 0 turns "
                             "scoring off (default: study.toml, 'auto' = about ten times per run).")] = None,
    jobs: Annotated[int, count_option(
        "--jobs", "N", "Train N runs at once in separate processes (one GPU is shared). Each run's results are "
                       "what it gives alone; on CPU set --threads so N x threads fits the cores.", minimum=1)] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print one line per finished run: no plan, warm-up or "
                                                        "progress.")] = False,
    eval_samples: Annotated[Optional[int], count_option(
        "--eval-samples", "N", "Generated and real images per score (default: study.toml's eval_samples, cut to "
                               "the --limit when that is smaller; capped at the evaluator's reference set).",
        minimum=MIN_EVAL_SAMPLES)] = None,
    tensorboard: Annotated[bool, typer.Option(
        "--tensorboard", help="Also write TensorBoard event files (every metrics column, the sample grid) to "
                              "RUN/tensorboard/; needs pip install -e \".[tensorboard]\".")] = False,
    executor: Annotated[str, typer.Option(
        "--executor", help="local: train here (one run at a time, or --jobs N); ray: each run is a Ray task, on a "
                           "local Ray or a cluster (pip install -e \".[ray]\"); engine: every run in this process, "
                           "stepping in turn, each equal to its lone run.")] = "local",
    address: Annotated[Optional[str], typer.Option(
        "--address", metavar="ADDR", help="With --executor ray: the Ray cluster to join ('auto': the one this "
                                          "machine is part of); omitted: start a local Ray.")] = None,
    gpus_per_run: Annotated[Optional[str], typer.Option(
        "--gpus-per-run", metavar="F", help="With --executor ray: GPUs each run reserves; a fraction packs several "
                                            "runs on one GPU (default: 1 with --device cuda, 0 on CPU).")] = None,
):
    """Train each (variant, seed) run; an unfinished run resumes from its last epoch, a finished one is skipped.

    Before training it prints the plan (runs, optimizer steps, scorings) and its projected time: each arm's steps
    left times its seconds per step, timed here just now over half a second of a fresh model's steps (eager, even
    with --compile; in 5 rounds taken in turn with the other arms, the median round kept), plus the scorings times
    one scoring timed the same way. While training, the bars (or, off a terminal, a plain line at
    least every 5 s) show run k of N, epochs, steps and the time left in the epoch, the run and the command,
    recomputed from what the command measured so far: each arm's own steps, the warm-up figures scaled by how much
    slower the trained arms ran than their warm-up, the mean scoring, epoch end and run setup. With --jobs N,
    --executor ray or engine the projection lays the runs out as they share the machine, and says what it assumes
    (N processes share the cores evenly; a Ray task computes on the CPUs it reserves, on nodes as fast as this one;
    the engine's runs take turns); a bar over the runs (off a terminal, a line per run) shows the time left, scaled
    by what the runs that ended took. --quiet skips all of this.

    Example: study run udacity --seeds 2 --epochs 1 --split test --limit 512
    """
    from harness.executors import choose
    from harness.planning import RunChoices, plan_study
    from harness.run_folder import refuse_results_inside_a_run
    from harness.tensorboard import require_tensorboard
    from variants import VARIANTS, get_variant

    terminate_as_interrupt()
    chosen = choose(executor, jobs, address, gpus_per_run)
    if tensorboard:
        require_tensorboard()
    settings = load_config(config)
    arm_variants = list(dict.fromkeys(arm.variant for arm in settings.arms or []))
    names = list(VARIANTS) if all_variants else (variant_names or arm_variants or settings.variants or list(VARIANTS))
    threads = next((t for t in (threads, settings.threads, chosen.default_threads) if t is not None), None)
    specs = plan_study(settings, RunChoices(
        variants=[get_variant(name) for name in names], fixes=fix or [], alternatives=alt or [], schedule=schedule,
        seeds=seeds, seed=seed or [],
        epochs=epochs, dataset=dataset, split=split, limit=limit, device=device, threads=threads, results=results,
        data_root=data_root, compile=compile_models, eval_every=eval_every, eval_samples=eval_samples,
        tensorboard=tensorboard, claim_readings=all_variants))
    chosen.check(specs)
    for results_folder in {s.results for s in specs}:
        refuse_results_inside_a_run(results_folder)
    with preparing():
        references = prepare_scoring(specs)
    with watch_runs(specs, references, force, quiet, chosen.per_step) as watch:
        chosen.train(specs, force, watch)
    if watch.failed_runs:
        raise StudyError(f"{watch.failed_runs} of {len(specs)} runs failed (listed above); fix the cause and re-run "
                         f"the same command: finished runs are skipped, unfinished ones resume")
    summary = watch.summary()
    if summary is not None:
        stdout.print(summary, highlight=False)


def watch_runs(specs: list[RunSpec], references: dict[str, list[ReferenceSet]], force: bool, quiet: bool,
               per_step: bool) -> StepWatch | RunsWatch:
    """What the command shows while it trains: a line per run with --quiet; else the plan and its projection from
    a warm-up timed now, then bars or timed lines that follow each step of runs trained here one at a time, or each
    run's end where they train several at once."""
    from harness.progress import RunsWatch, StepWatch

    if quiet:
        return RunsWatch(stdout, len(specs), None, bar=False)
    projection = project(specs, references, force)
    return StepWatch(stdout, len(specs), projection) if per_step else \
        RunsWatch(stdout, len(specs), projection, bar=stdout.is_terminal)


def prepare_scoring(specs: list[RunSpec]) -> dict[str, list[ReferenceSet]]:
    """Before any run (or parallel job) needs them: the evaluator panel of every (results folder, data, split) the
    runs are scored in, built where missing, and its calibration at each run's n, each with its own progress.
    Returns the reference sets of each scored run, by run id."""
    from harness.evaluator import ensure_panel
    from harness.evaluator_cache import cache_folder
    from harness.panel import PANEL_SEEDS
    from harness.progress import Ticker
    from harness.scoring import LADDER_DRAWS, ensure_calibration, load_references

    references: dict[str, list[ReferenceSet]] = {}
    for key in sorted({(s.results, s.data_root, s.dataset, s.split) for s in specs if s.eval_every}):
        results_folder, root, name, chosen_split = key
        with Ticker(stderr, f"preparing the {name} evaluator panel ({len(PANEL_SEEDS)} seeds, built once per "
                            f"machine, in {cache_folder()})", "steps") as ticker:
            panel = ensure_panel(results_folder, root, name, chosen_split, ticker.part)
        available = panel[0][1].reference_images
        scored = [s for s in specs if s.eval_every and (s.results, s.data_root, s.dataset, s.split) == key]
        warn_reference_overlap(scored, panel[0][1].partition, panel[0][1].train_images)
        for n in sorted({min(s.eval_samples, available) for s in scored}):
            at_n = load_references(results_folder, root, name, n, panel)
            with Ticker(stderr, f"calibrating the panel at n = {n} (once per n)", "sets") as ticker:
                ensure_calibration(results_folder, root, at_n,
                                   ticker.part(f"{LADDER_DRAWS} draws of the ladder, then the controls"))
            references |= {s.run_id: at_n for s in scored if min(s.eval_samples, available) == n}
    return references


def project(specs: list[RunSpec], references: dict[str, list[ReferenceSet]], force: bool) -> Projection:
    """The plan of every run and a warm-up of each arm with work left (and one scoring) timed here now: what the
    projection and the time left while training start from."""
    from harness.data import load_split
    from harness.forecast import Projection, WarmUp, planned_run, time_scoring, time_steps
    from harness.progress import Ticker
    from harness.seeding import device_description

    def data_of(spec: RunSpec) -> tuple:
        return spec.data_root, spec.dataset, spec.split, spec.limit

    images = {key: load_split(*key).images for key in dict.fromkeys(data_of(s) for s in specs)}
    plan = [planned_run(spec, len(images[data_of(spec)]), force) for spec in specs]
    to_time = {run.arm: spec for run, spec in zip(plan, specs) if run.steps}  # the first run of each arm
    step_seconds, scoring_seconds = {}, 0.0
    arms = f"{len(to_time)} arm{'s' if len(to_time) != 1 else ''}"
    with Ticker(stderr, f"timing the steps of {arms} on this machine", "rounds") as ticker:
        if to_time:
            timed = time_steps(list(to_time.values()), [images[data_of(s)] for s in to_time.values()],
                               ticker.part("warm-up"))
            step_seconds = dict(zip(to_time, timed))
        scored = next((s for run, s in zip(plan, specs) if run.steps and run.scorings_after(run.first_epoch)), None)
        if scored is not None:
            scoring_seconds = time_scoring(scored, references[scored.run_id], images[data_of(scored)])
    return Projection(plan, WarmUp(step_seconds, scoring_seconds), device_description(specs[0].device),
                      sorted({len(at_n[0]) for at_n in references.values()}))


@app.command("bench")
@friendly_errors
def bench(
    variant_names: VariantArguments = None,
    steps: Annotated[int, count_option("--steps", "N", "Timed steps per loop, after a warm-up.", minimum=1)] = 100,
    device: DeviceOption = None,
    as_json: JsonOption = False,
    dataset: DatasetOption = None,
    split: SplitOption = None,
    data_root: DataRootOption = None,
    config: ConfigOption = None,
    compile_models: Annotated[bool, typer.Option("--compile", help="Time the suite's loop with torch.compile "
                                                                   "(compilation happens in the warm-up).")] = False,
    scoring: Annotated[bool, typer.Option("--scoring", help="Time the scoring of n samples (all scores, and the "
                                                            "memorisation check) instead of training.")] = False,
    n: ImagesOption = None,
    results: ResultsOption = None,
    startup: Annotated[bool, typer.Option("--startup", help="Time how long `study --help`, `list` and `show` take "
                                                            "to answer, each in fresh processes, instead of "
                                                            "training.")] = False,
    repeat: Annotated[int, count_option("--repeat", "N", "With --startup: processes per command; the median is "
                                                         "printed.", minimum=1)] = 5,
):
    """Time the suite's training loop against a reference loop written the way the write-ups train.

    Same variant, data, seed and number of steps, in one process: the reference uses a torchvision-style dataset
    with its transform, a DataLoader and .item() on the losses every step. Prints images/s of each and the ratio.
    """
    if startup:
        return bench_startup_command(repeat, as_json)
    from harness.bench import bench_variant, measure_ceilings
    from harness.data import load_split
    from harness.seeding import resolve_device
    from variants import VARIANTS, get_variant

    settings = load_config(config)
    if scoring:
        return bench_scoring_command(settings, dataset, split, n, as_json, results, data_root)
    step_count = steps
    variants = [get_variant(name) for name in (variant_names or VARIANTS)]
    torch_device = resolve_device(device or settings.device)
    data = load_split(resolve_data_root(data_root, settings), dataset or settings.dataset, split or settings.split)
    timings = []
    with stderr.status("timing...") as status:
        status.update("measuring this machine's matrix-product rate and memory bandwidth")
        ceilings = measure_ceilings(torch_device)
        for variant in variants:
            status.update(f"timing {variant.name} ({step_count} steps per loop)")
            timings.append(bench_variant(variant, data, torch_device, step_count, warmup=max(2, step_count // 10),
                                         ceilings=ceilings, compile=compile_models))
    if as_json:
        print(json.dumps([r.as_dict() for r in timings], indent=2))
        return
    cuda = torch_device.type == "cuda"
    table = Table("variant", "suite img/s", "reference img/s", "ratio", "suite ms/step", "ref. ms/step",
                  "floor ms/step", *(["peak GPU MiB suite/ref."] if cuda else []),
                  title=f"Training throughput on {timings[0].device}, {step_count} steps per loop, "
                        f"{data.dataset} {data.split} ({len(data.images)} images)")
    for r in timings:
        memory = [f"{r.suite_peak_device_mb:,.0f}/{r.reference_peak_device_mb:,.0f}"] if cuda else []
        table.add_row(r.variant, f"{r.suite_images_per_s:,.0f}", f"{r.reference_images_per_s:,.0f}",
                      f"{r.ratio:.2f}x", f"{r.suite_ms_per_step:.2f}", f"{r.reference_ms_per_step:.2f}",
                      f"{r.floor_ms_per_step:.2f}", *memory)
    stdout.print(table)
    versions = timings[0].provenance["versions"]
    stdout.print(f"torch {versions['torch']}, torchvision {versions['torchvision']}, python {versions['python']}, "
                 f"code {timings[0].provenance['code_version']}", highlight=False)
    stdout.print(f"floor: each step's FLOPs (counted by PyTorch) at this machine's best measured float32 rate "
                 f"({ceilings.gemm_flops_per_s / 1e9:.0f} GFLOP/s) plus Adam's memory traffic at its measured "
                 f"bandwidth ({ceilings.bytes_per_s / 1e9:.1f} GB/s)\npeak host memory of this process: "
                 f"{max(r.peak_host_mb for r in timings):,.0f} MiB", highlight=False)


def bench_startup_command(repeat: int, as_json: bool) -> None:
    from harness.startup import bench_startup

    with stderr.status(f"timing each command in {repeat} fresh processes"):
        timings = bench_startup(repeat)
    if as_json:
        print(json.dumps([t.as_dict() for t in timings], indent=2))
        return
    table = Table("command", "cache", "median s", "min s", "max s",
                  title=f"Start-up, median of {repeat} fresh processes")
    for timing in timings:
        table.add_row(timing.command, timing.cache, f"{timing.median:.2f}", f"{min(timing.seconds):.2f}",
                      f"{max(timing.seconds):.2f}")
    stdout.print(table)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print_lines(stdout, paragraph(f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min). Warm: the "
                                  f"catalogue cache holds the variants' descriptions; cold: the first call after the "
                                  f"code or the installed packages change, which imports torch to count parameters.",
                                  0, text_width(stdout)))


def bench_scoring_command(settings, dataset: str | None, split: str | None, n: int | None, as_json: bool,
                          results: Path | None, data_root: Path | None) -> None:
    from harness.bench import bench_scoring
    from harness.data import load_split
    from harness.evaluator import load_panel
    from harness.progress import working
    from harness.scoring import load_references

    name, root = dataset or settings.dataset, resolve_data_root(data_root, settings)
    panel = load_panel(results or settings.results, name)
    references = load_references(results or settings.results, root, name, n, panel)
    training = load_split(root, name, split or settings.split).images.float().div(255).unsqueeze(1)
    with working(stderr, f"timing the scoring of {len(references[0])} images by {len(panel)} evaluators"):
        figures = bench_scoring(references, training)
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    stdout.print(f"scoring {figures['n']} samples against {figures['n']} reference images on {figures['device']}: "
                 f"{figures['scores_seconds']:.1f} s for the panel of {figures['panel']} evaluators (features, "
                 f"FID, KID, IS, class coverage, PRDC, spread); "
                 f"{figures['memorisation_seconds']:.1f} s for nearest-training-image distances against "
                 f"{figures['training_images']} training images", highlight=False)


@app.command("report")
@friendly_errors
def report(
    results: ResultsOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write (default: RESULTS/report/).")] = None,
    variant_names: Annotated[Optional[List[str]], typer.Option("--variants", metavar="VARIANT",
                                                               help="Only these variants (repeatable).")] = None,
    format: Annotated[str, typer.Option("--format", help="md | html.")] = "md",
    run_set: Annotated[Optional[str], typer.Option(
        "--run-set", help="The set of runs to cover: runs of the same data and schedule, named as the report names "
                          "them, e.g. 'mnist test (512 images), step-matched', or a part of that name (default: the "
                          "set with the most complete runs).")] = None,
    dataset: DatasetOption = None,
    epochs: Annotated[Optional[int], count_option("--epochs", "E", "Only runs of E epochs.", minimum=1)] = None,
    config: ConfigOption = None,
    partial: Annotated[bool, typer.Option(
        "--partial", help="An interim report while runs train: every run's progress, curves so far, the claims "
                          "already judgeable at the epochs reached, all marked provisional; written to OUT-partial/ "
                          "(default RESULTS/report-partial/), never into the final report.")] = False,
    seed_contract: Annotated[Optional[int], count_option(
        "--seed-contract", "N", "Report runs trained under seed contract N instead of the current one (`study "
                                "show VARIANT` states it); the report says what their seeds meant.", minimum=0)] = None,
):
    """Write report.md (or .html) on one set of runs (one data and schedule; the others are listed with the command
    that reports on them): the answer per arm (works, partly, fails) with a ranking, setup and provenance, summary with
    t-intervals over seeds and the calibration ladder, every seed, curves, samples, a verdict on each write-up's
    claim, the cost of each quirk (per single fix and all fixes, paired Wilcoxon) and which variants differ (Holm-
    corrected Mann-Whitney, effect sizes, the seeds each comparison needs). Tables also go to tables/*.csv (numbers
    only), figures to figures/."""
    from harness.interim import InterimReport
    from harness.progress import working
    from harness.report import ReportBuilder, Selection, write_report
    from harness.seeding import SEED_CONTRACT
    from variants import VARIANTS, get_variant

    settings = load_config(config)
    folder = results or settings.results
    for name in variant_names or []:
        get_variant(name)
    selection = Selection(run_set, dataset, epochs, SEED_CONTRACT if seed_contract is None else seed_contract)
    where = (out or folder / "report").absolute()
    if partial:  # a folder of its own: an interim report never replaces the final one
        where = where.with_name(f"{where.name}-partial")
    with working(stderr, f"writing the {'interim ' if partial else ''}report"):
        path = write_report(folder, where, VARIANTS, variant_names, format, selection,
                            InterimReport if partial else ReportBuilder)
    stdout.print(f"report written: {path}", highlight=False)


evaluator_app = typer.Typer(help="The evaluator network every score is computed in.", no_args_is_help=True,
                            rich_markup_mode=None)
app.add_typer(evaluator_app, name="evaluator")


@evaluator_app.command("build")
@friendly_errors
def evaluator_build(
    dataset: DatasetOption = None,
    split: SplitOption = None,
    epochs: Annotated[Optional[int], count_option("--epochs", "E", "Training epochs (default: 12 up to 10k "
                                                                   "images, else 6); part of the evaluator's "
                                                                   "identity.", minimum=1)] = None,
    results: ResultsOption = None,
    data_root: DataRootOption = None,
    config: ConfigOption = None,
):
    """Train the evaluator panel (the same CNN from seeds 0, 1, 2) deterministically into the results folder, each
    member with its SHA-256 and held-out accuracy, and into this machine's cache of evaluators where it has none of
    the same dataset, split, seed, epochs, images and code (`study run` takes them from there for every results
    folder, and builds them there when missing). Seed 0 is the primary evaluator; the others tell whether a
    verdict depends on which evaluator judged it."""
    from harness.evaluator import PARTITION_OF_SPLIT, build_evaluator, evaluator_dir
    from harness.panel import PANEL_SEEDS
    from harness.progress import Ticker

    settings = load_config(config)
    chosen_split = split or settings.split
    if chosen_split not in PARTITION_OF_SPLIT:
        raise StudyError(f"unknown split '{chosen_split}'; valid splits: train, test")
    folder, name = results or settings.results, dataset or settings.dataset
    for seed in PANEL_SEEDS:
        refuse_replacing_a_used_evaluator(folder, name, chosen_split, seed)
    for seed in PANEL_SEEDS:
        with Ticker(stderr, f"training evaluator seed {seed} ({PANEL_SEEDS.index(seed) + 1} of "
                            f"{len(PANEL_SEEDS)})", "steps") as ticker:
            info = build_evaluator(folder, resolve_data_root(data_root, settings), name, chosen_split, seed, epochs,
                                   ticker.part(f"evaluator seed {seed}"))
        stdout.print(f"evaluator seed {seed}: {info.sha256}\n  {info.dataset}, {info.partition} partition: trained on "
                     f"{info.train_images} images for {info.epochs} epochs, held-out accuracy "
                     f"{100 * info.heldout_accuracy:.2f}% on {info.reference_images} reference images, built in "
                     f"{info.build_seconds:.0f} s\n  -> {evaluator_dir(folder, name, info.partition, seed)}",
                     highlight=False)


def warn_reference_overlap(specs: list[RunSpec], partition: str, reference_start: int) -> None:
    """Say so when runs train on the reference digits their scores compare against (test-thirds partition: the
    reference starts after the evaluators' training images, which are the first ones of the test split)."""
    overlapping = [s for s in specs if partition == "test-thirds" and (s.limit or reference_start + 1) >
                   reference_start]
    if overlapping:
        stderr.print(f"warning: {len(overlapping)} run(s) train on the test split's images from {reference_start} "
                     f"on, the evaluators' reference and calibration digits: their scores are flattered and "
                     f"memorisation cannot be measured on held-out digits; --limit {reference_start} keeps them "
                     f"apart", highlight=False)


def refuse_replacing_a_used_evaluator(results: Path, dataset: str, split: str, seed: int) -> None:
    """Scores are comparable only within one evaluator: never overwrite one that runs were scored with."""
    from harness.evaluator import PARTITION_OF_SPLIT, evaluator_dir, load_evaluator
    from harness.runs import runs_scored_with

    folder = evaluator_dir(results, dataset, PARTITION_OF_SPLIT[split], seed)
    try:
        sha256 = load_evaluator(results, dataset, PARTITION_OF_SPLIT[split], seed)[1].sha256
    except StudyError:  # none there, or a damaged one: nothing a run can be read against
        return
    scored = runs_scored_with(results, sha256)
    if scored:
        raise StudyError(f"evaluator {folder} ({sha256[:12]}) scored {len(scored)} run(s) under {results / 'runs'} "
                         f"(e.g. {scored[0]}); build the new one under another --results, or move those runs away "
                         f"first")


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
    run_dirs: Annotated[List[Path], typer.Argument(metavar="RUN_DIR...", help="Run folders under results/runs/.")],
    n: ImagesOption = None,
    device: DeviceOption = None,
    as_json: JsonOption = False,
    data_root: Annotated[Optional[Path], typer.Option(
        "--data-root", help="Folder holding <Class>/raw/ IDX files (default: the folder the run was trained from, "
                            "else $STUDY_DATA_ROOT).")] = None,
):
    """Score runs again from their last checkpoint; the scores replace those of a finished run's last metrics row
    (an unfinished run's go to RUN/eval.json, so its tables stay what training wrote)."""
    from harness.progress import working
    from harness.run_folder import RunFolder
    from harness.seeding import resolve_device
    from harness.train import evaluate_run
    from variants import get_variant

    torch_device = resolve_device(device or "auto")
    rows = []
    for run_dir in run_dirs:
        with working(stderr, f"scoring {run_dir.name}"):
            # the real path: `study eval .` in a run folder, or a symlink to a run, is the run itself
            rows.append(evaluate_run(RunFolder(run_dir.resolve()), get_variant, n, torch_device, data_root))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    stdout.print(score_table("Scores of the last checkpoint", "run_id", rows))


@app.command("slim")
@friendly_errors
def slim(
    run_dirs: Annotated[List[Path], typer.Argument(metavar="RUN_DIR...", help="Finished run folders.")],
):
    """Make finished runs small enough to publish: delete their fixed-noise sample grids and the write-up-style
    pictures at the epochs that were not scored (the first epoch's and the scored epochs' stay, the last among them;
    the report draws its sample strips and animations from what is left). Checkpoints stay on disk; leave them out
    of version control."""
    import pandas as pd

    from harness.run_folder import COMPLETE, RunFolder

    for run_dir in run_dirs:
        folder = RunFolder(run_dir.resolve())
        if not folder.has_manifest():
            raise StudyError(f"{run_dir} is not a run folder (no manifest.json); pass folders under results/runs/")
        with folder.locked("slimmed"):
            if folder.read_manifest().status != COMPLETE:
                raise StudyError(f"run {folder.run_id} is not finished; slim it once `study run` has completed it")
            metrics = pd.read_csv(folder.metrics_path)
            scored_columns = [c for c in ("fid", "writeup_fid") if c in metrics]
            scored = set(metrics.loc[metrics[scored_columns].notna().any(axis=1), "epoch"].astype(int)) | {1}
            dropped = folder.drop_grids_except(scored)
        stdout.print(f"{folder.run_id}: {dropped} pictures deleted, {len(folder.sample_grids())} grids kept",
                     highlight=False)


@app.command("calibrate")
@friendly_errors
def calibrate(
    dataset: DatasetOption = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Which evaluators: train (train-split partition) "
                                                                 "or test (test-thirds); default: whichever is "
                                                                 "built.")]
    = None,
    n: Annotated[Optional[int], count_option("--n", "N", "Images per set (default and maximum: the partition's "
                                                         "reference set, or its calibration set if smaller).",
                                             minimum=MIN_EVAL_SAMPLES)] = None,
    as_json: JsonOption = False,
    results: ResultsOption = None,
    data_root: DataRootOption = None,
    config: ConfigOption = None,
):
    """Scores of known image sets, to read any score by, for each evaluator of the panel: real digits held out of
    the evaluators and the reference (the floor), Gaussian pixel noise of sigma 0.1-0.8, two blurs, and uniform
    noise images (the ceiling), each the mean of 5 draws; then the control sets whose verdict is known. Scored
    against the first n reference images, exactly what runs scored at n compare against. Saved beside each
    evaluator for the report; runs compute it for their own n. The same sets are then scored by a second kind of
    network (an MLP, trained like the panel, built here the first time), which the report sets beside the panel's
    ladder and controls: does their order, and does each control's verdict, hold for another architecture?"""
    from harness.evaluator import PARTITION_OF_SPLIT, ensure_cross_check, load_panel
    from harness.progress import Ticker
    from harness.scoring import LADDER_DRAWS, ReferenceSet, ensure_calibration, largest_calibration_n, load_references

    settings = load_config(config)
    name = dataset or settings.dataset
    if split is not None and split not in PARTITION_OF_SPLIT:
        raise StudyError(f"unknown split '{split}'; valid splits: train, test")
    folder = results or settings.results
    check_writable(folder)
    panel = load_panel(folder, name, PARTITION_OF_SPLIT[split] if split else None)
    largest = largest_calibration_n(panel[0][1])
    count = n if n is not None else largest
    if count > largest:
        raise StudyError(f"--n {count} exceeds the {largest} real images calibration can draw on (the partition's "
                         f"reference and calibration sets); use --n {largest} or less")
    root = resolve_data_root(data_root, settings)
    with Ticker(stderr, f"scoring the calibration sets ({count} images each, {LADDER_DRAWS} draws of the ladder, "
                        f"{len(panel)} evaluators)", "sets") as ticker:
        references = load_references(folder, root, name, count, panel)
        rows = ensure_calibration(folder, root, references, ticker.part("calibration sets"))
    with Ticker(stderr, "the same sets through a second architecture", "steps") as ticker:
        cross_check = ensure_cross_check(folder, root, panel[0][1], ticker.part("building it"))
        cross_reference = ReferenceSet.of_images(*cross_check, references[0].images, references[0].first_test_index)
        rows.append(ensure_calibration(folder, root, [cross_reference], ticker.part("calibration sets"))[0])
    panel.append(cross_check)
    if as_json:
        print(json.dumps({member_key(info): member for (_, info), member in zip(panel, rows)}, indent=2))
        return
    for (_, info), member in zip(panel, rows):
        stdout.print(score_table(f"Calibration, {name} {info.partition}, evaluator {member_label(info)} "
                                 f"({info.short}), n = {count}", "name", member))


def member_key(info: EvaluatorInfo) -> str:
    """A panel member by its seed ("1"), the second architecture by its name ("mlp")."""
    from harness.panel import PANEL_ARCHITECTURE

    return str(info.seed) if info.architecture_name == PANEL_ARCHITECTURE else info.architecture_name


def member_label(info: EvaluatorInfo) -> str:
    return f"seed {info.seed}" if member_key(info).isdigit() else f"{info.architecture_name} (second architecture)"


if __name__ == "__main__":  # `python -m harness.cli`, as `study bench --startup` times it
    app()
