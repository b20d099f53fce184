"""Every worker of every replica meets in Redis (REDIS_URL): the committed target, the open proposal,
a hash of heartbeats, a lock that serializes changes, and each server's request counts."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, replace

import redis.asyncio as redis
from redis.exceptions import RedisError

from ...errors import FleetUnavailable
from .files import process_key
from .target import PREPARE_TIMEOUT_S, Target, WorkerState

PREFIX = "purchase:fleet:"
LOCK_S = 60.0  # a change holds the lock at most this long (a crashed holder's lock expires)
LOCK_WAIT_S = 60.0
FORGET_S = 60.0  # heartbeats older than this are removed from the hash
COUNTS_FORGET_S = 86_400.0  # a server's counts, this long after its last share (each restart is a new server)
RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# Commit only while still holding the lock: a holder that outlived it must not overwrite a later change.
COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
"""
WITHDRAW = """
local open = redis.call('GET', KEYS[1])
if open and cjson.decode(open)['change'] == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise FleetUnavailable(f"the fleet's shared state (Redis) cannot be reached: {exc}") from None


class RedisFleet:
    shares_counts = True

    def __init__(self, client: redis.Redis, worker: int) -> None:
        self._client = client
        self.replica = f"{socket.gethostname()}/{process_key(os.getppid())}"
        self.worker = f"{self.replica}/{worker}"
        self._lock_token: str | None = None
        self._commit = client.register_script(COMMIT)
        self._release = client.register_script(RELEASE)
        self._withdraw = client.register_script(WITHDRAW)

    async def snapshot(self) -> tuple[Target | None, Target | None]:
        with _unavailable():
            target, proposal = await self._client.mget(PREFIX + "target", PREFIX + "proposal")
        return _target(target), _target(proposal)

    async def propose(self, target: Target) -> None:
        with _unavailable():
            # Expires, so a proposal whose maker died does not stay open.
            await self._client.set(PREFIX + "proposal", json.dumps(target.as_dict()), px=int(PREPARE_TIMEOUT_S * 2000))

    async def withdraw(self, change: str) -> None:
        with _unavailable():
            await self._withdraw(keys=[PREFIX + "proposal"], args=[change])

    async def commit(self, target: Target) -> Target:
        with _unavailable():
            current = _target(await self._client.get(PREFIX + "target"))
            generation = max(current.generation if current else 0, target.generation) + 1
            committed = replace(target, generation=generation, published_at=time.time())
            keys = [PREFIX + "lock", PREFIX + "target", PREFIX + "proposal"]
            done = await self._commit(keys=keys, args=[self._lock_token or "", json.dumps(committed.as_dict())])
        if not done:
            raise FleetUnavailable("the change outlived its lock on the fleet: nothing was committed")
        return committed

    async def report(self, state: WorkerState) -> None:
        with _unavailable():
            await self._client.hset(PREFIX + "workers", self.worker, json.dumps(asdict(state)))

    async def live(self) -> list[WorkerState]:
        with _unavailable():
            raw = await self._client.hgetall(PREFIX + "workers")
        now, states, gone = time.time(), [], []
        for worker, data in raw.items():
            state = WorkerState.from_dict(json.loads(data))
            if state.alive(now):
                states.append(state)
            elif now - state.at > FORGET_S:
                gone.append(worker)
        if gone:
            with _unavailable():
                await self._client.hdel(PREFIX + "workers", *gone)
        return states

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        token, deadline = uuid.uuid4().hex, time.monotonic() + LOCK_WAIT_S
        with _unavailable():
            while not await self._client.set(PREFIX + "lock", token, nx=True, px=int(LOCK_S * 1000)):
                if time.monotonic() > deadline:
                    raise FleetUnavailable("another model change is still in progress")
                await asyncio.sleep(0.05)
        self._lock_token = token
        try:
            yield
        finally:
            self._lock_token = None
            try:
                await self._release(keys=[PREFIX + "lock"], args=[token])
            except RedisError:
                pass  # the lock expires on its own

    async def share_counts(self, counts: dict[str, dict[str, float]]) -> None:
        """Each server's cumulative counts under its own field: their sum is the fleet's, replicas
        gone included (for COUNTS_FORGET_S), and a restarted worker cannot count anything twice."""
        shared = json.dumps({"at": time.time(), "counts": counts})
        with _unavailable():
            async with self._client.pipeline() as pipe:  # a fleet gone altogether leaves nothing behind
                pipe.hset(PREFIX + "counts", self.replica, shared)
                pipe.expire(PREFIX + "counts", int(COUNTS_FORGET_S))
                await pipe.execute()

    async def fleet_counts(self) -> dict[str, dict[str, float]] | None:
        with _unavailable():
            raw = await self._client.hgetall(PREFIX + "counts")
        totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        now, gone = time.time(), []
        for server, data in raw.items():
            shared = json.loads(data)
            if now - shared.get("at", 0.0) > COUNTS_FORGET_S:  # no "at": written before counts expired
                gone.append(server)
                continue
            for version, counts in shared["counts"].items():
                for name, value in counts.items():
                    totals[version][name] += value
        if gone:
            with _unavailable():
                await self._client.hdel(PREFIX + "counts", *gone)
        return {version: dict(counts) for version, counts in totals.items()}

    async def close(self) -> None:
        await self._client.aclose()


def _target(raw: str | bytes | None) -> Target | None:
    return None if raw is None else Target.from_dict(json.loads(raw))
