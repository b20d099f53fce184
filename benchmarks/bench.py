"""`make bench`: the service against references measured in the same run, as ratios.

Targets, all started at once on free loopback ports (idle ones cost next to nothing), driven by wrk
(another process) one at a time, and interleaved: every round runs each scenario on each target in
turn, so the machine's slow moments fall on all of them alike. Figures are medians over the rounds.
  service      `bentoml serve service:PurchasePrediction` with API_WORKERS = 2 (and 1, for scaling)
  baseline     benchmarks/baseline_app.py under gunicorn with uvicorn workers, as many as the service
  noop         a BentoML service whose /predict does nothing, with BentoML's defaults (the floor)
  noop-tuned   the same with the service's server tuning (purchase.runtime)
and, in-process, the model alone on the same rows. Writes benchmarks/results/bench-<UTC>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from devtools.server import BIN, ServerProcess, home_sharing_models
from purchase import store

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
STORE_HOME = store.home().resolve()
ROW = {
    "user_id": "user_000123",
    "item_id": "item_00456",
    "days_since_last_view": 2.5,
    "view_count_7d": 15,
    "view_count_30d": 45,
    "cart_count_7d": 2,
    "cart_count_30d": 5,
    "item_view_count": 3,
    "item_price": 89.99,
    "item_base_price": 129.99,
    "item_discount_pct": 30.0,
    "item_category": "Electronics",
}
# (name, items per request, concurrent connections)
SCENARIOS = [
    ("1 item, c=1", 1, 1),
    ("1 item, c=32", 1, 32),
    ("1 item, c=64", 1, 64),
    ("100 items, c=1", 100, 1),
    ("1000 items, c=1", 1000, 1),
]


def body_file(items: int) -> Path:
    rows = [{**ROW, "user_id": f"user_{i:06d}", "view_count_7d": i % 40} for i in range(items)]
    path = Path(tempfile.gettempdir()) / f"purchase-bench-{items}.json"
    path.write_text(json.dumps({"features": rows}))
    return path


def start(name: str, command: list[str], env: dict[str, str]) -> ServerProcess:
    return ServerProcess(command, env, Path(tempfile.gettempdir()) / f"purchase-bench-{name}.log", name=name)


def wait_for_predictions(server: ServerProcess) -> None:
    def ready() -> bool:
        return requests.post(server.url + "/predict", json={"features": [ROW]}, timeout=2).status_code == 200

    server.wait_until(ready, timeout_s=120)


def wrk(
    url: str,
    items: int,
    connections: int,
    seconds: int,
    body: Path | None = None,
    path: str = "/predict",
    extra_env: dict[str, str] | None = None,
) -> dict[str, float]:
    """`items` rows (or events) a request; the body: `body`, else the benchmark's /predict rows."""
    env = {**os.environ, "WRK_BODY": str(body or body_file(items)), **(extra_env or {})}
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "benchmarks" / "wrk_report.lua"),
        url + path,
    ]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["duration_s"]
    result["rows_per_s"] = result["rps"] * items
    return result


def bentoml_target(name: str, service_ref: str, env: dict[str, str]) -> ServerProcess:
    home = home_sharing_models(Path(tempfile.gettempdir()) / f"purchase-bench-home-{name}", STORE_HOME)
    command = [str(BIN / "bentoml"), "serve", service_ref, "--host", "127.0.0.1", "--port", "{port}"]
    return start(name, command, {**env, "BENTOML_HOME": str(home)})


def service(workers: int) -> ServerProcess:
    """The spec's contract, as the baseline serves it: the online store is measured by benchmarks/features.py."""
    env = {"API_WORKERS": str(workers), "BENTOML_CONFIG": str(ROOT / "configuration.yaml"), "ONLINE_FEATURES": "false"}
    return bentoml_target(f"service-{workers}w", "service:PurchasePrediction", env)


def baseline(workers: int) -> ServerProcess:
    command = [
        str(BIN / "gunicorn"),
        "benchmarks.baseline_app:app",
        "--workers",
        str(workers),
        "--worker-class",
        "uvicorn.workers.UvicornWorker",
        "--bind",
        "127.0.0.1:{port}",
    ]
    return start(f"baseline-{workers}w", command, {"BENTOML_HOME": str(STORE_HOME)})


def noop(workers: int, tuned: bool) -> ServerProcess:
    name, cls = ("noop-tuned", "NoopTuned") if tuned else ("noop", "Noop")
    return bentoml_target(f"{name}-{workers}w", f"benchmarks.noop_service:{cls}", {"API_WORKERS": str(workers)})


