"""Adaptive batching without timers: an idle model scores a request at once; requests that arrive
while it is busy wait and are scored together, in one call, as soon as it is free.

The batch size follows the load: 1 at low traffic (no added latency), larger as requests pile up.
BentoML's dispatcher (the one behind `batchable=True`) instead waits for more requests on a learned
schedule, which costs far more than a model call that takes well under a millisecond (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import anyio
import numpy as np

from ...errors import Overloaded

ScoreBatch = Callable[[Sequence[np.ndarray]], list[np.ndarray]]
GATHER_HOPS = 3


class Batcher:
    def __init__(self, score_batch: ScoreBatch, max_batch_rows: int, max_queued_rows: int) -> None:
        self._score_batch = score_batch  # blocking: in a worker thread, or on the loop for a lone request
        self.max_batch_rows = max_batch_rows
        self.max_queued_rows = max_queued_rows
        self._queue: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        self._queued_rows = 0
        self._draining: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return self._draining is None

    async def score(self, matrix: np.ndarray) -> np.ndarray:
        if self._queued_rows + len(matrix) > self.max_queued_rows:
            raise Overloaded("Service overloaded: the prediction queue is full, retry shortly")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append((matrix, future))
        self._queued_rows += len(matrix)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await future

    def _next_batch(self) -> list[tuple[np.ndarray, asyncio.Future[np.ndarray]]]:
        """Whole requests, in arrival order, up to max_batch_rows (a larger request goes alone)."""
        batch: list[tuple[np.ndarray, asyncio.Future[np.ndarray]]] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0][0]) <= self.max_batch_rows):
            matrix, future = self._queue.pop(0)
            rows += len(matrix)
            batch.append((matrix, future))
        self._queued_rows -= rows
        return batch

    async def _drain(self) -> None:
        try:
            while self._queue:
                # Let requests already read by the server reach the queue first: their handling takes a
                # few hops through the event loop, and a call made without them would score one alone.
                for _ in range(GATHER_HOPS):
                    await asyncio.sleep(0)
                batch = [(m, f) for m, f in self._next_batch() if not f.cancelled()]  # callers that left
                if not batch:
                    continue
                matrices = [m for m, _ in batch]
                try:
                    if len(batch) == 1 and not self._queue:
                        # A lone request: nothing to overlap the call with, and handing it to a thread
                        # and back costs more than a small model call.
                        results = self._score_batch(matrices)
                    else:  # the event loop reads the next requests meanwhile; XGBoost releases the GIL
                        results = await anyio.to_thread.run_sync(self._score_batch, matrices)
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._draining = None
