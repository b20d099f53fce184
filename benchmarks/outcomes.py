"""`make bench`, part seven: what recording outcomes costs, and how fast the log joins a day of events.

Serving (2 workers, online features off, medians of interleaved rounds): the service with every user's
predictions recorded (OUTCOME_SHARE=1, an upper bound of the default 0.1's cost: the benchmark's body is
one user, recorded always or never) against OUTCOME_SHARE=0, one item at concurrency 32 (target:
throughput at least 0.95x, p99 unchanged). Then each log in-process (SQLite, and a real redis-server):
a day of judged predictions written, that day's purchases received, and the join GET /performance makes,
in rows or events per second. Writes benchmarks/results/outcomes-<UTC>.{json,md}.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.bench import Samples, bentoml_target, interleaved, medians, rounds_main, rounds_report, sample
from devtools.server import ROOT, redis_server
from purchase.outcomes.records import Judged, OutcomeLog, Purchase
from purchase.outcomes.redis_log import RedisLog
from purchase.outcomes.sqlite_log import SqliteLog

DAY_S = 86_400.0
PREDICTIONS = 100_000  # a day's judged rows: 1 M predictions at the default share
PURCHASES = 5_000
BATCH = 1_000  # rows a flush writes, events a /events batch holds
TMP = Path(tempfile.gettempdir())


async def join_a_day(log: OutcomeLog) -> dict[str, float]:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 20_000, PREDICTIONS), rng.integers(0, 2_000, PREDICTIONS)
    t = np.sort(rng.uniform(0, DAY_S, PREDICTIONS)) + 30 * DAY_S
    rows = [
        Judged(float(t[k]), f"u{users[k]}", f"i{items[k]}", "v1", "primary", 0, float(rng.random()))
        for k in range(PREDICTIONS)
    ]
    bought = [
        Purchase(f"e{k}", float(t[k] + 3600), rows[k].user_id, rows[k].item_id)
        for k in rng.choice(PREDICTIONS, PURCHASES, replace=False)
    ]
    try:
        started = time.perf_counter()
        for at in range(0, PREDICTIONS, BATCH):
            await log.add(rows[at : at + BATCH])
        written = time.perf_counter() - started
        started = time.perf_counter()
        for at in range(0, PURCHASES, BATCH):
            await log.purchases(bought[at : at + BATCH], 40 * DAY_S)
        received = time.perf_counter() - started
        started = time.perf_counter()
        matured = await log.matured(30 * DAY_S, 31 * DAY_S, 7 * DAY_S)
        joined = time.perf_counter() - started
        assert len(matured) == PREDICTIONS and sum(y for _, y in matured) >= PURCHASES  # a pair drawn twice: both
    finally:
        await log.close()
    return {"written_rows_per_s": PREDICTIONS / written, "purchases_per_s": PURCHASES / received,
            "joined_rows_per_s": PREDICTIONS / joined}  # fmt: skip


def logs() -> dict[str, Callable[[], dict[str, float]]]:
    def sqlite() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as folder:
            return asyncio.run(join_a_day(SqliteLog(Path(folder) / "o.sqlite", 40 * DAY_S, 7 * DAY_S, 5.0)))

    def redis() -> dict[str, float]:
        server = redis_server(TMP / "purchase-bench-outcomes-redis.log")
        try:
            return asyncio.run(join_a_day(RedisLog(f"redis://127.0.0.1:{server.port}/0", 40 * DAY_S, 7 * DAY_S, 5.0)))
        finally:
            server.stop()

    return {"embedded (SQLite)": sqlite, "Redis": redis}


def run(seconds: int, rounds: int) -> dict:
    env = {"API_WORKERS": "2", "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), "ONLINE_FEATURES": "false"}
    targets = {
        "every row recorded": bentoml_target(
            "outcomes-all", "service:PurchasePrediction", env | {"OUTCOME_SHARE": "1"}
        ),
        "outcomes off": bentoml_target("outcomes-off", "service:PurchasePrediction", env | {"OUTCOME_SHARE": "0"}),
    }
    results: dict = {"started": datetime.now(UTC).isoformat(), "seconds": seconds, "rounds": rounds}

    def one_round(samples: Samples, r: int) -> None:
        for name, target in targets.items():
            sample(samples, name, "1 item, c=32", r, (target.url, 1, 32, seconds))

    runs = medians(interleaved(targets, rounds, one_round))
    recorded, off = runs["every row recorded"]["1 item, c=32"], runs["outcomes off"]["1 item, c=32"]
    results["runs"] = runs
    results["ratios"] = {
        "recorded / off, 1 item c=32: throughput (target >= 0.95)": recorded["rps"] / off["rps"],
        "recorded / off, 1 item c=32: p99 latency": recorded["p99_ms"] / off["p99_ms"],
    }
    results["logs"] = {name: measure() for name, measure in logs().items()}
    return results


def write(results: dict) -> Path:
    rows = [
        "",
        f"A day in each log: {PREDICTIONS:,} judged predictions written {BATCH:,} at a time, {PURCHASES:,} "
        "purchases received, then the day joined (GET /performance's query).",
        "",
        "| log | predictions written /s | purchases received /s | predictions joined /s |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {f['written_rows_per_s']:,.0f} | {f['purchases_per_s']:,.0f} | {f['joined_rows_per_s']:,.0f} |"
            for name, f in results["logs"].items()
        ),
    ]
    return rounds_report("outcomes", results, rows=rows)


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
