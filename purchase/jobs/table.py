"""The job table: every job's state, shared by all the server's workers and their job processes; in
SQLite under DATA_DIR by default (with REDIS_URL: redis_table). Each change is one transaction, so two
workers never claim the same job and the number running never passes JOB_CONCURRENCY."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from .schemas import Format, Status

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, status TEXT NOT NULL, input_path TEXT NOT NULL, input_format TEXT NOT NULL,
    input_bytes INTEGER NOT NULL, input_mtime REAL NOT NULL, uploaded INTEGER NOT NULL, model_tag TEXT NOT NULL,
    threshold REAL NOT NULL, as_of REAL NOT NULL, chunk_rows INTEGER NOT NULL, rows_total INTEGER,
    rows_done INTEGER NOT NULL DEFAULT 0,
    rows_failed INTEGER NOT NULL DEFAULT 0, summary TEXT, attempts INTEGER NOT NULL DEFAULT 0, reason TEXT,
    owner TEXT, heartbeat REAL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
    submitter TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_at);
"""


@dataclass(frozen=True)
class Record:
    job_id: str
    status: Status
    input_path: str
    input_format: Format
    input_bytes: int
    input_mtime: float
    uploaded: bool  # the file is the job's own copy (removed with the job), not a path under DATA_DIR
    model_tag: str
    threshold: float
    as_of: float
    chunk_rows: int  # fixed at submission: a resumed job restarts at a chunk boundary of its own
    rows_total: int | None = None
    rows_done: int = 0
    rows_failed: int = 0
    summary: str | None = None  # JSON: the running tallies, then the Summary
    attempts: int = 0
    reason: str | None = None
    owner: str | None = None
    heartbeat: float | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    submitter: str = ""  # the key id of the API key that submitted it (security.key_id); '' without keys

    def tallies(self) -> dict[str, Any] | None:
        return json.loads(self.summary) if self.summary else None


COLUMNS = [f.name for f in fields(Record)]
ACTIVE = (Status.QUEUED.value, Status.RUNNING.value)


def _record(row: sqlite3.Row) -> Record:
    values = dict(row)
    values.update(status=Status(values["status"]), input_format=Format(values["input_format"]))
    values["uploaded"] = bool(values["uploaded"])
    return Record(**values)


class JobTable(Protocol):
    """What the workers, the routes and the job processes need of the table (SQLite or Redis)."""

    def add(self, record: Record) -> None: ...
    def get(self, job_id: str) -> Record | None: ...
    def newest(self, limit: int, submitter: str | None = None) -> list[Record]: ...  # None: everyone's
    def cancel(self, job_id: str, reason: str) -> Record | None: ...
    def delete(self, job_id: str) -> None: ...
    def claim(self, owner: str, concurrency: int) -> Record | None: ...
    def heartbeat(self, owner: str, job_ids: list[str]) -> None: ...
    def release(self, job_id: str, owner: str, reason: str, max_attempts: int) -> None: ...
    def recover(self, stale_s: float, max_attempts: int) -> list[str]: ...
    def update(self, job_id: str, owner: str, **changes: Any) -> bool: ...
    def finished_before(self, t: float) -> list[Record]: ...
    def active(self) -> tuple[int, int]: ...  # jobs queued, running