def model_alone() -> dict[str, dict[str, float]]:
    """The booster on the request path's own matrix, in this process: what serving adds is the rest."""
    from purchase import store
    from purchase.schemas import FeatureRow
    from purchase.serving.models.scoring import feature_columns

    booster, preprocessor = store.load(store.default_model(None))
    booster.set_param({"nthread": 1})
    out = {}
    for items in (1, 1000):
        matrix = preprocessor.transform(
            feature_columns([FeatureRow(**json.loads(body_file(items).read_text())["features"][0])] * items)
        )
        timings = []
        for _ in range(300 if items == 1 else 50):
            t0 = time.perf_counter()
            booster.inplace_predict(matrix)
            timings.append((time.perf_counter() - t0) * 1000)
        out[f"{items} rows"] = {
            "p50_ms": statistics.median(timings),
            "rows_per_s": items / (statistics.median(timings) / 1000),
        }
    return out


def summary(result: dict[str, float]) -> str:
    rps, p50, p99 = result["rps"], result["p50_ms"], result["p99_ms"]
    return f"{rps:7.0f} req/s  p50 {p50:7.2f}  p99 {p99:7.2f} ms  errors {result['errors']}"


METRICS = ("rps", "rows_per_s", "p50_ms", "p95_ms", "p99_ms")


def run(workers: int, seconds: int, rounds: int, soak: int) -> dict:
    results: dict = {
        "started": datetime.now(UTC).isoformat(),
        "workers": workers,
        "seconds": seconds,
        "rounds": rounds,
        "cores": os.cpu_count(),
    }
    plan = [
        (service(workers), SCENARIOS),
        (baseline(workers), SCENARIOS),
        (noop(workers, False), SCENARIOS[:2]),
        (noop(workers, True), SCENARIOS[:2]),
    ]
    if workers != 1:
        plan.append((service(1), SCENARIOS[:2]))
    samples: dict[str, dict[str, list[dict]]] = {}
    try:
        for target, _ in plan:
            wait_for_predictions(target)
        for r in range(rounds):
            for name, items, connections in SCENARIOS:
                for target, scenarios in plan:
                    if (name, items, connections) not in scenarios:
                        continue
                    wrk(target.url, items, connections, 1)  # warm-up, not counted
                    result = wrk(target.url, items, connections, seconds)
                    samples.setdefault(target.name, {}).setdefault(name, []).append(result)
                    print(f"round {r + 1}  {target.name:15} {name:16} {summary(result)}", flush=True)
        if soak:
            target = plan[0][0]
            result = wrk(target.url, 1, 32, soak)
            samples[target.name][f"soak {soak}s, c=32"] = [result]
            print(f"soak {soak}s     {target.name:15} {summary(result)}")
    finally:
        for target, _ in plan:
            target.stop()
    results["samples"] = samples
    results["runs"] = {t: {name: median_of(rs) for name, rs in by_name.items()} for t, by_name in samples.items()}
    results["model_alone"] = model_alone()
    results["ratios"] = ratios(results["runs"], workers)
    results["ratios_per_round"] = [
        ratios({t: {n: rs[r] for n, rs in by_name.items() if r < len(rs)} for t, by_name in samples.items()}, workers)
        for r in range(rounds)
    ]
    return results


def median_of(results: list[dict]) -> dict:
    """Each figure's median over the rounds; errors are summed, so none hides behind a median."""
    summary = {key: statistics.median(r[key] for r in results) for key in METRICS}
    summary.update(
        errors=sum(r["errors"] for r in results), requests=sum(r["requests"] for r in results), rounds=len(results)
    )
    return summary


def ratios(runs: dict, workers: int) -> dict[str, float]:
    s, b, n, nt = (runs[f"{t}-{workers}w"] for t in ("service", "baseline", "noop", "noop-tuned"))
    return {
        "c32 req/s, service / baseline (target >= 2.5)": s["1 item, c=32"]["rps"] / b["1 item, c=32"]["rps"],
        "c32 p99 ms, service (target <= 50)": s["1 item, c=32"]["p99_ms"],
        "c32 errors, service (target 0)": s["1 item, c=32"]["errors"],
        "1000 items p50, service / baseline (target <= 0.4)": s["1000 items, c=1"]["p50_ms"]
        / b["1000 items, c=1"]["p50_ms"],
        "c1 p50, service / noop (target <= 1.5)": s["1 item, c=1"]["p50_ms"] / n["1 item, c=1"]["p50_ms"],
        "c1 p50, service / noop-tuned (same server tuning)": s["1 item, c=1"]["p50_ms"] / nt["1 item, c=1"]["p50_ms"],
    }


