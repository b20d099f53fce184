"""The embedded online store: one SQLite file in WAL mode, shared by every worker of a machine.

Writes run in a worker thread with a connection of its own and take the lock up front
(`sqlite_wal.WalFile.writing`); lookups run in place.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import anyio

from ..sqlite_wal import WalFile
from .definitions import DAY_S, LOOKAHEAD_DAYS, ItemPrices, PricePoint, UserEvent, base_window, window_start
from .records import Lookup, StoredEvent, WriteResult, unavailable_on

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_events (
    user_id TEXT, event_id TEXT, t REAL, event_type TEXT, item_id TEXT, session TEXT,
    PRIMARY KEY (user_id, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_events_t ON user_events (t);
CREATE TABLE IF NOT EXISTS item_events (
    item_id TEXT, event_id TEXT, t REAL, price REAL, category_code TEXT,
    PRIMARY KEY (item_id, event_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS item_events_t ON item_events (item_id, t);
CREATE INDEX IF NOT EXISTS item_events_age ON item_events (t);
CREATE TABLE IF NOT EXISTS item_day_max (
    item_id TEXT, day INTEGER, price REAL, PRIMARY KEY (item_id, day)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL);
"""
USERS_QUERY = """
SELECT user_id, t, event_type, item_id, session FROM user_events
WHERE user_id IN (SELECT value FROM json_each(?)) AND t >= ? AND t < ?
"""
# Every item in one statement: each column is an index seek on (item_id, t), all inside SQLite.
_LAST = "FROM item_events e WHERE e.item_id = w.value AND e.t >= :start AND e.t < :t ORDER BY e.t DESC LIMIT 1"
_FIRST = "FROM item_events e WHERE e.item_id = w.value AND e.t >= :t AND e.t < :ahead ORDER BY e.t LIMIT 1"
ITEMS_QUERY = f"""
SELECT w.value,
    (SELECT e.t {_LAST}), (SELECT e.price {_LAST}), (SELECT e.category_code {_LAST}),
    (SELECT e.t {_FIRST}), (SELECT e.price {_FIRST}), (SELECT e.category_code {_FIRST}),
    (SELECT max(d.price) FROM item_day_max d WHERE d.item_id = w.value AND d.day >= :first_day AND d.day < :last_day)
FROM json_each(:items) w
"""
PRUNE_EVERY_S = 86_400.0  # of event time: old rows go once a day, not on every write


class SqliteStore:
    def __init__(self, path: Path, retention_s: float, timeout_s: float) -> None:
        self.path = path
        self.retention_s = retention_s
        self.timeout_s = timeout_s
        # One writer per process at a time: the others wait here, not on SQLite's lock (and its timeout).
        self._writing = anyio.Lock()
        self._file = WalFile(path, timeout_s, SCHEMA)

    async def write(self, events: Sequence[StoredEvent]) -> WriteResult:
        async with self._writing:
            return await self._run(self._write, events)

    async def lookup(self, users: Sequence[str], items: Sequence[str], t: float) -> Lookup:
        """On the event loop: a read in WAL mode waits for no writer, and a handoff to a thread cost more
        than the two statements."""
        with unavailable_on(sqlite3.Error):
            return self._lookup(users, items, t)

    async def newest(self) -> float | None:
        return await self._run(self._newest)

    def _newest(self) -> float | None:
        row = self._file.connection().execute("SELECT value FROM meta WHERE key = 'watermark'").fetchone()
        return None if row is None else float(row[0])

    async def close(self) -> None:
        """Connections belong to the threads that opened them and close with the process."""

    async def _run(self, function, *args):  # type: ignore[no-untyped-def]
        with unavailable_on(sqlite3.Error):
            return await anyio.to_thread.run_sync(function, *args)

    def _write(self, events: Sequence[StoredEvent]) -> WriteResult:
        with self._file.writing() as con:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            watermark = max(meta.get("watermark", -math.inf), max(e.t for e in events))
            cutoff = watermark - self.retention_s
            kept = [e for e in events if e.t >= cutoff]
            before = con.total_changes
            con.executemany(
                "INSERT OR IGNORE INTO user_events VALUES (?, ?, ?, ?, ?, ?)",
                [(e.user_id, e.event_id, e.t, e.event_type, e.item_id, e.session) for e in kept],
            )
            new = con.total_changes - before
            con.executemany(
                "INSERT OR IGNORE INTO item_events VALUES (?, ?, ?, ?, ?)",
                [(e.item_id, e.event_id, e.t, e.price, e.category_code) for e in kept],
            )
            con.executemany(
                "INSERT INTO item_day_max VALUES (?, ?, ?) "
                "ON CONFLICT (item_id, day) DO UPDATE SET price = max(price, excluded.price)",
                [(e.item_id, math.floor(e.t / DAY_S), e.price) for e in kept],
            )
            con.execute("INSERT OR REPLACE INTO meta VALUES ('watermark', ?)", (watermark,))
            if cutoff >= meta.get("pruned_at", -math.inf) + PRUNE_EVERY_S:
                self._prune(con, cutoff)
        return WriteResult(stored=new, duplicates=len(kept) - new, expired=len(events) - len(kept))

    @staticmethod
    def _prune(con: sqlite3.Connection, cutoff: float) -> None:
        con.execute("DELETE FROM user_events WHERE t < ?", (cutoff,))
        con.execute("DELETE FROM item_events WHERE t < ?", (cutoff,))
        con.execute("DELETE FROM item_day_max WHERE (day + 1) * ? <= ?", (DAY_S, cutoff))
        con.execute("INSERT OR REPLACE INTO meta VALUES ('pruned_at', ?)", (cutoff,))

    def _lookup(self, users: Sequence[str], items: Sequence[str], t: float) -> Lookup:
        con = self._file.connection()
        start = window_start(t)
        by_user: dict[str, list[UserEvent]] = {user: [] for user in users}
        for user, *event in con.execute(USERS_QUERY, (json.dumps(list(by_user)), start, t)):
            by_user[user].append(UserEvent(*event))
        base_start, base_end = base_window(t)
        wanted = list(dict.fromkeys(items))
        rows = con.execute(
            ITEMS_QUERY,
            {
                "items": json.dumps(wanted),
                "start": start,
                "t": t,
                "ahead": t + LOOKAHEAD_DAYS * DAY_S,
                "first_day": round(base_start / DAY_S),
                "last_day": round(base_end / DAY_S),
            },
        )
        by_item = {
            item: ItemPrices(
                PricePoint(lt, lp, lc) if lt is not None else None,
                PricePoint(ft, fp, fc) if ft is not None else None,
                window_max,
            )
            # By position, not by SQLite's copy of the id: that one ends at a NUL character.
            for item, (_, lt, lp, lc, ft, fp, fc, window_max) in zip(wanted, rows, strict=True)
        }
        return Lookup(by_user, by_item)
