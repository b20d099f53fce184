"""Adaptive batching: a lone request on the event loop, concurrent ones together in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from purchase.errors import Overloaded
from purchase.serving.models.batching import Batcher

# A broken batcher leaves callers waiting forever: fail fast instead (mutation testing plants such bugs).
pytestmark = pytest.mark.timeout(10)


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


def test_batches_take_whole_requests_up_to_the_row_limit() -> None:
    sizes: list[list[int]] = []

    def record(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        sizes.append([len(m) for m in matrices])
        return [m[:, 0] for m in matrices]

    batcher = Batcher(record, max_batch_rows=4, max_queued_rows=100)

    async def requests() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.score(np.full((n, 1), float(n))) for n in (3, 1, 2, 5)))

    answers = asyncio.run(requests())
    assert sizes == [[3, 1], [2], [5]]  # a request larger than the limit goes alone
    assert [a.tolist() for a in answers] == [[3.0] * 3, [1.0], [2.0] * 2, [5.0] * 5]


def test_the_queue_refuses_only_past_its_row_limit_and_empties_again() -> None:
    batcher = Batcher(lambda matrices: [m[:, 0] for m in matrices], max_batch_rows=100, max_queued_rows=3)

    async def burst(sizes: tuple[int, ...]) -> list[object]:
        return await asyncio.gather(*(batcher.score(np.zeros((n, 1))) for n in sizes), return_exceptions=True)

    for _ in range(3):  # rows leave the count once scored: the same burst fits every time
        assert [type(r).__name__ for r in asyncio.run(burst((2, 1)))] == ["ndarray", "ndarray"]
    assert isinstance(asyncio.run(burst((1, 1, 2)))[2], Overloaded)  # queued rows add up
    refused = asyncio.run(burst((2, 2)))
    assert type(refused[0]).__name__ == "ndarray" and isinstance(refused[1], Overloaded)
    assert refused[1].detail == "Service overloaded: the prediction queue is full, retry shortly"


def test_a_failed_or_abandoned_batch_does_not_stop_the_next_ones() -> None:
    def fail_on_negative(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        if (matrices[0] < 0).any():
            raise ValueError("model failed")
        return [m[:, 0] for m in matrices]

    batcher = Batcher(fail_on_negative, max_batch_rows=1, max_queued_rows=10)  # one request a batch

    async def failed_then_fine() -> list[object]:
        return await asyncio.gather(
            batcher.score(np.full((1, 1), -1.0)), batcher.score(np.ones((1, 1))), return_exceptions=True
        )

    failed, fine = asyncio.run(failed_then_fine())
    assert isinstance(failed, ValueError) and fine.tolist() == [1.0]  # type: ignore[union-attr]

    async def abandoned_then_fine() -> np.ndarray:
        first = asyncio.ensure_future(batcher.score(np.full((1, 1), 2.0)))
        second = asyncio.ensure_future(batcher.score(np.full((1, 1), 3.0)))
        await asyncio.sleep(0)  # both queued
        first.cancel()  # its caller left
        return await second

    assert asyncio.run(abandoned_then_fine()).tolist() == [3.0]
