"""Start-up and narrow terminals: the command line loads neither torch nor torchvision until a command needs them,
`study list` and `show` answer from a cache that follows the code, and both read whole at 80 columns, as do the
progress bars of `study run`."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import variants.udacity
from harness import catalogue, cli, startup
from harness.listing import MAX_WIDTH
from harness.progress import BarProgress
from variants import VARIANTS

ROOT = Path(__file__).resolve().parents[1]
# Runs `study ARGS...` and prints, last, which of torch and torchvision it loaded.
LOADED = ("import sys\nfrom harness.cli import app\ntry:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
          "print(' '.join(name for name in ('torch', 'torchvision') if name in sys.modules))")


def python(*args: str, columns: int = 80) -> str:
    """stdout of a fresh `python ARGS...` on this checkout, in a terminal of ``columns``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = os.environ | {"COLUMNS": str(columns), "PYTHONPATH": path}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=True,
                          timeout=300).stdout


def loaded_after(*args: str) -> list[str]:
    return python("-c", LOADED, *args).splitlines()[-1].split()


def flat(text: str) -> str:
    """Text with its line breaks and indentation as single spaces: what a wrapped text must still contain."""
    return " ".join(text.split())


def assert_fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width or line != line.rstrip()]
    assert not too_long, too_long


def test_the_command_line_loads_torch_only_when_a_command_needs_it():
    assert loaded_after("--help") == []  # the code before imported both at `import harness.cli`
    catalogue.load_catalogue()  # computed here, where torch is loaded anyway: the commands below find it warm
    assert loaded_after("list") == [] and loaded_after("show", "infogan") == []
    assert startup.run_once(startup.study("--help")) > 0  # `python -m harness.cli`, as the benchmark times it


def test_a_package_only_this_process_can_see_leaves_the_cache_fresh_for_the_next(tmp_path, monkeypatch):
    """Ray puts vendored packages (colorama, psutil) on sys.path; a cache that recorded the versions of every loaded
    distribution was then stale in each fresh process, and `study list` imported torch after any test with Ray."""
    vendored = tmp_path / "vendored"
    (vendored / "vendoredpkg").mkdir(parents=True)
    (vendored / "vendoredpkg" / "__init__.py").write_text("")
    (vendored / "vendoredpkg-1.0.dist-info").mkdir()
    (vendored / "vendoredpkg-1.0.dist-info" / "METADATA").write_text("Name: vendoredpkg\nVersion: 1.0\n")
    (vendored / "vendoredpkg-1.0.dist-info" / "top_level.txt").write_text("vendoredpkg\n")
    monkeypatch.syspath_prepend(str(vendored))
    monkeypatch.setitem(sys.modules, "vendoredpkg", __import__("vendoredpkg"))
    catalogue.load_catalogue()
    assert loaded_after("list") == []


def test_the_cache_follows_the_code_and_the_packages(monkeypatch):
    computed = []
    compute = catalogue.compute
    monkeypatch.setattr(catalogue, "compute", lambda: computed.append(1) or compute())
    first = catalogue.load_catalogue()
    assert catalogue.load_catalogue() == first and computed == [1]
    path = catalogue.cache_path()

    def edit(key: str, name: str, value: str) -> None:
        document = json.loads(path.read_text())
        assert name in document[key]
        path.write_text(json.dumps(document | {key: document[key] | {name: value}}))

    edit("sources", str(Path(variants.udacity.__file__).resolve()), "0" * 64)  # as if udacity.py had changed
    assert catalogue.load_catalogue() == first and computed == [1, 1]
    edit("versions", "torch", "0.0")  # another torch, whose layers may count otherwise
    assert catalogue.load_catalogue() == first and computed == [1, 1, 1]
    path.write_text("{")  # damaged
    assert catalogue.load_catalogue() == first and computed == [1, 1, 1, 1]
    assert catalogue.load_catalogue() == first and computed == [1, 1, 1, 1]  # and rewritten whole


@pytest.mark.parametrize("columns", [80, 200])
def test_list_and_show_read_whole_at_any_width(columns):
    described = catalogue.load_catalogue().details  # also warms the cache, so each command takes a fraction of a s
    width = min(columns, MAX_WIDTH)
    listing = python("-m", "harness.cli", "list", columns=columns)
    assert_fits(listing, width)
    for name, variant in VARIANTS.items():
        g_params, d_params = variant.param_counts()
        assert f"\n{name}  " in listing and f"G {g_params:,} and D {d_params:,} parameters" in flat(listing)
    for name, details in described.items():
        text = python("-m", "harness.cli", "show", name, columns=columns)
        assert_fits(text, width)
        facts = [details["title"], *[f"{h['name']} {h['value']}" for h in details["ledger"]],
                 *[f"{q['name']} {q['status']}" for q in details["quirks"]], *[q["what"] for q in details["quirks"]],
                 *[c["key"] for c in details["claims"]], *[c["quote"] for c in details["claims"]],
                 *[c["check"] for c in details["claims"] if not c["contradicted_by_the_code"]],
                 *[d["what"] for d in details["draws"]], details["seed_contract"]]
        missing = [fact for fact in facts if flat(fact) not in flat(text)]
        assert not missing, (name, missing)


def test_the_progress_bars_fit_80_columns():
    output = io.StringIO()
    console = Console(file=output, width=80, color_system=None)
    bars = BarProgress(console)
    bars.begin_run("nll-softmax+g-backward+real-label~batch-1024 seed 2", 100, 3, 938)
    bars.begin_epoch(4)
    bars.step(400, lambda: {"d_loss": 1.23456, "g_loss": 0.98765, "d_real": 0.5123, "d_fake": 0.4321})
    console.print(bars.bars.get_renderable())
    bars.end_epoch({"epoch": 4, "d_loss": 1.2, "g_loss": 0.9, "fid": 123.4})
    console.print(bars.bars.get_renderable())
    text = output.getvalue()
    assert_fits(text, 80)
    for needle in ("batch-1024 seed 2: epochs", " 3/100 ", " 4/100 ", " 400/938 ", " 938/938 ", "-:--:--",
                   "epoch 4 steps  d_loss 1.2346  g_loss 0.9877  D(x) 0.512  D(G(z)) 0.432",
                   "last epoch: d_loss 1.2000  g_loss 0.9000  FID 123.4"):
        assert needle in text, needle


def test_bench_startup_times_each_command_in_fresh_processes(monkeypatch):
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def timed(argv, env=None) -> float:
        calls.append((tuple(argv), dict(env or {})))
        return 0.25

    monkeypatch.setattr(startup, "run_once", timed)
    result = CliRunner().invoke(cli.app, ["bench", "--startup", "--repeat", "2", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    first = next(iter(VARIANTS))
    assert [(r["command"], r["cache"]) for r in rows] == [
        ("study --help", "-"), ("study list", "warm"), ("study list", "cold"), (f"study show {first}", "warm"),
        (f"study show {first}", "cold"), ("python -c 'import torch'", "-")]
    assert all(r["seconds"] == [0.25, 0.25] and r["median_s"] == 0.25 for r in rows)
    cold = [env["STUDY_CACHE_DIR"] for _, env in calls if "STUDY_CACHE_DIR" in env]
    assert len(calls) == 12 and len(set(cold)) == 4  # an empty cache folder of its own for every cold process
    assert all(argv[:2] == ("-m", "harness.cli") for argv, _ in calls[:10])
