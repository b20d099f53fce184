"""From an event log in the public e-commerce behaviour schema to labelled (user, item, as-of) rows.

Each row carries exactly the spec's request features and the label "the user bought the item within the
next `horizon_days`". The features follow `online.definitions`, where they are defined, vectorised over
every candidate pair of an as-of time.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ..features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, ID_FIELDS, PRICE_FEATURES
from ..online.definitions import COUNTED_TYPES, LOOKAHEAD_DAYS, RECENT_DAYS, WINDOW_DAYS, category_of
from .sampling import Sampling

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
EXAMPLE_COLUMNS: tuple[str, ...] = (
    *ID_FIELDS,
    "as_of",
    *BEHAVIOUR_FEATURES,
    *PRICE_FEATURES,
    CATEGORY_FEATURE,
    "label",
)


def read_events(path: Path) -> pd.DataFrame:
    """Read and check a CSV event log; raises ValueError naming what is wrong."""
    events = pd.read_csv(path, dtype={"product_id": str, "user_id": str, "user_session": str, "category_code": str})
    check_columns(events.columns, str(path))
    check_event_types(events["event_type"].unique(), str(path))
    events["event_time"] = parse_times(events["event_time"])
    return events


def check_columns(columns: Iterable[str], source: str) -> None:
    missing = [c for c in EVENT_COLUMNS if c not in set(columns)]
    if missing:
        raise ValueError(f"{source}: missing columns {missing}")


def check_event_types(found: Iterable[object], source: str) -> None:
    unknown = set(found) - EVENT_TYPES
    if unknown:
        raise ValueError(f"{source}: unknown event_type values {sorted(map(str, unknown))}")


def parse_times(times: pd.Series) -> pd.Series:
    """Event times as naive UTC timestamps, whatever zone the log writes them in."""
    return pd.to_datetime(times, utc=True).dt.tz_localize(None)


def snapshot_times(events: pd.DataFrame, warmup_days: int, horizon_days: int, step_days: int) -> list[pd.Timestamp]:
    return times_between(events["event_time"].min(), events["event_time"].max(), warmup_days, horizon_days, step_days)


def times_between(
    first_event: pd.Timestamp, last_event: pd.Timestamp, warmup_days: int, horizon_days: int, step_days: int
) -> list[pd.Timestamp]:
    """As-of times: midnights, after a warm-up of history, with a full label window after each."""
    first = first_event.normalize()
    last = last_event.normalize() + DAY
    times = []
    t = first + warmup_days * DAY
    while t + horizon_days * DAY <= last:
        times.append(t)
        t += step_days * DAY
    return times


def build_examples(
    events: pd.DataFrame, as_of_times: list[pd.Timestamp], horizon_days: int, sampling: Sampling | None = None
) -> pd.DataFrame:
    """Every as-of time's viewed pairs and, with `sampling`, its sampled pairs of the other segments."""
    frames = []
    for t in as_of_times:
        prices = item_prices(events, t)
        items = catalog(prices) if sampling is not None else None
        frames.append(with_prices(candidates(events, t, horizon_days, sampling, items), prices))
    return pd.concat(frames, ignore_index=True)


def catalog(prices: pd.DataFrame) -> np.ndarray:
    """The items a request can name at an as-of time (`item_prices`' rows with a usable price), sorted."""
    return np.sort(prices.loc[prices["item_price"] > 0, "item_id"].to_numpy(dtype=object))


def with_prices(rows: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Candidate rows joined with the prices in effect; rows without a usable price cannot be requested
    through the API, so they are not trained on (the base price is at least the price)."""
    out = rows.merge(prices, on=["item_id", "as_of"], how="inner")  # keeps the rows' order
    out = out[out["item_price"] > 0]
    return out[list(EXAMPLE_COLUMNS)].reset_index(drop=True)


def price_in_effect(before: pd.DataFrame, window: pd.DataFrame) -> pd.DataFrame:
    """Each item's price and category code in effect at the as-of time (`online.definitions`): those
    of its first event in the look-ahead `window`, else of its last event in `before` (the last 30 days).
    A price from before the as-of time would be last week's during a promotion."""
    columns = ["price", "category_code"]
    first_after = window.sort_values("event_time", kind="stable").groupby("product_id")[columns].first()
    last_before = before.sort_values("event_time", kind="stable").groupby("product_id")[columns].last()
    items = first_after.index.union(last_before.index)
    upcoming = first_after.reindex(items)
    known = upcoming["price"].notna()
    return upcoming.where(known, last_before.reindex(items), axis=0)


def item_prices(events: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The price features and category of every item with an event in the 30 days before `t` or the
    look-ahead after it. An item's row depends on that item's events alone."""
    times = events["event_time"]
    before = events[(times < t) & (times >= t - WINDOW_DAYS * DAY)]
    in_effect = price_in_effect(before, events[(times >= t) & (times < t + LOOKAHEAD_DAYS * DAY)])
    price = in_effect["price"].to_numpy(dtype=np.float64)
    day = t.floor("D")
    base_events = events[(times >= day - WINDOW_DAYS * DAY) & (times < day)]
    window_max = base_events.groupby("product_id")["price"].max().reindex(in_effect.index).to_numpy(np.float64)
    out = pd.DataFrame({"item_id": in_effect.index.to_numpy(), "as_of": t, "item_price": price})
    out["item_base_price"] = np.fmax(window_max, price)
    out["item_discount_pct"] = 100.0 * (1.0 - out["item_price"] / out["item_base_price"])  # 0 <= price <= base
    codes = in_effect["category_code"]
    out[CATEGORY_FEATURE] = [category_of(code if isinstance(code, str) else None) for code in codes]
    return out


def candidates(
    events: pd.DataFrame,
    t: pd.Timestamp,
    horizon_days: int,
    sampling: Sampling | None = None,
    items: np.ndarray | None = None,
) -> pd.DataFrame:
    """The behaviour features and label of every pair a user viewed in the 30 days before `t` and, with
    `sampling`, of each user's sampled pairs from `items` (the catalog), sorted by user and item. A
    user's rows depend on that user's events alone."""
    past = events[events["event_time"] < t]
    w30 = past[past["event_time"] >= t - WINDOW_DAYS * DAY]
    w7 = w30[w30["event_time"] >= t - RECENT_DAYS * DAY]
    is_view30 = w30["event_type"] == "view"

    rows = w30.loc[is_view30, ["user_id", "product_id"]].drop_duplicates()
    if sampling is not None and items is not None:
        sampled = sampling.pairs(events["user_id"].unique(), w30["user_id"].unique(), rows, items, t)
        rows = pd.concat([rows, sampled], ignore_index=True)
    rows = rows.sort_values(["user_id", "product_id"]).reset_index(drop=True)
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
    out["session_item_count"] = latest["items"].fillna(0).to_numpy()  # a count: 0 without a session
    out["session_duration_minutes"] = latest["minutes"].to_numpy()
    out["item_view_count"] = per_pair(w30, "view")
    out["item_cart_count"] = per_pair(w30, "cart")

    future = events[(events["event_time"] >= t) & (events["event_time"] < t + horizon_days * DAY)]
    bought = future.loc[future["event_type"] == "purchase", ["user_id", "product_id"]].drop_duplicates()
    out["label"] = pair.isin(pd.MultiIndex.from_frame(bought)).astype(np.int8)
    return out
