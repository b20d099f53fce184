"""Every route and every error, against a real `bentoml serve` process over HTTP."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests

from devtools.server import ServerProcess
from purchase import store
from purchase.examples import SPEC_CURL, SPEC_EXAMPLE
from purchase.segments import SEGMENTS
from tests.helpers import Trained, prefix_of_a_stored_version, request_row

MINIMAL_ROW = SPEC_CURL["features"][0]
NOT_LOADED = "Model not loaded. Please load a model first."


def post(server: ServerProcess, path: str, body: object) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=30)


def get(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=30)


def assert_error(response: requests.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "Traceback" not in detail and "/work/" not in detail and ".py" not in detail
    for fragment in fragments:
        assert fragment in detail
    return detail


def parse_utc(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert parsed.utcoffset() == UTC.utcoffset(None)
    return parsed


@pytest.fixture
def serving_v1(server: ServerProcess, v1: Trained) -> Iterator[ServerProcess]:
    """For tests that swap models: v1 serves again afterwards."""
    yield server
    assert post(server, "/load-model", {"model_tag": str(v1.model.tag)}).status_code == 200


# --- GET routes -------------------------------------------------------------------------------


def test_root_is_the_spec_info(server: ServerProcess) -> None:
    assert get(server, "/").json() == {
        "name": "E-Commerce Purchase Prediction API",
        "version": "1.0.0",
        "status": "running",
        "docs": "/docs",
        "health": "/health",
    }


def test_health_reports_the_serving_version(server: ServerProcess, v1: Trained) -> None:
    body = get(server, "/health").json()
    assert set(body) == {"status", "model_loaded", "model_version", "uptime_seconds", "timestamp"}
    assert body["status"] == "healthy" and body["model_loaded"] is True
    assert body["model_version"] == v1.version
    parse_utc(body["timestamp"])
    time.sleep(0.05)
    later = get(server, "/health").json()
    assert (
        isinstance(body["uptime_seconds"], float) and later["uptime_seconds"] != body["uptime_seconds"]
    )  # measured, not fixed


def test_model_info_has_the_spec_fields_and_the_stored_metrics(server: ServerProcess, v1: Trained) -> None:
    body = get(server, "/model-info").json()
    assert body["model_version"] == v1.version == body["model_tag"].split(":")[1]
    assert body["model_type"] == "Booster" and body["has_preprocessor"] is True
    assert body["num_features"] == v1.result.preprocessor.num_features
    assert body["stage"] == "production"
    assert body["metrics"] == v1.result.metrics
    assert body["segments"] == v1.result.metadata["segments"] and set(body["segments"]) == {
        "overall",
        *(s.value for s in SEGMENTS),
    }
    assert body["model_path"] is None
    parse_utc(body["loaded_at"])


def test_bentoml_probes_and_metrics_stay(server: ServerProcess) -> None:
    assert get(server, "/livez").status_code == 200
    assert get(server, "/readyz").status_code == 200
    post(server, "/predict", SPEC_CURL)
    assert "bentoml_service_request_total" in get(server, "/metrics").text


@pytest.mark.parametrize(("page", "asset"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_doc_pages_render_from_local_assets(server: ServerProcess, page: str, asset: str) -> None:
    html = get(server, page).text
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []
    scripts = re.findall(r"""<script src=["']([^"']+)["']""", html)
    assert any(s.endswith(asset) for s in scripts)
    for script in scripts:
        response = get(server, script)
        assert response.status_code == 200 and len(response.content) > 100_000


def test_openapi_lists_every_route_with_its_schemas(server: ServerProcess) -> None:
    doc = get(server, "/openapi.json").json()
    routes = {"/", "/health", "/predict", "/features", "/events", "/load-model", "/model-info", "/livez", "/readyz"}
    assert routes | {"/metrics"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert {"PredictRequest", "PredictResponse", "SparseFeatureRow", "LoadModelRequest", "ModelInfo", "Health"} <= set(
        schemas
    )
    predict = doc["paths"]["/predict"]["post"]
    assert {"200", "400", "401", "403", "413", "429", "500", "503"} == set(predict["responses"])
    assert "purchase.serving" not in predict["description"]  # written for users, not maintainers
    for status in (400, 401, 403, 404, 409, 413, 429, 500, 503):
        assert f" {status} " in doc["info"]["description"]


def test_the_docs_group_routes_and_offer_the_keys(server: ServerProcess) -> None:
    """Swagger UI's Authorize button needs securitySchemes; each route that takes a key says so."""
    doc = get(server, "/openapi.json").json()
    assert doc["components"]["securitySchemes"]["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    operations = {(m, p): op for p, ops in doc["paths"].items() for m, op in ops.items()}
    assert all(len(op["tags"]) == 1 for op in operations.values())
    secured = {key for key, op in operations.items() if "security" in op}
    assert {
        ("post", "/predict"),
        ("post", "/client/predict"),
        ("post", "/load-model"),
        ("get", "/model-info"),
    } <= secured
    assert not {("get", "/health"), ("get", "/livez"), ("get", "/v2/health/live"), ("get", "/")} & secured


# --- /predict ---------------------------------------------------------------------------------


def test_spec_example_round_trip(server: ServerProcess, v1: Trained) -> None:
    response = post(server, "/predict", SPEC_EXAMPLE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"predictions", "model_version", "timestamp", "latency_ms"}
    (prediction,) = body["predictions"]
    assert set(prediction) == {"user_id", "item_id", "prediction", "probability", "confidence"}
    assert (prediction["user_id"], prediction["item_id"]) == ("user_000123", "item_00456")
    assert prediction["prediction"] == int(prediction["probability"] >= 0.5)
    assert prediction["confidence"] in {"high", "medium", "low"}
    assert body["model_version"] == v1.version
    assert (
        isinstance(body["latency_ms"], float) and math.isfinite(body["latency_ms"]) and body["latency_ms"] != 0
    )  # measured
    parse_utc(body["timestamp"])


def test_spec_curl_body_with_only_required_fields(server: ServerProcess) -> None:
    response = post(server, "/predict", SPEC_CURL)
    assert response.status_code == 200, response.text
    assert 0.0 <= response.json()["predictions"][0]["probability"] <= 1.0


def test_spec_python_client(server: ServerProcess) -> None:
    api_url = server.url

    def predict_purchase(user_id: str, item_id: str, features: dict) -> dict:  # as in the spec
        response = requests.post(
            f"{api_url}/predict",
            json={
                "features": [{"user_id": user_id, "item_id": item_id, **features}],
                "return_probabilities": True,
                "threshold": 0.5,
            },
        )
        return response.json()

    features = {
        "days_since_last_view": 2.5,
        "view_count_7d": 15,
        "item_price": 89.99,
        "item_base_price": 129.99,
        "item_discount_pct": 30.0,
        "item_category": "Electronics",
    }
    result = predict_purchase("user_000123", "item_00456", features)
    prediction = result["predictions"][0]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["prediction"] == int(prediction["probability"] >= 0.5)
    assert result["model_version"] == get(server, "/health").json()["model_version"]


def test_spec_unit_test_examples(server: ServerProcess) -> None:
    """The spec's own tests, with the answers a loaded model must give (200, not "200 or 503")."""
    assert get(server, "/health").json()["status"] == "healthy"
    body = {
        "features": [
            {
                "user_id": "test_user",
                "item_id": "test_item",
                "item_price": 100.0,
                "item_base_price": 100.0,
                "item_discount_pct": 0.0,
                "item_category": "Test",
            }
        ],
        "return_probabilities": True,
    }
    assert post(server, "/predict", body).status_code == 200  # an unknown category is not an error


def test_return_probabilities_false_leaves_probability_out(server: ServerProcess) -> None:
    body = post(server, "/predict", {**SPEC_CURL, "return_probabilities": False}).json()
    assert "probability" not in body["predictions"][0]
    assert body["predictions"][0]["prediction"] in (0, 1)


def test_threshold_decides_the_class_and_defaults_to_half(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = [request_row(r) for _, r in test_rows.head(300).iterrows()]
    default = post(server, "/predict", {"features": rows}).json()["predictions"]
    probabilities = [p["probability"] for p in default]
    assert [p["prediction"] for p in default] == [int(p >= 0.5) for p in probabilities]
    assert 0 < sum(p["prediction"] for p in default) < len(rows)  # both classes occur: the check can fail
    for threshold in (0.0, 0.2, 1.0):
        answer = post(server, "/predict", {"features": rows, "threshold": threshold}).json()["predictions"]
        assert [p["prediction"] for p in answer] == [int(p >= threshold) for p in probabilities]


def test_a_probability_equal_to_the_threshold_is_a_purchase(server: ServerProcess) -> None:
    """The spec's rule is probability >= threshold: send a row, then again with its own probability."""
    p = post(server, "/predict", SPEC_EXAMPLE).json()["predictions"][0]["probability"]
    at = post(server, "/predict", {**SPEC_EXAMPLE, "threshold": p}).json()["predictions"][0]
    assert (at["probability"], at["prediction"], at["confidence"]) == (p, 1, "low")
    above = post(server, "/predict", {**SPEC_EXAMPLE, "threshold": min(1.0, p + 1e-9)}).json()["predictions"][0]
    assert above["prediction"] == 0


def test_rows_that_differ_only_in_category_are_cached_apart(
    serving_v1: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """The cache is on in this server: each category's answer equals the offline pipeline's."""
    categories = v1.result.preprocessor.categories
    for _, row in test_rows.dropna().head(100).iterrows():  # the first row whose answer depends on its category
        frame = pd.DataFrame([{**request_row(row), "item_category": c} for c in categories])
        offline = v1.probabilities(frame)
        if max(offline) - min(offline) > 1e-4:
            break
    other = next(i for i, p in enumerate(offline) if abs(p - offline[0]) > 1e-4)
    for _ in range(2):  # the second round is answered from the cache
        for i in (0, other):
            answer = post(serving_v1, "/predict", {"features": [frame.iloc[i].to_dict()]}).json()
            assert answer["predictions"][0]["probability"] == pytest.approx(offline[i], abs=1e-6)


def test_a_prefix_of_a_version_is_an_unknown_tag(serving_v1: ServerProcess, v1: Trained) -> None:
    """BentoML would resolve a unique prefix of a version; the service answers 404 and changes nothing."""
    prefix = prefix_of_a_stored_version(v1)
    for path, body in (
        ("/load-model", {"model_tag": prefix}),
        ("/traffic", {"candidate": prefix, "candidate_share": 0.5}),
    ):
        assert_error(post(serving_v1, path, body), 404, "not found")
    assert get(serving_v1, "/health").json()["model_version"] == v1.version
    assert get(serving_v1, "/traffic").json()["candidate"] is None


def test_confidence_follows_the_documented_rule(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    rows = [request_row(r) for _, r in test_rows.head(300).iterrows()]
    for threshold in (0.3, 0.5):
        for p in post(server, "/predict", {"features": rows, "threshold": threshold}).json()["predictions"]:
            room = 1 - threshold if p["probability"] >= threshold else threshold
            margin = abs(p["probability"] - threshold) / room
            assert p["confidence"] == ("high" if margin >= 0.5 else "medium" if margin >= 0.2 else "low")


def test_served_probabilities_equal_the_offline_pipeline(
    server: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """Training-serving parity: same rows, same probabilities, to 1e-6."""
    frame = test_rows.head(500)
    body = post(server, "/predict", {"features": [request_row(r) for _, r in frame.iterrows()]}).json()
    served = [p["probability"] for p in body["predictions"]]
    assert served == pytest.approx(v1.probabilities(frame), abs=1e-6)
    assert len(set(served)) > 10


def test_a_thousand_items_keep_their_order(server: ServerProcess, v1: Trained, test_rows: pd.DataFrame) -> None:
    frame = test_rows.sample(1000, replace=True, random_state=1)
    rows = [{**request_row(r), "item_id": f"position_{i}"} for i, (_, r) in enumerate(frame.iterrows())]
    body = post(server, "/predict", {"features": rows}).json()
    assert [p["item_id"] for p in body["predictions"]] == [f"position_{i}" for i in range(1000)]
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(v1.probabilities(frame), abs=1e-6)


def test_concurrent_requests_each_get_their_own_rows(
    server: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """Rows of concurrent requests are batched together; each answer must still be its own."""
    frames = [test_rows.iloc[i * 7 : i * 7 + 1 + i % 5] for i in range(64)]

    def call(frame: pd.DataFrame) -> list[float]:
        body = post(server, "/predict", {"features": [request_row(r) for _, r in frame.iterrows()]}).json()
        return [p["probability"] for p in body["predictions"]]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, frames))
    for frame, answer in zip(frames, answers):
        assert answer == pytest.approx(v1.probabilities(frame), abs=1e-6)


def histogram(server: ServerProcess, name: str) -> dict[str, float]:
    """Cumulative bucket counts of a histogram at /metrics: {"1.0": n, ..., "+Inf": total}."""
    pattern = re.compile(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', re.M)
    return {le: float(count) for le, count in pattern.findall(get(server, "/metrics").text)}


def test_concurrent_requests_are_scored_together(server: ServerProcess, test_rows: pd.DataFrame) -> None:
    """Adaptive batching really forms batches: some model calls score more than one request."""
    rows = [request_row(r) for _, r in test_rows.head(3).iterrows()]

    def call(i: int) -> int:  # rows unseen before, so the response cache cannot answer them
        return post(
            server, "/predict", {"features": [{**row, "view_count_7d": 10_000 + i} for row in rows]}
        ).status_code

    before = histogram(server, "purchase_batch_requests")
    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(call, range(400)))
    assert statuses == [200] * 400
    after = histogram(server, "purchase_batch_requests")
    calls = after["+Inf"] - before.get("+Inf", 0)
    single = after["1.0"] - before.get("1.0", 0)
    assert 0 < calls < 400  # fewer model calls than requests
    assert single < calls  # at least one call scored several requests


# --- /predict errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row_change", "fragment"),
    [
        ({"item_price": -5}, "features[1].item_price"),
        ({"item_discount_pct": 150}, "features[1].item_discount_pct"),
        ({"view_count_7d": -1}, "features[1].view_count_7d"),
        ({"view_count_7d": "many"}, "features[1].view_count_7d"),
        ({"item_category": None}, "features[1].item_category"),
        ({"unknown_feature": 1}, "features[1].unknown_feature"),
    ],
)
def test_invalid_items_are_400_naming_field_and_index(server: ServerProcess, row_change: dict, fragment: str) -> None:
    body = {"features": [MINIMAL_ROW, {**MINIMAL_ROW, **row_change}]}
    assert_error(post(server, "/predict", body), 400, fragment)


def test_a_price_neither_given_nor_known_is_400(server: ServerProcess) -> None:
    row = {k: v for k, v in MINIMAL_ROW.items() if k != "item_base_price"}
    detail = assert_error(post(server, "/predict", {"features": [row]}), 400)
    assert (
        detail == "features[0].item_base_price: not given, and the feature store knows no price for item 'item_00456'"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"features": []}, "features"),
        ({"features": [MINIMAL_ROW] * 1001}, "features"),
        ({"features": [MINIMAL_ROW], "threshold": 1.5}, "threshold"),
        ({"features": [MINIMAL_ROW], "threshold": -0.1}, "threshold"),
        ({"rows": [MINIMAL_ROW]}, "features"),
        ([MINIMAL_ROW], ""),
    ],
)
def test_invalid_requests_are_400(server: ServerProcess, body: object, fragment: str) -> None:
    assert_error(post(server, "/predict", body), 400, fragment)


