"""The shared level of the response cache (ENABLE_CACHING with REDIS_URL): probabilities by model
version and feature row, kept for SHARED_CACHE_TTL_S, read behind each worker's own LRU."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..background import Background
from ..redis_client import Breaker

logger = logging.getLogger(__name__)
PREFIX = "purchase:cache:"


class SharedCache:
    def __init__(self, client: redis.Redis, ttl_s: float) -> None:
        self._client = client
        self._ttl_ms = int(ttl_s * 1000)
        self._breaker = Breaker()
        self._background = Background()

    @staticmethod
    def key(version: str, row: bytes) -> str:
        """The version is part of the key: a swap can never be answered from another version's rows."""
        return f"{PREFIX}{version}:{hashlib.blake2b(row, digest_size=16).hexdigest()}"

    async def get(self, keys: Sequence[str]) -> list[float | None]:
        """One round trip; all misses while Redis fails (the model scores them)."""
        if self._breaker.open:
            return [None] * len(keys)
        try:
            values = await self._client.mget(keys)
        except RedisError as exc:
            self._failed(exc)
            return [None] * len(keys)
        return [None if v is None else float(v) for v in values]

    def put(self, pairs: Sequence[tuple[str, float]]) -> None:
        """Written in the background: the answer does not wait for it."""
        if pairs and not self._breaker.open:
            self._background.spawn(self._put(pairs))

    async def _put(self, pairs: Sequence[tuple[str, float]]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for key, probability in pairs:
                    pipe.set(key, repr(probability), px=self._ttl_ms)
                await pipe.execute()
        except RedisError as exc:
            self._failed(exc)

    def _failed(self, exc: RedisError) -> None:
        if not self._breaker.open:
            logger.warning("the shared cache is unavailable, scoring without it: %s", exc)
        self._breaker.trip()
