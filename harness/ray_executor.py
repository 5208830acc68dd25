"""Runs as Ray tasks (`study run --executor ray`): on a laptop's local Ray or across the nodes of a cluster.

Each task trains one run exactly as a local run would (same entry point as --jobs) and writes it into the run
folder, so the results folder must be one every node mounts; it is checked before any run starts. Ray is an
optional extra, imported only here and only when this executor is used.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
from pathlib import Path
from types import ModuleType
from typing import Callable

from harness.errors import StudyError
from harness.forecast import Capacity
from harness.jobs import one_line as describe_failure
from harness.jobs import portable, train_by_name
from harness.planning import RunSpec
from harness.signals import preparing
from harness.storage import atomic_write_text, check_writable
from harness.train import RunOutcome

# Ray reruns a task whose worker died (node lost, out of memory) this many times; train_run resumes the rerun from
# the run's last completed epoch, so a retry costs at most one epoch and gives the same bytes.
WORKER_LOSS_RETRIES = 3
DEFAULT_RAY_PORT, ADDRESS_TIMEOUT_S = 6379, 5.0


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise StudyError('--executor ray needs Ray: pip install -e ".[ray]"') from None
    return ray


def train_on_ray(specs: list[RunSpec], force: bool, address: str | None, gpus_per_run: float,
                 on_done: Callable[[RunOutcome], None], on_failed: Callable[[RunSpec, str], None], *,
                 on_begin: Callable[[Capacity], None]) -> None:
    """Train every run as a Ray task asking for spec.threads CPUs and gpus_per_run GPUs. Once the cluster is
    reached, on_begin hears how many runs it takes at once; a failed run goes to on_failed with a one-line reason
    while the others go on; Ctrl-C cancels the runs not yet finished."""
    ray = import_ray()
    if not specs:
        return
    started = not ray.is_initialized()
    if started:  # address None starts a local Ray; "auto" joins the cluster this machine belongs to
        with preparing():  # starting Ray or reaching a cluster takes seconds, before any run is sent
            join(ray, address)
    try:
        specs = [absolute_paths(spec) for spec in specs]
        with preparing():  # every node reads a token back before any run is sent
            for results in sorted({spec.results for spec in specs}):
                check_results_visible(ray, results, task_resources(specs[0], gpus_per_run))
        on_begin(cluster_capacity(ray.nodes(), task_resources(specs[0], gpus_per_run), len(specs)))
        train_all(ray, specs, force, gpus_per_run, on_done, on_failed)
    finally:
        if started:
            ray.shutdown()


def join(ray: ModuleType, address: str | None) -> None:
    """ray.init, failing in seconds with one line where no cluster answers (Ray itself retries for minutes)."""
    if address not in (None, "auto"):
        check_address_answers(address)
    try:
        ray.init(address=address, logging_level=logging.ERROR)
    except ConnectionError as error:  # no cluster where the address says
        where = "on this machine (--address auto)" if address == "auto" else f"at {address}"
        raise StudyError(f"no Ray cluster {where} ({str(error).strip().splitlines()[0]}); start one with `ray start "
                         f"--head`, or omit --address to start a local Ray") from None


def check_address_answers(address: str) -> None:
    """A TCP connection to the address's host and port (Ray's default 6379), with a short timeout."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        host, port = address.removeprefix("ray://"), str(DEFAULT_RAY_PORT)
    try:
        socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT_S).close()
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise StudyError(f"Ray address {address} does not answer ({reason}); check the address, start the cluster "
                         f"(`ray start --head` on its head node), or omit --address to start a local Ray") from None


def absolute_paths(spec: RunSpec) -> RunSpec:
    # A path relative to the driver's working folder means nothing to a worker on another node.
    return dataclasses.replace(spec, results=spec.results.absolute(), data_root=spec.data_root.absolute())


def task_resources(spec: RunSpec, gpus_per_run: float) -> dict:
    # A CPU run reserves the threads it trains on (the CLI sets 1 under Ray unless --threads says otherwise).
    return {"num_cpus": spec.threads or 1, "num_gpus": gpus_per_run}


