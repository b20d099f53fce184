"""`make bench`, the tail of a quiet server after varied traffic, and the CPU an idle server burns.

The service (2 workers, as `make serve`) first gets varied traffic: schemathesis's coverage and fuzzing
phases over every route but those that change models or start jobs (they would act on the store),
which leaves many metric series behind, as any live server has. Then, in rounds, 3,000 sequential
one-item /predict requests on one keep-alive connection: the client's p50, p99, p99.9 and the ratio
p99.9 / p50 (the stall target: at most 10). Last, the server left idle: its processes' CPU time over
20 s (the target: under 3% of a core in all). Writes benchmarks/results/stall-<UTC>.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time

import psutil
import requests

from devtools.server import BIN, ServerProcess

from .bench import ROOT, ROW, bentoml_target, saved, wait_for_predictions

CHANGES = r"^/(load-model|traffic|models|jobs)"  # routes the varied traffic leaves alone
REQUESTS = 3000
IDLE_S = 20.0


def varied_traffic(server: ServerProcess) -> None:
    command = [str(BIN / "st"), "run", server.url + "/openapi.json", "--phases", "coverage,fuzzing"]
    command += ["--max-examples", "20", "--checks", "not_a_server_error", "--exclude-path-regex", CHANGES]
    with tempfile.TemporaryDirectory() as scratch:  # where schemathesis keeps its example database
        subprocess.run([*command, "--max-time", "180", "--no-color"], capture_output=True, timeout=600, cwd=scratch)


def sequential(server: ServerProcess) -> dict[str, float]:
    """Client-side milliseconds of REQUESTS one-item requests, one after another."""
    took = []
    with requests.Session() as session:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            session.post(server.url + "/predict", json={"features": [ROW]}, timeout=10).raise_for_status()
            took.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(took, n=1000)
    result = {"p50_ms": cuts[499], "p99_ms": cuts[989], "p999_ms": cuts[998], "max_ms": max(took)}
    return {**result, "p999_over_p50": result["p999_ms"] / result["p50_ms"]}


def idle_cpu(server: ServerProcess) -> float:
    """Share of one core the server's processes use while nothing calls it."""
    time.sleep(5)  # what the last requests left to do
    root = psutil.Process(server.process.pid)
    processes = [root, *root.children(recursive=True)]
    before = [sum(p.cpu_times()[:2]) for p in processes]
    time.sleep(IDLE_S)
    return sum(sum(p.cpu_times()[:2]) - b for p, b in zip(processes, before, strict=True)) / IDLE_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = {"API_WORKERS": "2", "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), "ONLINE_FEATURES": "false"}
    server = bentoml_target("stall", "service:PurchasePrediction", env)
    try:
        wait_for_predictions(server)
        varied_traffic(server)
        rounds = [sequential(server) for _ in range(args.rounds)]
        cpu = idle_cpu(server)
    finally:
        server.stop()
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "rounds": rounds, "median": medians, "idle_cpu": cpu}
    stem = saved("stall", results)
    lines = [
        f"After varied traffic (schemathesis), {REQUESTS} sequential one-item requests a round, "
        f"medians of {args.rounds} rounds; {results['started']} UTC.",
        "",
        "| p50 | p99 | p99.9 | max | p99.9 / p50 (target ≤ 10) | idle CPU, all processes (target < 3%) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {medians['p50_ms']:.2f} ms | {medians['p99_ms']:.2f} ms | {medians['p999_ms']:.2f} ms "
        f"| {medians['max_ms']:.1f} ms | {medians['p999_over_p50']:.1f} | {cpu:.1%} of a core |",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
