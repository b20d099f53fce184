"""The outcome log in Redis (REDIS_URL): one log for every replica, so the fleet judges as one.

Predictions are one sorted set by time (each member a unique id and the record); purchases a sorted set
per (user, item) of event ids by time, so a purchase sent twice is one member. Kept `retention_s`
behind the newest prediction, as the embedded log."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import cast

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..online.records import SEPARATOR, unavailable_on
from .records import Judged, Purchase, Usage

PREFIX = "purchase:outcomes:"
PREDICTIONS = PREFIX + "predictions"
EVENTS_UNTIL = PREFIX + "events_until"  # a sorted set of one member: ZADD GT keeps the maximum atomically


class RedisLog:
    def __init__(self, url: str, retention_s: float, timeout_s: float) -> None:
        self.retention_s = retention_s
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )

    async def add(self, predictions: Sequence[Judged]) -> None:
        batch = os.urandom(6).hex()  # members must differ even for the same prediction made twice
        members = {
            SEPARATOR.join(
                (f"{batch}.{k}", p.user_id, p.item_id, p.version, p.arm, str(p.segment), repr(p.probability))
            ): p.t
            for k, p in enumerate(predictions)
        }
        cutoff = max(p.t for p in predictions) - self.retention_s
        with unavailable_on(RedisError, store="the outcome log"):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zadd(PREDICTIONS, members)
                pipe.zremrangebyscore(PREDICTIONS, "-inf", f"({cutoff!r}")
                await pipe.execute()

    async def purchases(self, purchases: Sequence[Purchase], newest: float) -> None:
        ttl = math.ceil(self.retention_s)
        with unavailable_on(RedisError, store="the outcome log"):
            async with self._client.pipeline(transaction=True) as pipe:
                for p in purchases:
                    key = _pair_key(p.user_id, p.item_id)
                    pipe.zadd(key, {p.event_id: p.t})
                    pipe.expire(key, ttl)
                pipe.zadd(EVENTS_UNTIL, {"t": newest}, gt=True)  # only ever forward
                await pipe.execute()

    async def events_until(self) -> float | None:
        with unavailable_on(RedisError, store="the outcome log"):
            value = await self._client.zscore(EVENTS_UNTIL, "t")
        return None if value is None else float(value)

    async def matured(self, start: float, end: float, horizon_s: float) -> list[tuple[Judged, int]]:
        with unavailable_on(RedisError, store="the outcome log"):
            replies = cast(
                list[tuple[str, float]],
                await self._client.zrangebyscore(PREDICTIONS, repr(start), repr(end), withscores=True),
            )
            records = [_judged(member, t) for member, t in replies]
            pairs = list(dict.fromkeys((r.user_id, r.item_id) for r in records))
            async with self._client.pipeline(transaction=False) as pipe:
                for user, item in pairs:
                    pipe.zrangebyscore(_pair_key(user, item), repr(start), f"({end + horizon_s!r}", withscores=True)
                bought = dict(zip(pairs, await pipe.execute()))
        return [(r, int(any(r.t <= t < r.t + horizon_s for _, t in bought[r.user_id, r.item_id]))) for r in records]

    async def usage(self) -> Usage:
        with unavailable_on(RedisError, store="the outcome log"):
            count = await self._client.zcard(PREDICTIONS)
            size = await self._client.memory_usage(PREDICTIONS) if count else 0
        return Usage(int(count), int(size or 0))

    async def close(self) -> None:
        await self._client.aclose()


def _pair_key(user_id: str, item_id: str) -> str:
    return f"{PREFIX}b:{user_id}{SEPARATOR}{item_id}"


def _judged(member: str, t: float) -> Judged:
    _, user, item, version, arm, segment, probability = member.split(SEPARATOR)
    return Judged(t, user, item, version, arm, int(segment), float(probability))
