"""The Kubernetes manifests: valid against the schemas, probes, limits, and the repository configuration."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from devtools.server import ROOT
from tests.helpers import declared_metrics

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


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
    assert kinds == {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Ingress",
        "StatefulSet",
        "PersistentVolumeClaim",
    }


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
    assert {"cpu", "memory"} <= set(container["resources"]["requests"]) and {"cpu", "memory"} <= set(
        container["resources"]["limits"]
    )
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/home/bentoml/purchase_fleet", "/etc/purchase/bentoml"} <= mounted
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["BENTOML_CONFIG"] == "/etc/purchase/bentoml/configuration.yaml"


def test_the_ingress_bounds_what_the_service_cannot_and_routes_to_it() -> None:
    """Header size and read deadlines, connections and rate per client, body size: in front of the pods."""
    ingress = next(d for d in manifests() if d["kind"] == "Ingress")
    annotations = {
        k.removeprefix("nginx.ingress.kubernetes.io/"): v for k, v in ingress["metadata"]["annotations"].items()
    }
    assert annotations["large-client-header-buffers"] == "4 16k"  # as MAX_HEADER_BYTES in the pod
    assert int(annotations["client-header-timeout"]) <= 10 and int(annotations["client-body-timeout"]) <= 10
    assert annotations["proxy-body-size"] == "2m"  # MAX_BODY_BYTES
    assert int(annotations["limit-connections"]) > 0 and int(annotations["limit-rps"]) > 0
    assert int(annotations["proxy-read-timeout"]) > 30  # past the service's own 30 s, which answers first
    service = next(d for d in manifests() if d["kind"] == "Service" and d["metadata"]["name"] == "purchase-prediction")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": service["spec"]["ports"][0]["name"]}}


def test_the_configmap_carries_the_repository_configuration() -> None:
    config = next(d for d in manifests() if d["kind"] == "ConfigMap" and "configuration.yaml" in d["data"])
    assert config["data"]["configuration.yaml"] == (ROOT / "configuration.yaml").read_text()


def test_replicas_share_redis_from_a_secret_and_optionally_one_model_store() -> None:
    docs = manifests()
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    redis_url = next(e for e in container["env"] if e["name"] == "REDIS_URL")["valueFrom"]["secretKeyRef"]
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == redis_url["name"])
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "purchase-redis")
    assert secret["stringData"][redis_url["key"]] == f"redis://{service['metadata']['name']}:6379/0"
    component = K8S / "shared-store"
    listed = yaml.safe_load((component / "kustomization.yaml").read_text())
    assert {*listed["resources"], *(p["path"] for p in listed["patches"])} == {
        p.name for p in component.glob("*.yaml")
    } - {"kustomization.yaml"}
    claim = yaml.safe_load((component / "pvc.yaml").read_text())
    kubernetes_validate.validate(claim, KUBERNETES_VERSION, strict=True)
    patch = yaml.safe_load((component / "mount.yaml").read_text())["spec"]["template"]["spec"]
    assert patch["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    fleet_mount = next(m for m in container["volumeMounts"] if m["name"] == "fleet")["mountPath"]
    home = fleet_mount.rsplit("/", 1)[0]  # BENTOML_HOME, where the fleet folder lives too
    assert patch["containers"][0]["volumeMounts"][0]["mountPath"] == f"{home}/models"


def test_the_alerts_use_exported_metrics_and_the_service_s_thresholds() -> None:
    from purchase.drift import DRIFT_PSI, WATCH_PSI
    from purchase.outcomes.quality import ALERT_AUC_RATIO, ALERT_ECE
    from purchase.settings import Settings

    exported = {collector._name for collector in declared_metrics()}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "purchase-alerts.yaml").read_text())
    found = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    assert set(found) == {
        "PurchaseFeatureDrift", "PurchaseFeatureDriftWatch", "PurchaseLiveAucBelowTraining", "PurchaseLiveMiscalibrated"
    }  # fmt: skip
    for expr in found.values():
        assert set(re.findall(r"\b(purchase_[a-z_]+)\b", expr)) <= exported
    assert float(found["PurchaseFeatureDrift"].rsplit(">=", 1)[1]) == DRIFT_PSI
    assert float(found["PurchaseFeatureDriftWatch"].rsplit(">=", 1)[1]) == WATCH_PSI
    min_rows = Settings(_env_file=None).outcome_min_rows
    for name, threshold in (
        ("PurchaseLiveAucBelowTraining", ALERT_AUC_RATIO),
        ("PurchaseLiveMiscalibrated", ALERT_ECE),
    ):
        assert re.findall(r"[<>] ([0-9.]+)", found[name].split(" and ")[0]) == [str(threshold)]
        assert found[name].endswith(f">= {min_rows}")


def test_replicas_share_the_batch_jobs_volume_within_its_size() -> None:
    docs = manifests()
    deployment = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    settings = next(d for d in docs if d["kind"] == "ConfigMap" and "DATA_DIR" in d["data"])["data"]
    (container,) = deployment["containers"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == settings["DATA_DIR"])
    volume = next(v for v in deployment["volumes"] if v["name"] == mount["name"])
    claim = next(d for d in docs if d["kind"] == "PersistentVolumeClaim")
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    size = claim["spec"]["resources"]["requests"]["storage"]
    assert size.endswith("Gi") and int(settings["JOB_STORAGE_BYTES"]) < int(size[:-2]) * 2**30


def test_the_metrics_page_lists_every_metric_and_every_alert() -> None:
    """docs/reference/metrics.md: a row per metric family the service declares and per alert rule."""
    page = (ROOT / "docs" / "reference" / "metrics.md").read_text()
    rows = set(re.findall(r"^\| `([a-zA-Z_]+)` \|", page, re.M))
    families = {c._name + ("_total" if type(c).__name__ == "Counter" else "") for c in declared_metrics()}
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "purchase-alerts.yaml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert rows == families | alerts
