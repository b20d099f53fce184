"""The job table in Redis (REDIS_URL): the same operations as the SQLite table, for replicas that share
one DATA_DIR volume. A job is a hash; sorted sets index jobs by creation, queued, running (by heartbeat)
and finished (by end). Every change that reads before it writes is one Lua script, so it is atomic.
Keys are built inside the scripts: a single Redis (or a primary with replicas), not Redis Cluster."""

from __future__ import annotations

import time
from typing import Any

import redis

from .schemas import Format, Status
from .table import JobTable, Record

PREFIX = "purchase:jobs:"
NEWEST_PAGE = 500
INTS = {"input_bytes", "chunk_rows", "rows_total", "rows_done", "rows_failed", "attempts"}
FLOATS = {"input_mtime", "threshold", "as_of", "heartbeat", "created_at", "started_at", "finished_at"}
# KEYS: job hash, created, queued, running, finished. Shared by the scripts below.
MOVE = """
local function move(job, status, now, reason)
  redis.call('ZREM', KEYS[3], job) redis.call('ZREM', KEYS[4], job)
  redis.call('HSET', KEYS[1], 'status', status)
  if status == 'queued' then
    redis.call('ZADD', KEYS[3], redis.call('HGET', KEYS[1], 'created_at'), job)
    redis.call('HDEL', KEYS[1], 'owner')
  else
    redis.call('HSET', KEYS[1], 'finished_at', now)
    if reason ~= '' then redis.call('HSET', KEYS[1], 'reason', reason) end
    redis.call('ZADD', KEYS[5], now, job)
  end
end
"""
CLAIM = """
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[2]) then return nil end
local first = redis.call('ZRANGE', KEYS[3], 0, 0)[1]
if not first then return nil end
local job, now = ARGV[3] .. first, ARGV[4]
redis.call('ZREM', KEYS[3], first)
redis.call('ZADD', KEYS[4], now, first)
redis.call('HSET', job, 'status', 'running', 'owner', ARGV[1], 'heartbeat', now)
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('HSETNX', job, 'started_at', now)
return first
"""
OURS = "redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'status') == 'running'"
UPDATE = f"""{MOVE}
if not ({OURS}) then return 0 end
local now = ARGV[3]
for i = 4, #ARGV, 2 do
  if ARGV[i] ~= 'status' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'heartbeat', now)
redis.call('ZADD', KEYS[4], now, ARGV[2])
for i = 4, #ARGV, 2 do
  if ARGV[i] == 'status' then move(ARGV[2], ARGV[i + 1], now, redis.call('HGET', KEYS[1], 'reason') or '') end
end
return 1
"""
RELEASE = f"""{MOVE}
if not ({OURS}) then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'attempts')) >= tonumber(ARGV[4]) then
  move(ARGV[2], 'failed', ARGV[3], ARGV[5] .. ', ' .. ARGV[4] .. ' times')
else
  move(ARGV[2], 'queued', ARGV[3], '')
end
return 1
"""
CANCEL = f"""{MOVE}
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'running' then move(ARGV[1], 'cancelled', ARGV[2], ARGV[3]) end
return 1
"""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


def _record(fields: dict[str, str]) -> Record:
    values: dict[str, Any] = {}
    for name, text in fields.items():
        if name in INTS:
            values[name] = int(text)
        elif name in FLOATS:
            values[name] = float(text)
        else:
            values[name] = text
    values.update(status=Status(values["status"]), input_format=Format(values["input_format"]))
    values["uploaded"] = values["uploaded"] == "1"
    return Record(**values)


class RedisJobTable(JobTable):
    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        # decode_responses: every reply is str, which redis-py's stubs cannot know.
        self.client: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        self.prefix = prefix
        self.sets = [prefix + name for name in ("created", "queued", "running", "finished")]
        self._claim = self.client.register_script(CLAIM)
        self._update = self.client.register_script(UPDATE)
        self._release = self.client.register_script(RELEASE)
        self._cancel = self.client.register_script(CANCEL)

    def _keys(self, job_id: str) -> list[str]:
        return [self.prefix + job_id, *self.sets]

    def add(self, record: Record) -> None:
        fields = {name: _text(value) for name, value in vars(record).items() if value is not None}
        with self.client.pipeline() as pipe:  # MULTI/EXEC: both or neither
            pipe.hset(self.prefix + record.job_id, mapping=fields)
            pipe.zadd(self.sets[0], {record.job_id: record.created_at})
            pipe.zadd(self.sets[1], {record.job_id: record.created_at})
            pipe.execute()

    def get(self, job_id: str) -> Record | None:
        fields = self.client.hgetall(self.prefix + job_id)
        return _record(fields) if fields else None

    def _many(self, job_ids: list[str]) -> list[Record]:
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hgetall(self.prefix + job_id)
            return [_record(fields) for fields in pipe.execute() if fields]

    def newest(self, limit: int, submitter: str | None = None) -> list[Record]:
        if submitter is None:
            return self._many(self.client.zrevrange(self.sets[0], 0, limit - 1))
        found: list[Record] = []
        start = 0
        while True:  # a page at a time: the table holds only the jobs within their retention
            job_ids = self.client.zrevrange(self.sets[0], start, start + NEWEST_PAGE - 1)
            found += [record for record in self._many(job_ids) if record.submitter == submitter]
            if len(found) >= limit or len(job_ids) < NEWEST_PAGE:
                return found[:limit]
            start += NEWEST_PAGE

    def cancel(self, job_id: str, reason: str) -> Record | None:
        self._cancel(keys=self._keys(job_id), args=[job_id, _text(time.time()), reason])
        return self.get(job_id)

    def delete(self, job_id: str) -> None:
        with self.client.pipeline() as pipe:
            pipe.delete(self.prefix + job_id)
            for key in self.sets:
                pipe.zrem(key, job_id)
            pipe.execute()

    def claim(self, owner: str, concurrency: int) -> Record | None:
        args: list[str | int] = [owner, concurrency, self.prefix, _text(time.time())]
        job_id = self._claim(keys=self._keys(""), args=args)
        return self.get(job_id) if job_id else None

    def heartbeat(self, owner: str, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self._update(keys=self._keys(job_id), args=[owner, job_id, _text(time.time())])

    def release(self, job_id: str, owner: str, reason: str, max_attempts: int) -> None:
        self._release(keys=self._keys(job_id), args=[owner, job_id, _text(time.time()), max_attempts, reason])

    def recover(self, stale_s: float, max_attempts: int) -> list[str]:
        stale = self.client.zrangebyscore(self.sets[2], "-inf", f"({time.time() - stale_s!r}")
        released = []
        for record in self._many(stale):
            if record.owner is not None and record.status is Status.RUNNING:
                self.release(record.job_id, record.owner, "the worker running it stopped", max_attempts)
                released.append(record.job_id)
        return released

    def update(self, job_id: str, owner: str, **changes: Any) -> bool:
        pairs: list[str] = [_text(part) for name, value in changes.items() for part in (name, value)]
        return bool(self._update(keys=self._keys(job_id), args=[owner, job_id, _text(time.time()), *pairs]))

    def finished_before(self, t: float) -> list[Record]:
        return self._many(self.client.zrangebyscore(self.sets[3], "-inf", f"({t!r}"))

    def active(self) -> tuple[int, int]:
        with self.client.pipeline(transaction=False) as pipe:
            queued, running = pipe.zcard(self.sets[1]).zcard(self.sets[2]).execute()
        return int(queued), int(running)
