"""A new user's first commands, run as they run them: each mistake is one clear line, not a traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
import yaml

from devtools.server import BIN, ROOT
from purchase.serving.startup import BUILD_WITHOUT_MODEL
from purchase.settings import get_settings
from tests.helpers import Trained


def run_bentoml(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "BENTOML_DO_NOT_TRACK": "true", **env}
    command = [str(BIN / "bentoml"), *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_a_plain_bentoml_build_refuses_a_bento_without_its_model(tmp_path: Path) -> None:
    result = run_bentoml(tmp_path, "build")
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == BUILD_WITHOUT_MODEL
    assert not (tmp_path / "home" / "bentos").exists() or not any((tmp_path / "home" / "bentos").iterdir())


@pytest.mark.parametrize("how", ["flag", "setting"])
def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path, how: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        bind = ["--host", "127.0.0.1", "--port", str(port)] if how == "flag" else []
        env = {"API_HOST": "127.0.0.1", "API_PORT": str(port)} if how == "setting" else {}
        result = run_bentoml(tmp_path, "serve", "service:PurchasePrediction", *bind, **env)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: port {port} is already in use") and f"API_PORT={port}" in last


def test_every_entry_point_uses_one_store_bentomls_default(tmp_path: Path, model_dir: Path) -> None:
    """A version imported with the project's command is what BentoML's own `bentoml models list` shows."""
    environment = {name: value for name, value in os.environ.items() if name != "BENTOML_HOME"}
    environment |= {"HOME": str(tmp_path), "MODEL_DIR": str(model_dir)}
    archive = next(model_dir.glob("purchase_model-*.bentomodel"))

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(str(BIN / "python"), "-m", "purchase.cli.registry", "import", str(archive))
    listed = json.loads(run(str(BIN / "bentoml"), "models", "list", "-o", "json"))
    assert [row["tag"] for row in listed] == [archive.stem.replace("-", ":", 1)]
    assert (tmp_path / "bentoml" / "models" / "purchase_model").is_dir()


@pytest.mark.parametrize("command", ["make build", "bentoml build"])
def test_a_developer_s_env_file_is_not_baked_into_the_bento(tmp_path: Path, v2: Trained, command: str) -> None:
    """.env configures a run on the developer's machine; the Bento keeps the defaults, which its
    own environment (a container's, a manifest's) then overrides."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "purchase", checkout / "purchase", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("service.py", "bentofile.yaml", "configuration.yaml", "requirements.txt"):
        shutil.copy(ROOT / name, checkout / name)
    (checkout / ".env").write_text("API_WORKERS=7\nAPI_PORT=9123\n")
    tag = str(v2.model.tag)
    if command == "make build":
        line = [str(BIN / "python"), "-m", "purchase.cli.build", "--model", tag]
    else:
        line = [str(BIN / "bentoml"), "build", "--arg", f"model={tag}", "--output", "tag"]
    built = subprocess.run(line, cwd=checkout, env=os.environ, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    bento = bentoml.bentos.get(built.stdout.strip().splitlines()[-1].removeprefix("__tag__:"))
    (service,) = yaml.safe_load(Path(bento.path_of("bento.yaml")).read_text())["services"]
    environment_only = get_settings(dotenv=False)
    assert service["config"]["workers"] == environment_only.api_workers
    assert service["config"]["http"]["port"] == environment_only.api_port


def test_the_spark_commands_without_the_spark_extra_say_to_run_make_spark() -> None:
    """`python -S`: this interpreter without its site-packages, as one without the extra installed."""
    command = [sys.executable, "-S", "-m", "purchase.spark", "train", "--events", "log.csv"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: the Spark commands need the spark extra: run `make spark` first"


def test_an_event_log_with_a_wrong_column_is_one_line_naming_the_columns(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("event_time,event_type,product_id,price\n2026-01-01 00:00:00,view,p1,9.5\n")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "home")}
    command = [sys.executable, "train_and_save.py", "--events", str(log)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "missing columns" in last and "user_id" in last
