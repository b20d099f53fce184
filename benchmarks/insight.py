"""`make bench`, part four: what drift counting and explanations cost, as ratios measured in one run.

Targets (2 workers, online features off): the service as shipped (drift counted) and with
DRIFT_MONITORING=false. Scenarios, interleaved over rounds, medians: 1 item at concurrency 32 (drift
counting must cost nothing measurable: target >= 0.95x) and 100 items at concurrency 8; then, on the
shipped service, /explain with 100 items (exact and approximate) against /predict with the same rows,
in rows per second. Writes benchmarks/results/insight-<UTC>.{json,md}.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench import (
    Samples,
    bentoml_target,
    body_file,
    interleaved,
    medians,
    rounds_main,
    rounds_report,
    sample,
)
from devtools.server import ROOT

TMP = Path(tempfile.gettempdir())


def explain_body(method: str) -> Path:
    path = TMP / f"purchase-bench-explain-{method}.json"
    path.write_text(json.dumps({**json.loads(body_file(100).read_text()), "method": method}))
    return path


def run(seconds: int, rounds: int) -> dict:
    env = {"API_WORKERS": "2", "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), "ONLINE_FEATURES": "false"}
    targets = {
        "drift counted": bentoml_target("insight-drift", "service:PurchasePrediction", env),
        "drift off": bentoml_target("insight-off", "service:PurchasePrediction", env | {"DRIFT_MONITORING": "false"}),
    }
    scenarios = {  # name: (items, connections, path, body, targets)
        "1 item, c=32": (1, 32, "/predict", None, tuple(targets)),
        "100 items, c=8": (100, 8, "/predict", None, tuple(targets)),
        "/predict 100 items, c=2": (100, 2, "/predict", None, ("drift counted",)),
        "/explain exact 100 items, c=2": (100, 2, "/explain", explain_body("exact"), ("drift counted",)),
        "/explain approximate 100 items, c=2": (100, 2, "/explain", explain_body("approximate"), ("drift counted",)),
    }
    results: dict = {"started": datetime.now(UTC).isoformat(), "seconds": seconds, "rounds": rounds}

    def one_round(samples: Samples, r: int) -> None:
        for name, (items, connections, path, body, names) in scenarios.items():
            for target_name in names:
                args = (targets[target_name].url, items, connections, seconds, body, path)
                sample(samples, target_name, name, r, args)

    runs = medians(interleaved(targets, rounds, one_round))
    counted, off = runs["drift counted"], runs["drift off"]
    results["runs"] = runs
    results["ratios"] = {
        "drift counted / off, 1 item c=32: throughput (target >= 0.95)": counted["1 item, c=32"]["rps"]
        / off["1 item, c=32"]["rps"],
        "drift counted / off, 1 item c=32: p99 latency": counted["1 item, c=32"]["p99_ms"]
        / off["1 item, c=32"]["p99_ms"],
        "drift counted / off, 100 items c=8: rows/s": counted["100 items, c=8"]["rows_per_s"]
        / off["100 items, c=8"]["rows_per_s"],
        "/explain exact / /predict: rows/s": counted["/explain exact 100 items, c=2"]["rows_per_s"]
        / counted["/predict 100 items, c=2"]["rows_per_s"],
        "/explain approximate / /predict: rows/s": counted["/explain approximate 100 items, c=2"]["rows_per_s"]
        / counted["/predict 100 items, c=2"]["rows_per_s"],
    }
    return results


def write(results: dict) -> Path:
    return rounds_report("insight", results)


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
