"""A historical event log (the training schema) into an online store, in batches."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from .records import FeatureStore, StoredEvent, WriteResult

BATCH = 5000
COLUMNS = ["event_time", "event_type", "user_id", "product_id", "user_session", "price", "category_code"]


def stored_events(log: pd.DataFrame, id_prefix: str, first_row: int) -> Iterator[StoredEvent]:
    """Each row as the stores keep it, identified by its row: loading the same log again adds nothing.
    The log's times are naive UTC, which is what `Timestamp.timestamp` assumes of them."""
    frame = log[COLUMNS].astype({"price": float}).astype(object).where(log[COLUMNS].notna(), None)
    for i, (t, kind, user, item, session, price, code) in enumerate(frame.itertuples(index=False)):
        yield StoredEvent(f"{id_prefix}:{first_row + i}", t.timestamp(), kind, user, item, session, price, code)


async def backfill(store: FeatureStore, log: pd.DataFrame, id_prefix: str) -> WriteResult:
    """In time order, so that the store's clock (its newest event) only moves forward; events the store
    would not keep after the whole log is in are counted as expired and not sent."""
    log = log.sort_values("event_time", kind="stable")
    seconds = ((log["event_time"] - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).to_numpy()  # naive times are UTC
    newest = max(seconds[-1], await store.newest() or -math.inf)
    first = int(np.searchsorted(seconds, newest - store.retention_s))
    events = list(stored_events(log.iloc[first:], id_prefix, first))
    totals = [0, 0, first]
    for start in range(0, len(events), BATCH):
        result = await store.write(events[start : start + BATCH])
        for k, n in enumerate((result.stored, result.duplicates, result.expired)):
            totals[k] += n
    return WriteResult(*totals)
