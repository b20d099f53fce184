"""`make bench`, part two: the online feature store, as ratios measured in one run.

Targets: the service (2 workers) on the embedded store and on Redis (a redis-server of its own), both
loaded with the default synthetic log by the backfill (timed). Scenarios, interleaved over rounds,
medians: one user's 1 and 100 items at concurrency 1, features from the store against the same
requests with every feature given; and /events at concurrency 32, 1000 new events a request (the
most a request takes).
Writes benchmarks/results/features-<UTC>.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import requests

from benchmarks.bench import Samples, bentoml_target, medians, rounds_main, rounds_report, sample, stop_all
from devtools.server import ROOT, ServerProcess, redis_server
from purchase.online.backfill import backfill
from purchase.online.definitions import DAY_S
from purchase.online.records import FeatureStore
from purchase.online.redis_store import RedisStore
from purchase.online.sqlite_store import SqliteStore
from purchase.settings import get_settings
from purchase.training import synthetic

USER = "user_000123"
EVENTS_PER_REQUEST = 1000
TMP = Path(tempfile.gettempdir())


def load(store: FeatureStore, log: object) -> float:
    """Backfill the log; events/s."""

    async def main() -> float:
        started = time.perf_counter()
        await backfill(store, log, "bench")  # type: ignore[arg-type]
        await store.close()
        return len(log) / (time.perf_counter() - started)  # type: ignore[arg-type]

    return asyncio.run(main())


def bodies(server: ServerProcess, items: list[str]) -> dict[str, Path]:
    """Request bodies: ids only (the store fills them), and the same rows with every feature given."""
    out = {}
    for n in (1, 100):
        ids = [{"user_id": USER, "item_id": item} for item in items[:n]]
        given = requests.post(server.url + "/features", json={"features": ids}, timeout=30).json()["features"]
        for kind, rows in (("store", ids), ("given", given)):
            path = TMP / f"purchase-bench-features-{kind}-{n}.json"
            path.write_text(json.dumps({"features": rows}))
            out[f"{n} items, {kind}"] = path
    events = [
        {"event_id": f"bench-{k}-{{n}}", "event_time": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S}Z", "event_type": "view",
         "product_id": items[k % len(items)], "price": 9.99, "user_id": f"bench-user-{k}", "user_session": "s"}
        for k in range(EVENTS_PER_REQUEST)
    ]  # fmt: skip
    path = TMP / "purchase-bench-events.json"
    path.write_text(json.dumps({"events": events}))
    out["events"] = path
    return out


def run(seconds: int, rounds: int) -> dict:
    log = synthetic.generate().events
    window = log[log["event_time"] >= synthetic.today() - pd.Timedelta(days=29)]  # inside "the last 30 days"
    items = list(dict.fromkeys(window.loc[window["user_id"] == USER, "product_id"]))
    items += [i for i in dict.fromkeys(window["product_id"]) if i not in items]
    retention_s = get_settings().feature_retention_days * DAY_S
    redis = redis_server(TMP / "purchase-bench-redis.log")
    db = TMP / "purchase-bench-features.sqlite"
    for stale in TMP.glob("purchase-bench-features.sqlite*"):
        stale.unlink()
    results: dict = {"started": datetime.now(UTC).isoformat(), "seconds": seconds, "rounds": rounds, "events": len(log)}
    results["backfill_events_per_s"] = {
        "embedded": load(SqliteStore(db, retention_s, 5.0), log),
        "redis": load(RedisStore(f"redis://127.0.0.1:{redis.port}/0", retention_s, 5.0), log),
    }
    env = {"API_WORKERS": "2", "BENTOML_CONFIG": str(ROOT / "configuration.yaml")}
    targets = {
        "embedded": bentoml_target("features-embedded", "service:PurchasePrediction", env | {"FEATURE_DB": str(db)}),
        "redis": bentoml_target(
            "features-redis", "service:PurchasePrediction", env | {"REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"}
        ),
    }
    samples: Samples = {}
    try:
        for target in targets.values():
            target.wait("/readyz", timeout_s=120)
        files = bodies(targets["embedded"], items[:100])
        scenarios = [
            (f"{n} items, {kind}", n, 1, files[f"{n} items, {kind}"], "/predict")
            for n in (1, 100)
            for kind in ("store", "given")
        ]
        scenarios.append(("events, c=32", EVENTS_PER_REQUEST, 32, files["events"], "/events"))
        for r in range(rounds):
            for name, n, connections, body, path in scenarios:
                for backend, target in targets.items():
                    unique = {"WRK_UNIQUE": "1"} if path == "/events" else {}
                    sample(samples, backend, name, r, (target.url, n, connections, seconds, body, path, unique))
    finally:
        stop_all(*targets.values(), redis)
    runs = medians(samples)
    results["runs"] = runs
    results["ratios"] = {
        f"{backend}: {n} item(s) p50, store / given (target <= {limit})": runs[backend][f"{n} items, store"]["p50_ms"]
        / runs[backend][f"{n} items, given"]["p50_ms"]
        for backend in targets
        for n, limit in ((1, 1.5), (100, 2))
    }
    results["events_per_s"] = {backend: runs[backend]["events, c=32"]["rows_per_s"] for backend in targets}
    return results


def write(results: dict) -> Path:
    events = results["events_per_s"].items()
    rows = [f"| {b}: /events at c=32, events/s (target >= 50000) | {v:.0f} |" for b, v in events]
    rows += [f"| {b}: backfill, events/s | {v:.0f} |" for b, v in results["backfill_events_per_s"].items()]
    return rounds_report("features", results, f"; the default synthetic log ({results['events']:,} events)", rows)


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
