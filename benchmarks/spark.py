"""`make bench-spark` (apart from `make bench`: it runs for about half an hour): the pipeline on pandas and
on Spark's local mode, on synthetic logs of about 1M and 10M events (1,500 and 17,000 users, 77 days).

Feature derivation: `events.build_examples` in a process of its own against the `features` command
(local[*]: both cores here), each reading the CSV log and writing Parquet. Per run: wall time and peak
memory, the resident memory of the process and all its children (the JVM, Spark's Python workers)
sampled every 0.2 s. Medians over --runs runs (one at 10M: each takes minutes).
Batch scoring: the `score` step's rows/s on 2,000,000 /predict rows in a warm local session (read,
checked, scored, written) against the model alone (the same rows through the transform and the booster
in this process, one thread).
Writes benchmarks/results/spark-<UTC>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from benchmarks.jobs import input_file, model_alone
from devtools.server import ROOT
from purchase import store
from purchase.training import synthetic

DATA = Path(tempfile.gettempdir()) / "purchase-bench-spark"
SIZES = {"1M": 1_500, "10M": 17_000}  # users over 77 days: about 620 events each
PANDAS = (
    "import sys; from purchase.training import events; log = events.read_events(sys.argv[1]); "
    "events.build_examples(log, events.snapshot_times(log, 28, 7, 7), 7).to_parquet(sys.argv[2])"
)


def log_file(users: int) -> tuple[Path, int]:
    path = DATA / f"events-{users}.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        synthetic.generate(n_users=users, n_days=77, seed=42).events.to_csv(path, index=False)
    with path.open("rb") as lines:
        return path, sum(1 for _ in lines) - 1


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall seconds and peak resident bytes of the command's whole process tree."""
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: Spark's warnings must not fill it
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        root, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass  # a worker ended between listing and reading
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{command[:4]} failed: {errors.read()[-2000:]}")
    return seconds, peak


def derivation(log: Path, events: int, runs: int) -> dict[str, dict[str, float]]:
    pandas = [sys.executable, "-c", PANDAS, str(log), str(DATA / "examples-pandas.parquet")]
    spark = [*spark_command(events), "features", "--events", str(log), "--out", str(DATA / "examples-spark")]
    return compared({"pandas": pandas, "spark": [*spark, "--overwrite"]}, runs)


def training(log: Path, events: int, runs: int) -> dict[str, dict[str, float]]:
    """Derivation and training to a stored version, each command into a scratch store."""
    env = {**os.environ, "BENTOML_HOME": tempfile.mkdtemp(prefix="bench-spark-home-")}
    pandas = [sys.executable, "-m", "purchase.cli.train", "--events", str(log)]
    return compared({"pandas": pandas, "spark": [*spark_command(events), "train", "--events", str(log)]}, runs, env)


def spark_command(events: int) -> list[str]:
    """Local mode on both cores, one bucket per 300,000 events."""
    partitions = str(max(4, events // 300_000))
    return [sys.executable, "-m", "purchase.spark", "--partitions", partitions, "--conf", "spark.driver.memory=8g"]


def compared(
    commands: dict[str, list[str]], runs: int, env: dict[str, str] | None = None
) -> dict[str, dict[str, float]]:
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved: the machine's noise falls on both
        for name, command in commands.items():
            results[name].append(measured(command, env))
            print(f"  {name}: {results[name][-1][0]:.1f} s, {results[name][-1][1] / 2**30:.2f} GiB", flush=True)
    return {
        name: {
            "seconds": statistics.median(s for s, _ in values),
            "peak_gib": statistics.median(m for _, m in values) / 2**30,
            "runs": len(values),
        }
        for name, values in results.items()
    }


def scoring(tag: str) -> dict[str, float]:
    from purchase.spark import paths, scoring, session

    rows_path = input_file()
    spark = session.start("bench-score", conf={"spark.driver.memory": "8g"})
    booster, preprocessor = store.load(store.get(tag))
    rates = []
    for _ in range(3):
        started = time.perf_counter()
        frame = paths.read_table(spark, str(rows_path))
        scored = scoring.score(frame, booster, preprocessor, 0.5, ())
        paths.write(scored, str(DATA / "scores"))
        rates.append(frame.count() / (time.perf_counter() - started))
    spark.stop()
    return {"spark_rows_per_s": statistics.median(rates), "model_alone_rows_per_s": model_alone(rows_path, tag)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs at 1M events (one at 10M)")
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--train", default="1M", help="sizes where training is measured too (none: '')")
    args = parser.parse_args()
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
    tag = store.production_tag() or str(store.versions()[-1].tag)
    report: dict[str, object] = {
        "model": tag,
        "cpus": os.cpu_count(),
        "memory_gib": psutil.virtual_memory().total / 2**30,
    }
    for size in args.sizes.split(","):
        log, events = log_file(SIZES[size])
        print(f"{size}: {events:,} events", flush=True)
        runs = args.runs if size == "1M" else 1
        report[size] = {"events": events, **derivation(log, events, runs)}
        if size in args.train.split(","):
            report[f"{size} training"] = {"events": events, **training(log, events, runs)}
    report["scoring"] = scoring(tag)
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    out = ROOT / "benchmarks" / "results" / f"spark-{stamp}"
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    lines = [
        f"# Spark local mode against pandas ({report['cpus']} cores, {report['memory_gib']:.0f} GiB)",
        "",
        "| log (step) | events | pandas time | Spark time | pandas peak | Spark peak | runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in (name for base in SIZES for name in (base, f"{base} training")):
        if size in report:
            r = report[size]
            lines.append(
                f"| {size} | {r['events']:,} | {r['pandas']['seconds']:.0f} s | {r['spark']['seconds']:.0f} s "
                f"| {r['pandas']['peak_gib']:.2f} GiB | {r['spark']['peak_gib']:.2f} GiB | {r['pandas']['runs']} |"
            )
    s = report["scoring"]
    ratio = s["spark_rows_per_s"] / s["model_alone_rows_per_s"]
    lines += [
        "",
        f"Batch scoring, 2,000,000 rows: Spark local {s['spark_rows_per_s']:,.0f} rows/s, "
        f"model alone (one thread) {s['model_alone_rows_per_s']:,.0f} rows/s: {ratio:.2f}x.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
