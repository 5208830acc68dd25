"""The command's time left (harness/forecast.py) and the plain lines of long steps, on a clock the test moves."""
from __future__ import annotations

import dataclasses
import io
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

from harness.forecast import (
    Capacity,
    Forecast,
    Forecasting,
    PlannedRun,
    Projection,
    RunsForecast,
    WarmUp,
    duration,
    finish_times,
    plan_lines,
    planned_run,
)
from harness.progress import LINE_SECONDS, REFRESH_SECONDS, BarProgress, LineProgress, RunsWatch, Ticker
from tests.conftest import make_spec
from tests.test_startup import assert_fits


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Two runs of arm a (10 steps an epoch, 2 epochs, scored at epoch 2) and one of arm b (10 steps, 1 epoch, never
# scored); the warm-up timed a at 1 s a step, b at 2 s, a scoring at 5 s.
PLAN = [PlannedRun("a seed 0", "a", 10, 2, 0, frozenset({2})), PlannedRun("a seed 1", "a", 10, 2, 0, frozenset({2})),
        PlannedRun("b seed 0", "b", 10, 1, 0, frozenset())]
WARM_UP = WarmUp({"a": 1.0, "b": 2.0}, 5.0)


def test_the_projection_is_the_plan_at_the_warm_up_figures():
    assert Forecast(PLAN, WARM_UP).command_left() == 2 * (20 * 1.0 + 5.0) + 10 * 2.0


def test_after_the_first_epoch_every_figure_is_what_was_measured():
    """The machine runs everything at half its warm-up speed; a run takes 3 s to set up and an epoch 1 s to end:
    once the first epoch has ended, the forecast is what the rest will take."""
    clock = Clock()
    forecast = Forecast(PLAN, WARM_UP, clock)
    forecast.start_run(0)
    clock.now = 3.0
    forecast.begin_run(0)
    forecast.begin_epoch(1)
    clock.now = 23.0
    forecast.stepped(10)
    clock.now = 24.0
    forecast.end_epoch()
    assert forecast.step_seconds("a") == 2.0 and forecast.slowdown() == 2.0
    assert forecast.step_seconds("b") == 4.0  # not trained yet: its warm-up figure, as much slower as a ran
    this_run = 10 * 2.0 + 5.0  # epoch 2: its steps and its scoring
    second = 3.0 + 20 * 2.0 + 5.0 + 1.0  # setup, steps, the scoring at epoch 2, the end of epoch 1
    third = 3.0 + 10 * 4.0 + 1.0
    assert forecast.run_left() == this_run
    assert forecast.command_left() == this_run + second + third
    forecast.begin_epoch(2)
    clock.now = 34.0
    forecast.stepped(5)
    assert forecast.epoch_left() == 5 * 2.0 + 5.0  # the epoch under way: its steps left, then its scoring
    forecast.evaluating()
    clock.now = 36.0
    assert forecast.epoch_left() == 3.0  # a scoring under way: what is left of the expected 5 s


def test_a_run_setting_up_counts_what_is_left_of_the_setups_measured():
    clock = Clock()
    forecast = Forecast(PLAN, WARM_UP, clock)
    forecast.setups.append(10.0)
    forecast.start_run(1)
    clock.now = 4.0
    assert forecast.run_left() == 6.0 + 20 * 1.0 + 5.0


def test_a_resumed_run_counts_its_epochs_left_and_a_skipped_one_nothing():
    resumed = PlannedRun("a seed 0", "a", 10, 4, 3, frozenset({2, 4}))
    skipped = PlannedRun("a seed 1", "a", 10, 4, 4, frozenset({2, 4}))
    assert Forecast([resumed, skipped], WARM_UP).command_left() == 10 * 1.0 + 5.0
    lines = plan_lines(Projection([resumed, skipped], WARM_UP, "cpu (2 threads)", [512]), Capacity(), True)
    assert lines[0] == "plan: 2 runs: 0 to train, 1 to resume, 1 complete (skipped); 10 optimizer steps, 1 scorings " \
                       "of 512 images"
    assert lines[1] == "projected: 0:00:15 on cpu (2 threads), from a warm-up timed here just now:"
    assert "  a: 1e+03 ms/step x 10 steps = 0:00:10" in lines and "  scoring: 5 s x 1 = 0:00:05" in lines
    assert plan_lines(Projection([skipped], WARM_UP, "cpu", []), Capacity(), True) == [
        "plan: 1 runs: 0 to train, 0 to resume, 1 complete (skipped); 0 optimizer steps, 0 scorings"]


@pytest.mark.parametrize("capacity, ends", [
    (Capacity(), [10, 20, 30]),  # one at a time
    (Capacity(2, cores=2, threads=1), [10, 10, 20]),  # two places, a core each
    (Capacity(2, cores=2, threads=2), [20, 20, 30]),  # two runs of 2 threads on 2 cores: each at half speed; the
    # third alone at full speed
    (Capacity(3, cores=None), [10, 10, 10]),  # Ray: each on the CPUs it reserves
    (Capacity(3, turns=True), [30, 30, 30])])  # the engine: three take turns, each at a third of its speed
def test_runs_at_once_end_as_the_executor_shares_the_machine(capacity, ends):
    assert finish_times([10.0, 10.0, 10.0], capacity) == ends


def test_taking_turns_a_short_run_ends_first_and_the_rest_speed_up():
    assert finish_times([10.0, 20.0], Capacity(2, turns=True)) == [20.0, 30.0]


def test_runs_at_once_are_projected_and_rescaled_by_the_runs_that_ended():
    """Where no run's epochs can be seen (a cluster's folders need not be on this machine): four runs of a (25 s
    alone each) and one of b (20 s), two places of a core each: a 0-1 and 2-3 end at 25 and 50 s, b at 70 s. The
    machine turns out twice as slow: the first run ends at 50 s, and every projected time doubles."""
    clock = Clock()
    plan = [PlannedRun(f"a seed {seed}", "a", 10, 2, 0, frozenset({2})) for seed in range(4)] + PLAN[2:]
    forecast = RunsForecast(plan, WARM_UP, Capacity(2, cores=2, threads=1), clock)
    assert forecast.command_left() == 70.0
    clock.now = 50.0
    forecast.run_ended(0, trained=True)
    assert forecast.command_left() == 2 * 70.0 - 50.0
    forecast.run_ended(1, trained=False)  # a complete run skipped tells nothing about the machine
    assert forecast.command_left() == 90.0
    lines = plan_lines(Projection(plan, WARM_UP, "cpu (1 thread)", [512]), Capacity(2, 2, 1, how="two at once"),
                       False)
    assert lines[1] == "projected: 0:01:10 on cpu (1 thread), from a warm-up timed here just now:"
    assert "  a: 1e+03 ms/step x 80 steps = 0:01:20" in lines and "  two at once" in lines
    assert "scaled by how long the runs took to reach each epoch they record" in lines[-1]


def write_timings(timings: Path, seconds: list[float], first: int = 1) -> None:
    """A timings.csv whose epochs from ``first`` on took these seconds (half training, half scoring)."""
    timings.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{first + i},{s / 2},1.0,{s / 2}" for i, s in enumerate(seconds)]
    timings.write_text("\n".join(["epoch,seconds,images_per_s,eval_seconds", *rows]) + "\n")


def watched_plan(tmp_path: Path, plan: list[PlannedRun] = PLAN) -> list[PlannedRun]:
    """The runs, each recording its epochs' seconds in a timings.csv of its own."""
    return [dataclasses.replace(run, run_id=f"run{i}", timings=tmp_path / f"run{i}" / "timings.csv")
            for i, run in enumerate(plan)]


def test_runs_at_once_are_rescaled_by_each_epoch_they_record(tmp_path):
    """Two places of a core each: a seed 0 and a seed 1 (25 s alone: 10 s an epoch, then 5 s of scoring) train
    together, b seed 0 (20 s) after them: 45 s projected. a seed 0 records its first epoch at 20 s, 20 s long
    where 10 were projected: the machine is twice as slow, long before any run ends, and every run's time left
    doubles, less what each has trained since it was seen (or since it started)."""
    clock, plan = Clock(), watched_plan(tmp_path)
    forecast = RunsForecast(plan, WARM_UP, Capacity(2, cores=2, threads=1), clock)
    assert forecast.command_left() == 45.0
    clock.now = 5.0
    assert not forecast.watch_epochs()  # nothing recorded yet: the warm-up's figures
    assert forecast.command_left() == 40.0
    write_timings(plan[0].timings, [20.0])
    clock.now = 20.0
    assert forecast.watch_epochs() and not forecast.watch_epochs()  # seen once
    assert forecast.scale == 2.0 and forecast.command_left() == 2 * 45.0 - 20.0
    assert forecast.epochs_line() == "epochs 1 of 5"
    clock.now = 25.0
    assert forecast.command_left() == 65.0  # counting down between epochs
    clock.now = 30.0
    forecast.run_ended(forecast.index_of("run1"), trained=True)  # b seed 0 takes its place at 30 s
    assert forecast.epochs_line() == "epochs 3 of 5"
    assert forecast.command_left() == 2.0 * 20.0  # a seed 0: 15 - 10 / 2 = 10 s alone left; b seed 0: 20


def test_a_resumed_run_counts_only_the_epochs_it_trains_now(tmp_path):
    clock, plan = Clock(), watched_plan(tmp_path, [PlannedRun("a seed 0", "a", 10, 3, 1, frozenset())])
    forecast = RunsForecast(plan, WARM_UP, Capacity(2, cores=2, threads=1), clock)
    write_timings(plan[0].timings, [99.0, 30.0])  # epoch 1 was trained before this command
    clock.now = 30.0
    assert forecast.watch_epochs() and forecast.scale == 3.0 and forecast.command_left() == 3.0 * 10.0


def test_a_failed_run_drops_what_it_had_left(tmp_path):
    """a seed 0 fails after its first epoch (10 s of its 25): b seed 0 takes its place, and a seed 1 (15 s of
    25 left) ends before it (20 s)."""
    clock, plan = Clock(), watched_plan(tmp_path)
    forecast = RunsForecast(plan, WARM_UP, Capacity(2, cores=2, threads=1), clock)
    write_timings(plan[0].timings, [10.0])
    clock.now = 10.0
    forecast.watch_epochs()
    forecast.run_failed(forecast.index_of("run0"))
    assert forecast.command_left() == 20.0


def test_off_a_terminal_runs_trained_elsewhere_print_a_line_when_an_epoch_is_recorded(tmp_path):
    output, plan = io.StringIO(), watched_plan(tmp_path)
    watch = RunsWatch(Console(file=output, width=200), len(plan), Projection(plan, WARM_UP, "cpu", [512]), bar=False,
                      watch_seconds=0.01)
    with watch:
        watch.begin(Capacity(2, cores=2, threads=1))
        write_timings(plan[1].timings, [12.0])
        for _ in range(500):  # the watcher reads the manifests every 0.01 s
            if "epochs 1 of 5" in output.getvalue():
                break
            time.sleep(0.01)
    assert re.search(r"^runs: 0 of 3 ended, epochs 1 of 5, \d:\d\d:\d\d left in the command$", output.getvalue(),
                     re.MULTILINE), output.getvalue()
    assert not watch.watcher.is_alive()
    bar = watch.bars.tasks[0]  # on a terminal, the bar follows the epochs seen
    assert (bar.completed, bar.total) == (1, 5)


def test_a_forced_run_is_watched_where_it_trains(tmp_path):
    spec = make_spec("udacity", tmp_path / "data", tmp_path / "results")
    assert planned_run(spec, 512, force=False).timings == spec.folder.timings_path
    assert planned_run(spec, 512, force=True).timings == spec.folder.replacement().timings_path
    assert planned_run(spec, 512, force=True).run_id == spec.run_id


def test_durations_read_as_the_bars_print_them():
    assert duration(None) == "-:--:--" and duration(59.6) == "0:01:00" and duration(90061) == "25:01:01"


def test_off_a_terminal_a_long_step_prints_a_timed_line_every_few_seconds():
    clock, output = Clock(), io.StringIO()
    console = Console(file=output, width=80)
    with Ticker(console, "building", "steps", clock) as ticker:
        tick = ticker.part("evaluator seed 0")
        for done in range(1, 101):
            clock.now = done * 0.5
            tick(done, 100)
    lines = output.getvalue().splitlines()
    assert lines[0] == "building ..." and lines[-1] == "building: done in 50.0 s"
    assert lines[1] == "  evaluator seed 0: 1 of 100 steps (1%), 0:00:00 elapsed, -:--:-- left ..."
    assert lines[2] == f"  evaluator seed 0: {1 + 2 * LINE_SECONDS:.0f} of 100 steps (11%), 0:00:05 elapsed, " \
                       f"0:00:40 left ..."
    assert len(lines) == 12  # the start; steps 1, 11, ..., 91 (LINE_SECONDS apart); the end


def test_training_lines_say_run_k_of_n_and_the_time_left():
    clock, output = Clock(), io.StringIO()
    forecast = Forecast(PLAN, WARM_UP, clock)
    watched = Forecasting(forecast, LineProgress(Console(file=output, width=80), forecast, clock))
    watched.start(0)
    watched.begin_run("a seed 0", 2, 0, 10)
    watched.begin_epoch(1)
    for done in range(1, 11):
        clock.now = done * 1.0
        watched.step(done, lambda: {})
    watched.end_epoch({"epoch": 1, "d_loss": 1.0, "g_loss": 2.0})
    lines = output.getvalue().splitlines()
    assert lines[0] == "run 1 of 3: a seed 0 ..."
    # 5 steps of epoch 1 and all of epoch 2 at 1 s, its scoring; then a seed 1 (25 s) and b seed 0 (20 s)
    assert lines[1] == "a seed 0: epoch 1/2 step 5/10; run 1 of 3, 0:00:20 left in it, 0:01:05 in the command"
    assert lines[-1].startswith("a seed 0: epoch 1/2 d_loss 1.0000 g_loss 2.0000; run 1 of 3, 0:00:15 left in it")


@pytest.mark.parametrize("seconds", [0.0, 0.4])
def test_no_estimate_from_less_than_a_second(seconds):
    clock, output = Clock(), io.StringIO()
    with Ticker(Console(file=output), "x", "sets", clock) as ticker:
        clock.now = seconds
        ticker.part("p")(1, 10)
    assert "-:--:-- left" in output.getvalue()


def test_the_bars_show_the_command_the_run_and_the_epoch_with_their_times_left_in_80_columns():
    clock, output = Clock(), io.StringIO()
    console = Console(file=output, width=80, color_system=None)
    forecast = Forecast(PLAN, WARM_UP, clock)
    bars = BarProgress(console, forecast)
    watched = Forecasting(forecast, bars)
    watched.start(0)
    watched.begin_run("a seed 0", 2, 0, 10)
    watched.begin_epoch(1)
    clock.now = 4.0
    bars.last_refresh = -REFRESH_SECONDS  # the bars refresh at most twice a second: this step is shown
    watched.step(4, lambda: {"d_loss": 1.23456, "g_loss": 0.98765, "d_real": 0.5123, "d_fake": 0.4321})
    console.print(bars.bars.get_renderable())
    text = output.getvalue()
    assert_fits(text, 80)
    # 6 steps left of epoch 1 at the 1 s measured, epoch 2 and its scoring: 21 s; then 25 s and 20 s more
    for needle in ("command: run 1 of 3", " 0/3 ", "0:01:06", "a seed 0: epochs", " 0/2 ", "0:00:21",
                   "epoch 1 steps  d_loss 1.2346", " 4/10 ", "0:00:06"):
        assert needle in text, needle
