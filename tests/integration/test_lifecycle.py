"""Model lifecycle against a real two-worker `bentoml serve`: swaps that reach every worker, failed
loads that change nothing, registry promotions, A/B splits and shadow scoring."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd
import pytest
import requests
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from devtools.server import ROOT, ServerProcess
from purchase import store
from purchase.examples import SPEC_CURL
from purchase.serving.models.traffic import user_bucket
from tests.helpers import Trained, request_row


def post(server: ServerProcess, path: str, body: object) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=60)


def load(server: ServerProcess, tag: object) -> dict:
    response = post(server, "/load-model", {"model_tag": str(tag)})
    assert response.status_code == 200, response.text
    return response.json()


def versions_seen(server: ServerProcess, n: int = 40) -> Counter[str]:
    """Versions answering n requests (spread over both workers by the kernel)."""
    with ThreadPoolExecutor(8) as pool:
        bodies = pool.map(lambda _: post(server, "/predict", SPEC_CURL).json()["model_version"], range(n))
        return Counter(bodies)


def reset(server: ServerProcess, v1: Trained) -> None:
    load(server, v1.model.tag)
    cleared = post(server, "/traffic", {})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["workers_switched"], cleared.json()["workers_total"]) == (2, 2)


@pytest.fixture
def fleet(fleet_server: ServerProcess, v1: Trained) -> Iterator[ServerProcess]:
    """Each test starts and ends with v1 as the only version served, and no A/B or shadow."""
    reset(fleet_server, v1)
    yield fleet_server
    reset(fleet_server, v1)


def test_a_swap_reaches_every_worker_before_the_answer(fleet: ServerProcess, v1: Trained, v2: Trained) -> None:
    answer = load(fleet, v2.model.tag)
    assert (answer["workers_switched"], answer["workers_total"]) == (2, 2)
    assert versions_seen(fleet) == {v2.version: 40}
    workers = {post(fleet, "/predict", SPEC_CURL).headers["x-worker"] for _ in range(30)}
    assert workers == {"1", "2"}  # both workers answered, so both were checked
    assert versions_seen(fleet) == {v2.version: 40}


def test_ten_swaps_under_load_fail_no_request(
    fleet: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    """16 clients for several seconds while the version changes 10 times: every answer is 200,
    computed wholly by the version it names, and after the last swap only that version answers."""
    frame = test_rows.head(5)
    rows = [request_row(r) for _, r in frame.iterrows()]
    expected = {v1.version: v1.probabilities(frame), v2.version: v2.probabilities(frame)}
    stop = threading.Event()
    results: list[tuple[float, int, str, list[float]]] = []

    def client() -> None:
        deadline = time.monotonic() + 60  # bounded even if the swaps hang
        while not stop.is_set() and time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                response = post(fleet, "/predict", {"features": rows})
                body = response.json()
            except (requests.RequestException, ValueError):  # a dropped connection counts as a failure
                results.append((sent, -1, "", []))
                continue
            probabilities = [p["probability"] for p in body.get("predictions", [])]
            results.append((sent, response.status_code, body.get("model_version", ""), probabilities))

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    answers = []
    try:
        for tag in [v2.model.tag, v1.model.tag] * 5:
            time.sleep(0.4)
            answers.append(load(fleet, tag))
        last_swap_done = time.monotonic()
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert all(a["workers_switched"] == 2 for a in answers)
    assert len(results) > 200
    assert Counter(status for _, status, _, _ in results) == {200: len(results)}
    for _, _, version, probabilities in results:
        assert probabilities == pytest.approx(expected[version], abs=1e-6)
    assert {version for _, _, version, _ in results} == {v1.version, v2.version}
    after = [version for sent, _, version, _ in results if sent > last_swap_done]
    assert after and set(after) == {v1.version}


def test_concurrent_loads_are_serialized(fleet: ServerProcess, v1: Trained, v2: Trained) -> None:
    before = requests.get(fleet.url + "/traffic", timeout=10).json()["generation"]
    tags = [v2.model.tag, v1.model.tag] * 3
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda tag: load(fleet, tag), tags))
    assert all(a["workers_switched"] == 2 for a in answers)
    traffic = requests.get(fleet.url + "/traffic", timeout=10).json()
    assert traffic["generation"] == before + len(tags)  # each load published once, none lost
    final = traffic["primary"].split(":")[1]
    assert versions_seen(fleet) == {final: 40}  # and every worker agrees on the last one


@pytest.fixture(scope="module")
def unservable_models(v1: Trained) -> dict[str, str]:
    """Models under our name that this service must refuse: another framework, another feature contract."""
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 5)), np.arange(40) % 2
    sklearn_model = bentoml.sklearn.save_model(f"{store.MODEL_NAME}:sklearn_model", LogisticRegression().fit(x, y))
    narrow = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=y), 3)
    preprocessor = v1.result.preprocessor.to_dict()
    narrow_model = bentoml.xgboost.save_model(
        f"{store.MODEL_NAME}:xgboost_narrow", narrow, metadata={"preprocessor": preprocessor}
    )
    reordered = {**preprocessor, "feature_names": list(reversed(preprocessor["feature_names"]))}
    reordered_model = bentoml.xgboost.save_model(
        f"{store.MODEL_NAME}:xgboost_reordered", v1.result.booster, metadata={"preprocessor": reordered}
    )
    return {"framework": str(sklearn_model.tag), "width": str(narrow_model.tag), "order": str(reordered_model.tag)}


@pytest.mark.parametrize(
    ("case", "status", "fragment"),
    [
        ("framework", 400, "not an XGBoost"),
        ("width", 400, "different feature contract"),
        ("order", 400, "feature contract"),
        ("unknown", 404, "not found"),
        ("corrupt", 400, "valid model archive"),
        ("missing", 404, "not found"),
    ],
)
def test_failed_loads_leave_every_worker_serving(
    fleet: ServerProcess,
    v1: Trained,
    v2: Trained,
    unservable_models: dict[str, str],
    case: str,
    status: int,
    fragment: str,
) -> None:
    body = {
        "unknown": {"model_tag": "purchase_model:xgboost_19990101_000000"},
        "corrupt": {"model_path": "corrupt.bentomodel"},
        "missing": {"model_path": "missing.bentomodel"},
    }.get(case, {"model_tag": unservable_models.get(case, "")})
    generation = requests.get(fleet.url + "/traffic", timeout=10).json()["generation"]
    response = post(fleet, "/load-model", body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert requests.get(fleet.url + "/traffic", timeout=10).json()["generation"] == generation  # nothing published
    assert versions_seen(fleet) == {v1.version: 40}
    # The fleet's published target is still v1 alone: a change built on it (here a shadow) succeeds everywhere.
    shadowed = post(fleet, "/traffic", {"shadow": str(v2.model.tag)})
    assert shadowed.status_code == 200, shadowed.text
    assert (shadowed.json()["primary"], shadowed.json()["workers_switched"]) == (str(v1.model.tag), 2)


def registry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "purchase.cli.registry", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_for_version(server: ServerProcess, version: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while versions_seen(server, 10) != {version: 10}:
        assert time.monotonic() < deadline, f"{version} not served everywhere within {timeout_s}s"
        time.sleep(0.2)


def test_registry_promotion_reaches_a_following_server_and_rolls_back(
    fleet: ServerProcess, v1: Trained, v2: Trained
) -> None:
    """FOLLOW_PRODUCTION=true: promote with the registry command, the fleet follows; roll back, it follows."""
    try:
        result = registry("promote", str(v2.model.tag))
        assert result.returncode == 0, result.stderr
        wait_for_version(fleet, v2.version)
        info = requests.get(fleet.url + "/model-info", timeout=10).json()
        assert (info["model_version"], info["stage"]) == (v2.version, "production")

        listing = registry("list").stdout
        assert f"{v2.model.tag}  production" in listing and f"{v1.model.tag}  archived" in listing

        result = registry("rollback")
        assert result.returncode == 0 and str(v1.model.tag) in result.stdout
        wait_for_version(fleet, v1.version)
    finally:
        store.set_production(str(v1.model.tag))


def test_registry_export_import_and_delete(tmp_path: Path, v2: Trained) -> None:
    exported = registry("export", str(v2.model.tag), "--dir", str(tmp_path))
    archive = tmp_path / f"{v2.model.tag.name}-{v2.version}.bentomodel"
    assert exported.returncode == 0 and archive.is_file()

    refused = registry("delete", store.production_tag() or "")
    assert refused.returncode == 1 and "production version" in refused.stderr

    copy = bentoml.models.get(v2.model.tag)
    extra = bentoml.xgboost.save_model(
        f"{store.MODEL_NAME}:xgboost_to_delete", v2.result.booster, metadata=copy.info.metadata
    )
    assert registry("delete", str(extra.tag)).returncode == 0
    assert str(extra.tag) not in registry("list").stdout
    assert registry("import", str(archive)).returncode == 0  # already there: a no-op, not an error


def test_ab_split_is_sticky_per_user(fleet: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame) -> None:
    answer = post(fleet, "/traffic", {"candidate": str(v2.model.tag), "candidate_share": 0.3})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["candidate"], answer.json()["workers_switched"]) == (str(v2.model.tag), 2)

    frame = test_rows.head(300).copy()
    frame["user_id"] = [f"ab_user_{i}" for i in range(len(frame))]
    rows = [request_row(r) for _, r in frame.iterrows()]
    first = post(fleet, "/predict", {"features": rows}).json()
    by_version = {v1.version: v1.probabilities(frame), v2.version: v2.probabilities(frame)}
    chosen = [p["model_version"] for p in first["predictions"]]
    assert chosen == [v2.version if user_bucket(u) < 0.3 else v1.version for u in frame["user_id"]]
    assert 0.2 < chosen.count(v2.version) / len(chosen) < 0.4
    for i, p in enumerate(first["predictions"]):
        assert p["probability"] == pytest.approx(by_version[p["model_version"]][i], abs=1e-6)
    # Sticky: one user at a time, on whichever worker, gets the same version again.
    for i in range(0, 300, 25):
        again = post(fleet, "/predict", {"features": [rows[i]]}).json()
        assert again["predictions"][0]["model_version"] == again["model_version"] == chosen[i]

    info = requests.get(fleet.url + "/model-info", timeout=10).json()
    assert info["traffic"]["candidate_share"] == 0.3
    assert info["versions"][v2.version]["candidate_requests"] >= 1
    metrics = requests.get(fleet.url + "/metrics", timeout=10).text
    assert f'purchase_model_requests_total{{model_version="{v2.version}",role="candidate"}}' in metrics


def test_traffic_refuses_what_it_cannot_do(fleet: ServerProcess, v1: Trained) -> None:
    assert post(fleet, "/traffic", {"candidate": "purchase_model:nope"}).status_code == 404
    same = post(fleet, "/traffic", {"candidate": str(v1.model.tag), "candidate_share": 0.5})
    assert same.status_code == 400 and "primary" in same.json()["detail"]
    assert post(fleet, "/traffic", {"candidate_share": 1.5}).status_code == 400


def test_shadow_scores_without_changing_answers(
    fleet: ServerProcess, v1: Trained, v2: Trained, test_rows: pd.DataFrame
) -> None:
    before = requests.get(fleet.url + "/model-info", timeout=10).json()["versions"].get(v2.version, {})
    assert post(fleet, "/traffic", {"shadow": str(v2.model.tag)}).status_code == 200
    frame = test_rows.head(50)
    rows = [request_row(r) for _, r in frame.iterrows()]
    for _ in range(4):
        body = post(fleet, "/predict", {"features": rows}).json()
        assert body["model_version"] == v1.version
        assert all("model_version" not in p for p in body["predictions"])
        assert [p["probability"] for p in body["predictions"]] == pytest.approx(v1.probabilities(frame), abs=1e-6)

    expected_agreement = (
        sum((a >= 0.5) == (b >= 0.5) for a, b in zip(v1.probabilities(frame), v2.probabilities(frame))) * 4
    )
    deadline = time.monotonic() + 10
    while True:
        after = requests.get(fleet.url + "/model-info", timeout=10).json()["versions"][v2.version]
        compared = after.get("shadow_agreed", 0) + after.get("shadow_disagreed", 0)
        compared -= before.get("shadow_agreed", 0) + before.get("shadow_disagreed", 0)
        if compared >= 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert compared == 200
    assert after.get("shadow_agreed", 0) - before.get("shadow_agreed", 0) == expected_agreement