class SqliteJobTable(JobTable):
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=10)
        try:
            con.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            con.executescript(SCHEMA)
            if "submitter" not in {row[1] for row in con.execute("PRAGMA table_info(jobs)")}:  # a table from before
                con.execute("ALTER TABLE jobs ADD COLUMN submitter TEXT NOT NULL DEFAULT ''")
        finally:
            con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per change: the table is touched a few times a second at most."""
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def add(self, record: Record) -> None:
        with self._transaction() as con:
            con.execute(f"INSERT INTO jobs VALUES ({', '.join('?' * len(COLUMNS))})", _row(record))

    def get(self, job_id: str) -> Record | None:
        with self._transaction() as con:
            row = con.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _record(row) if row else None

    def newest(self, limit: int, submitter: str | None = None) -> list[Record]:
        mine = "" if submitter is None else "WHERE submitter = ?"
        given = () if submitter is None else (submitter,)
        with self._transaction() as con:
            query = f"SELECT * FROM jobs {mine} ORDER BY created_at DESC LIMIT ?"
            rows = con.execute(query, (*given, limit)).fetchall()
        return [_record(row) for row in rows]

    def cancel(self, job_id: str, reason: str) -> Record | None:
        """Queued or running: cancelled now (the running process stops within a poll). Else unchanged."""
        with self._transaction() as con:
            con.execute(
                f"UPDATE jobs SET status = ?, reason = ?, finished_at = ? WHERE job_id = ? AND status IN {ACTIVE}",
                (Status.CANCELLED, reason, time.time(), job_id),
            )
            row = con.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return _record(row) if row else None

    def delete(self, job_id: str) -> None:
        with self._transaction() as con:
            con.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def claim(self, owner: str, concurrency: int) -> Record | None:
        """The oldest queued job, now running for `owner`, unless `concurrency` jobs run already."""
        with self._transaction() as con:
            (running,) = con.execute("SELECT count(*) FROM jobs WHERE status = ?", (Status.RUNNING,)).fetchone()
            if running >= concurrency:
                return None
            row = con.execute(
                "SELECT job_id FROM jobs WHERE status = ? ORDER BY created_at LIMIT 1", (Status.QUEUED,)
            ).fetchone()
            if row is None:
                return None
            now = time.time()
            con.execute(
                "UPDATE jobs SET status = ?, owner = ?, heartbeat = ?, attempts = attempts + 1,"
                " started_at = coalesce(started_at, ?) WHERE job_id = ?",
                (Status.RUNNING, owner, now, now, row["job_id"]),
            )
            return _record(con.execute("SELECT * FROM jobs WHERE job_id = ?", (row["job_id"],)).fetchone())

    def heartbeat(self, owner: str, job_ids: list[str]) -> None:
        with self._transaction() as con:
            con.executemany(
                "UPDATE jobs SET heartbeat = ? WHERE job_id = ? AND owner = ? AND status = ?",
                [(time.time(), job_id, owner, Status.RUNNING) for job_id in job_ids],
            )

    def release(self, job_id: str, owner: str, reason: str, max_attempts: int) -> None:
        """A running job whose process stopped short: queued again to resume, or failed after max_attempts."""
        with self._transaction() as con:
            self._release(con, job_id, owner, reason, max_attempts)

    def recover(self, stale_s: float, max_attempts: int) -> list[str]:
        """Running jobs whose owner has not been heard from for `stale_s` (a crash): released."""
        with self._transaction() as con:
            rows = con.execute(
                "SELECT job_id, owner FROM jobs WHERE status = ? AND heartbeat < ?",
                (Status.RUNNING, time.time() - stale_s),
            ).fetchall()
            for row in rows:
                self._release(con, row["job_id"], row["owner"], "the worker running it stopped", max_attempts)
        return [row["job_id"] for row in rows]

    @staticmethod
    def _release(con: sqlite3.Connection, job_id: str, owner: str, reason: str, max_attempts: int) -> None:
        con.execute(
            "UPDATE jobs SET status = CASE WHEN attempts >= ? THEN ? ELSE ? END,"
            " reason = CASE WHEN attempts >= ? THEN ? ELSE reason END,"
            " finished_at = CASE WHEN attempts >= ? THEN ? ELSE NULL END, owner = NULL"
            " WHERE job_id = ? AND owner = ? AND status = ?",
            (
                max_attempts, Status.FAILED, Status.QUEUED,
                max_attempts, f"{reason}, {max_attempts} times",
                max_attempts, time.time(),
                job_id, owner, Status.RUNNING,
            ),
        )  # fmt: skip

    def update(self, job_id: str, owner: str, **changes: Any) -> bool:
        """Change a job this owner runs; False when it no longer does (cancelled, or taken over)."""
        if changes.get("status") in (Status.SUCCEEDED, Status.FAILED):
            changes["finished_at"] = time.time()
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._transaction() as con:
            cursor = con.execute(
                f"UPDATE jobs SET {assignments}, heartbeat = ? WHERE job_id = ? AND owner = ? AND status = ?",
                (*changes.values(), time.time(), job_id, owner, Status.RUNNING),
            )
        return cursor.rowcount == 1

    def finished_before(self, t: float) -> list[Record]:
        with self._transaction() as con:
            rows = con.execute(f"SELECT * FROM jobs WHERE status NOT IN {ACTIVE} AND finished_at < ?", (t,)).fetchall()
        return [_record(row) for row in rows]

    def active(self) -> tuple[int, int]:
        con = sqlite3.connect(self.path, timeout=10)  # a read: WAL readers take no lock
        try:
            counts = dict(con.execute(f"SELECT status, COUNT(*) FROM jobs WHERE status IN {ACTIVE} GROUP BY status"))
        finally:
            con.close()
        return counts.get(Status.QUEUED.value, 0), counts.get(Status.RUNNING.value, 0)


def _row(record: Record) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in COLUMNS)
