"""Start a real `bentoml serve` of the service on a free loopback port, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BENTOML = str(Path(sys.executable).with_name("bentoml"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str], log_path: Path, flags: bool = True, target: str = "service:PurchasePrediction") -> None:
        """`flags`: bind with --host/--port; else through the service's own API_HOST/API_PORT settings."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env if flags else {**env, "API_HOST": "127.0.0.1", "API_PORT": str(self.port)}
        self.log_path = log_path
        self._log = log_path.open("w")
        bind = ["--host", "127.0.0.1", "--port", str(self.port)] if flags else []
        self.process = subprocess.Popen(
            [BENTOML, "serve", target, *bind],
            cwd=ROOT,
            env={**os.environ, "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop() reaches every worker
        )

    def wait(self, path: str = "/livez", timeout_s: float = 90.0) -> Server:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.url + path, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not up on {path} within {timeout_s}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text()
