"""The job table, in SQLite and in a real Redis, as two workers share it: claims in submission order,
never more running than the limit, progress only from the job's owner, and crashed jobs resumed or
failed. One contract for both."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from devtools.server import ServerProcess
from purchase.jobs.redis_table import RedisJobTable
from purchase.jobs.schemas import Format, Status
from purchase.jobs.table import SCHEMA, JobTable, Record, SqliteJobTable


def job(job_id: str, created_at: float, submitter: str = "") -> Record:
    return Record(
        job_id=job_id,
        status=Status.QUEUED,
        input_path="/x.csv",
        input_format=Format.CSV,
        input_bytes=1,
        input_mtime=0.0,
        uploaded=True,
        model_tag="purchase_model:v1",
        threshold=0.5,
        as_of=0.0,
        chunk_rows=10,
        created_at=created_at,
        submitter=submitter,
    )


@pytest.fixture(params=["sqlite", "redis"])
def tables(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[JobTable, JobTable]:
    if request.param == "sqlite":
        return SqliteJobTable(tmp_path / "jobs.sqlite"), SqliteJobTable(tmp_path / "jobs.sqlite")
    redis: ServerProcess = request.getfixturevalue("redis")
    prefix = f"test:{uuid.uuid4().hex}:"  # a namespace of its own in the session's Redis
    url = f"redis://127.0.0.1:{redis.port}/0"
    return RedisJobTable(url, prefix), RedisJobTable(url, prefix)


def test_claims_take_the_oldest_and_respect_the_limit(tables: tuple[JobTable, JobTable]) -> None:
    one, two = tables
    for i, name in enumerate(["b", "a", "c"]):
        one.add(job(name, created_at=100.0 + i))
    first = one.claim("w1", concurrency=2)
    second = two.claim("w2", concurrency=2)
    assert first is not None and second is not None
    assert (first.job_id, first.owner, first.attempts) == ("b", "w1", 1)
    assert (second.job_id, second.owner) == ("a", "w2")
    assert one.claim("w1", concurrency=2) is None  # two running: "c" waits
    assert one.active() == two.active() == (1, 2)  # queued, running
    assert one.update("b", "w1", status=Status.SUCCEEDED)
    third = two.claim("w2", concurrency=2)
    assert third is not None and third.job_id == "c"


def test_the_newest_jobs_of_one_submitter_or_of_everyone(
    tables: tuple[JobTable, JobTable], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("purchase.jobs.redis_table.NEWEST_PAGE", 2)  # several pages of Redis's index
    one, two = tables
    for i in range(7):
        one.add(job(f"j{i}", created_at=100.0 + i, submitter="k1" if i in (0, 3, 4) else "k2"))
    assert [r.job_id for r in two.newest(2, "k1")] == ["j4", "j3"]
    assert [r.job_id for r in two.newest(10, "k1")] == ["j4", "j3", "j0"]
    assert [r.job_id for r in two.newest(10, "k3")] == []
    assert [r.job_id for r in two.newest(3)] == ["j6", "j5", "j4"]
    assert {r.submitter for r in two.newest(10)} == {"k1", "k2"}


def test_a_table_from_before_submitters_gets_the_column(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "jobs.sqlite")
    old.executescript(SCHEMA.replace(",\n    submitter TEXT NOT NULL DEFAULT ''", ""))
    old.close()
    table = SqliteJobTable(tmp_path / "jobs.sqlite")
    table.add(job("a", 1.0, submitter="k1"))
    assert [r.submitter for r in table.newest(5)] == ["k1"]


def test_only_the_owner_of_a_running_job_records_progress(tables: tuple[JobTable, JobTable]) -> None:
    one, two = tables
    one.add(job("a", 1.0))
    assert one.claim("w1", 1) is not None
    assert not two.update("a", "w2", rows_done=10)
    assert one.update("a", "w1", rows_done=10)
    cancelled = two.cancel("a", "cancelled by request")
    assert cancelled is not None and cancelled.status is Status.CANCELLED and cancelled.finished_at is not None
    assert not one.update("a", "w1", rows_done=20)  # the process learns it must stop
    record = one.get("a")
    assert record is not None and record.rows_done == 10
    assert two.cancel("a", "again") == record  # a finished job is not changed


def test_a_crashed_job_is_resumed_then_failed_after_its_attempts(tables: tuple[JobTable, JobTable]) -> None:
    one, two = tables
    one.add(job("a", 1.0))
    for attempt in (1, 2):
        claimed = one.claim("w1", 1)
        assert claimed is not None and claimed.attempts == attempt
        one.update("a", "w1", rows_done=10 * attempt)
        assert two.recover(stale_s=60, max_attempts=2) == []  # heard from just now
        assert two.recover(stale_s=-1, max_attempts=2) == ["a"]
    record = two.get("a")
    assert record is not None and record.status is Status.FAILED
    assert record.reason == "the worker running it stopped, 2 times" and record.rows_done == 20


def test_a_released_job_resumes_where_it_stopped(tables: tuple[JobTable, JobTable]) -> None:
    one, two = tables
    one.add(job("a", 1.0))
    first = one.claim("w1", 1)
    one.update("a", "w1", rows_done=30, rows_failed=1)
    one.release("a", "w1", "its process stopped (exit 1)", max_attempts=3)
    released = two.get("a")
    assert released is not None and (released.status, released.owner, released.reason) == (Status.QUEUED, None, None)
    resumed = two.claim("w2", 1)
    assert resumed is not None and (resumed.rows_done, resumed.rows_failed, resumed.attempts) == (30, 1, 2)
    assert first is not None and resumed.started_at == first.started_at  # the job's start, not this attempt's
    assert [r.job_id for r in two.finished_before(1e12)] == []
    two.update("a", "w2", status=Status.SUCCEEDED)
    done = one.get("a")
    assert done is not None and done.status is Status.SUCCEEDED and done.reason is None and done.finished_at
    assert [r.job_id for r in one.finished_before(1e12)] == ["a"]
    one.delete("a")
    assert two.get("a") is None