NAN_ROW = (
    b'{"features": [{"user_id": "u", "item_id": "i", "item_price": NaN, "item_base_price": 2, '
    b'"item_discount_pct": 0, "item_category": "x"}]}'
)


@pytest.mark.parametrize("raw", [b"{not json", NAN_ROW, b"", b"\xff\xfe"])
def test_malformed_bodies_are_400_and_the_service_keeps_serving(server: ServerProcess, raw: bytes) -> None:
    response = requests.post(
        server.url + "/predict", data=raw, headers={"content-type": "application/json"}, timeout=30
    )
    assert_error(response, 400)
    assert post(server, "/predict", SPEC_CURL).status_code == 200


def test_cors_follows_cors_origins_with_preflight(server: ServerProcess) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = requests.options(
        server.url + "/predict", headers={"Origin": "http://shop.example", **preflight}, timeout=10
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://shop.example"
    denied = requests.options(
        server.url + "/predict", headers={"Origin": "http://evil.example", **preflight}, timeout=10
    )
    assert "access-control-allow-origin" not in denied.headers
    simple = requests.post(
        server.url + "/predict", json=SPEC_CURL, headers={"Origin": "http://shop.example"}, timeout=10
    )
    assert simple.headers["access-control-allow-origin"] == "http://shop.example"


# --- /load-model ------------------------------------------------------------------------------


def test_load_by_tag_swaps_the_model(
    serving_v1: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    response = post(serving_v1, "/load-model", {"model_tag": str(v2.model.tag)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"status", "message", "model_version", "loaded_at", "workers_switched", "workers_total"}
    assert (body["status"], body["message"], body["model_version"]) == (
        "success",
        "Model loaded successfully",
        v2.version,
    )
    assert body["workers_switched"] == body["workers_total"] == 1
    parse_utc(body["loaded_at"])
    frame = test_rows.head(50)
    answer = post(serving_v1, "/predict", {"features": [request_row(r) for _, r in frame.iterrows()]}).json()
    assert answer["model_version"] == v2.version
    assert [p["probability"] for p in answer["predictions"]] == pytest.approx(v2.probabilities(frame), abs=1e-6)
    info = get(serving_v1, "/model-info").json()
    assert info["model_version"] == v2.version
    assert info["stage"] == store.stage(store.get(str(v2.model.tag))) != "production"  # the store's word, read now


def test_load_from_an_archive_in_model_dir(serving_v1: ServerProcess, v2: Trained, model_dir: Path) -> None:
    archive = f"{v2.model.tag.name}-{v2.version}.bentomodel"
    for model_path in (archive, str(model_dir / archive)):
        assert post(serving_v1, "/load-model", {"model_path": model_path}).json()["model_version"] == v2.version
        assert get(serving_v1, "/model-info").json()["model_path"] == model_path


def test_swaps_under_load_never_mix_versions(
    serving_v1: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    """Each answer was computed wholly by the version it names."""
    frame = test_rows.head(20)
    rows = [request_row(r) for _, r in frame.iterrows()]
    expected = {v1.version: v1.probabilities(frame), v2.version: v2.probabilities(frame)}
    assert expected[v1.version] != pytest.approx(expected[v2.version], abs=1e-6)

    def call(_: int) -> tuple[int, str, list[float]]:
        response = post(serving_v1, "/predict", {"features": rows})
        body = response.json()
        return (
            response.status_code,
            body.get("model_version", ""),
            [p["probability"] for p in body.get("predictions", [])],
        )

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(call, i) for i in range(200)]
        for tag in [v2.model.tag, v1.model.tag] * 3:
            assert post(serving_v1, "/load-model", {"model_tag": str(tag)}).status_code == 200
        results = [f.result() for f in futures]
    for status, version, probabilities in results:
        assert status == 200
        assert probabilities == pytest.approx(expected[version], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"model_tag": "purchase_model:xgboost_19990101_000000"}, 404, "not found"),
        ({"model_tag": "no_such_model:v1"}, 404, "not found"),
        ({"model_path": "missing.bentomodel"}, 404, "not found"),
        ({"model_path": "corrupt.bentomodel"}, 400, "valid model archive"),
        ({"model_path": "../outside/x.bentomodel"}, 403, "inside MODEL_DIR"),
        ({"model_path": "/etc/x.bentomodel"}, 403, "inside MODEL_DIR"),
        ({"model_path": "/etc/passwd"}, 400, "model_path"),
        ({"model_path": "models/xgboost_20240101_120000.pkl"}, 400, "model_path"),
        ({"model_tag": "not a tag!"}, 400, "model_tag"),
        ({"model_tag": "a", "model_path": "b.bentomodel"}, 400, "exactly one"),
        ({}, 400, "exactly one"),
    ],
)
def test_failed_loads_change_nothing(
    server: ServerProcess, v1: Trained, body: dict, status: int, fragment: str
) -> None:
    assert_error(post(server, "/load-model", body), status, fragment)
    answer = post(server, "/predict", SPEC_CURL)
    assert answer.status_code == 200 and answer.json()["model_version"] == v1.version


