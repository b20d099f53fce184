"""RATE_LIMIT across the fleet (with REDIS_URL): one token bucket per caller in Redis, taken by an atomic
script in one round trip, on Redis's clock. While Redis fails, each worker's own bucket takes over."""

from __future__ import annotations

import logging
import math

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..redis_client import Breaker
from .security import RateLimiter

logger = logging.getLogger(__name__)
PREFIX = "purchase:ratelimit:"
# ARGV: capacity, tokens per second, key lifetime (ms). Returns the wait in seconds, 0 when a token was taken.
TAKE = """
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return string.format('%.6f', wait)
"""


class FleetRateLimiter:
    def __init__(self, client: redis.Redis, capacity: float, per_second: float, fallback: RateLimiter) -> None:
        self.capacity = capacity
        self.per_second = per_second
        self._fallback = fallback
        self._take = client.register_script(TAKE)
        # An idle bucket refills in capacity / rate seconds; after that its key says nothing.
        self._lifetime_ms = str(math.ceil(1000 * capacity / per_second) + 1000)
        self._breaker = Breaker()

    async def acquire(self, caller: str) -> float:
        """0 when the call may go on, else seconds until a token is available."""
        if self._breaker.open:
            return self._fallback.retry_after(caller)
        try:
            wait = await self._take(
                keys=[PREFIX + caller], args=[repr(self.capacity), repr(self.per_second), self._lifetime_ms]
            )
        except RedisError as exc:
            if not self._breaker.open:
                logger.warning("the fleet's rate limits are unavailable, limiting per worker: %s", exc)
            self._breaker.trip()
            return self._fallback.retry_after(caller)
        return float(wait)
