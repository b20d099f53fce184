"""Online features against real servers: events replayed through POST /events give, as of each as-of
time of training, exactly the features training derived; store-filled predictions equal the offline
pipeline's; and with Redis stopped mid-load nothing fails that should not."""

from __future__ import annotations

import io
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pandas as pd
import pytest
import requests

from devtools.server import ServerProcess, redis_server
from purchase.examples import SPEC_CURL, SPEC_IDS
from purchase.features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, PRICE_FEATURES
from purchase.training import synthetic
from purchase.training.train import Dataset
from tests.helpers import SMALL, Trained
from tests.integration.conftest import start
from tests.unit.test_online_store import assert_same

BATCH = 1000


def post(server: ServerProcess, path: str, body: object, **headers: str) -> requests.Response:
    return requests.post(server.url + path, json=body, headers=headers, timeout=30)


def as_events(log: pd.DataFrame) -> list[dict[str, object]]:
    """The log as /events items, each with its row number as event_id."""
    return [
        {
            "event_id": f"row-{i}",
            "event_time": f"{row.event_time:%Y-%m-%dT%H:%M:%S}Z",
            "event_type": row.event_type,
            "product_id": row.product_id,
            "category_id": int(row.category_id),
            "category_code": row.category_code,
            "brand": row.brand,
            "price": float(row.price),
            "user_id": row.user_id,
            "user_session": row.user_session,
        }
        for i, row in enumerate(log.itertuples(index=False))
    ]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    """A server whose store holds v1's whole training log (kept a year), sent through /events in a
    shuffled order, in batches."""
    server = start(
        tmp_path_factory,
        "replayed",
        {"DEFAULT_MODEL": str(v1.model.tag), "FEATURE_RETENTION_DAYS": "400", "API_WORKERS": "2"},
        "/readyz",
    )
    log = synthetic.generate(n_users=SMALL.n_users, n_days=SMALL.n_days, seed=SMALL.seed).events
    events = as_events(log)
    random.Random(0).shuffle(events)
    with requests.Session() as session:
        for start_at in range(0, len(events), BATCH):
            response = session.post(server.url + "/events", json={"events": events[start_at : start_at + BATCH]})
            assert response.status_code == 200, response.text
            assert response.json()["stored"] == len(events[start_at : start_at + BATCH])
    yield server
    server.stop()