def test_a_real_archive_outside_model_dir_is_refused(server: ServerProcess, model_dir: Path, v2: Trained) -> None:
    outside = model_dir.parent / "outside" / f"{v2.model.tag.name}-{v2.version}.bentomodel"
    assert outside.is_file()
    assert_error(post(server, "/load-model", {"model_path": str(outside)}), 403, "inside MODEL_DIR")


# --- no model loaded --------------------------------------------------------------------------


def test_without_a_model_the_service_says_so_then_loads_one(empty_server: ServerProcess, v2: Trained) -> None:
    assert get(empty_server, "/readyz").status_code == 503
    health = get(empty_server, "/health").json()
    assert (health["status"], health["model_loaded"], health["model_version"]) == ("degraded", False, None)
    assert assert_error(post(empty_server, "/predict", SPEC_CURL), 503) == NOT_LOADED
    assert assert_error(get(empty_server, "/model-info"), 503) == NOT_LOADED

    archive = f"models/{v2.model.tag.name}-{v2.version}.bentomodel"  # the spec's form of model_path
    response = post(empty_server, "/load-model", {"model_path": archive})
    assert response.status_code == 200, response.text
    assert get(empty_server, "/readyz").status_code == 200
    assert post(empty_server, "/predict", SPEC_CURL).json()["model_version"] == v2.version


