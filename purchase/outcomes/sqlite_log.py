"""The embedded outcome log: one SQLite file in WAL mode, shared by every worker of a machine.

The label is computed when asked, from the purchases held then: a late purchase still counts, and a
purchase sent twice (same event id) is one row. Rows past the retention are summed into the daily
history in the transaction that drops them."""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio

from ..online.records import unavailable_on
from ..sqlite_wal import WalFile
from .history import DailyExpiry, Key, expired, merged, summarise
from .records import Judged, Purchase, Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    t REAL, user_id TEXT, item_id TEXT, version TEXT, arm TEXT, segment INTEGER, probability REAL);
CREATE INDEX IF NOT EXISTS predictions_t ON predictions (t);
CREATE TABLE IF NOT EXISTS purchases (
    user_id TEXT, item_id TEXT, event_id TEXT, t REAL, PRIMARY KEY (user_id, item_id, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS purchases_t ON purchases (t);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL);
CREATE TABLE IF NOT EXISTS history (
    day INTEGER, version TEXT, arm TEXT, sums TEXT, PRIMARY KEY (day, version, arm)) WITHOUT ROWID;
"""
MATURED = """
SELECT p.t, p.user_id, p.item_id, p.version, p.arm, p.segment, p.probability,
    EXISTS (SELECT 1 FROM purchases b WHERE b.user_id = p.user_id AND b.item_id = p.item_id
            AND b.t >= p.t AND b.t < p.t + :horizon)
FROM predictions p WHERE p.t >= :start AND p.t <= :end ORDER BY p.t, p.rowid
"""
T = TypeVar("T")


class SqliteLog:
    def __init__(self, path: Path, retention_s: float, horizon_s: float, timeout_s: float) -> None:
        self.path = path
        self.retention_s = retention_s  # behind the newest prediction: horizon, window and a margin
        self.horizon_s = horizon_s
        self._expiry = DailyExpiry()
        self._file = WalFile(path, timeout_s, SCHEMA)

    async def _run(self, function: Callable[[], T]) -> T:
        with unavailable_on(sqlite3.Error, store="the outcome log"):
            return await anyio.to_thread.run_sync(function)

    async def add(self, predictions: Sequence[Judged]) -> None:
        await self._run(functools.partial(self._add, predictions))

    def _add(self, predictions: Sequence[Judged]) -> None:
        with self._file.writing() as con:
            con.executemany(
                "INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(p.t, p.user_id, p.item_id, p.version, p.arm, p.segment, p.probability) for p in predictions],
            )
            newest = max(p.t for p in predictions)
            cutoff = newest - self.retention_s
            self._summarise(con, math.nextafter(cutoff, -math.inf), newest)
            con.execute("DELETE FROM predictions WHERE t < ?", (cutoff,))
            con.execute("DELETE FROM purchases WHERE t < ?", (cutoff,))

    def _summarise(self, con: sqlite3.Connection, before: float, newest: float) -> None:
        """The rows about to be dropped, added to their days' sums."""
        dropped = [
            (Judged(*row[:7]), int(row[7]))
            for row in con.execute(MATURED, {"start": -math.inf, "end": before, "horizon": self.horizon_s})
        ]
        if not dropped:
            return
        for (day, version, arm), sums in summarise(dropped).items():
            row = con.execute(
                "SELECT sums FROM history WHERE day = ? AND version = ? AND arm = ?", (day, version, arm)
            ).fetchone()
            total = merged(None if row is None else json.loads(row[0]), sums)
            con.execute("INSERT OR REPLACE INTO history VALUES (?, ?, ?, ?)", (day, version, arm, json.dumps(total)))
        if self._expiry.due(newest):
            old = expired((tuple(k) for k in con.execute("SELECT day, version, arm FROM history")), newest)
            con.executemany("DELETE FROM history WHERE day = ? AND version = ? AND arm = ?", old)

    async def purchases(self, purchases: Sequence[Purchase], newest: float) -> None:
        rows = [(p.user_id, p.item_id, p.event_id, p.t) for p in purchases]

        def write() -> None:
            with self._file.writing() as con:
                con.executemany("INSERT OR IGNORE INTO purchases VALUES (?, ?, ?, ?)", rows)
                con.execute(
                    "INSERT INTO meta VALUES ('events_until', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                    (newest,),
                )

        await self._run(write)

    async def events_until(self) -> float | None:
        def read() -> float | None:
            row = self._file.connection().execute("SELECT value FROM meta WHERE key = 'events_until'").fetchone()
            return None if row is None else float(row[0])

        return await self._run(read)

    async def matured(self, start: float, end: float, horizon_s: float) -> list[tuple[Judged, int]]:
        def query() -> list[tuple[Judged, int]]:
            cursor = self._file.connection().execute(MATURED, {"start": start, "end": end, "horizon": horizon_s})
            return [(Judged(*row[:7]), int(row[7])) for row in cursor]

        return await self._run(query)

    async def history(self) -> dict[Key, list[float]]:
        def read() -> dict[Key, list[float]]:
            rows = self._file.connection().execute("SELECT day, version, arm, sums FROM history")
            return {(day, version, arm): json.loads(sums) for day, version, arm, sums in rows}

        return await self._run(read)

    async def usage(self) -> Usage:
        def measure() -> Usage:
            (count,) = self._file.connection().execute("SELECT count(*) FROM predictions").fetchone()
            files = (self.path, self.path.with_name(self.path.name + "-wal"))
            return Usage(int(count), sum(f.stat().st_size for f in files if f.exists()))

        return await self._run(measure)

    async def close(self) -> None:
        """Connections belong to the threads that opened them and close with the process."""
