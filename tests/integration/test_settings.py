"""A running service follows its settings and writes its log where LOG_FILE says."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from devtools.server import ServerProcess
from tests.helpers import Trained, request_row

ROW = {
    "user_id": "u",
    "item_id": "i",
    "item_price": 10.0,
    "item_base_price": 20.0,
    "item_discount_pct": 50.0,
    "item_category": "books",
}


def test_the_running_service_follows_its_settings(
    configured_server: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    url = configured_server.url  # bound through API_HOST and API_PORT, not command-line flags
    assert requests.get(url + "/health", timeout=10).json()["model_version"] == v2.version  # DEFAULT_MODEL
    traffic = requests.get(url + "/traffic", timeout=10).json()  # AB_MODEL, AB_SHARE, SHADOW_MODEL
    assert (traffic["candidate"], traffic["candidate_share"], traffic["shadow"]) == (
        str(v1.model.tag),
        0.25,
        str(v1.model.tag),
    )

    # DEFAULT_THRESHOLD 0.0: even rows both versions score far below 0.5 come back as class 1.
    low = test_rows.assign(p=np.maximum(v1.probabilities(test_rows), v2.probabilities(test_rows))).nsmallest(10, "p")
    assert (low["p"] < 0.5).all()
    answer = requests.post(
        url + "/predict", json={"features": [request_row(r) for _, r in low.iterrows()]}, timeout=10
    ).json()
    assert [p["prediction"] for p in answer["predictions"]] == [1] * 10

    too_many = requests.post(url + "/predict", json={"features": [ROW] * 11}, timeout=10)  # MAX_BATCH_SIZE 10
    assert too_many.status_code == 400 and too_many.json()["detail"].startswith("features: ")
    children = subprocess.run(
        ["ps", "-ww", "-o", "args=", "--ppid", str(configured_server.process.pid)], capture_output=True, text=True
    ).stdout
    assert children.count("_bentoml_impl.worker.service") == 2  # API_WORKERS


def test_log_file_receives_the_service_log_at_its_level(configured_server: ServerProcess, v2: Trained) -> None:
    text = Path(configured_server.env["LOG_FILE"]).read_text()
    assert f"serving {v2.model.tag}" in text
    assert (
        '"level": "DEBUG", "logger": "purchase.serving.models.version"' in text
    )  # LOG_LEVEL=DEBUG lets the load timings through


def test_without_online_features_the_contract_is_the_spec_s(configured_server: ServerProcess) -> None:
    """ONLINE_FEATURES=false: prices and category are required again, no store is asked, /events is 404."""
    url = configured_server.url
    row = {k: v for k, v in ROW.items() if k != "item_base_price"}
    missing = requests.post(url + "/predict", json={"features": [row]}, timeout=10)
    assert missing.status_code == 400
    assert missing.json()["detail"] == "features[0].item_base_price: Field required"
    unexplained = requests.post(url + "/explain", json={"features": [row], "top_k": 2}, timeout=10)
    assert (unexplained.status_code, unexplained.json()) == (400, missing.json())
    explained = requests.post(url + "/explain", json={"features": [ROW], "top_k": 2}, timeout=10)
    assert explained.status_code == 200 and len(explained.json()["explanations"][0]["contributions"]) == 2
    answered = requests.post(url + "/predict", json={"features": [ROW]}, timeout=10)
    assert answered.status_code == 200 and "X-Feature-Source" not in answered.headers
    as_of = requests.post(url + "/predict", json={"features": [ROW], "as_of": "2026-01-01T00:00:00Z"}, timeout=10)
    assert as_of.status_code == 400 and as_of.json()["detail"].startswith("as_of: ")
    as_of = requests.post(url + "/explain", json={"features": [ROW], "as_of": "2026-01-01T00:00:00Z"}, timeout=10)
    assert as_of.status_code == 400 and as_of.json()["detail"].startswith("as_of: ")
    event = {
        "event_time": "2026-01-01T00:00:00Z",
        "event_type": "view",
        "product_id": "p",
        "price": 1.0,
        "user_id": "u",
    }
    off = requests.post(url + "/events", json={"events": [event]}, timeout=10)
    assert off.status_code == 404 and "ONLINE_FEATURES=false" in off.json()["detail"]
    schema = requests.get(url + "/openapi.json", timeout=10).json()["components"]["schemas"]["PredictRequest"]
    assert "as_of" not in schema["properties"]
