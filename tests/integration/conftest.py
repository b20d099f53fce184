"""Real servers for the integration tests, one per configuration, shared by the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.server import ServerProcess, bentoml_serve, home_sharing_models
from tests.helpers import ADMIN_KEY, KEYS, Trained


def start(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str], ready_path: str, flags: bool = True
) -> ServerProcess:
    """The service, ready on `ready_path`, with a BENTOML_HOME of its own sharing the tests' models."""
    folder = tmp_path_factory.mktemp(name)
    env = {"FEATURE_DB": str(folder / "features.sqlite"), "DATA_DIR": str(folder / "data"), **env}
    if "BENTOML_HOME" not in env:
        env = {**env, "BENTOML_HOME": str(home_sharing_models(folder / "home", Path(os.environ["BENTOML_HOME"])))}
    return bentoml_serve(env, folder / "server.log", flags=flags).wait(ready_path)


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path
) -> Iterator[ServerProcess]:
    """The service on the tests' store, serving v1 (the production version) by default, with the
    response cache on: every parity test here also checks that cached answers equal computed ones."""
    env = {
        "MODEL_DIR": str(model_dir),
        "CORS_ORIGINS": '["http://shop.example"]',
        "ENABLE_CACHING": "true",
        "CACHE_SIZE": "5000",
    }
    srv = start(tmp_path_factory, "server", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def empty_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[ServerProcess]:
    """The service on an empty store: nothing to serve until /load-model."""
    env = {"MODEL_DIR": str(model_dir), "BENTOML_HOME": str(tmp_path_factory.mktemp("empty-home"))}
    srv = start(tmp_path_factory, "empty", env, "/livez")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def configured_server(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path
) -> Iterator[ServerProcess]:
    """The service with every spec setting away from its default."""
    logs = tmp_path_factory.mktemp("logs")
    env = {
        "MODEL_DIR": str(model_dir),
        "DEFAULT_MODEL": str(v2.model.tag),
        "AB_MODEL": str(v1.model.tag),
        "AB_SHARE": "0.25",
        "SHADOW_MODEL": str(v1.model.tag),
        "API_WORKERS": "2",
        "MAX_BATCH_SIZE": "10",
        "DEFAULT_THRESHOLD": "0.0",
        "LOG_LEVEL": "DEBUG",
        "LOG_FILE": str(logs / "nested" / "api.log"),
        "ONLINE_FEATURES": "false",
    }
    srv = start(tmp_path_factory, "configured", env, "/readyz", flags=False)  # API_HOST, API_PORT bind it
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fleet_server(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path
) -> Iterator[ServerProcess]:
    """Two workers that follow registry promotions, serving v1 at start."""
    env = {
        "MODEL_DIR": str(model_dir),
        "API_WORKERS": "2",
        "FOLLOW_PRODUCTION": "true",
        "DEFAULT_MODEL": str(v1.model.tag),
    }
    srv = start(tmp_path_factory, "fleet", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[ServerProcess]:
    """API keys (one per test, so their rate limits stay apart), an admin key in a file, a rate limit."""
    folder = tmp_path_factory.mktemp("secured")
    admin_file = folder / "admin-keys"
    admin_file.write_text(f"# one key a line\n{ADMIN_KEY}\n")
    env = {
        "MODEL_DIR": str(model_dir),
        "DEFAULT_MODEL": str(v1.model.tag),
        "API_KEYS": ",".join(KEYS.values()),
        "ADMIN_API_KEYS_FILE": str(admin_file),
        "METRICS_REQUIRE_KEY": "true",
        # Per minute: a test's burst of 40 requests is limited however slowly the machine sends them.
        "RATE_LIMIT": "20/minute",
        "LOG_FILE": str(folder / "logs" / "api.log"),
        "CORS_ORIGINS": '["http://admin.example"]',
    }
    srv = start(tmp_path_factory, "secured", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limits_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    """Small bounds, to reach them in a test: headers, the time to send them, connections, BentoML's
    request timeout (1 s), and a rate limit per client address behind no trusted proxy."""
    folder = tmp_path_factory.mktemp("limits")
    env = {
        "DEFAULT_MODEL": str(v1.model.tag),
        "MAX_HEADER_BYTES": "8192",
        "HEADER_TIMEOUT_S": "1",
        "MAX_CONNECTIONS_PER_WORKER": "20",
        "RATE_LIMIT": "5/minute",
        "LOG_FILE": str(folder / "api.log"),
        "BENTOML_CONFIG_OVERRIDES": '{"services": {"PurchasePrediction": {"traffic": {"timeout": 1}}}}',
    }
    srv = start(tmp_path_factory, "limits", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def overload_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[ServerProcess]:
    """One worker whose queue holds a single full request: a second one waiting is refused."""
    env = {"MODEL_DIR": str(model_dir), "DEFAULT_MODEL": str(v1.model.tag), "MAX_QUEUED_ROWS": "1000"}
    srv = start(tmp_path_factory, "overload", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[ServerProcess]:
    """Two workers, and a log file every write to fails (/dev/full: 'no space left on device')."""
    env = {"MODEL_DIR": str(model_dir), "API_WORKERS": "2", "DEFAULT_MODEL": str(v1.model.tag), "LOG_FILE": "/dev/full"}
    srv = start(tmp_path_factory, "faults", env, "/readyz")
    yield srv
    srv.stop()
