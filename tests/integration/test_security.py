"""API keys, rate limits, body limits, request ids, access logs and metrics against a real server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests

from devtools.server import ROOT, ServerProcess
from purchase.examples import SPEC_CURL
from tests.helpers import ADMIN_KEY, KEYS, Trained, declared_metrics, from_address

# --- the rules, in-process ----------------------------------------------------------------------


def call(
    server: ServerProcess, method: str, path: str, key: str | None = None, bearer: bool = False, **kwargs: object
) -> requests.Response:
    headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[arg-type]
    if key is not None:
        headers["Authorization" if bearer else "X-API-Key"] = f"Bearer {key}" if bearer else key
    return requests.request(method, server.url + path, headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_prediction_routes_need_a_key(secured_server: ServerProcess) -> None:
    missing = call(secured_server, "POST", "/predict", json=SPEC_CURL)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "API key" in missing.json()["detail"]
    wrong = call(secured_server, "POST", "/predict", "not-a-key", json=SPEC_CURL)
    assert wrong.status_code == 403 and "WWW-Authenticate" in wrong.headers
    for near in (KEYS["auth"][:-1] + "x", KEYS["auth"][:8], KEYS["auth"] + "0"):  # a key is compared whole
        assert call(secured_server, "POST", "/predict", near, json=SPEC_CURL).status_code == 403, near
    assert call(secured_server, "POST", "/predict", KEYS["auth"], json=SPEC_CURL).status_code == 200
    assert call(secured_server, "POST", "/predict", KEYS["auth"], bearer=True, json=SPEC_CURL).status_code == 200
    assert call(secured_server, "GET", "/model-info").status_code == 401
    assert call(secured_server, "GET", "/model-info", KEYS["auth"]).status_code == 200
    event = {"event_time": "2026-01-01T00:00:00Z", "event_type": "view", "product_id": "p", "price": 1, "user_id": "u"}
    assert call(secured_server, "POST", "/events", json={"events": [event]}).status_code == 401
    assert call(secured_server, "POST", "/events", KEYS["auth"], json={"events": [event]}).status_code == 200
    assert call(secured_server, "POST", "/features", json=SPEC_CURL).status_code == 401


def test_probes_and_docs_stay_open_and_metrics_follow_the_setting(secured_server: ServerProcess) -> None:
    for path in ("/health", "/livez", "/readyz", "/", "/docs", "/redoc", "/openapi.json"):
        assert call(secured_server, "GET", path).status_code == 200, path
    assert call(secured_server, "GET", "/metrics").status_code == 401  # METRICS_REQUIRE_KEY=true
    assert call(secured_server, "GET", "/metrics", KEYS["auth"]).status_code == 200


def test_admin_routes_need_the_admin_key(secured_server: ServerProcess, v1: Trained) -> None:
    body = {"model_tag": str(v1.model.tag)}
    assert call(secured_server, "POST", "/load-model", json=body).status_code == 401
    assert call(secured_server, "POST", "/load-model", KEYS["auth"], json=body).status_code == 403
    assert call(secured_server, "POST", "/traffic", KEYS["auth"], json={}).status_code == 403
    assert call(secured_server, "POST", "/load-model", ADMIN_KEY, json=body).status_code == 200
    assert call(secured_server, "POST", "/traffic", ADMIN_KEY, json={}).status_code == 200


def test_rate_limit_per_key_with_retry_after(secured_server: ServerProcess) -> None:
    statuses = [call(secured_server, "POST", "/predict", KEYS["rate"], json=SPEC_CURL) for _ in range(40)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert {r.status_code for r in statuses} == {200, 429}
    assert call(secured_server, "POST", "/predict", KEYS["other"], json=SPEC_CURL).status_code == 200  # own bucket


def test_the_model_page_and_metrics_are_rate_limited_too(secured_server: ServerProcess) -> None:
    """They read the store and every worker's metrics files: no caller may ask for them unbounded."""
    statuses = [call(secured_server, "GET", path, KEYS["pages"]).status_code for path in ["/models", "/metrics"] * 20]
    assert set(statuses) == {200, 429} and statuses[:4] == [200] * 4


def test_oversized_bodies_are_413(secured_server: ServerProcess) -> None:
    big = json.dumps({"features": [SPEC_CURL["features"][0]] * 20_000}).encode()  # about 3 MB
    assert len(big) > 2_000_000
    declared = call(
        secured_server, "POST", "/predict", KEYS["auth"], data=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413 and "larger than" in declared.json()["detail"]
    chunked = call(
        secured_server, "POST", "/predict", KEYS["auth"], data=(big[i : i + 65536] for i in range(0, len(big), 65536)),
        headers={"content-type": "application/json"},
    )  # fmt: skip
    assert chunked.status_code == 413
    assert call(secured_server, "POST", "/predict", KEYS["auth"], json=SPEC_CURL).status_code == 200


def test_request_ids_are_echoed_or_made(secured_server: ServerProcess) -> None:
    given = call(secured_server, "GET", "/health", headers={"X-Request-ID": "trace-42.a"})
    assert given.headers["X-Request-ID"] == "trace-42.a"
    made = call(secured_server, "GET", "/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    unsafe = call(secured_server, "GET", "/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])


