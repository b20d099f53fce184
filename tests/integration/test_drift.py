"""GET /drift against a real two-worker server: traffic like the test split is ok everywhere; the same
traffic with prices doubled drifts on the price and the features computed from it, and only there."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
import requests

from devtools.server import ServerProcess
from purchase.drift import MONITORED
from tests.helpers import Trained, request_row, saved_as_older
from tests.integration.conftest import start
from tests.integration.test_lifecycle import post

WINDOW_S = 6
FROM_PRICE = {"item_price", "log_item_price", "price_ratio"}


@pytest.fixture(scope="module")
def drift_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    env = {"API_WORKERS": "2", "DEFAULT_MODEL": str(v1.model.tag), "DRIFT_WINDOW_S": str(WINDOW_S)}
    server = start(tmp_path_factory, "drift", {**env, "DRIFT_MIN_ROWS": "500"}, "/readyz")
    yield server
    server.stop()


def report(server: ServerProcess, version: str | None = None) -> requests.Response:
    return requests.get(server.url + "/drift", params={"version": version} if version else {}, timeout=10)


def send(server: ServerProcess, frame: pd.DataFrame) -> None:
    rows = [request_row(r) for _, r in frame.iterrows()]
    for start_at in range(0, len(rows), 100):  # many requests: both workers count
        assert post(server, "/predict", {"features": rows[start_at : start_at + 100]}).status_code == 200


def wait_for(server: ServerProcess, done: Callable[[dict], bool], timeout_s: float = 4 * WINDOW_S) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = report(server)
        assert answer.status_code == 200, answer.text
        if done(answer.json()) or time.monotonic() > deadline:
            return answer.json()
        time.sleep(0.5)


def drifting(answer: dict) -> set[str]:
    return {f["feature"] for f in answer["features"] if f["status"] == "drift"}


def test_test_split_traffic_is_ok_and_doubled_prices_drift_where_prices_count(
    drift_server: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    assert math.isnan(exported_index(drift_server, v1.version))  # no rows yet: nothing to alert on
    frame = test_rows.sample(2000, random_state=0)  # the split is ordered by user: a sample, not its head
    send(drift_server, frame)
    calm = wait_for(drift_server, lambda a: a["rows"] >= len(frame))
    assert calm["model_version"] == v1.version and calm["rows"] == len(frame)
    assert {f["feature"] for f in calm["features"]} == set(MONITORED)
    assert [f["status"] for f in calm["features"]] == ["ok"] * len(MONITORED), calm
    assert calm["status"] == "ok"

    time.sleep(WINDOW_S + 2)  # the calm traffic leaves the window
    shifted = frame.assign(item_price=frame["item_price"] * 2)
    send(drift_server, shifted)
    moved = wait_for(drift_server, lambda a: a["rows"] == len(frame) and bool(drifting(a)))
    assert moved["rows"] == len(frame), moved
    assert drifting(moved) == FROM_PRICE and moved["status"] == "drift"
    inputs = {f["feature"]: f["status"] for f in moved["features"] if f["feature"] not in FROM_PRICE}
    assert set(inputs.values()) - {"ok", "watch"} == set() and inputs["item_base_price"] == "ok"
    assert [f["psi"] for f in moved["features"]] == sorted((f["psi"] for f in moved["features"]), reverse=True)


def exported_index(server: ServerProcess, version: str) -> float:
    """purchase_drift_psi of item_price, once the lead worker has exported it."""
    deadline = time.monotonic() + 4 * WINDOW_S
    pattern = rf'^purchase_drift_psi{{feature="item_price",model_version="{version}"}} (\S+)$'
    while (found := re.search(pattern, requests.get(server.url + "/metrics", timeout=10).text, re.M)) is None:
        assert time.monotonic() < deadline, "never exported"
        time.sleep(0.5)
    return float(found.group(1))


def test_the_lead_worker_exports_the_index_and_every_worker_counts(
    drift_server: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    send(drift_server, test_rows.sample(600, random_state=1))
    deadline = time.monotonic() + 4 * WINDOW_S
    while time.monotonic() < deadline:
        metrics = requests.get(drift_server.url + "/metrics", timeout=10).text
        gauge = re.search(
            rf'^purchase_drift_psi{{feature="item_price",model_version="{v1.version}"}} (\S+)$', metrics, re.M
        )
        if gauge and math.isfinite(float(gauge.group(1))):  # NaN while the window holds too few rows
            break
        time.sleep(0.5)
    assert gauge is not None and float(gauge.group(1)) >= 0
    assert f'purchase_drift_rows_total{{bin="0",feature="item_category",model_version="{v1.version}"}}' in metrics


def test_a_version_without_a_reference_is_a_404_and_the_rest_keeps_working(
    drift_server: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    tag = saved_as_older(v1, "noreference_version1", without="drift_reference")
    shadow = post(drift_server, "/traffic", {"shadow": tag})
    assert shadow.status_code == 200, shadow.text
    try:
        missing = report(drift_server, "noreference_version1")
        assert missing.status_code == 404
        assert "no stored reference distribution" in missing.json()["detail"] and "retrain" in missing.json()["detail"]
        assert report(drift_server).status_code == 200
        assert post(drift_server, "/predict", {"features": [request_row(test_rows.iloc[0])]}).status_code == 200
        unknown = report(drift_server, "xgboost_19990101_000000")
        assert unknown.status_code == 404 and "not served here" in unknown.json()["detail"]
    finally:
        assert post(drift_server, "/traffic", {}).status_code == 200
