"""Adaptive batching: a lone request on the event loop, concurrent ones together in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np

from purchase.serving.batching import Batcher


def test_a_lone_request_is_scored_on_the_event_loop_and_a_batch_in_a_thread() -> None:
    calls: list[tuple[bool, int]] = []

    def first_column(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        calls.append((threading.current_thread() is threading.main_thread(), len(matrices)))
        return [m[:, 0] for m in matrices]

    batcher = Batcher(first_column, max_batch_rows=1000, max_queued_rows=10_000)

    async def requests() -> list[np.ndarray]:
        await batcher.score(np.zeros((1, 2)))
        return await asyncio.gather(*(batcher.score(np.full((i + 1, 2), float(i))) for i in range(5)))

    answers = asyncio.run(requests())
    assert calls == [(True, 1), (False, 5)]
    assert [a.tolist() for a in answers] == [[float(i)] * (i + 1) for i in range(5)]
