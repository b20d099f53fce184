"""Archives against real servers: a refused /load-model changes nothing in the store either, and a
store that holds an unservable newest production version still starts on the newest servable one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.server import ServerProcess, bentoml_serve
from purchase import store
from tests.crafted import archive, copy_version, promoted_from_the_future, unchanged
from tests.helpers import Trained


def broken_and_promoted(info: dict[str, Any]) -> None:
    promoted_from_the_future(info)
    info["metadata"]["preprocessor"] = {"categories": 5}


def test_a_refused_load_leaves_no_version_behind(server: ServerProcess, model_dir: Path, v1: Trained) -> None:
    before = {str(m.tag) for m in store.versions()}
    path = archive(v1, model_dir / "crafted", "xgboost_refused_live", broken_and_promoted)
    answer = requests.post(server.url + "/load-model", json={"model_path": f"crafted/{path.name}"}, timeout=60)
    assert answer.status_code == 400 and "feature contract" in answer.json()["detail"], answer.text
    assert {str(m.tag) for m in store.versions()} == before
    assert store.production_tag() == str(v1.model.tag)


@pytest.fixture(scope="module")
def store_with_a_broken_production(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("broken-store")
    versions = home / "models" / "purchase_model"
    copy_version(v1, versions, v1.version, unchanged)
    copy_version(v1, versions, "xgboost_29990101_000000", broken_and_promoted)
    (versions / "latest").write_text("xgboost_29990101_000000")
    server = bentoml_serve({"BENTOML_HOME": str(home)}, home / "server.log").wait("/readyz")
    yield server
    server.stop()


def test_a_server_starts_on_the_newest_servable_production_version(
    store_with_a_broken_production: ServerProcess, v1: Trained
) -> None:
    server = store_with_a_broken_production
    assert requests.get(server.url + "/health", timeout=10).json()["model_version"] == v1.version
    log = server.log()
    assert "cannot serve purchase_model:xgboost_29990101_000000 at start, trying the next version" in log
