"""Batch jobs on a real server (2 workers): a 100k-row job equal to /predict row for row, bad rows in the
errors file, submissions refused before anything is queued, queueing past JOB_CONCURRENCY, cancel, a
crash in the middle of a job, and retention with bounded storage."""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from devtools.server import ServerProcess, redis_server
from purchase.features import CATEGORY_FEATURE, ID_FIELDS, NUMERIC_FEATURES, REQUIRED_FEATURES
from tests.helpers import KEYS, Trained, request_row
from tests.integration.conftest import start

COLUMNS = [*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE]
MAX_FILE = 48 * 2**20


def jobs_env(v1: Trained, **more: str) -> dict[str, str]:
    return {
        "DEFAULT_MODEL": str(v1.model.tag),
        "API_WORKERS": "2",
        "ONLINE_FEATURES": "false",
        "JOB_CONCURRENCY": "1",
        "JOB_CHUNK_ROWS": "5000",
        "MAX_JOB_FILE_BYTES": str(MAX_FILE),
        "JOB_STALE_S": "2",
        **more,
    }


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    srv = start(tmp_path_factory, "jobs", jobs_env(v1), "/readyz")
    yield srv
    srv.stop()


def tiled(test_rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """`n` rows: the test split's rows over and over, in order."""
    return pd.concat([test_rows[COLUMNS]] * (n // len(test_rows) + 1), ignore_index=True).head(n)


def submit(srv: ServerProcess, data: bytes, content_type: str = "text/csv", **params: Any) -> requests.Response:
    return requests.post(
        srv.url + "/jobs", data=data, headers={"Content-Type": content_type, **params.pop("headers", {})}, params=params
    )


def queued(srv: ServerProcess, data: bytes, **params: Any) -> str:
    answer = submit(srv, data, **params)
    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/jobs/{answer.json()['job_id']}"
    return str(answer.json()["job_id"])


def info(srv: ServerProcess, job_id: str, **headers: str) -> dict[str, Any]:
    answer = requests.get(f"{srv.url}/jobs/{job_id}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def wait_for(srv: ServerProcess, job_id: str, until: Any, timeout_s: float = 120, **headers: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = info(srv, job_id, **headers)
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never got there: {job}")


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def result(srv: ServerProcess, job_id: str) -> pd.DataFrame:
    answer = requests.get(f"{srv.url}/jobs/{job_id}/result", timeout=60)
    assert answer.status_code == 200, answer.text
    return pd.read_csv(io.BytesIO(answer.content), keep_default_na=False)


def predicted(srv: ServerProcess, rows: pd.DataFrame) -> pd.DataFrame:
    """/predict's answers for the rows, 1000 at a time."""
    answers = []
    for start_at in range(0, len(rows), 1000):
        items = [request_row(row) for _, row in rows.iloc[start_at : start_at + 1000].iterrows()]
        answer = requests.post(srv.url + "/predict", json={"features": items}, timeout=30)
        assert answer.status_code == 200, answer.text
        answers += answer.json()["predictions"]
    return pd.DataFrame(answers)


def job_metrics(srv: ServerProcess) -> dict[str, float]:
    """The jobs' counters at /metrics, as `name{label}`."""
    text = requests.get(srv.url + "/metrics", timeout=10).text
    return {
        f"{sample.name}{{{next(iter(sample.labels.values()))}}}": sample.value
        for family in text_string_to_metric_families(text)
        if family.name in ("purchase_job_rows", "purchase_jobs_finished", "purchase_jobs")
        for sample in family.samples
        if sample.name.endswith("_total") or sample.name == "purchase_jobs"
    }


def assert_counted(srv: ServerProcess, before: dict[str, float], expected: dict[str, float]) -> None:
    """The metrics went up by `expected` since `before`, once the runners have polled, and nothing waits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = job_metrics(srv)
        counted = {name: after.get(name, 0) - before.get(name, 0) for name in expected}
        active = after["purchase_jobs{queued}"], after["purchase_jobs{running}"]
        if counted == expected and active == (0, 0):
            break
        time.sleep(0.2)
    assert counted == expected and active == (0, 0)


def test_a_100k_row_job_equals_predict_row_for_row(
    jobs_server: ServerProcess, test_rows: pd.DataFrame, v1: Trained
) -> None:
    """Also the jobs' metrics, counted as it runs (its 20 chunks span several polls) and once."""
    before = job_metrics(jobs_server)
    rows = tiled(test_rows, 100_000)
    job_id = queued(jobs_server, rows.to_csv(index=False).encode())
    job = wait_for(jobs_server, job_id, finished)
    assert job["status"] == "succeeded", job
    assert (job["rows_total"], job["rows_done"], job["rows_failed"]) == (100_000, 100_000, 0)
    assert job["model_version"] == str(v1.model.tag) and job["rows_per_second"] > 0
    scored = result(jobs_server, job_id)
    expected = predicted(jobs_server, test_rows[COLUMNS])
    expected = pd.concat([expected] * (100_000 // len(expected) + 1), ignore_index=True).head(100_000)
    assert list(scored.columns) == ["row", "user_id", "item_id", "prediction", "probability", "confidence"]
    assert scored.row.tolist() == list(range(100_000))
    assert scored.user_id.tolist() == rows.user_id.tolist() and scored.item_id.tolist() == rows.item_id.tolist()
    np.testing.assert_allclose(scored.probability, expected.probability, rtol=0, atol=1e-6)
    assert scored.prediction.tolist() == expected.prediction.tolist()
    assert scored.confidence.tolist() == expected.confidence.tolist()
    parquet = requests.get(f"{jobs_server.url}/jobs/{job_id}/result", params={"format": "parquet"}, timeout=60)
    assert parquet.headers["X-Model-Version"] == str(v1.model.tag)
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(parquet.content)), scored, check_dtype=False)
    summary = job["summary"]
    assert summary["per_class"] == {"0": int((scored.prediction == 0).sum()), "1": int(scored.prediction.sum())}
    histogram = np.histogram(scored.probability, bins=np.linspace(0, 1, 11))[0]
    assert summary["probability_histogram"] == histogram.tolist()
    assert (
        requests.get(f"{jobs_server.url}/jobs/{job_id}/errors", timeout=10).text.strip()
        == '"row","user_id","item_id","reason"'
    )
    counted = {"purchase_job_rows_total{scored}": 100_000, "purchase_jobs_finished_total{succeeded}": 1}
    assert_counted(jobs_server, before, counted)


def test_bad_rows_go_to_the_errors_file_and_past_the_share_fail_the_job(
    jobs_server: ServerProcess, test_rows: pd.DataFrame
) -> None:
    """Also the jobs' metrics: rows scored and refused, and jobs ended by status, each counted once."""
    before = job_metrics(jobs_server)
    rows = tiled(test_rows, 1000).astype(object)
    bad = {
        3: ("view_count_7d", -3),
        10: ("item_price", "cheap"),
        500: ("user_id", None),
        999: ("item_discount_pct", 150),
    }
    for row, (name, value) in bad.items():
        rows.loc[row, name] = value
    job = wait_for(jobs_server, queued(jobs_server, rows.to_csv(index=False).encode()), finished)
    assert job["status"] == "succeeded" and job["rows_failed"] == 4, job  # 0.4%: under JOB_MAX_BAD_ROW_SHARE
    errors = pd.read_csv(io.StringIO(requests.get(f"{jobs_server.url}/jobs/{job['job_id']}/errors", timeout=10).text))
    assert errors.row.tolist() == sorted(bad)
    assert [reason.split(":")[0] for reason in errors.reason] == [bad[row][0] for row in sorted(bad)]
    scored = result(jobs_server, job["job_id"])
    assert scored.row.tolist() == [i for i in range(1000) if i not in bad]
    expected = predicted(jobs_server, tiled(test_rows, 1000).drop(index=list(bad)))
    np.testing.assert_allclose(scored.probability, expected.probability, rtol=0, atol=1e-6)

    for row in range(0, 1000, 20):  # 5% bad
        rows.loc[row, "item_price"] = -1
    job = wait_for(jobs_server, queued(jobs_server, rows.to_csv(index=False).encode()), finished)
    assert job["status"] == "failed" and "JOB_MAX_BAD_ROW_SHARE" in job["reason"], job
    errors_file = requests.get(f"{jobs_server.url}/jobs/{job['job_id']}/errors", timeout=10)
    assert errors_file.status_code == 200 and "item_price: must be greater than 0" in errors_file.text
    refused = requests.get(f"{jobs_server.url}/jobs/{job['job_id']}/result", timeout=10)
    assert refused.status_code == 409 and "failed" in refused.json()["detail"]

    expected = {
        "purchase_job_rows_total{scored}": 996 + job["rows_done"] - job["rows_failed"],
        "purchase_job_rows_total{refused}": 4 + job["rows_failed"],
        "purchase_jobs_finished_total{succeeded}": 1,
        "purchase_jobs_finished_total{failed}": 1,
    }
    assert_counted(jobs_server, before, expected)


def test_bad_submissions_are_refused_and_nothing_is_queued(
    jobs_server: ServerProcess, test_rows: pd.DataFrame, tmp_path: Path
) -> None:
    before = len(requests.get(jobs_server.url + "/jobs", timeout=10).json()["jobs"])
    good = tiled(test_rows, 10)
    cases = [
        (submit(jobs_server, good.drop(columns=["item_price"]).to_csv(index=False).encode()), 400, "'item_price'"),
        (submit(jobs_server, good.rename(columns={"item_id": "sku"}).to_csv(index=False).encode()), 400, "'sku'"),
        (submit(jobs_server, good.to_csv(index=False).encode(), format="parquet"), 400, "not a readable parquet"),
        (submit(jobs_server, b"\x00\x01garbage", "application/octet-stream"), 400, "format: unknown"),
        (submit(jobs_server, good.to_csv(index=False).encode(), threshold="2"), 400, "threshold"),
        (submit(jobs_server, good.to_csv(index=False).encode(), model="purchase_model:nope"), 404, "nope"),
        (submit(jobs_server, b"x" * (MAX_FILE + 1)), 413, "larger than"),
        (
            requests.post(jobs_server.url + "/jobs", data=iter([b"user_id,item_id\n"] + [b"u,i\n" * 2**20] * 13)),
            413,
            "larger than",
        ),  # sent in chunks, no Content-Length: counted as it arrives
        (requests.post(jobs_server.url + "/jobs", json={"path": "../../etc/passwd"}), 403, "path"),
        (requests.post(jobs_server.url + "/jobs", json={"path": "nowhere.csv"}), 400, "path"),
        (requests.post(jobs_server.url + "/jobs", json={"path": "x.csv", "colour": 1}), 400, "colour"),
    ]
    for answer, status, words in cases:
        assert answer.status_code == status, (status, answer.text)
        assert words in answer.json()["detail"], answer.text
        assert "Traceback" not in answer.text
    for path in ("/jobs/nope", "/jobs/nope/result", "/jobs/nope/errors"):
        assert requests.get(jobs_server.url + path, timeout=10).status_code == 404
    assert requests.post(jobs_server.url + "/jobs/nope/cancel", timeout=10).status_code == 404
    assert len(requests.get(jobs_server.url + "/jobs", timeout=10).json()["jobs"]) == before
    assert not [p for p in (Path(jobs_server.env["DATA_DIR"]) / "jobs").iterdir() if p.is_dir()][before:]


def work_processes(job_id: str) -> list[int]:
    """The job processes running `job_id` on this machine, from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"purchase.jobs.work" in command and job_id.encode() in command:
            found.append(int(pid))
    return found


def test_jobs_past_the_limit_queue_and_cancel_stops_a_running_one(
    jobs_server: ServerProcess, test_rows: pd.DataFrame
) -> None:
    big = tiled(test_rows, 600_000)[[*ID_FIELDS, *REQUIRED_FEATURES]].to_csv(index=False).encode()
    first = queued(jobs_server, big)
    second = queued(jobs_server, tiled(test_rows, 100).to_csv(index=False).encode())
    running = wait_for(jobs_server, first, lambda job: job["rows_done"] > 0 or finished(job))
    assert running["status"] == "running", running
    assert info(jobs_server, second)["status"] == "queued"  # JOB_CONCURRENCY=1
    unfinished = requests.get(f"{jobs_server.url}/jobs/{second}/result", timeout=10)
    assert unfinished.status_code == 409 and "queued" in unfinished.json()["detail"]
    assert work_processes(first)
    cancelled = requests.post(f"{jobs_server.url}/jobs/{first}/cancel", timeout=10)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    deadline = time.monotonic() + 10
    while work_processes(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not work_processes(first), "the job's process still runs"
    stopped = info(jobs_server, first)
    assert stopped["status"] == "cancelled" and stopped["rows_done"] < 600_000
    assert stopped["reason"] == "cancelled by request"
    again = requests.post(f"{jobs_server.url}/jobs/{first}/cancel", timeout=10)
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]
    assert wait_for(jobs_server, second, finished)["status"] == "succeeded"
    assert info(jobs_server, first)["rows_done"] == stopped["rows_done"]
    assert not (Path(jobs_server.env["DATA_DIR"]) / "jobs" / first / "parts").exists()


def crash(srv: ServerProcess) -> None:
    """SIGKILL to the server, its workers (each in a session of its own) and their job processes at once."""
    server = psutil.Process(srv.process.pid)
    everything = [server, *server.children(recursive=True)]
    for process in everything:
        process.send_signal(signal.SIGKILL)
    psutil.wait_procs(everything, timeout=10)


def test_a_job_survives_a_crash_of_the_server(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """SIGKILL to every process of the server in the middle of a job; a new server on the same DATA_DIR
    resumes it after the saved chunks, fails with the reason the job it cannot resume, and still serves
    the results of the jobs finished before."""
    env = jobs_env(v1)
    srv = start(tmp_path_factory, "crash", env, "/readyz")
    data = Path(srv.env["DATA_DIR"])
    try:
        done = queued(srv, tiled(test_rows, 2000).to_csv(index=False).encode())
        assert wait_for(srv, done, finished)["status"] == "succeeded"
        before = result(srv, done)
        rows = tiled(test_rows, 250_000)
        crashed = queued(srv, rows.to_csv(index=False).encode())
        (data / "later.csv").write_bytes(tiled(test_rows, 50).to_csv(index=False).encode())
        later = requests.post(srv.url + "/jobs", json={"path": "later.csv"}, timeout=10).json()["job_id"]
        at_crash = wait_for(srv, crashed, lambda job: job["rows_done"] >= 20_000 or finished(job))
        crash(srv)
    finally:
        srv.stop()
    assert at_crash["status"] == "running", at_crash
    (data / "later.csv").write_bytes(b"user_id,item_id\nchanged,meanwhile\n")
    again = start(tmp_path_factory, "crash-again", {**env, "DATA_DIR": str(data)}, "/readyz")
    try:
        resumed = wait_for(again, crashed, finished)
        assert resumed["status"] == "succeeded" and resumed["attempts"] == 2, resumed
        assert resumed["rows_done"] == resumed["rows_total"] == 250_000  # resumed after the saved chunks
        scored = result(again, crashed)
        assert scored.row.tolist() == list(range(250_000))
        expected = predicted(again, test_rows[COLUMNS]).probability.to_numpy()
        np.testing.assert_allclose(scored.probability, np.resize(expected, 250_000), rtol=0, atol=1e-6)
        pd.testing.assert_frame_equal(result(again, done), before)
        failed = wait_for(again, later, finished)
        assert failed["status"] == "failed" and "input file changed" in failed["reason"], failed
    finally:
        again.stop()


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[ServerProcess]:
    env = jobs_env(v1, JOB_RETENTION_HOURS="0.001", JOB_STORAGE_BYTES=str(2**21), API_KEYS=KEYS["other"])
    srv = start(tmp_path_factory, "short-jobs", env, "/readyz")
    yield srv
    srv.stop()


def test_finished_jobs_are_removed_after_retention_and_storage_is_bounded(
    short_server: ServerProcess, test_rows: pd.DataFrame
) -> None:
    key = {"X-API-Key": KEYS["other"]}
    job_id = queued(short_server, tiled(test_rows, 500).to_csv(index=False).encode(), headers=key)
    job = wait_for(short_server, job_id, finished, **key)
    assert job["status"] == "succeeded" and job["expires_at"] is not None
    listing = requests.get(short_server.url + "/jobs", headers=key, timeout=10).json()
    assert 0 < listing["storage"]["used_bytes"] <= listing["storage"]["limit_bytes"] == 2**21
    folder = Path(short_server.env["DATA_DIR"]) / "jobs"
    stored = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert KEYS["other"].encode() not in stored  # credentials are never kept with a job
    full = submit(short_server, b"user_id,item_id\n" + b"u,i\n" * 2**19, headers=key)
    assert full.status_code == 507 and "JOB_STORAGE_BYTES" in full.json()["detail"]
    deadline = time.monotonic() + 30
    while requests.get(f"{short_server.url}/jobs/{job_id}", headers=key, timeout=10).status_code == 200:
        assert time.monotonic() < deadline, "the job outlived its retention"
        time.sleep(0.2)
    assert not (folder / job_id).exists()


def test_replicas_share_jobs_through_redis(
    tmp_path_factory: pytest.TempPathFactory, v1: Trained, test_rows: pd.DataFrame
) -> None:
    """Two servers on one Redis and one DATA_DIR volume: a job submitted to either is seen, limited,
    run and downloaded through both; the table is in Redis, not in a SQLite file."""
    folder = tmp_path_factory.mktemp("jobs-replicas")
    redis = redis_server(folder / "redis.log")
    env = jobs_env(v1, REDIS_URL=f"redis://127.0.0.1:{redis.port}/0", DATA_DIR=str(folder / "data"))
    servers = [start(tmp_path_factory, "jobs-replica-a", env, "/readyz")]
    try:
        servers.append(start(tmp_path_factory, "jobs-replica-b", env, "/readyz"))
        a, b = servers
        first = queued(a, tiled(test_rows, 200_000).to_csv(index=False).encode())
        second = queued(b, tiled(test_rows, 100).to_csv(index=False).encode())
        assert wait_for(b, first, lambda job: job["rows_done"] > 0 or finished(job))["status"] == "running"
        assert info(a, second)["status"] == "queued"  # JOB_CONCURRENCY=1 over both replicas
        assert wait_for(a, second, finished)["status"] == "succeeded"
        assert info(b, first)["status"] == "succeeded"
        pd.testing.assert_frame_equal(result(a, first), result(b, first))
        assert result(a, second).row.tolist() == list(range(100))
        listed = requests.get(b.url + "/jobs", timeout=10).json()["jobs"]
        assert {job["job_id"] for job in listed} == {first, second}
        assert not (folder / "data" / "jobs" / "jobs.sqlite").exists()
    finally:
        for server in (*servers, redis):
            server.stop()
