"""Shared fixtures: a private model store, two small trained versions, and a real running service."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

# A store of the tests' own, set before anything imports bentoml (it reads BENTOML_HOME once).
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="purchase-tests-bentoml-")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"

import bentoml  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from purchase import store  # noqa: E402
from purchase.features import CATEGORY_FEATURE, COUNT_FEATURES, ID_FIELDS, NUMERIC_FEATURES  # noqa: E402
from purchase.train import Dataset, TrainConfig, TrainResult, fit, load_dataset, split_by_time  # noqa: E402

from .server import Server  # noqa: E402

SMALL = TrainConfig(n_users=300, n_days=63, min_category_count=5)


def quiet(_: str) -> None:
    pass


def request_row(row: pd.Series) -> dict[str, object]:
    """A DataFrame example as a /predict item: missing values left out, counts as integers."""
    item: dict[str, object] = {name: str(row[name]) for name in (*ID_FIELDS, CATEGORY_FEATURE)}
    for name in NUMERIC_FEATURES:
        value = row[name]
        if not (isinstance(value, float) and math.isnan(value)):
            item[name] = int(value) if name in COUNT_FEATURES else float(value)
    return item


@dataclass
class Trained:
    result: TrainResult
    model: bentoml.Model

    @property
    def version(self) -> str:
        return self.model.tag.version

    def probabilities(self, frame: pd.DataFrame) -> list[float]:
        """The offline pipeline's answer for these rows."""
        return self.result.booster.inplace_predict(self.result.preprocessor.transform(frame)).tolist()


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return load_dataset(SMALL, None, quiet)


@pytest.fixture(scope="session")
def test_rows(dataset: Dataset) -> pd.DataFrame:
    return split_by_time(dataset.examples)[2].reset_index(drop=True)


@pytest.fixture(scope="session")
def v1(dataset: Dataset) -> Trained:
    """The production version."""
    result = fit(dataset, SMALL, quiet)
    return Trained(result, store.save(result.booster, result.preprocessor, result.metadata, promote=True))


@pytest.fixture(scope="session")
def v2(v1: Trained) -> Trained:
    """A candidate version, trained on other data."""
    config = replace(SMALL, seed=7)
    result = fit(load_dataset(config, None, quiet), config, quiet)
    return Trained(result, store.save(result.booster, result.preprocessor, result.metadata, promote=False))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, v2: Trained) -> Path:
    """MODEL_DIR: v2 exported, a corrupt archive, and a real archive lying outside it."""
    root = tmp_path_factory.mktemp("deploy")
    models = root / "models"
    store.export(str(v2.model.tag), models)
    (models / "corrupt.bentomodel").write_bytes(b"\x00not an archive" * 100)
    store.export(str(v2.model.tag), root / "outside")
    return models


def start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str], ready_path: str, flags: bool = True) -> Server:
    """Each server gets a BENTOML_HOME of its own that shares the tests' models: BentoML empties
    $BENTOML_HOME/prometheus_multiproc_dir when a server starts, which would blank the metrics of the
    servers already running on the same home."""
    folder = tmp_path_factory.mktemp(name)
    if "BENTOML_HOME" not in env:
        home = folder / "home"
        home.mkdir()
        (home / "models").symlink_to(Path(os.environ["BENTOML_HOME"]) / "models", target_is_directory=True)
        env = {**env, "BENTOML_HOME": str(home)}
    return Server(env, folder / "server.log", flags).wait(ready_path)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path) -> Iterator[Server]:
    """The service on the tests' store, serving v1 (the production version) by default, with the
    response cache on: every parity test here also checks that cached answers equal computed ones."""
    env = {"MODEL_DIR": str(model_dir), "CORS_ORIGINS": '["http://shop.example"]', "ENABLE_CACHING": "true", "CACHE_SIZE": "5000"}
    srv = start(tmp_path_factory, "server", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def empty_server(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Server]:
    """The service on an empty store: nothing to serve until /load-model."""
    env = {"MODEL_DIR": str(model_dir), "BENTOML_HOME": str(tmp_path_factory.mktemp("empty-home"))}
    srv = start(tmp_path_factory, "empty", env, "/livez")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def configured_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path) -> Iterator[Server]:
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
    }
    srv = start(tmp_path_factory, "configured", env, "/readyz", flags=False)  # API_HOST, API_PORT bind it
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fleet_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, v2: Trained, model_dir: Path) -> Iterator[Server]:
    """Two workers that follow registry promotions, serving v1 at start."""
    env = {"MODEL_DIR": str(model_dir), "API_WORKERS": "2", "FOLLOW_PRODUCTION": "true", "DEFAULT_MODEL": str(v1.model.tag)}
    srv = start(tmp_path_factory, "fleet", env, "/readyz")
    yield srv
    srv.stop()


KEYS = {name: f"{name}-key-0123456789" for name in ("auth", "rate", "log", "other")}
ADMIN_KEY = "admin-key-0123456789"


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[Server]:
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
        "RATE_LIMIT": "20/second",
        "LOG_FILE": str(folder / "logs" / "api.log"),
    }
    srv = start(tmp_path_factory, "secured", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def overload_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[Server]:
    """One worker whose queue holds a single full request: a second one waiting is refused."""
    env = {"MODEL_DIR": str(model_dir), "DEFAULT_MODEL": str(v1.model.tag), "MAX_QUEUED_ROWS": "1000"}
    srv = start(tmp_path_factory, "overload", env, "/readyz")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained, model_dir: Path) -> Iterator[Server]:
    """Two workers, and a log file every write to fails (/dev/full: 'no space left on device')."""
    env = {"MODEL_DIR": str(model_dir), "API_WORKERS": "2", "DEFAULT_MODEL": str(v1.model.tag), "LOG_FILE": "/dev/full"}
    srv = start(tmp_path_factory, "faults", env, "/readyz")
    yield srv
    srv.stop()