def by_as_of(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    for as_of, rows in frame.groupby("as_of", sort=True):
        for start_at in range(0, len(rows), BATCH):
            yield f"{as_of:%Y-%m-%dT%H:%M:%S}Z", rows.iloc[start_at : start_at + BATCH]


def test_replayed_events_give_the_features_training_derived(replayed: ServerProcess, dataset: Dataset) -> None:
    examples = dataset.examples
    served = []
    for as_of, rows in by_as_of(examples):
        ids = [{"user_id": u, "item_id": i} for u, i in zip(rows["user_id"], rows["item_id"])]
        response = post(replayed, "/features", {"features": ids, "as_of": as_of})
        assert response.status_code == 200, response.text
        assert response.json()["source"] == "store"
        served += response.json()["features"]
    online = pd.DataFrame(served)
    offline = examples.sort_values("as_of", kind="stable").reset_index(drop=True)
    assert len(online) == len(offline) > 1000
    assert online["user_id"].tolist() == offline["user_id"].tolist()
    for name in (*BEHAVIOUR_FEATURES, *PRICE_FEATURES):
        assert_same(online[name].astype(float), offline[name], name)
    assert online[CATEGORY_FEATURE].tolist() == offline[CATEGORY_FEATURE].tolist()


def test_a_store_filled_prediction_equals_the_offline_pipeline(
    replayed: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    for as_of, rows in by_as_of(test_rows):
        ids = [{"user_id": u, "item_id": i} for u, i in zip(rows["user_id"], rows["item_id"])]
        response = post(replayed, "/predict", {"features": ids, "as_of": as_of})
        assert response.status_code == 200, response.text
        assert response.headers["X-Feature-Source"] == "store"
        served = [p["probability"] for p in response.json()["predictions"]]
        assert served == pytest.approx(v1.probabilities(rows), abs=1e-6)


def test_what_the_request_gives_wins(replayed: ServerProcess, test_rows: pd.DataFrame) -> None:
    row = test_rows.iloc[0]
    as_of = f"{row['as_of']:%Y-%m-%dT%H:%M:%S}Z"
    ids = {"user_id": row["user_id"], "item_id": row["item_id"]}
    given = {
        **ids,
        "view_count_7d": 1234,
        "item_price": float(row["item_base_price"]) * 2,
        "days_since_last_view": None,
    }
    filled = post(replayed, "/features", {"features": [given], "as_of": as_of}).json()["features"][0]
    assert filled["view_count_7d"] == 1234 and filled["days_since_last_view"] is None
    assert filled["item_price"] == given["item_price"] == filled["item_base_price"]  # base follows a higher price
    assert filled["item_discount_pct"] == 0.0 and filled["view_count_30d"] == row["view_count_30d"]
    complete = post(replayed, "/predict", SPEC_CURL | {"features": [SPEC_CURL["features"][0] | SPEC_IDS]})
    assert complete.status_code == 200 and complete.headers["X-Feature-Source"] == "store"


def test_a_retried_request_counts_once(replayed: ServerProcess) -> None:
    event = {"event_time": "2026-11-01T10:00:00Z", "event_type": "view", "product_id": "retry-item", "price": 5.0}
    body = {"events": [event | {"user_id": "retry-user"}, event | {"user_id": "retry-user", "event_type": "cart"}]}
    first, again = post(replayed, "/events", body).json(), post(replayed, "/events", body).json()
    assert (first["stored"], first["duplicates"]) == (2, 0) and (again["stored"], again["duplicates"]) == (0, 2)
    ids = {"user_id": "retry-user", "item_id": "retry-item"}
    filled = post(replayed, "/features", {"features": [ids], "as_of": "2026-11-02T00:00:00Z"}).json()["features"][0]
    assert (filled["view_count_30d"], filled["cart_count_30d"], filled["item_price"]) == (1, 1, 5.0)


def test_a_user_the_store_does_not_know_has_counts_of_zero(replayed: ServerProcess) -> None:
    """As training defines a user without events in the window: counts 0, recencies and ratios missing."""
    row = {"user_id": "never-seen", "item_id": SPEC_IDS["item_id"], "view_count_7d": 2}
    response = post(replayed, "/features", {"features": [row]})
    filled = response.json()["features"][0]
    assert filled["view_count_7d"] == 2  # what the request gives wins
    assert filled["view_count_30d"] == 0 and filled["item_view_count"] == 0 and filled["session_item_count"] == 0
    assert filled["days_since_last_view"] is None and filled["cart_to_purchase_ratio"] is None
    assert filled["item_price"] is not None  # the item is known: its price comes from the store


def test_never_seen_users_get_low_probabilities_and_their_segment(replayed: ServerProcess) -> None:
    """The population issue's target on the tests' model: 100 users the store never saw, each with an item
    it knows, average at most 0.10 and at most 2 of them are predicted to buy."""
    items = [f"item_{k:05d}" for k in range(100)]
    known = post(replayed, "/features", {"features": [{"user_id": "user_000001", "item_id": i} for i in items]})
    priced = [row["item_id"] for row in known.json()["features"]] if known.status_code == 200 else []
    assert len(priced) == 100, known.text
    rows = [{"user_id": f"visitor-{k}", "item_id": item} for k, item in enumerate(priced)]
    response = post(replayed, "/predict", {"features": rows, "return_segments": True})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert response.headers["X-Segments"] == "viewed=0,unviewed=0,new_user=100"
    assert {p["segment"] for p in predictions} == {"new_user"}
    assert sum(p["probability"] for p in predictions) / 100 <= 0.10
    assert sum(p["prediction"] for p in predictions) <= 2
    plain = post(replayed, "/predict", {"features": rows[:1]}).json()["predictions"][0]
    assert "segment" not in plain  # only when asked: the spec's answer is unchanged
    metrics = requests.get(replayed.url + "/metrics", timeout=30).text
    counted = re.findall(r'purchase_segment_predictions_total\{[^}]*segment="new_user"[^}]*\} ([0-9.e+]+)', metrics)
    assert sum(map(float, counted)) >= 101


def test_unknown_items_and_bad_events_name_the_field(replayed: ServerProcess) -> None:
    response = post(replayed, "/predict", {"features": [SPEC_IDS, {"user_id": "u", "item_id": "no-such-item"}]})
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "features[1].item_price: not given, and the feature store knows no price for item 'no-such-item'"
    )
    good = {"event_time": "2026-01-01T00:00:00Z", "event_type": "view", "product_id": "p", "price": 1.0, "user_id": "u"}
    for change, field in (
        ({"event_type": "click"}, "event_type"),
        ({"price": -1}, "price"),
        ({"event_time": "2999-01-01T00:00:00Z"}, "event_time"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"user_id": None}, "user_id"),
        ({"colour": "red"}, "colour"),
    ):
        response = post(replayed, "/events", {"events": [good, good | change]})
        assert response.status_code == 400, change
        assert response.json()["detail"].startswith(f"events[1].{field}: ")
    too_many = {"events": [good] * 1001}
    assert post(replayed, "/events", too_many).json()["detail"].startswith("events: List should have at most 1000")