def test_one_json_access_line_per_request_without_secrets_or_features(
    secured_server: ServerProcess, v1: Trained
) -> None:
    body = {"features": [{**SPEC_CURL["features"][0], "user_id": "private-user-7781"}]}
    response = call(secured_server, "POST", "/predict", KEYS["log"], json=body, headers={"X-Request-ID": "log-test-1"})
    assert response.status_code == 200
    call(secured_server, "POST", "/predict", "wrong-key-for-the-log", json=body)
    log_file = Path(secured_server.env["LOG_FILE"])
    deadline = time.monotonic() + 5
    while "log-test-1" not in log_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    (entry,) = [e for e in lines if e.get("request_id") == "log-test-1"]
    assert entry["logger"] == "purchase.access"
    assert (entry["method"], entry["path"], entry["status"], entry["model_version"]) == (
        "POST",
        "/predict",
        200,
        v1.version,
    )
    assert isinstance(entry["latency_ms"], float) and entry["latency_ms"] != 0  # measured, not left out
    everything = log_file.read_text() + secured_server.log()
    for secret in (*KEYS.values(), ADMIN_KEY, "wrong-key-for-the-log", "private-user-7781"):
        assert secret not in everything


def test_metrics_cover_versions_classes_probabilities_batches_loads_and_statuses(
    secured_server: ServerProcess, v1: Trained
) -> None:
    call(secured_server, "POST", "/predict", KEYS["auth"], json=SPEC_CURL)
    call(secured_server, "POST", "/predict", json=SPEC_CURL)  # a 401
    text = call(secured_server, "GET", "/metrics", KEYS["auth"]).text
    for expected in (
        f'purchase_predictions_total{{model_version="{v1.version}",predicted_class=',
        f'purchase_probability_bucket{{le="0.5",model_version="{v1.version}"}}',
        "purchase_batch_rows_bucket",
        'purchase_model_loads_total{outcome="success"}',
        f'purchase_model_serving{{model_version="{v1.version}",role="primary"}} 1.0',
        'purchase_http_responses_total{path="/predict",status="401"}',
        'purchase_http_responses_total{path="/predict",status="200"}',
        "bentoml_service_request_duration_seconds_bucket",
    ):
        assert expected in text, expected


def test_the_grafana_dashboard_asks_only_for_metrics_the_service_exports(server: ServerProcess) -> None:
    requests.post(server.url + "/predict", json=SPEC_CURL, timeout=10)
    exported = set(
        re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", requests.get(server.url + "/metrics", timeout=10).text, re.M)
    )
    exported |= {f"{name}{suffix}" for name in metric_families() for suffix in ("", "_total", "_bucket")}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "purchase-prediction.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(re.findall(r"\b((?:bentoml|purchase)_[a-z_]+)\b", expr))
        assert names and names <= exported, (expr, names - exported)


def metric_families() -> set[str]:
    """Every metric family the service declares (some appear at /metrics only once used)."""
    return {collector._name for collector in declared_metrics()}


def test_made_up_keys_share_their_client_bucket(secured_server: ServerProcess) -> None:
    """Random keys (403s) are limited per client address, so they can neither escape the limit
    nor guess keys at speed."""
    with from_address("127.0.0.3") as session:  # its own client bucket, emptied here
        url = secured_server.url + "/predict"
        statuses = [
            session.post(url, headers={"X-API-Key": f"made-up-{i}"}, json=SPEC_CURL, timeout=30).status_code
            for i in range(40)
        ]
    assert set(statuses) == {403, 429}


def test_a_batch_job_belongs_to_the_key_that_submitted_it(secured_server: ServerProcess) -> None:
    """Another user key gets the 404 of a job that does not exist; an admin key sees every job; the
    table keeps a key id, never the key."""
    csv = {"data": b"user_id,item_id\nu1,i1\n", "headers": {"Content-Type": "text/csv"}}
    submitted = call(secured_server, "POST", "/jobs", KEYS["owner"], **csv)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    made_up = call(secured_server, "GET", "/jobs/0123456789abcdef", KEYS["stranger"])
    for method, path in [
        ("GET", f"/jobs/{job_id}"),
        ("GET", f"/jobs/{job_id}/result"),
        ("GET", f"/jobs/{job_id}/errors"),
        ("POST", f"/jobs/{job_id}/cancel"),
        ("DELETE", f"/jobs/{job_id}"),
    ]:
        answer = call(secured_server, method, path, KEYS["stranger"])
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == made_up.json()["detail"].replace("0123456789abcdef", job_id)
    listed = {
        who: [job["job_id"] for job in call(secured_server, "GET", "/jobs", key).json()["jobs"]]
        for who, key in (("owner", KEYS["owner"]), ("stranger", KEYS["stranger"]), ("admin", ADMIN_KEY))
    }
    assert job_id in listed["owner"] and job_id in listed["admin"] and job_id not in listed["stranger"]
    assert call(secured_server, "GET", f"/jobs/{job_id}", KEYS["owner"]).status_code == 200
    assert call(secured_server, "GET", f"/jobs/{job_id}", ADMIN_KEY).status_code == 200
    stored = b"".join(f.read_bytes() for f in (Path(secured_server.env["DATA_DIR"]) / "jobs").glob("jobs.sqlite*"))
    assert job_id.encode() in stored and KEYS["owner"].encode() not in stored
