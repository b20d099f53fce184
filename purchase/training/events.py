"""From an event log in the public e-commerce behaviour schema to labelled (user, item, as-of) rows.

Each row carries exactly the spec's request features and the label "the user bought the item within the
next `horizon_days`". The features follow `online.definitions`, where they are defined, vectorised over
every candidate pair of an as-of time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, ID_FIELDS, PRICE_FEATURES
from ..online.definitions import COUNTED_TYPES, LOOKAHEAD_DAYS, RECENT_DAYS, WINDOW_DAYS, category_of

EVENT_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES = frozenset({"view", "cart", "remove_from_cart", "purchase"})
DAY = pd.Timedelta(days=1)


def read_events(path: Path) -> pd.DataFrame:
    """Read and check a CSV event log; raises ValueError naming what is wrong."""
    events = pd.read_csv(path, dtype={"product_id": str, "user_id": str, "user_session": str, "category_code": str})
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    unknown = set(events["event_type"].unique()) - EVENT_TYPES
    if unknown:
        raise ValueError(f"{path}: unknown event_type values {sorted(unknown)}")
    events["event_time"] = pd.to_datetime(events["event_time"], utc=True).dt.tz_localize(None)
    return events


def snapshot_times(events: pd.DataFrame, warmup_days: int, horizon_days: int, step_days: int) -> list[pd.Timestamp]:
    """As-of times: midnights, after a warm-up of history, with a full label window after each."""
    first = events["event_time"].min().normalize()
    last = events["event_time"].max().normalize() + DAY
    times = []
    t = first + warmup_days * DAY
    while t + horizon_days * DAY <= last:
        times.append(t)
        t += step_days * DAY
    return times


def build_examples(events: pd.DataFrame, as_of_times: list[pd.Timestamp], horizon_days: int) -> pd.DataFrame:
    frames = [_snapshot(events, t, horizon_days) for t in as_of_times]
    return pd.concat(frames, ignore_index=True)


def price_in_effect(before: pd.DataFrame, window: pd.DataFrame, items: pd.Series) -> pd.DataFrame:
    """Each item's price and category code in effect at the as-of time (`online.definitions`): those
    of its first event in the look-ahead `window`, else of its last event in `before` (the last 30 days).
    A price from before the as-of time would be last week's during a promotion."""
    columns = ["price", "category_code"]
    first_after = window.sort_values("event_time", kind="stable").groupby("product_id")[columns].first()
    last_before = before.sort_values("event_time", kind="stable").groupby("product_id")[columns].last()
    upcoming = first_after.reindex(items).reset_index(drop=True)
    known = upcoming["price"].notna()
    return upcoming.where(known, last_before.reindex(items).reset_index(drop=True), axis=0)


def _snapshot(events: pd.DataFrame, t: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    past = events[events["event_time"] < t]
    w30 = past[past["event_time"] >= t - WINDOW_DAYS * DAY]
    w7 = w30[w30["event_time"] >= t - RECENT_DAYS * DAY]
    is_view30 = w30["event_type"] == "view"

    # Candidates: pairs the user viewed in the last 30 days.
    rows = w30.loc[is_view30, ["user_id", "product_id"]].drop_duplicates().sort_values(["user_id", "product_id"])
    rows = rows.reset_index(drop=True)
    user = rows["user_id"]
    pair = pd.MultiIndex.from_frame(rows)

    def per_user(frame: pd.DataFrame, event_type: str) -> pd.Series:
        return (
            frame.loc[frame["event_type"] == event_type]
            .groupby("user_id")
            .size()
            .reindex(user, fill_value=0)
            .to_numpy()
        )

    def per_pair(frame: pd.DataFrame, event_type: str) -> pd.Series:
        grouped = frame.loc[frame["event_type"] == event_type].groupby(["user_id", "product_id"]).size()
        return grouped.reindex(pair, fill_value=0).to_numpy()

    out = rows.rename(columns={"product_id": "item_id"})
    out["as_of"] = t
    views = w30[is_view30]
    last_view = views.groupby("user_id")["event_time"].max().reindex(user)
    out["days_since_last_view"] = ((t - last_view) / DAY).to_numpy()
    last_item_view = views.groupby(["user_id", "product_id"])["event_time"].max().reindex(pair)
    out["days_since_last_item_view"] = ((t - last_item_view) / DAY).to_numpy()
    for window, frame in (("7d", w7), ("30d", w30)):
        for event_type in COUNTED_TYPES:
            out[f"{event_type}_count_{window}"] = per_user(frame, event_type)
    ratio = out["purchase_count_30d"] / out["cart_count_30d"]  # pandas divides by zero without warnings
    out["cart_to_purchase_ratio"] = ratio.where(out["cart_count_30d"] > 0)

    sessions = w30.groupby(["user_id", "user_session"]).agg(
        start=("event_time", "min"), end=("event_time", "max"), items=("product_id", "nunique")
    )
    sessions["minutes"] = (sessions["end"] - sessions["start"]) / pd.Timedelta(minutes=1)
    sessions = sessions.reset_index()
    out["avg_session_duration"] = sessions.groupby("user_id")["minutes"].mean().reindex(user).to_numpy()
    # The session that ended last (ties: the greatest session id), as the online definition.
    latest = sessions.sort_values(["end", "user_session"]).groupby("user_id").last().reindex(user)
    out["session_item_count"] = latest["items"].to_numpy()
    out["session_duration_minutes"] = latest["minutes"].to_numpy()
    out["item_view_count"] = per_pair(w30, "view")
    out["item_cart_count"] = per_pair(w30, "cart")

    future = events[(events["event_time"] >= t) & (events["event_time"] < t + horizon_days * DAY)]
    item = rows["product_id"]
    in_effect = price_in_effect(w30, future[future["event_time"] < t + LOOKAHEAD_DAYS * DAY], item)
    price = in_effect["price"].to_numpy(dtype=np.float64)
    day = t.floor("D")
    base_events = events[(events["event_time"] >= day - WINDOW_DAYS * DAY) & (events["event_time"] < day)]
    window_max = base_events.groupby("product_id")["price"].max().reindex(item).to_numpy(dtype=np.float64)
    out["item_price"] = price
    out["item_base_price"] = np.fmax(window_max, price)
    out["item_discount_pct"] = 100.0 * (1.0 - out["item_price"] / out["item_base_price"])  # 0 <= price <= base
    codes = in_effect["category_code"]
    out[CATEGORY_FEATURE] = [category_of(code if isinstance(code, str) else None) for code in codes]

    bought = future.loc[future["event_type"] == "purchase", ["user_id", "product_id"]].drop_duplicates()
    out["label"] = pair.isin(pd.MultiIndex.from_frame(bought)).astype(np.int8)
    # Rows without a usable price cannot be requested through the API, so they are not trained on.
    out = out[out["item_price"] > 0]  # the base price is at least the price
    return out[[*ID_FIELDS, "as_of", *BEHAVIOUR_FEATURES, *PRICE_FEATURES, CATEGORY_FEATURE, "label"]].reset_index(
        drop=True
    )
