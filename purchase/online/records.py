"""What the online stores hold and answer, and the interface both backends implement."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from ..errors import StoreUnavailable
from .definitions import ItemPrices, UserEvent
from .schemas import Event

SEPARATOR = "\x1f"  # between the parts of a stored event: ids cannot contain it


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    t: float  # seconds since the epoch, UTC
    event_type: str
    user_id: str
    item_id: str
    session: str | None
    price: float
    category_code: str | None


def stored(event: Event) -> StoredEvent:
    """An event as the stores keep it; without an event_id, one derived from its content."""
    t = event.event_time.timestamp()
    event_id = event.event_id
    if event_id is None:
        content = (t, event.event_type, event.product_id, event.category_id, event.category_code, event.brand,
                   event.price, event.user_id, event.user_session)  # fmt: skip
        event_id = "h" + hashlib.blake2b(repr(content).encode(), digest_size=12).hexdigest()
    return StoredEvent(
        event_id, t, event.event_type, event.user_id, event.product_id, event.user_session, event.price,
        event.category_code,
    )  # fmt: skip


@contextmanager
def unavailable_on(*failures: type[Exception], store: str = "the feature store") -> Iterator[None]:
    """A store's own failures, as the one error the service maps to 503."""
    try:
        yield
    except failures as exc:
        raise StoreUnavailable(f"{store} failed: {exc}") from None


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int
    expired: int


@dataclass(frozen=True)
class Lookup:
    """A store's answer as of t: each user's events in the last 30 days, each item's prices."""

    users: dict[str, list[UserEvent]]
    items: dict[str, ItemPrices]


class FeatureStore(Protocol):
    """An online store; every method raises `StoreUnavailable` when the store cannot be reached."""

    retention_s: float  # event time kept behind the newest event

    async def write(self, events: Sequence[StoredEvent]) -> WriteResult:
        """All or nothing; events already held (same id) and events older than the store keeps change nothing."""

    async def lookup(self, users: Sequence[str], items: Sequence[str], t: float) -> Lookup: ...

    async def newest(self) -> float | None:
        """The time of the newest event written (the store's clock), None while empty."""

    async def close(self) -> None: ...
