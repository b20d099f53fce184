"""The behaviour and price features of a (user, item) pair as of a time t, from the user's and the
item's events: the definitions training derives in bulk (`training.events`) and the online store
computes per request. Parity tests hold the two to the same values.

Windows are half-open and end at t: the last 30 days are [t - 30 d, t), the last 7 [t - 7 d, t).
The price in effect at t is the item's price on its first event in [t, t + lookahead), else on its
last event in [t - 30 d, t); its category is that event's. The base price is the highest price of
the item's events in the 30 whole days (UTC) before t's day, or the price in effect when higher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

DAY_S = 86_400.0
WINDOW_DAYS = 30  # the longest window: what the store keeps
RECENT_DAYS = 7
LOOKAHEAD_DAYS = 7  # the label window of training, where a backtest finds the price in effect
COUNTED_TYPES = ("view", "cart", "purchase")
UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True)
class UserEvent:
    t: float  # seconds since the epoch, UTC
    event_type: str
    item_id: str
    session: str | None


@dataclass(frozen=True)
class PricePoint:
    t: float
    price: float
    category_code: str | None


@dataclass(frozen=True)
class ItemPrices:
    """What the store knows of an item as of t: the events around t that set the price, and the
    highest price of the 30 whole days before t's day (None where there is no such event)."""

    last_before: PricePoint | None
    first_after: PricePoint | None
    window_max: float | None


def window_start(t: float) -> float:
    return t - WINDOW_DAYS * DAY_S


def base_window(t: float) -> tuple[float, float]:
    """[start, end) of the base price's window: the 30 whole UTC days before t's day."""
    day_start = math.floor(t / DAY_S) * DAY_S
    return day_start - WINDOW_DAYS * DAY_S, day_start


def category_of(code: str | None) -> str:
    """The request's item_category: the first part of the category code ("electronics.smartphone")."""
    return code.split(".")[0] if code else UNKNOWN_CATEGORY


def price_features(item: ItemPrices, price: float | None = None) -> dict[str, float | str] | None:
    """item_price, item_base_price, item_discount_pct and item_category; None when no price is known.
    A `price` the request gives is the price in effect: base and discount follow from it."""
    point = item.first_after or item.last_before
    if price is None:
        price = point.price if point is not None else None
    if point is None or price is None or price <= 0:
        return None
    base = price if item.window_max is None else max(item.window_max, price)
    discount = 100.0 * (1.0 - price / base)  # in [0, 100): base >= price > 0
    return {
        "item_price": price,
        "item_base_price": base,
        "item_discount_pct": discount,
        "item_category": category_of(point.category_code),
    }


def behaviour_features(events: Sequence[UserEvent], items: Sequence[str], t: float) -> list[dict[str, float]]:
    """The 14 behaviour features of the user's pair with each item, from the user's events (any
    order, any span: only those in the last 30 days before t count). Every count of a user or pair
    without events is 0; ratios, recencies and durations are NaN where undefined."""
    nan = math.nan
    start30, start7 = window_start(t), t - RECENT_DAYS * DAY_S
    counts = {f"{kind}_count_{days}": 0 for kind in COUNTED_TYPES for days in ("7d", "30d")}
    last_view = -math.inf
    item_views: dict[str, int] = {}
    item_carts: dict[str, int] = {}
    item_last_view: dict[str, float] = {}
    sessions: dict[str, tuple[float, float, set[str]]] = {}
    for e in events:
        if not start30 <= e.t < t:
            continue
        if e.event_type in COUNTED_TYPES:
            counts[f"{e.event_type}_count_30d"] += 1
            if e.t >= start7:
                counts[f"{e.event_type}_count_7d"] += 1
        if e.event_type == "view":
            last_view = max(last_view, e.t)
            item_views[e.item_id] = item_views.get(e.item_id, 0) + 1
            item_last_view[e.item_id] = max(item_last_view.get(e.item_id, -math.inf), e.t)
        elif e.event_type == "cart":
            item_carts[e.item_id] = item_carts.get(e.item_id, 0) + 1
        if e.session is not None:
            first, last, seen = sessions.get(e.session, (e.t, e.t, set()))
            seen.add(e.item_id)
            sessions[e.session] = (min(first, e.t), max(last, e.t), seen)

    user: dict[str, float] = {name: float(n) for name, n in counts.items()}
    user["days_since_last_view"] = (t - last_view) / DAY_S if last_view > -math.inf else nan
    carts, purchases = counts["cart_count_30d"], counts["purchase_count_30d"]
    user["cart_to_purchase_ratio"] = purchases / carts if carts > 0 else nan
    if sessions:
        minutes = {s: (last - first) / 60.0 for s, (first, last, _) in sessions.items()}
        latest = max(sessions, key=lambda s: (sessions[s][1], s))  # the session that ended last
        user["avg_session_duration"] = math.fsum(minutes.values()) / len(minutes)
        user["session_item_count"] = float(len(sessions[latest][2]))
        user["session_duration_minutes"] = minutes[latest]
    else:
        user |= {"avg_session_duration": nan, "session_item_count": 0.0, "session_duration_minutes": nan}
    rows = []
    for item in items:
        seen_at = item_last_view.get(item)
        rows.append(
            user
            | {
                "days_since_last_item_view": (t - seen_at) / DAY_S if seen_at is not None else nan,
                "item_view_count": float(item_views.get(item, 0)),
                "item_cart_count": float(item_carts.get(item, 0)),
            }
        )
    return rows
