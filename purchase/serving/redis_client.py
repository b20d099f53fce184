"""The Redis connection a worker shares with the fleet (REDIS_URL), and the breaker that keeps the hot
path from waiting on a Redis that does not answer."""

from __future__ import annotations

import time

import redis.asyncio as redis

from ..settings import Settings

BREAK_S = 1.0  # after a failure, calls on the hot path skip Redis for this long


def connect(settings: Settings) -> redis.Redis | None:
    if not settings.redis_url:
        return None
    timeout = settings.redis_timeout_s
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
    )


class Breaker:
    """Open for BREAK_S after each failure: callers use their local fallback meanwhile."""

    def __init__(self) -> None:
        self._closed_at = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._closed_at

    def trip(self) -> None:
        self._closed_at = time.monotonic() + BREAK_S