def saved(kind: str, results: dict) -> Path:
    """benchmarks/results/<kind>-<UTC>: the results as JSON there; the caller adds the .md beside."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{kind}-{datetime.now(UTC):%Y%m%d_%H%M%S}"
    stem.with_suffix(".json").write_text(json.dumps(results, indent=2))
    return stem


def runs_table(runs: dict[str, dict[str, dict]]) -> list[str]:
    """Each target's medians per scenario, as a Markdown table (rows/s: items, or events, a second)."""
    lines = [
        "| target | scenario | req/s | rows/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for target, by_name in runs.items():
        for name, r in by_name.items():
            figures = (
                f"{r['rps']:.0f} | {r['rows_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f}"
            )
            lines.append(f"| {target} | {name} | {figures} | {r['errors']} |")
    return lines


def write(results: dict) -> Path:
    stem = saved("bench", results)
    lines = [
        f"Medians over {results['rounds']} interleaved rounds of {results['seconds']} s per scenario "
        "(errors: the sum); "
        f"{results['cores']} cores, {results['started'][:16]} UTC.",
        "",
        *runs_table(results["runs"]),
    ]
    lines += ["", "| model alone (in-process) | p50 ms | rows/s |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['p50_ms']:.3f} | {v['rows_per_s']:.0f} |" for k, v in results["model_alone"].items()]
    lines += ["", "| ratio | from the medians | each round |", "|---|---:|---|"]
    for key, value in results["ratios"].items():
        each = ", ".join(f"{r[key]:.2f}" for r in results["ratios_per_round"])
        lines.append(f"| {key} | {value:.2f} | {each} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    chart(results, stem.with_suffix(".png"), f"purchase prediction, {results['workers']} worker(s)")
    return stem


def chart(results: dict, path: Path, title: str) -> None:
    """Each target's req/s, p50 and p99 by scenario, side by side, from the runs' medians (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(name for runs in results["runs"].values() for name in runs))
    panels = {"rps": "requests/s (higher is better)", "p50_ms": "p50 latency, ms", "p99_ms": "p99 latency, ms"}
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4.8))
    width = 0.8 / len(results["runs"])
    for k, (target, runs) in enumerate(results["runs"].items()):
        xs = [i + k * width for i, name in enumerate(names) if name in runs]
        for ax, figure in zip(axes, panels):
            ax.bar(xs, [runs[n][figure] for n in names if n in runs], width, label=target)
    for ax, heading in zip(axes, panels.values()):
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(names))], names, rotation=15)
        ax.set_title(heading)
        ax.set_yscale("log")
    axes[0].legend(fontsize="small")
    fig.suptitle(f"{title}, {os.cpu_count()} cores, {results['started'][:16]} UTC")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


Samples = dict[str, dict[str, list[dict]]]  # target → scenario → one result per round


def sample(samples: Samples, target: str, scenario: str, round_: int, wrk_args: tuple, **wrk_kwargs: Any) -> None:
    """One measured run of `wrk(*wrk_args, **wrk_kwargs)` after a one-second warm-up, kept in `samples`."""
    url, items, connections, _, *rest = wrk_args
    wrk(url, items, connections, 1, *rest, **wrk_kwargs)
    result = wrk(*wrk_args, **wrk_kwargs)
    samples.setdefault(target, {}).setdefault(scenario, []).append(result)
    print(f"round {round_ + 1}  {target:16} {scenario:20} {summary(result)}", flush=True)


def stop_all(*servers: ServerProcess) -> None:
    for server in servers:
        server.stop()


def interleaved(
    targets: dict[str, ServerProcess],
    rounds: int,
    one_round: Callable[[Samples, int], None],
    ready: dict[str, str] | None = None,
) -> Samples:
    """Every target ready (on /readyz, or its path in `ready`), then `one_round(samples, round)` `rounds`
    times; the targets stopped after."""
    samples: Samples = {}
    try:
        for name, target in targets.items():
            target.wait((ready or {}).get(name, "/readyz"), timeout_s=120)
        for r in range(rounds):
            one_round(samples, r)
    finally:
        stop_all(*targets.values())
    return samples


def medians(samples: Samples) -> dict[str, dict[str, dict]]:
    return {target: {name: median_of(rs) for name, rs in by_name.items()} for target, by_name in samples.items()}


def rounds_report(kind: str, results: dict, note: str = "", rows: Sequence[str] = ()) -> Path:
    """benchmarks/results/<kind>-<UTC>.{json,md}: the runs' medians, the ratios, and `rows` of the table."""
    stem = saved(kind, results)
    lines = [
        f"Medians over {results['rounds']} interleaved rounds of {results['seconds']} s; "
        f"{results['started'][:16]} UTC{note}.",
        "",
        *runs_table(results["runs"]),
        "",
        "| ratio | value |",
        "|---|---:|",
        *(f"| {k} | {v:.2f} |" for k, v in results["ratios"].items()),
        *rows,
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem


def rounds_main(doc: str, run: Callable[[int, int], dict], write: Callable[[dict], Path]) -> None:
    """The command line of a part of the benchmark measured in rounds of scenarios."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    stem = write(run(args.seconds, args.rounds))
    print("\n" + stem.with_suffix(".md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=8, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--soak", type=int, default=60, help="seconds of the soak run (0: none)")
    args = parser.parse_args()
    results = run(args.workers, args.seconds, args.rounds, args.soak)
    stem = write(results)
    print("\n" + stem.with_suffix(".md").read_text())
    print(f"wrote {stem}.json, .md, .png")


if __name__ == "__main__":
    main()
