"""`make profile`: where a service worker's time goes under load, by layer of the request path.

Starts the service with one worker, drives it with wrk (1 item at 32 connections by default; `--items
1000 --connections 1` for the large-request path), samples the worker with py-spy, and attributes each
sample of a running thread to the innermost layer it is in.
Writes benchmarks/results/profile-<UTC>.md (and the raw py-spy stacks beside it).
"""

from __future__ import annotations

import argparse
import subprocess
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from devtools.server import BIN

from .bench import RESULTS, service, wait_for_predictions, wrk

# (layer, file path fragments), matched from the innermost frame outwards: the first match wins.
LAYERS = [
    ("model call (XGBoost inplace_predict)", ("xgboost/",)),
    (
        "request parsing and validation (pydantic)",
        ("purchase/schemas.py", "purchase/serving/routes/codec.py", "pydantic/"),
    ),
    ("feature transform", ("purchase/features.py",)),
    ("metrics (prometheus_client)", ("prometheus_client/", "purchase/serving/metrics.py")),
    ("access log (logging, python-json-logger)", ("logging/", "pythonjsonlogger/")),
    ("batching and thread hand-off", ("purchase/serving/models/batching.py", "anyio/", "concurrent/", "threading.py")),
    (
        "prediction: routing, answer, JSON",
        ("purchase/serving/models/scoring.py", "purchase/serving/models/version.py", "orjson"),
    ),
    (
        "edge: request ids, keys, limits",
        (
            "purchase/serving/edge/middleware.py",
            "purchase/serving/edge/security.py",
            "purchase/serving/edge/route_table.py",
        ),
    ),
    ("BentoML middlewares (metrics, tracing, timeout)", ("bentoml/", "_bentoml_impl/", "opentelemetry/")),
    ("FastAPI and Starlette (routing, route handler)", ("fastapi/", "starlette/", "service.py")),
    ("HTTP server (uvicorn, httptools)", ("uvicorn/", "httptools/")),
]
IDLE = ("Condition.wait (threading.py",)  # worker threads waiting for work


def layer_of(stack: str) -> str:
    for frame in reversed(stack.split(";")):
        for layer, fragments in LAYERS:
            if any(fragment in frame for fragment in fragments):
                return layer
    return "event loop and the rest"


def summarize(raw: Path) -> tuple[Counter[str], int]:
    layers: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if not leaf.startswith(IDLE):
            layers[layer_of(stack)] += int(count)
    return layers, sum(layers.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--items", type=int, default=1, help="rows per request")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"profile-{datetime.now(UTC):%Y%m%d_%H%M%S}"
    raw = stem.with_suffix(".raw.txt")
    target = service(1)
    try:
        wait_for_predictions(target)
        worker = subprocess.run(
            ["pgrep", "-f", "-P", str(target.process.pid), "_bentoml_impl.worker"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        wrk(target.url, args.items, args.connections, 2)  # warm-up
        load: dict = {}
        seconds = args.seconds + 2
        driver = threading.Thread(target=lambda: load.update(wrk(target.url, args.items, args.connections, seconds)))
        driver.start()
        # 100 Hz: enough samples, little slowdown of the 2 cores the worker and wrk share
        record = [
            str(BIN / "py-spy"),
            "record",
            "--rate",
            "100",
            "--duration",
            str(args.seconds),
            "--pid",
            worker,
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ]
        subprocess.run(record, check=True, capture_output=True)
        driver.join()
    finally:
        target.stop()
    layers, total = summarize(raw)
    lines = [
        f"Service, 1 worker, {args.items} items a request at concurrency {args.connections}, {args.seconds} s of "
        f"py-spy at 100 Hz ({load['rps']:.0f} req/s, p50 {load['p50_ms']:.2f} ms while sampled, {total} samples "
        "of running threads).",
        "",
        "| layer (innermost frame) | share of samples |",
        "|---|---:|",
    ]
    lines += [f"| {layer} | {100 * n / total:.1f}% |" for layer, n in layers.most_common()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {stem}.md and {raw.name}")


if __name__ == "__main__":
    main()
