"""The feature definitions on hand-made events, where every answer is known (the parity tests then hold
training's bulk derivation to them)."""

from __future__ import annotations

import math

import pytest

from purchase.features import BEHAVIOUR_FEATURES, COUNT_FEATURES
from purchase.online.definitions import (
    DAY_S,
    ItemPrices,
    PricePoint,
    UserEvent,
    base_window,
    behaviour_features,
    category_of,
    price_features,
)

T = 100 * DAY_S + 12 * 3600.0  # noon of day 100


def at(days_before: float, kind: str, item: str = "a", session: str | None = "s1") -> UserEvent:
    return UserEvent(T - days_before * DAY_S, kind, item, session)


def test_windows_are_half_open_and_end_at_t() -> None:
    events = [
        at(30, "view"),  # exactly 30 days before: inside
        at(30.0001, "view"),  # just outside
        at(7, "cart"),  # exactly 7 days before: in both windows
        at(7.0001, "cart"),  # 30-day window only
        at(0, "view"),  # at t: not before it
        at(-1, "purchase"),  # after t
        at(1, "purchase", "b"),
        at(2, "remove_from_cart"),  # not counted
    ]
    (row,) = behaviour_features(events, ["a"], T)
    assert (row["view_count_30d"], row["view_count_7d"]) == (1, 0)
    assert (row["cart_count_30d"], row["cart_count_7d"]) == (2, 1)
    assert (row["purchase_count_30d"], row["purchase_count_7d"]) == (1, 1)
    assert row["cart_to_purchase_ratio"] == 0.5
    assert row["days_since_last_view"] == 30.0 and row["days_since_last_item_view"] == 30.0
    assert (row["item_view_count"], row["item_cart_count"]) == (1, 2)


def test_pair_features_are_per_item_and_missing_without_a_view() -> None:
    events = [at(3, "view", "a"), at(1, "view", "b"), at(2, "view", "a"), at(1, "cart", "c")]
    a, c = behaviour_features(events, ["a", "c"], T)
    assert a["days_since_last_item_view"] == 2.0 and a["item_view_count"] == 2 and a["item_cart_count"] == 0
    assert math.isnan(c["days_since_last_item_view"]) and c["item_view_count"] == 0 and c["item_cart_count"] == 1
    assert a["days_since_last_view"] == c["days_since_last_view"] == 1.0


def test_one_cart_is_enough_for_a_ratio() -> None:
    (row,) = behaviour_features([at(2, "cart"), at(1, "purchase"), at(1, "purchase", "b")], ["a"], T)
    assert row["cart_to_purchase_ratio"] == 2.0


def test_no_carts_no_ratio_and_no_sessions_no_session_features() -> None:
    (row,) = behaviour_features([at(1, "view", session=None)], ["a"], T)
    assert row["view_count_30d"] == 1
    for name in ("cart_to_purchase_ratio", "avg_session_duration", "session_duration_minutes"):
        assert math.isnan(row[name]), name
    assert row["session_item_count"] == 0  # a count: none, not unknown


def test_a_user_without_events_has_counts_of_zero_and_nothing_else() -> None:
    (empty,) = behaviour_features([], ["a"], T)
    for name in COUNT_FEATURES:
        assert empty[name] == 0, name
    for name in set(BEHAVIOUR_FEATURES) - set(COUNT_FEATURES):
        assert math.isnan(empty[name]), name


def test_sessions_their_mean_and_the_one_that_ended_last() -> None:
    minute = 1 / (24 * 60)
    events = [
        at(2, "view", "a", "s9"),
        at(2 - 10 * minute, "cart", "b", "s9"),  # s9: 10 minutes, 2 items, the greatest id but not the last
        at(1, "view", "a", "s2"),
        at(1 - 4 * minute, "remove_from_cart", "c", "s2"),  # s2: 4 minutes, 2 items, ends last
        at(1 - 4 * minute, "view", "a", "s0"),  # s0: one event, ends with s2: the greater id wins
        at(40, "view", "z", "s2"),  # outside the window: not part of s2
    ]
    (row,) = behaviour_features(events, ["a"], T)
    assert row["avg_session_duration"] == pytest.approx((10 + 4 + 0) / 3)
    assert row["session_duration_minutes"] == pytest.approx(4.0)
    assert row["session_item_count"] == 2


def test_the_price_in_effect_and_the_base() -> None:
    before, after = PricePoint(T - DAY_S, 10.0, "books.fiction"), PricePoint(T + DAY_S, 8.0, "toys.games")
    assert price_features(ItemPrices(before, after, 12.0)) == {
        "item_price": 8.0,
        "item_base_price": 12.0,
        "item_discount_pct": pytest.approx(100 * (1 - 8 / 12)),
        "item_category": "toys",
    }
    only_before = price_features(ItemPrices(before, None, None))
    assert only_before == {
        "item_price": 10.0,
        "item_base_price": 10.0,
        "item_discount_pct": 0.0,
        "item_category": "books",
    }
    higher = price_features(ItemPrices(before, None, 12.0), price=15.0)
    assert higher is not None and (higher["item_price"], higher["item_base_price"], higher["item_discount_pct"]) == (
        15.0, 15.0, 0.0
    )  # fmt: skip
    assert price_features(ItemPrices(None, None, 12.0)) is None
    assert price_features(ItemPrices(None, None, None), price=5.0) is None  # no event: no category either
    assert price_features(ItemPrices(PricePoint(T, 0.0, None), None, None)) is None
    cheap = price_features(ItemPrices(PricePoint(T, 0.5, None), None, 1.0))
    assert cheap is not None and (cheap["item_price"], cheap["item_discount_pct"]) == (0.5, 50.0)


def test_categories_and_the_base_window() -> None:
    assert category_of("electronics.smartphone") == "electronics"
    assert category_of(None) == category_of("") == "unknown"
    assert base_window(T) == (70 * DAY_S, 100 * DAY_S)
    assert base_window(100 * DAY_S) == (70 * DAY_S, 100 * DAY_S)