def cache_rows(server: ServerProcess, level: str = "local") -> dict[str, float]:
    text = get(server, "/metrics").text
    pattern = rf'^purchase_cache_rows_total{{level="{level}",result="(\w+)"}} (\S+)$'
    return {result: float(n) for result, n in re.findall(pattern, text, re.M)}


def test_the_cache_answers_repeated_rows_and_starts_empty_after_a_swap(
    serving_v1: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    frame = test_rows.iloc[600:650]
    rows = [request_row(r) for _, r in frame.iterrows()]
    distinct = len({tuple(sorted(r.items())) for r in rows})
    first = post(serving_v1, "/predict", {"features": rows}).json()
    before = cache_rows(serving_v1)
    second = post(serving_v1, "/predict", {"features": rows}).json()
    after = cache_rows(serving_v1)
    assert after["hit"] - before["hit"] == len(rows) and after["miss"] == before["miss"]
    assert second["predictions"] == first["predictions"]  # identical with and without the cache
    assert [p["probability"] for p in second["predictions"]] == pytest.approx(v1.probabilities(frame), abs=1e-6)

    assert post(serving_v1, "/load-model", {"model_tag": str(v2.model.tag)}).status_code == 200
    swapped = post(serving_v1, "/predict", {"features": rows}).json()
    assert cache_rows(serving_v1)["miss"] - after["miss"] >= distinct  # a new version: nothing cached
    assert [p["probability"] for p in swapped["predictions"]] == pytest.approx(v2.probabilities(frame), abs=1e-6)
