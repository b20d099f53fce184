"""/predict with the online store: the features a request leaves out, filled from the store as of the
request's `as_of` (default: now). What the request gives wins. One store lookup per request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from ..errors import InvalidInput, StoreUnavailable
from ..features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, PRICE_FEATURES
from ..schemas import PredictRequest, SparseFeatureRow, StorePredictRequest
from .definitions import behaviour_features, price_features
from .records import FeatureStore, Lookup

ITEM_FEATURES = (*PRICE_FEATURES, CATEGORY_FEATURE)
# Rows looked up: (hits, misses, errors). The service counts them in Prometheus; a batch job does not.
RowsCounter = Callable[[int, int, int], None]


def _uncounted(hits: int, misses: int, errors: int) -> None:
    pass


class Source(StrEnum):
    """Where a request's features came from (the X-Feature-Source header of the answer)."""

    REQUEST = "request"  # all given: the store was not asked
    STORE = "store"  # some filled from the store
    UNAVAILABLE = "unavailable"  # the store failed: what was left out is missing


def _incomplete(row: SparseFeatureRow) -> bool:
    return any(getattr(row, name) is None for name in ITEM_FEATURES) or not row.model_fields_set.issuperset(
        BEHAVIOUR_FEATURES
    )


class FeatureFiller:
    def __init__(self, store: FeatureStore, count_rows: RowsCounter = _uncounted) -> None:
        self.store = store
        self.count_rows = count_rows

    async def complete(
        self, request: StorePredictRequest, refused: dict[int, str] | None = None
    ) -> tuple[PredictRequest, Source]:
        """`refused`: rows that cannot be completed are recorded there (index -> reason), not raised (jobs)."""
        rows: list[Any] = list(request.features)
        gaps = [i for i, row in enumerate(rows) if _incomplete(row)]
        source = Source.REQUEST
        if gaps:
            t = (request.as_of or datetime.now(UTC)).timestamp()
            wanted = [rows[i] for i in gaps]
            try:
                lookup: Lookup | None = await self.store.lookup(
                    [row.user_id for row in wanted], [row.item_id for row in wanted], t
                )
                source = Source.STORE
            except StoreUnavailable:
                lookup, source = None, Source.UNAVAILABLE
                self.count_rows(0, 0, len(gaps))
            filled, hits = _fill(gaps, wanted, lookup, t, refused)
            if lookup is not None:
                self.count_rows(hits, len(gaps) - hits, 0)
            for i, row in zip(gaps, filled):
                rows[i] = row
        completed = PredictRequest.model_construct(
            features=rows,
            return_probabilities=request.return_probabilities,
            threshold=request.threshold,
            return_segments=request.return_segments,
        )
        return completed, source


def _fill(
    indexes: Sequence[int],
    rows: Sequence[SparseFeatureRow],
    lookup: Lookup | None,
    t: float,
    refused: dict[int, str] | None,
) -> tuple[list[Any], int]:
    """Each row with what it left out taken from the store's answer (missing when there is none), as a
    plain object with a FeatureRow's attributes: building a thousand pydantic models costs more than the rest;
    and how many rows the store knew something of."""
    behaviour: dict[tuple[str, str], dict[str, float]] = {}
    prices: dict[str, dict[str, Any]] = {}
    if lookup is not None:
        items_of: dict[str, list[str]] = {}
        for row in rows:
            items_of.setdefault(row.user_id, []).append(row.item_id)
        for user, items in items_of.items():  # a user without events: counts 0, the rest missing, as in training
            behaviour.update(zip(((user, i) for i in items), behaviour_features(lookup.users[user], items, t)))
        prices = {item: price_features(known) or {} for item, known in lookup.items.items()}
    out, hits = [], 0
    for index, row in zip(indexes, rows):
        values = dict(row.__dict__)
        if lookup is not None:
            item = lookup.items[row.item_id]
            from_user = behaviour[(row.user_id, row.item_id)]
            hits += bool(lookup.users[row.user_id] or item.last_before or item.first_after)
            given = row.model_fields_set
            for name in BEHAVIOUR_FEATURES:
                if name not in given:
                    value = from_user[name]
                    values[name] = None if value != value else value  # NaN: missing
            from_item = prices[row.item_id] if row.item_price is None else price_features(item, row.item_price) or {}
            for name in ITEM_FEATURES:
                if values[name] is None:
                    if name in from_item:
                        values[name] = from_item[name]
                        continue
                    reason = f"{name}: not given, and the feature store knows no price for item {row.item_id!r}"
                    if refused is None:
                        raise InvalidInput(f"features[{index}].{reason}")
                    refused.setdefault(index, reason)
        elif values[CATEGORY_FEATURE] is None:
            values[CATEGORY_FEATURE] = ""  # unknown: no category column set
        out.append(SimpleNamespace(**values))
    return out, hits
