"""Several runs at once: each (variant, seed) run in its own process, sharing the machine (and one GPU)."""
from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

from harness.errors import StudyError
from harness.planning import RunSpec
from harness.signals import training, worker_terminates_as_interrupt
from harness.train import RunOutcome, train_run


def portable(spec: RunSpec) -> tuple[str, dict]:
    """A spec as another process receives it: variants hold lambdas, which do not pickle, so the variant goes by
    name and every other field as it is."""
    return spec.variant.name, {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "variant"}


def train_by_name(variant_name: str, fields: dict, force: bool) -> RunOutcome:
    """The worker's entry point (process pool or Ray task): rebuild the spec and train it as a local run would."""
    from variants import get_variant
    with training():
        return train_run(RunSpec(variant=get_variant(variant_name), **fields), None, force)


def train_in_parallel(specs: list[RunSpec], jobs: int, force: bool, on_done: Callable[[RunOutcome], None],
                      on_failed: Callable[[RunSpec, str], None]) -> None:
    """Each run computes exactly what it would alone: same seed handling, same thread count (spec.threads). A run
    that fails, or whose worker dies, goes to on_failed with a one-line reason while the others go on. Ctrl-C or
    SIGTERM stops every worker, each marking its run interrupted, before this returns."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per worker: no inherited RNG or threads
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=worker_terminates_as_interrupt)
    futures = {pool.submit(train_by_name, *portable(spec), force): spec for spec in specs}
    try:
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except BrokenProcessPool:  # a worker died (kill -9, out of memory): the pool stops every worker
                on_failed(futures[future], "a worker process died (killed, or out of memory) before the run "
                                           "finished; re-run the same command to resume it")
            except Exception as error:
                on_failed(futures[future], one_line(error))
            else:
                on_done(outcome)
    except BaseException:
        for future in futures:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):  # the executor keeps no public list
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker's run ends as interrupted, resumable
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def one_line(error: BaseException) -> str:
    """What a run raised, as the local CLI would print it: a StudyError's own words, else the type and first line."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(error, StudyError) else f"{type(error).__name__}: {text}"
