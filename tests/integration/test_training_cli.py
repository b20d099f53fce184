"""The training command, run as a user runs it: train, promote, export, skip, real logs, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from devtools.server import ROOT
from purchase.training import events

DAY = pd.Timedelta(days=1)


MODULE = ("-m", "purchase.cli.train")
SCRIPT = ("train_and_save.py",)  # the design card's training entry point: the same command


def run_cli(tmp_path: Path, *args: str, command: tuple[str, ...] = MODULE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "MODEL_DIR": str(tmp_path / "models")}
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def bentoml_json(tmp_path: Path, *args: str) -> object:
    """`bentoml models ... -o json` against the store run_cli used."""
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home")}
    command = [str(Path(sys.executable).with_name("bentoml")), "models", *args, "-o", "json"]
    return json.loads(subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout)


def stored(tmp_path: Path) -> list[dict]:
    return bentoml_json(tmp_path, "list")


def test_command_trains_promotes_exports_and_skips_when_asked(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "--users", "200", "--days", "63", "--promote", "--export", command=SCRIPT)
    assert first.returncode == 0, first.stderr
    for line in (
        "generating synthetic event log",
        "training XGBoost",
        "logistic_regression",
        "oracle",
        "saved purchase_model:",
    ):
        assert line in first.stdout
    models = stored(tmp_path)
    assert len(models) == 1 and models[0]["tag"].startswith("purchase_model:xgboost_")
    version = models[0]["tag"].split(":")[1]
    assert (tmp_path / "models" / f"purchase_model-{version}.bentomodel").is_file()
    assert "stage production" in first.stdout

    skipped = run_cli(tmp_path, "--if-empty", "--promote")
    assert skipped.returncode == 0 and "not training" in skipped.stdout
    assert len(stored(tmp_path)) == 1


def test_command_trains_from_an_event_log_in_the_public_schema(tmp_path: Path) -> None:
    csv = tmp_path / "events.csv"
    assert run_cli(tmp_path, "--write-events", str(csv), "--users", "200", "--days", "63").returncode == 0
    assert tuple(pd.read_csv(csv, nrows=1).columns) == events.EVENT_COLUMNS
    result = run_cli(tmp_path, "--events", str(csv))
    assert result.returncode == 0, result.stderr
    assert "reading event log" in result.stdout and "oracle" not in result.stdout
    assert len(stored(tmp_path)) == 1


def test_command_refuses_a_short_synthetic_log(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--days", "30")
    assert result.returncode == 2 and "at least 60" in result.stderr


def test_same_seed_same_metrics_in_separate_runs(tmp_path: Path) -> None:
    """Determinism across processes, not only within one: two homes, two runs (the top-level script and
    the module, one command), one answer."""
    metadata = []
    for run, command in (("first", SCRIPT), ("second", MODULE)):
        assert run_cli(tmp_path / run, "--users", "200", "--days", "63", "--seed", "5", command=command).returncode == 0
        metadata.append(bentoml_json(tmp_path / run, "get", "purchase_model:latest")["metadata"])
    assert metadata[0]["metrics"] == metadata[1]["metrics"]
    assert metadata[0]["data_fingerprint"] == metadata[1]["data_fingerprint"]


def test_a_missing_event_log_is_one_clear_line(tmp_path: Path) -> None:
    for command in ("purchase.cli.train", "purchase.cli.features"):
        env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-m", command, "--events", "2019-Oct.csv"], cwd=tmp_path,
            env={**env, "FEATURE_DB": str(tmp_path / "f.sqlite")}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 1 and result.stdout == "", command
        assert result.stderr == "error: --events 2019-Oct.csv: no such file, or not readable\n", command


def test_a_synthetic_log_named_without_a_folder_goes_to_the_ignored_data_folder(tmp_path: Path) -> None:
    work = tmp_path / "checkout"
    work.mkdir()
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "purchase.cli.train", "--write-events", "log.csv", "--users", "50"]
    assert subprocess.run(command, cwd=work, env=env, capture_output=True, timeout=300).returncode == 0
    assert [p.relative_to(work).as_posix() for p in work.rglob("*.csv")] == ["data/log.csv"]
    assert "data/" in (ROOT / ".gitignore").read_text().splitlines()
