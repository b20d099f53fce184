"""`make bench`, part five: batch jobs beside online traffic, as ratios measured in one run.

One target: the service as shipped (2 workers, online features off, JOB_CONCURRENCY 1). Its input: a
Parquet file of 2,000,000 /predict rows under DATA_DIR (the test split's rows, repeated). Scenarios,
interleaved over rounds, medians: 1 item at concurrency 32 with no job, the same while a job runs
(target: p99 at most 2x), and the job alone. A job's rows/s is its progress over the measured window.
Model alone: the same rows through the same transform and booster in this process, one thread, in the
job's chunks (target: the job under online load at least 0.2x of it).
Writes benchmarks/results/jobs-<UTC>.{json,md}.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import requests

from benchmarks.bench import Samples, bentoml_target, medians, rounds_main, rounds_report, sample, stop_all
from devtools.server import ROOT, ServerProcess
from purchase import store
from purchase.features import CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES
from purchase.training.train import TrainConfig, load_dataset, split_by_time

ROWS = 2_000_000
CHUNK_ROWS = 10_000
DATA = Path(tempfile.gettempdir()) / "purchase-bench-jobs"


def input_file() -> Path:
    """The candidates: rows derived from a synthetic log, as many times over as it takes."""
    path = DATA / "candidates.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        examples = split_by_time(load_dataset(TrainConfig(n_users=2000, n_days=63), None, print).examples)[2]
        rows = examples[[*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE]]
        rows = pd.concat([rows] * (ROWS // len(rows) + 1), ignore_index=True).head(ROWS)
        rows.to_parquet(path, index=False)
    return path


def model_alone(path: Path, tag: str) -> float:
    """Rows per second of the transform and the booster alone, one thread, on the job's chunks."""
    booster, preprocessor = store.load(store.get(tag))
    booster.set_param({"nthread": 1})
    parquet = pq.ParquetFile(path)
    chunks = [batch.to_pandas() for _, batch in zip(range(20), parquet.iter_batches(batch_size=CHUNK_ROWS))]
    started = time.perf_counter()
    for chunk in chunks:
        booster.inplace_predict(preprocessor.transform({name: chunk[name].to_numpy() for name in chunk.columns}))
    return sum(len(c) for c in chunks) / (time.perf_counter() - started)


def progress(server: ServerProcess, job_id: str) -> tuple[float, int, str]:
    job = requests.get(f"{server.url}/jobs/{job_id}", timeout=10).json()
    return time.monotonic(), int(job["rows_done"]), str(job["status"])


def running_job(server: ServerProcess) -> str:
    """A job submitted by path, once it has saved its first chunk."""
    answer = requests.post(server.url + "/jobs", json={"path": "candidates.parquet"}, timeout=30)
    answer.raise_for_status()
    job_id = str(answer.json()["job_id"])
    while progress(server, job_id)[1] == 0:
        time.sleep(0.1)
    return job_id


def stop(server: ServerProcess, job_id: str) -> None:
    requests.delete(f"{server.url}/jobs/{job_id}", timeout=30)


def run(seconds: int, rounds: int) -> dict:
    path = input_file()
    env = {
        "API_WORKERS": "2",
        "BENTOML_CONFIG": str(ROOT / "configuration.yaml"),
        "ONLINE_FEATURES": "false",
        "DATA_DIR": str(DATA),
        "JOB_CHUNK_ROWS": str(CHUNK_ROWS),
    }
    server = bentoml_target("jobs", "service:PurchasePrediction", env)
    samples: Samples = {}
    job_rates: dict[str, list[float]] = {"job under online load": [], "job alone": []}
    alone: list[float] = []
    try:
        server.wait("/readyz", timeout_s=120)
        for r in range(rounds):
            sample(samples, "service", "1 item, c=32, no job", r, (server.url, 1, 32, seconds))
            job_id = running_job(server)
            tag = requests.get(f"{server.url}/jobs/{job_id}", timeout=10).json()["model_version"]
            t0, done0, _ = progress(server, job_id)
            sample(samples, "service", "1 item, c=32, job running", r, (server.url, 1, 32, seconds))
            t1, done1, status = progress(server, job_id)
            assert status == "running", f"the job ended within the window ({status}): make ROWS larger"
            job_rates["job under online load"].append((done1 - done0) / (t1 - t0))
            t0, done0, _ = progress(server, job_id)
            time.sleep(seconds)
            t1, done1, _ = progress(server, job_id)
            job_rates["job alone"].append((done1 - done0) / (t1 - t0))
            stop(server, job_id)
            alone.append(model_alone(path, tag))
            print(
                f"round {r + 1}  job rows/s: {job_rates['job under online load'][-1]:.0f} under load, "
                f"{job_rates['job alone'][-1]:.0f} alone; model alone {alone[-1]:.0f}",
                flush=True,
            )
    finally:
        stop_all(server)
    runs = medians(samples)
    rates = {name: statistics.median(values) for name, values in job_rates.items()}
    model_rate = statistics.median(alone)
    without, during = runs["service"]["1 item, c=32, no job"], runs["service"]["1 item, c=32, job running"]
    return {
        "started": datetime.now(UTC).isoformat(),
        "seconds": seconds,
        "rounds": rounds,
        "runs": runs,
        "rows_per_s": {**rates, "model alone (transform + predict, 1 thread)": model_rate},
        "ratios": {
            "1 item c=32 p99: job running / no job (target <= 2)": during["p99_ms"] / without["p99_ms"],
            "1 item c=32 throughput: job running / no job": during["rps"] / without["rps"],
            "job rows/s under online load / model alone (target >= 0.2)": rates["job under online load"] / model_rate,
            "job rows/s alone / model alone": rates["job alone"] / model_rate,
        },
    }


def write(results: dict) -> Path:
    rows = ["", "| rows/s (medians) | value |", "|---|---:|"]
    rows += [f"| {name} | {value:,.0f} |" for name, value in results["rows_per_s"].items()]
    return rounds_report("jobs", results, rows=rows)


def main() -> None:
    rounds_main(__doc__ or "", run, write)


if __name__ == "__main__":
    main()
