"""Packaging and deployment: the Bento, served on its own, and the Kubernetes manifests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bentoml
import kubernetes_validate
import pytest
import requests
import yaml

from purchase import packaging, store

from .conftest import Trained
from .server import ROOT, Server
from .spec_examples import SPEC_CURL, SPEC_EXAMPLE

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def bento(v1: Trained, v2: Trained) -> bentoml.Bento:
    """Built with v2 pinned, while v1 is the production version of the same store."""
    assert store.production_tag() == str(v1.model.tag)
    return packaging.build(str(v2.model.tag))


def test_the_bento_pins_the_model_and_ships_the_service(bento: bentoml.Bento, v2: Trained) -> None:
    info = yaml.safe_load(Path(bento.path_of("bento.yaml")).read_text())
    assert [m["tag"] for m in info["models"]] == [str(v2.model.tag)]
    assert info["args"] == {"model": str(v2.model.tag)}
    src = Path(bento.path_of("src"))
    for shipped in ("service.py", "configuration.yaml", "requirements.txt", "purchase/predict.py", "purchase/features.py"):
        assert (src / shipped).is_file(), shipped
    assert not (src / "tests").exists()
    requirements = Path(bento.path_of("env/python/requirements.txt")).read_text()
    assert "bentoml==1.4.40" in requirements and "xgboost==3.2.0" in requirements


@pytest.fixture(scope="module", params=["same store", "empty store"])
def served_bento(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bento: bentoml.Bento) -> Iterator[Server]:
    """The Bento served beside the store it was built from (other versions, another production one),
    and exported, imported into an empty store elsewhere and served from there."""
    folder = tmp_path_factory.mktemp("bento")
    env: dict[str, str] = {}
    if request.param == "empty store":
        archive = bentoml.bentos.export_bento(bento.tag, str(folder / "purchase.bento"))
        env["BENTOML_HOME"] = str(folder / "home")
        bentoml_cli = str(Path(sys.executable).with_name("bentoml"))
        subprocess.run([bentoml_cli, "import", archive], env={**os.environ, **env}, check=True, capture_output=True, timeout=300)
    server = Server(env, folder / "server.log", target=str(bento.tag)).wait("/readyz")
    yield server
    server.stop()


def test_the_built_bento_serves_the_spec_with_its_pinned_model(served_bento: Server, v2: Trained) -> None:
    assert requests.get(served_bento.url + "/health", timeout=10).json()["model_version"] == v2.version
    for body in (SPEC_EXAMPLE, SPEC_CURL):
        response = requests.post(served_bento.url + "/predict", json=body, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["model_version"] == v2.version


def manifests() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in yaml.safe_load_all((K8S / name).read_text())]


def test_every_manifest_is_listed_and_valid_kubernetes() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    kinds = set()
    for doc in manifests():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on any schema error
        kinds.add(doc["kind"])
    assert kinds == {"ConfigMap", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}


def test_the_validator_does_catch_mistakes() -> None:
    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_deployment_probes_limits_and_locks_down_the_container() -> None:
    deployment = next(d for d in manifests() if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/home/bentoml/purchase_fleet", "/etc/purchase/bentoml"} <= mounted
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BENTOML_CONFIG"] == "/etc/purchase/bentoml/configuration.yaml"


def test_the_configmap_carries_the_repository_configuration() -> None:
    config = next(d for d in manifests() if d["kind"] == "ConfigMap" and "configuration.yaml" in d["data"])
    assert config["data"]["configuration.yaml"] == (ROOT / "configuration.yaml").read_text()
