"""The online store in Redis (REDIS_URL), shared by every replica.

Per user a sorted set of events by time; per item a sorted set of price points and a hash of each
day's highest price. A write is one Lua script (atomic: all or nothing, one round trip), and so is a
lookup, whatever the number of items. Keys are built inside the script, so it needs a single
Redis (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from .definitions import DAY_S, LOOKAHEAD_DAYS, ItemPrices, PricePoint, UserEvent, base_window, window_start
from .records import SEPARATOR, Lookup, StoredEvent, WriteResult, unavailable_on

PREFIX = "purchase:features:"
FIELDS_PER_EVENT = 6
WRITE = """
local prefix, retention, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local n = (#ARGV - 3) / 6
local watermark = tonumber(redis.call('GET', prefix .. 'watermark')) or -math.huge
for i = 0, n - 1 do watermark = math.max(watermark, tonumber(ARGV[4 + i * 6])) end
local cutoff = watermark - retention
local stored, expired, users, items = 0, 0, {}, {}
for i = 0, n - 1 do
  local b = 4 + i * 6
  local t, user, item, price = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 5]
  if tonumber(t) < cutoff then
    expired = expired + 1
  else
    stored = stored + redis.call('ZADD', prefix .. 'u:' .. user, 'NX', t, ARGV[b + 3])
    redis.call('ZADD', prefix .. 'i:' .. item, 'NX', t, ARGV[b + 4])
    local days, day = prefix .. 'd:' .. item, tostring(math.floor(tonumber(t) / 86400))
    local known = tonumber(redis.call('HGET', days, day))
    if known == nil or tonumber(price) > known then redis.call('HSET', days, day, price) end
    users[user], items[item] = true, true
  end
end
local below = '(' .. string.format('%.6f', cutoff)
for user in pairs(users) do
  local key = prefix .. 'u:' .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', below)
  redis.call('EXPIRE', key, ttl)
end
for item in pairs(items) do
  local key, days = prefix .. 'i:' .. item, prefix .. 'd:' .. item
  redis.call('ZREMRANGEBYSCORE', key, '-inf', below)
  for _, day in ipairs(redis.call('HKEYS', days)) do
    if (tonumber(day) + 1) * 86400 <= cutoff then redis.call('HDEL', days, day) end
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('EXPIRE', days, ttl)
end
redis.call('SET', prefix .. 'watermark', string.format('%.6f', watermark))
return {stored, expired}
"""


# ARGV: prefix, window start, t, look-ahead end, first and last day of the base window, user count,
# then the users and the items. Per user: [member, score, ...]; per item: the last event before t,
# the first at or after it (member, score; false when none) and the base window's highest price.
LOOKUP = """
local prefix, start, t, ahead = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local first_day, last_day, n_users = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local out = {}
for i = 8, 7 + n_users do
  out[#out + 1] = redis.call('ZRANGEBYSCORE', prefix .. 'u:' .. ARGV[i], start, '(' .. t, 'WITHSCORES')
end
local days = {}
for day = first_day, last_day - 1 do days[#days + 1] = tostring(day) end
for i = 8 + n_users, #ARGV do
  local key = prefix .. 'i:' .. ARGV[i]
  local last = redis.call('ZREVRANGEBYSCORE', key, '(' .. t, start, 'WITHSCORES', 'LIMIT', 0, 1)
  local first = redis.call('ZRANGEBYSCORE', key, t, '(' .. ahead, 'WITHSCORES', 'LIMIT', 0, 1)
  local highest = false
  for _, price in ipairs(redis.call('HMGET', prefix .. 'd:' .. ARGV[i], unpack(days))) do
    if price and (not highest or tonumber(price) > tonumber(highest)) then highest = price end
  end
  out[#out + 1] = {last, first, highest}
end
return out
"""


class RedisStore:
    def __init__(self, url: str, retention_s: float, timeout_s: float) -> None:
        self.retention_s = retention_s
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        self._write = self._client.register_script(WRITE)
        self._lookup = self._client.register_script(LOOKUP)

    async def write(self, events: Sequence[StoredEvent]) -> WriteResult:
        args: list[Any] = [PREFIX, repr(self.retention_s), str(math.ceil(self.retention_s))]
        for e in events:
            args += [
                repr(e.t),
                e.user_id,
                e.item_id,
                SEPARATOR.join((e.event_id, e.event_type, e.item_id, e.session or "")),
                SEPARATOR.join((e.event_id, repr(e.price), e.category_code or "")),
                repr(e.price),
            ]
        with unavailable_on(RedisError):
            stored, expired = await self._write(args=args)
        return WriteResult(stored=stored, duplicates=len(events) - stored - expired, expired=expired)

    async def lookup(self, users: Sequence[str], items: Sequence[str], t: float) -> Lookup:
        """One script call: every user and item in one round trip."""
        users, items = list(dict.fromkeys(users)), list(dict.fromkeys(items))
        base_start, base_end = base_window(t)
        args = [PREFIX, repr(window_start(t)), repr(t), repr(t + LOOKAHEAD_DAYS * DAY_S)]
        args += [str(round(base_start / DAY_S)), str(round(base_end / DAY_S)), str(len(users)), *users, *items]
        with unavailable_on(RedisError):
            replies = await self._lookup(args=args)
        by_user = {
            user: [_user_event(reply[k], float(reply[k + 1])) for k in range(0, len(reply), 2)]
            for user, reply in zip(users, replies)
        }
        by_item = {
            item: ItemPrices(_price_point(last), _price_point(first), float(highest) if highest else None)
            for item, (last, first, highest) in zip(items, replies[len(users) :])
        }
        return Lookup(by_user, by_item)

    async def newest(self) -> float | None:
        with unavailable_on(RedisError):
            value = await self._client.get(PREFIX + "watermark")
        return None if value is None else float(value)

    async def close(self) -> None:
        await self._client.aclose()


def _user_event(member: str, score: float) -> UserEvent:
    _, event_type, item_id, session = member.split(SEPARATOR)
    return UserEvent(score, event_type, item_id, session or None)


def _price_point(reply: list[str]) -> PricePoint | None:
    if not reply:
        return None
    member, score = reply
    _, price, code = member.split(SEPARATOR)
    return PricePoint(float(score), float(price), code or None)
