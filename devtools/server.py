"""Start a server process on a free loopback port and stop it with all its workers: the one launcher
of the tests, the benchmark and the profiler."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVICE = "service:PurchasePrediction"


PORTS = range(20000, 32000)  # below Linux's ephemeral range: no outgoing connection takes one meanwhile
BIND_ATTEMPTS = 4


def free_port() -> int:
    """A loopback port nobody listens on now; a server that finds it taken later is relaunched."""
    while True:
        port = random.choice(PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def home_sharing_models(home: Path, store_home: Path) -> Path:
    """A BENTOML_HOME of its own for one server, sharing the model store of `store_home`: BentoML
    empties $BENTOML_HOME/prometheus_multiproc_dir whenever a server starts there, which would blank
    the metrics of a server already running on the same home."""
    home.mkdir(parents=True, exist_ok=True)
    models, target = home / "models", store_home.resolve() / "models"
    if models.is_symlink() and models.readlink() != target:  # left by an earlier run, maybe dangling
        models.unlink()
    if not models.exists():
        models.symlink_to(target, target_is_directory=True)
    return home


class ServerProcess:
    """`command` and `env` values may name `{port}`; the process gets its own process group, so stop()
    reaches every worker. Without a given `port`, one that another process took between the choice and
    the bind is swapped for a new one (up to BIND_ATTEMPTS launches)."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: Path, port: int | None = None, name: str = "server"
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._command, self._env_template = command, env
        self._launches_left = 1 if port else BIND_ATTEMPTS
        self._launch(port or free_port())

    def _launch(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {key: value.replace("{port}", str(port)) for key, value in self._env_template.items()}
        self._launches_left -= 1
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in self._command],
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, ready: Callable[[], bool], timeout_s: float = 90.0) -> ServerProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if self._launches_left and "Address already in use" in self.log():
                    self._log.close()
                    self._launch(free_port())
                    continue
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if ready():
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout_s}s:\n{self.log()[-3000:]}")

    def wait(self, path: str = "/livez", timeout_s: float = 90.0) -> ServerProcess:
        """Until GET `path` answers 200."""
        return self.wait_until(lambda: requests.get(self.url + path, timeout=1).status_code == 200, timeout_s)

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


def bentoml_serve(env: dict[str, str], log_path: Path, target: str = SERVICE, flags: bool = True) -> ServerProcess:
    """`bentoml serve` with the repository's configuration. `flags`: bind with --host/--port; else
    through the service's own API_HOST/API_PORT settings."""
    bind = ["--host", "127.0.0.1", "--port", "{port}"] if flags else []
    env = {"BENTOML_CONFIG": str(ROOT / "configuration.yaml"), **env}
    if not flags:
        env |= {"API_HOST": "127.0.0.1", "API_PORT": "{port}"}
    return ServerProcess([str(BIN / "bentoml"), "serve", target, *bind], env, log_path)


def redis_server(log_path: Path, port: int | None = None) -> ServerProcess:
    """Debian's redis-server on loopback, nothing persisted; `port` to start it again where it was."""
    command = ["redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = ServerProcess(command, {}, log_path, port, name="redis")
    return server.wait_until(lambda: _answers_ping(server.port), timeout_s=20)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False
