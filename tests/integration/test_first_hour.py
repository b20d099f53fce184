"""A new user's first commands, run as they run them: each mistake is one clear line, not a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from devtools.server import BIN, ROOT
from purchase.serving.startup import BUILD_WITHOUT_MODEL


def bentoml(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "BENTOML_HOME": str(tmp_path / "home"), "BENTOML_DO_NOT_TRACK": "true", **env}
    command = [str(BIN / "bentoml"), *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_a_plain_bentoml_build_refuses_a_bento_without_its_model(tmp_path: Path) -> None:
    result = bentoml(tmp_path, "build")
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
        result = bentoml(tmp_path, "serve", "service:PurchasePrediction", *bind, **env)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: port {port} is already in use") and f"API_PORT={port}" in last
