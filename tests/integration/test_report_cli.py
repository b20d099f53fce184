"""Each version's report, run as a user runs it: written by training into the store, carried by the
version's archive into another store, drawn again there by `python -m purchase.cli.report`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devtools.server import ROOT
from purchase.training.report import FIGURES
from tests.integration.test_training_cli import run_cli

REPORT = ["index.html", *sorted(FIGURES)]


def command(home: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENTOML_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def version_folder(home: Path) -> Path:
    (folder,) = (home / "models" / "purchase_model").glob("xgboost_*")
    return folder


def test_training_writes_the_report_the_archive_carries_it_and_it_is_drawn_again(tmp_path: Path) -> None:
    trained = run_cli(tmp_path, "--users", "200", "--days", "63", "--export")
    assert trained.returncode == 0, trained.stderr
    folder = version_folder(tmp_path / "home")
    assert f"report: {folder / 'report' / 'index.html'}" in trained.stdout
    assert sorted(p.name for p in (folder / "report").iterdir()) == sorted(REPORT)
    assert (folder / "evaluation.npz").is_file()
    original = {name: (folder / "report" / name).read_bytes() for name in REPORT}

    (archive,) = (tmp_path / "models").glob("*.bentomodel")
    other = tmp_path / "other-home"
    imported = command(other, "purchase.cli.registry", "import", str(archive))
    assert imported.returncode == 0, imported.stderr
    copy = version_folder(other)
    assert (
        copy.name == folder.name and (copy / "evaluation.npz").read_bytes() == (folder / "evaluation.npz").read_bytes()
    )
    assert {name: (copy / "report" / name).read_bytes() for name in REPORT} == original

    for name in REPORT:  # the imported copy's report gone: the stored evaluation alone draws it again
        (copy / "report" / name).unlink()
    drawn = command(other, "purchase.cli.report", f"purchase_model:{copy.name}")
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout == f"report: {copy / 'report' / 'index.html'}\n"
    assert {name: (copy / "report" / name).read_bytes() for name in REPORT} == original

    assert command(other, "purchase.cli.report", "latest").returncode == 0  # the aliases store.get resolves
    (copy / "evaluation.npz").unlink()  # as a version trained before reports existed
    old = command(other, "purchase.cli.report", copy.name)
    assert old.returncode == 1 and old.stdout == "" and old.stderr.count("\n") == 1
    assert (
        old.stderr.startswith(f"error: purchase_model:{copy.name} has no stored evaluation data")
        and "retrain" in old.stderr
    )


def test_an_unknown_tag_is_one_clear_line(tmp_path: Path) -> None:
    for tag, message in (
        ("nope", "error: Model not found: purchase_model:nope\n"),
        ("production", "error: No production version: promote one (make promote TAG=...)\n"),
    ):
        result = command(tmp_path / "home", "purchase.cli.report", tag)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", message), tag
