"""The Bento: what it ships, and served on its own beside another store or from an empty one."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bentoml
import pytest
import requests
import yaml

from devtools.server import ROOT, ServerProcess, bentoml_serve
from purchase import store
from purchase.cli import build
from purchase.examples import SPEC_CURL, SPEC_EXAMPLE
from tests.helpers import Trained

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def bento(v1: Trained, v2: Trained) -> bentoml.Bento:
    """Built with v2 pinned, while v1 is the production version of the same store, by the command
    `make build` runs, which says how to serve and containerize what it built."""
    assert store.production_tag() == str(v1.model.tag)
    printed, hints = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(hints):
        build.main(["--model", str(v2.model.tag)])
    (tag,) = printed.getvalue().splitlines()  # alone on stdout: deploy/image.sh reads it
    _, serve, containerize = hints.getvalue().splitlines()
    assert serve.split(":", 1)[1].split() == ["bentoml", "serve", tag, "--port", "8000"]
    assert containerize.split(":", 1)[1].split()[:3] == ["bentoml", "containerize", tag]
    return bentoml.bentos.get(tag)


def test_the_bento_pins_the_model_and_ships_the_service(bento: bentoml.Bento, v2: Trained) -> None:
    info = yaml.safe_load(Path(bento.path_of("bento.yaml")).read_text())
    assert [m["tag"] for m in info["models"]] == [str(v2.model.tag)]
    assert info["args"] == {"model": str(v2.model.tag)}
    src = Path(bento.path_of("src"))
    for shipped in (
        "service.py",
        "configuration.yaml",
        "requirements.txt",
        "purchase/serving/models/scoring.py",
        "purchase/features.py",
    ):
        assert (src / shipped).is_file(), shipped
    assert not (src / "tests").exists()
    requirements = Path(bento.path_of("env/python/requirements.txt")).read_text()
    assert "bentoml==1.4.40" in requirements.splitlines()
    # XGBoost's CPU-only wheel, without the CUDA and NCCL libraries of the default one.
    assert "xgboost-cpu==3.2.0" in requirements.splitlines()
    assert not [line for line in requirements.splitlines() if line.startswith("xgboost==")]


@pytest.fixture(scope="module", params=["same store", "empty store"])
def served_bento(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bento: bentoml.Bento
) -> Iterator[ServerProcess]:
    """The Bento served beside the store it was built from (other versions, another production one),
    and exported, imported into an empty store elsewhere and served from there."""
    folder = tmp_path_factory.mktemp("bento")
    env: dict[str, str] = {}
    if request.param == "empty store":
        archive = bentoml.bentos.export_bento(bento.tag, str(folder / "purchase.bento"))
        env["BENTOML_HOME"] = str(folder / "home")
        bentoml_cli = str(Path(sys.executable).with_name("bentoml"))
        subprocess.run(
            [bentoml_cli, "import", archive], env={**os.environ, **env}, check=True, capture_output=True, timeout=300
        )
    server = bentoml_serve(env, folder / "server.log", target=str(bento.tag)).wait("/readyz")
    yield server
    server.stop()


def test_the_built_bento_serves_the_spec_with_its_pinned_model(served_bento: ServerProcess, v2: Trained) -> None:
    assert requests.get(served_bento.url + "/health", timeout=10).json()["model_version"] == v2.version
    for body in (SPEC_EXAMPLE, SPEC_CURL):
        response = requests.post(served_bento.url + "/predict", json=body, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == v2.version
