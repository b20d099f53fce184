"""`make bench`, part three: what REDIS_URL costs and gives, as ratios measured in one run.

Targets (2 workers each, online features off): without Redis, and with a redis-server of its own, the
response cache off and on. Scenarios, interleaved over rounds, medians: 1 item at concurrency 32 with
distinct rows (Redis must cost nothing on the hot path: target >= 0.9x), and a workload where 90% of
the rows repeat (the shared cache's gain). Writes benchmarks/results/replicas-<UTC>.{json,md}.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench import ROW, Samples, bentoml_target, medians, rounds_main, rounds_report, sample, stop_all
from devtools.server import ROOT, redis_server

TMP = Path(tempfile.gettempdir())


def body() -> Path:
    """One row whose view_count_30d the load generator sets per request ("{n}")."""
    path = TMP / "purchase-bench-replicas.json"
    path.write_text(json.dumps({"features": [{**ROW, "view_count_30d": "{n}"}]}).replace('"{n}"', "{n}"))
    return path


def run(seconds: int, rounds: int) -> dict:
    redis = redis_server(TMP / "purchase-bench-replicas-redis.log")
    url = f"redis://127.0.0.1:{redis.port}/0"
    env = {"API_WORKERS": "2", "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), "ONLINE_FEATURES": "false"}
    targets = {
        "no redis": bentoml_target("replicas-local", "service:PurchasePrediction", env),
        "redis": bentoml_target("replicas-redis", "service:PurchasePrediction", env | {"REDIS_URL": url}),
        "redis, cache on": bentoml_target(
            "replicas-cache", "service:PurchasePrediction", env | {"REDIS_URL": url, "ENABLE_CACHING": "true"}
        ),
    }
    scenarios = {
        "distinct rows, c=32": ({"WRK_REPEAT": "0"}, ("no redis", "redis")),
        "90% repeated, c=32": ({"WRK_REPEAT": "0.9"}, ("redis", "redis, cache on")),
    }
    results: dict = {"started": datetime.now(UTC).isoformat(), "seconds": seconds, "rounds": rounds}
    samples: Samples = {}
    path = body()
    try:
        for target in targets.values():
            target.wait("/readyz", timeout_s=120)
        for r in range(rounds):
            for name, (workload, names) in scenarios.items():
                for target_name in names:
                    args = (targets[target_name].url, 1, 32, seconds, path)
                    sample(samples, target_name, name, r, args, extra_env=workload)
    finally:
        stop_all(*targets.values(), redis)
    runs = medians(samples)
    results["runs"] = runs
    results["ratios"] = {
        "REDIS_URL set, cache off: throughput / without Redis (target >= 0.9)": runs["redis"]["distinct rows, c=32"][
            "rps"
        ]
        / runs["no redis"]["distinct rows, c=32"]["rps"],
        "90% repeated rows: throughput with the cache on / off (both with Redis)": runs["redis, cache on"][
            "90% repeated, c=32"
        ]["rps"]
        / runs["redis"]["90% repeated, c=32"]["rps"],
    }
    return results


def write(results: dict) -> Path:
    return rounds_report("replicas", results)


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
