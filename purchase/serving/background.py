"""Coroutines that run beside requests (shadow scoring, draining old models, the following loops)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine


class Background:
    """Holds a reference to each task until it ends, so the event loop cannot collect it mid-way."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