def cluster_capacity(nodes: list[dict], resources: dict, runs: int) -> Capacity:
    """How many runs the live nodes take at once, each node packing as many tasks as its CPUs (and GPUs) fit; each
    task computes on the CPUs it reserves, at its speed alone. The warm-up timed the driver's machine: the nodes
    are assumed to be as fast."""
    cpus, gpus = resources["num_cpus"], resources["num_gpus"]
    places = 0
    for node in nodes:
        if node["Alive"]:
            fits = int(node["Resources"].get("CPU", 0) // cpus)
            places += min(fits, int(node["Resources"].get("GPU", 0) // gpus)) if gpus else fits
    at_once, alive = max(1, min(places, runs)), sum(node["Alive"] for node in nodes)
    gpu = f" and {gpus:g} GPU" if gpus else ""
    return Capacity(at_once, how=f"Ray: {at_once} runs at once ({places} places for a run of {cpus} CPU"
                                 f"{'s' if cpus != 1 else ''}{gpu} on {alive} node{'s' if alive != 1 else ''}), "
                                 f"each on the CPUs it reserves, at its speed alone; assumes the nodes as fast as "
                                 f"this machine")


def read_token(path: str) -> str:
    return Path(path).read_text()


def check_results_visible(ray: ModuleType, results: Path, resources: dict) -> None:
    """Every node that can take a run must read back a token the driver writes into the results folder."""
    check_writable(results)
    nodes = nodes_for_a_run(ray, resources)
    token, path = secrets.token_hex(16), results / f".ray-visibility-{secrets.token_hex(8)}"
    atomic_write_text(path, token)
    try:
        reader = ray.remote(read_token)
        reads = [reader.options(**resources, scheduling_strategy=pinned_to(node)).remote(str(path))
                 for node in nodes]  # all at once, one on each node
        for node, read in zip(nodes, reads):
            reason = unreadable(ray, read, token)
            if reason:
                raise StudyError(f"results folder {results} is not visible to the Ray workers (node "
                                 f"{node['NodeManagerAddress']}: {reason}); put it on a filesystem every node mounts "
                                 f"and pass --results")
    finally:
        path.unlink(missing_ok=True)


def nodes_for_a_run(ray: ModuleType, resources: dict) -> list[dict]:
    nodes = [node for node in ray.nodes() if node["Alive"]
             and node["Resources"].get("CPU", 0) >= resources["num_cpus"]
             and node["Resources"].get("GPU", 0) >= resources["num_gpus"]]
    if not nodes:  # Ray would wait forever for a node that fits
        raise StudyError(f"no Ray node has {resources['num_cpus']} CPUs and {resources['num_gpus']} GPUs for a run; "
                         f"lower --threads or --gpus-per-run, or add nodes")
    return nodes


def pinned_to(node: dict):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    return NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)


def unreadable(ray: ModuleType, read, token: str) -> str | None:
    """Why a node did not read the token back, or None when it did."""
    try:
        return None if ray.get(read) == token else "it reads another token there"
    except ray.exceptions.RayTaskError as error:
        return str(error.cause)


def train_all(ray: ModuleType, specs: list[RunSpec], force: bool, gpus_per_run: float,
              on_done: Callable[[RunOutcome], None], on_failed: Callable[[RunSpec, str], None]) -> None:
    task = ray.remote(train_by_name)
    # The task name becomes the worker's process title, so `ps` on a node shows which run it trains.
    pending = {task.options(name=spec.run_id, max_retries=WORKER_LOSS_RETRIES, **task_resources(spec, gpus_per_run))
               .remote(*portable(spec), force): spec for spec in specs}
    try:
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(ready)
            try:
                on_done(ray.get(ready))
            except ray.exceptions.RayError as error:
                on_failed(spec, one_line(ray, error))
    except BaseException:
        for ref in pending:
            ray.cancel(ref)  # the interrupted runs keep their last completed epoch: a rerun resumes them
        raise


def one_line(ray: ModuleType, error: Exception) -> str:
    """What the run raised, as the local CLI would print it; a lost worker as Ray describes it."""
    return describe_failure(error.cause if isinstance(error, ray.exceptions.RayTaskError) else error)
