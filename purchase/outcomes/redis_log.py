"""The outcome log in Redis (REDIS_URL): one log for every replica, so the fleet judges as one.

Predictions are one sorted set by time (each member a unique id and the record); purchases a sorted set
per (user, item) of event ids by time, so a purchase sent twice is one member. Kept `retention_s`
behind the newest prediction, as the embedded log. The rows past it are taken out by one script (each
by one replica only) and added to the daily history, one hash of sums (HINCRBYFLOAT adds atomically)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import cast

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..online.records import SEPARATOR, unavailable_on
from .history import WIDTH, DailyExpiry, Key, expired, summarise
from .records import Judged, Purchase, Usage

PREFIX = "purchase:outcomes:"
PREDICTIONS = PREFIX + "predictions"
EVENTS_UNTIL = PREFIX + "events_until"  # a sorted set of one member: ZADD GT keeps the maximum atomically
HISTORY = PREFIX + "history"  # field: day, version, arm and the sum's index; value: the sum
TAKE_EXPIRED = """
local rows = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
if #rows > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return rows
"""


class RedisLog:
    def __init__(self, url: str, retention_s: float, horizon_s: float, timeout_s: float) -> None:
        self.retention_s = retention_s
        self.horizon_s = horizon_s
        self._expiry = DailyExpiry()
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._take_expired = self._client.register_script(TAKE_EXPIRED)

    async def add(self, predictions: Sequence[Judged]) -> None:
        batch = os.urandom(6).hex()  # members must differ even for the same prediction made twice
        members = {
            SEPARATOR.join(
                (f"{batch}.{k}", p.user_id, p.item_id, p.version, p.arm, str(p.segment), repr(p.probability))
            ): p.t
            for k, p in enumerate(predictions)
        }
        newest = max(p.t for p in predictions)
        with unavailable_on(RedisError, store="the outcome log"):
            await self._client.zadd(PREDICTIONS, members)
            replies = await self._take_expired(keys=[PREDICTIONS], args=[f"({newest - self.retention_s!r}"])
            if replies:
                flat = cast(list[str], replies)
                await self._summarise([_judged(m, float(t)) for m, t in zip(flat[::2], flat[1::2])], newest)

    async def _summarise(self, dropped: list[Judged], newest: float) -> None:
        """Rows this replica took out, labelled and added to their days' sums (a replica that dies here
        loses this batch's sums)."""
        labelled = await self._labelled(dropped, min(r.t for r in dropped), max(r.t for r in dropped))
        async with self._client.pipeline(transaction=True) as pipe:
            for (day, version, arm), sums in summarise(labelled).items():
                for k, value in enumerate(sums):
                    pipe.hincrbyfloat(HISTORY, SEPARATOR.join((str(day), version, arm, str(k))), value)
            await pipe.execute()
        old = expired(await self.history(), newest) if self._expiry.due(newest) else []
        if old:
            fields = [SEPARATOR.join((str(d), v, a, str(k))) for d, v, a in old for k in range(WIDTH)]
            await self._client.hdel(HISTORY, *fields)

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
            return await self._labelled([_judged(member, t) for member, t in replies], start, end, horizon_s)

    async def _labelled(
        self, records: list[Judged], start: float, end: float, horizon_s: float | None = None
    ) -> list[tuple[Judged, int]]:
        """Each record (made in [start, end]) with its label, from the purchases of its pair."""
        horizon = self.horizon_s if horizon_s is None else horizon_s
        pairs = list(dict.fromkeys((r.user_id, r.item_id) for r in records))
        async with self._client.pipeline(transaction=False) as pipe:
            for user, item in pairs:
                pipe.zrangebyscore(_pair_key(user, item), repr(start), f"({end + horizon!r}", withscores=True)
            bought = dict(zip(pairs, await pipe.execute()))
        return [(r, int(any(r.t <= t < r.t + horizon for _, t in bought[r.user_id, r.item_id]))) for r in records]

    async def history(self) -> dict[Key, list[float]]:
        with unavailable_on(RedisError, store="the outcome log"):
            fields = cast(dict[str, str], await self._client.hgetall(HISTORY))
        out: dict[Key, list[float]] = {}
        for field, value in fields.items():
            day, version, arm, k = field.split(SEPARATOR)
            out.setdefault((int(day), version, arm), [0.0] * WIDTH)[int(k)] = float(value)
        return out

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