@dataclass
class RedisBacked:
    server: ServerProcess
    redis: ServerProcess
    folder: Path


@pytest.fixture(scope="module")
def redis_backed(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[RedisBacked]:
    folder = tmp_path_factory.mktemp("redis-backed")
    redis = redis_server(folder / "redis.log")
    env = {"DEFAULT_MODEL": str(v1.model.tag), "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
    backed = RedisBacked(start(tmp_path_factory, "redis-backed", env, "/readyz"), redis, folder)
    yield backed
    backed.server.stop()
    backed.redis.stop()


def test_with_redis_stopped_predictions_go_on_and_events_wait(redis_backed: RedisBacked) -> None:
    server = redis_backed.server
    log = synthetic.generate(n_users=40, n_days=35, seed=2).events
    events = as_events(log)[-600:]  # of the last day: inside the 30-day window as of now
    assert post(server, "/events", {"events": events[:500]}).status_code == 200
    ids = {"user_id": str(events[0]["user_id"]), "item_id": str(events[0]["product_id"])}
    # Prices given: only the behaviour features come from the store, so an empty store is no error.
    priced = ids | {k: SPEC_CURL["features"][0][k] for k in (*PRICE_FEATURES, CATEGORY_FEATURE)}
    assert post(server, "/predict", {"features": [ids]}).headers["X-Feature-Source"] == "store"

    statuses: Counter[str] = Counter()
    stop = threading.Event()

    def load() -> None:  # bounded: until stopped, or 2000 calls
        for k in range(2000):
            if stop.is_set():
                return
            path, body = ("/events", {"events": events[500 + k % 100 : 501 + k % 100]}) if k % 2 else (
                "/predict", {"features": [priced]}
            )  # fmt: skip
            response = post(server, path, body)
            source = response.headers.get("X-Feature-Source", "")
            statuses[f"{path} {response.status_code} {source}".strip()] += 1

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(1)
    redis_backed.redis.stop()
    time.sleep(2)
    down = post(server, "/events", {"events": events[500:510]})
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert "feature store" in down.json()["detail"]
    unavailable = post(server, "/predict", {"features": [ids | {"item_price": 10.0}]})
    assert unavailable.status_code == 200 and unavailable.headers["X-Feature-Source"] == "unavailable"
    given = post(server, "/predict", SPEC_CURL)
    assert given.status_code == 200
    restarted = redis_server(redis_backed.folder / "redis-again.log", port=redis_backed.redis.port)
    redis_backed.redis = restarted
    try:
        time.sleep(1)
        assert post(server, "/events", {"events": events[:500]}).json()["stored"] == 500  # a fresh, empty Redis
        assert post(server, "/predict", {"features": [ids]}).headers["X-Feature-Source"] == "store"
    finally:
        stop.set()
        loader.join()
    assert set(statuses) <= {
        "/predict 200 store", "/predict 200 unavailable", "/events 200", "/events 503"
    }, statuses  # fmt: skip
    assert statuses["/predict 200 unavailable"] > 0 and statuses["/events 503"] > 0
    metrics = requests.get(server.url + "/metrics", timeout=10).text
    assert 'purchase_feature_store_rows_total{result="error"}' in metrics
    assert 'purchase_events_total{outcome="failed"}' in metrics


def test_a_job_of_ids_gets_its_features_from_the_store(
    replayed: ServerProcess, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """An NDJSON job of ids only, as of one time: the store completes each row as it does for /predict,
    and a row whose item it knows no price for is refused alone."""
    as_of, rows = max(test_rows.groupby("as_of"), key=lambda group: len(group[1]))
    lines = [orjson.dumps({"user_id": u, "item_id": i}) for u, i in zip(rows["user_id"], rows["item_id"])]
    lines.insert(7, orjson.dumps({"user_id": "user_000001", "item_id": "never-sold"}))
    submitted = requests.post(
        replayed.url + "/jobs",
        data=b"\n".join(lines),
        headers={"Content-Type": "application/x-ndjson"},
        params={"as_of": f"{as_of:%Y-%m-%dT%H:%M:%S}Z"},
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    job_url = f"{replayed.url}/jobs/{submitted.json()['job_id']}"
    deadline = time.monotonic() + 120
    while (job := requests.get(job_url, timeout=10).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded" and job["rows_failed"] == 1, job
    scored = pd.read_csv(io.BytesIO(requests.get(job_url + "/result", timeout=30).content))
    assert scored.row.tolist() == [i for i in range(len(rows) + 1) if i != 7]
    assert scored.probability.tolist() == pytest.approx(v1.probabilities(rows), abs=1e-6)
    errors = requests.get(job_url + "/errors", timeout=10).text
    assert '7,"user_000001","never-sold","item_price: not given, and the feature store knows no price' in errors
