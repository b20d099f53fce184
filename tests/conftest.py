"""Fixtures every test may use: a private model store with two small trained versions.

Tests under tests/integration start real processes (servers, the command-line tools) and carry the
`server` marker: `pytest -m "not server"` runs the in-process tests alone, in seconds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

# A store of the tests' own, set before anything imports bentoml (it reads BENTOML_HOME once).
os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="purchase-tests-bentoml-")

import pandas as pd
import pytest

from devtools.server import ServerProcess, redis_server
from purchase import store
from purchase.training.train import Dataset, fit, split_by_time
from tests.helpers import SMALL, Trained, quiet, small_dataset

INTEGRATION = Path(__file__).parent / "integration"
# The store goes when the process ends, not with the session: mutmut runs sessions again in one process.
atexit.register(shutil.rmtree, os.environ["BENTOML_HOME"], ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(item.fspath).parents:
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real Redis server of the tests' own (Debian's redis-server), on a free loopback port."""
    server = redis_server(tmp_path_factory.mktemp("redis") / "redis.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return small_dataset(SMALL)


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
    result = fit(small_dataset(config), config, quiet)
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
