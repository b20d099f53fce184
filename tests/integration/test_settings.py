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
        '"level": "DEBUG", "logger": "purchase.serving.loaded"' in text
    )  # LOG_LEVEL=DEBUG lets the load timings through
