"""Keeps every worker on the same models: of one server through files, of every replica through Redis."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as redis

from .files import FileFleet
from .redis_fleet import RedisFleet
from .target import Coordinator, ModelRef, Target, WorkerState

__all__ = ["Coordinator", "ModelRef", "Target", "WorkerState", "open_fleet"]


def open_fleet(home: Path, worker: int, client: redis.Redis | None) -> Coordinator:
    return RedisFleet(client, worker) if client is not None else FileFleet.for_this_server(home, worker)
