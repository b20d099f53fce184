"""What the outcome log keeps (a prediction to judge, a purchase), which users are judged, and the
interface both backends implement."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Judged:
    """One prediction kept to be judged once its horizon has passed."""

    t: float  # the prediction's time (the request's as_of, else when it was made), seconds since the epoch
    user_id: str
    item_id: str
    version: str
    arm: str  # the version's role when it answered: primary, candidate or pinned; job for a batch job's rows
    segment: int  # index in segments.SEGMENTS
    probability: float


@dataclass(frozen=True)
class Purchase:
    event_id: str  # a purchase sent twice (same id) counts once
    t: float
    user_id: str
    item_id: str


@dataclass(frozen=True)
class Usage:
    predictions: int  # kept now
    bytes: int  # disk (SQLite) or memory (Redis) the log takes


class OutcomeLog(Protocol):
    """Every method raises `StoreUnavailable` when the log cannot be reached."""

    async def add(self, predictions: Sequence[Judged]) -> None: ...

    async def purchases(self, purchases: Sequence[Purchase], newest: float) -> None:
        """The purchases of a batch of events, and the batch's newest event time: the log's event clock
        moves to it (never back)."""

    async def events_until(self) -> float | None:
        """The newest event time received (None before any): outcomes are known up to it."""

    async def matured(self, start: float, end: float, horizon_s: float) -> list[tuple[Judged, int]]:
        """The predictions made in [start, end], each with its label: 1 when the user bought the item in
        [t, t + horizon), as training labels a pair."""

    async def history(self) -> dict[tuple[int, str, str], list[float]]:
        """The daily sums (`history.summarise`) of the predictions dropped past their retention."""

    async def usage(self) -> Usage: ...

    async def close(self) -> None: ...


def judged_user(user_id: str, share: float) -> bool:
    """Sticky: a user's predictions are all judged or none are, on every worker and replica."""
    return _position(user_id) < share


@functools.lru_cache(maxsize=65_536)
def _position(user_id: str) -> float:
    # Salted apart from the A/B split's hash: the judged users are a sample of both arms.
    digest = hashlib.blake2b(user_id.encode(), digest_size=8, person=b"outcomes").digest()
    return int.from_bytes(digest, "big") / 2**64
