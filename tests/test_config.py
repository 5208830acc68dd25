"""study.toml: its keys checked with one line naming the problem, missing keys kept at their defaults, paths read
relative to the file; where the data root comes from."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from harness import cli
from harness.config import StudyConfig, load_config, resolve_data_root, resolve_eval_every, resolve_recorded_root
from tests.test_cli import assert_one_line_error

runner = CliRunner()


def study(*args: str):
    return runner.invoke(cli.app, list(args))


def test_broken_config(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text("[run]\nseeds = [-1]\n")
    assert_one_line_error(study("run", "--config", str(config)), "seeds must be integers from 0 to 4294967295")
    config.write_text("[run\n")
    assert_one_line_error(study("run", "--config", str(config)), "not valid TOML")
    for text, needle in [("run = 5\n", "'run' must be a [run] table"), ("[run]\nthreads = true\n", "threads must be"),
                         ("[run]\neval_samples = 1\n", "eval_samples must be an integer >= 6"),
                         ("[run]\nseeds = []\n", "seeds must be a non-empty list"),
                         ("[run]\nvariants = []\n", "variants must be a non-empty list"),
                         ("[run]\nsplit = 3\n", "split must be a non-empty string")]:
        config.write_text(text)
        assert_one_line_error(study("run", "--config", str(config)), needle)
    config.write_bytes(bytes(range(256)))
    assert_one_line_error(study("run", "--config", str(config)), "not a text file")


def test_missing_keys_keep_their_defaults_and_paths_are_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "studies" / "one"
    folder.mkdir(parents=True)
    (folder / "study.toml").write_text('[run]\nseeds = [3, 4]\nresults = "out"\ndata_root = "../data"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_config(Path("studies/one/study.toml"))
    assert settings.seeds == [3, 4] and settings.split == StudyConfig().split and settings.arms is None
    assert settings.results == folder / "out" and settings.data_root == folder / "../data"
    assert load_config(None) == StudyConfig()  # no ./study.toml here: every default


def test_auto_evaluates_about_ten_times_a_run():
    assert [resolve_eval_every("auto", epochs) for epochs in (1, 4, 20, 100)] == [1, 1, 2, 10]
    assert resolve_eval_every(0, 100) == 0 and resolve_eval_every(3, 100) == 3


def test_the_data_root_comes_from_the_option_then_the_environment_then_the_file(tmp_path, monkeypatch):
    configured = StudyConfig(data_root=tmp_path / "configured")
    monkeypatch.delenv("STUDY_DATA_ROOT", raising=False)
    assert resolve_data_root(None, configured) == tmp_path / "configured"
    monkeypatch.setenv("STUDY_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root(None, configured) == tmp_path / "env"
    assert resolve_data_root(tmp_path / "option", configured) == tmp_path / "option"
    recorded = tmp_path / "recorded"  # a finished run's: kept while it exists, else the environment's
    assert resolve_recorded_root(None, recorded) == tmp_path / "env"
    recorded.mkdir()
    assert resolve_recorded_root(None, recorded) == recorded
    assert resolve_recorded_root(tmp_path / "option", recorded) == tmp_path / "option"
