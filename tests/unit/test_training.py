"""Data generation, feature derivation from event logs and training, in-process."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from purchase.features import BEHAVIOUR_FEATURES, CATEGORY_FEATURE, PRICE_FEATURES
from purchase.training import events, synthetic
from purchase.training.evaluate import METRICS, evaluate, expected_calibration_error, format_table
from purchase.training.train import Dataset, fit, load_dataset, split_by_time, weighted
from tests.helpers import SMALL, Trained, quiet

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def log() -> synthetic.SyntheticLog:
    return synthetic.generate(n_users=200, n_days=63, seed=3)


def test_generator_is_seeded_and_writes_the_public_schema(log: synthetic.SyntheticLog) -> None:
    again = synthetic.generate(n_users=200, n_days=63, seed=3)
    pd.testing.assert_frame_equal(log.events, again.events)
    assert not log.events.equals(synthetic.generate(n_users=200, n_days=63, seed=4).events)
    assert tuple(log.events.columns) == events.EVENT_COLUMNS
    assert set(log.events["event_type"]) == {"view", "cart", "purchase"}
    span = log.events["event_time"].max() - log.events["event_time"].min()
    assert span >= 60 * DAY


def test_a_generated_log_ends_on_the_day_it_is_generated(log: synthetic.SyntheticLog) -> None:
    """So that features "as of now" find its last 30 days: its last events are of yesterday (UTC)."""
    today = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    assert today - DAY <= log.events["event_time"].max() < today
    assert log.start == today - 63 * DAY


def test_behaviour_features_use_nothing_from_after_the_as_of_time(log: synthetic.SyntheticLog) -> None:
    t = events.snapshot_times(log.events, 28, 7, 7)[1]
    full = events.build_examples(log.events, [t], 7)
    # Rewrite the future: drop half of it, change its prices. Behaviour features must not move.
    future = log.events[log.events["event_time"] >= t].copy()
    future["price"] = future["price"] * 3
    changed = pd.concat([log.events[log.events["event_time"] < t], future.sample(frac=0.5, random_state=0)])
    rebuilt = events.build_examples(changed.sort_values("event_time"), [t], 7)
    columns = ["user_id", "item_id", *BEHAVIOUR_FEATURES, "item_category"]
    pd.testing.assert_frame_equal(full[columns], rebuilt[columns])
    assert not full["label"].equals(rebuilt["label"])  # the labels do look ahead, so the check can fail
    assert not full["item_price"].equals(rebuilt["item_price"])  # the price in effect at t does too


def test_the_price_is_the_one_in_effect_at_the_as_of_time() -> None:
    """Hand-made: the first price at or after t within the 7-day look-ahead, else the last one in the 30 days
    before t; the base price is the highest of the 30 whole days before t's day or the price in effect."""
    t = pd.Timestamp("2024-02-01")

    def event(day: float, item: str, price: float, kind: str = "view", user: str = "u") -> dict[str, object]:
        when = t + pd.Timedelta(days=day)
        fixed = {"category_id": 1, "category_code": "books.x", "brand": "b", "user_session": f"{user}{when:%j}"}
        return {"event_time": when, "event_type": kind, "product_id": item, "price": price, "user_id": user, **fixed}

    log = pd.DataFrame(
        [
            event(-40, "a", 50.0),  # beyond the 30-day window: neither the last price nor the base
            event(-20, "a", 12.0),
            event(-2, "a", 10.0),
            event(0.5, "a", 8.0, user="v"),
            event(3, "a", 9.0),
            event(-3, "b", 20.0),
            event(9, "b", 5.0),  # b's next price falls after the 7-day window
            event(-1, "c", 30.0),
            event(0, "c", 40.0),  # at t exactly: in effect, and a new highest price
        ]
    ).sort_values("event_time", kind="stable")
    rows = events.build_examples(log, [t], 7).set_index("item_id")
    assert rows.loc[["a", "b", "c"], "item_price"].tolist() == [8.0, 20.0, 40.0]
    assert rows.loc[["a", "b", "c"], "item_base_price"].tolist() == [12.0, 20.0, 40.0]
    assert rows.loc["a", "item_discount_pct"] == pytest.approx(100 * (1 - 8 / 12))
    assert rows.loc[["b", "c"], "item_discount_pct"].tolist() == [0.0, 0.0]


def hand_made_log(t: pd.Timestamp, *events_: tuple, sort: bool = True) -> pd.DataFrame:
    """Events (days after t, kind, item, price, user[, category code]), sorted as read_events sorts."""
    rows = []
    for days, kind, item, price, user, *code in events_:
        when = t + pd.Timedelta(days=days)
        rows.append({"event_time": when, "event_type": kind, "product_id": item, "category_id": 1,
                     "category_code": code[0] if code else "books.x", "brand": "b", "price": price,
                     "user_id": user, "user_session": f"{user}{when:%j}"})  # fmt: skip
    log = pd.DataFrame(rows)
    return log.sort_values("event_time", kind="stable").reset_index(drop=True) if sort else log


def test_every_window_edge_on_a_hand_made_log() -> None:
    """Behaviour windows [t-30d, t) and [t-7d, t), labels in [t, t+horizon), the look-ahead [t, t+7d),
    the base price's whole days before t's day; missing category codes; the ratio's missing cases."""
    t = pd.Timestamp("2024-02-01 12:00")
    log = hand_made_log(
        t,
        (-7, "view", "a", 10.0, "u"),  # the 7-day window's first instant: counted
        (-2, "view", "a", 10.0, "u"),
        (0, "view", "a", 10.0, "u"),  # at t: the future, not behaviour
        (-1, "purchase", "b", 5.0, "u"),  # a purchase without a cart: no ratio, not an infinite one
        (7, "purchase", "a", 10.0, "u"),  # at t + horizon: after the label window
        (-3, "view", "c", 30.0, "w"),
        (-3 + 1 / 24, "cart", "c", 30.0, "w"),
        (-3 + 2 / 24, "purchase", "c", 30.0, "w"),  # one cart, one purchase: a ratio of 1
        (7, "view", "c", 5.0, "x"),  # at t + 7 days: after the look-ahead, not the price in effect
        (-1, "view", "d", 20.0, "w"),
        (-0.5, "view", "d", 99.0, "x"),  # at midnight of t's day: outside the base price's whole days
        (1, "view", "d", 15.0, "x"),
        (-1, "view", "e", 7.0, "w", float("nan")),  # no category code (as read from a CSV)
        (-30, "view", "f", 40.0, "v"),  # the 30-day window's first instant: counted
        (-1, "view", "f", 10.0, "v"),
        (-30.5, "view", "g", 60.0, "x"),  # midnight 30 days before t's day: the base window's first instant
        (-1, "view", "g", 10.0, "v"),
        (-1, "view", "h", 0.0, "v"),  # free: no usable price, so not an example
    )
    examples = events.build_examples(log, [t], 7)
    assert list(examples.columns) == [*events.ID_FIELDS, "as_of", *BEHAVIOUR_FEATURES, *PRICE_FEATURES,
                                      CATEGORY_FEATURE, "label"]  # fmt: skip
    rows = examples.set_index(["user_id", "item_id"])
    u, w = rows.loc[("u", "a")], rows.loc[("w", "c")]
    assert (u["view_count_7d"], u["view_count_30d"], u["purchase_count_30d"], u["label"]) == (2, 2, 1, 0)
    assert np.isnan(u["cart_to_purchase_ratio"]) and w["cart_to_purchase_ratio"] == 1.0
    assert w["item_price"] == 30.0
    assert (rows.loc[("w", "d"), "item_price"], rows.loc[("w", "d"), "item_base_price"]) == (15.0, 20.0)
    assert rows.loc[("w", "e"), CATEGORY_FEATURE] == "unknown"
    v = rows.loc[("v", "f")]
    assert (v["view_count_30d"], v["item_view_count"], v["item_base_price"]) == (4, 2, 40.0)
    assert rows.loc[("v", "g"), "item_base_price"] == 60.0 and ("v", "h") not in rows.index
    # With a longer horizon, the look-ahead still ends 7 days after t: c's price is its last, not the 5.0 at t + 7 d.
    longer = events.build_examples(log, [t], 14).set_index(["user_id", "item_id"])
    assert longer.loc[("w", "c"), "item_price"] == 30.0


def test_events_at_the_same_time_keep_the_log_order() -> None:
    """Of several events at one instant, the first in the log is the first after t, the last the last
    before, whatever the order of the log around them (the derivation sorts it, stably)."""
    t = pd.Timestamp("2024-02-01")
    ahead = [(1, "view", "a", float(1 + k), "u") for k in range(100)]
    ahead += [(k % 5 + 0.5, "view", "x", 3.0, "u") for k in range(100)]  # earlier in time, later in the log
    behind = [(-1, "view", "b", float(100 + k), "u") for k in range(100)]
    behind += [(-(k % 5 + 0.5), "view", "y", 3.0, "u") for k in range(100)] + [(-1, "view", "a", 2.0, "u")]
    unsorted = hand_made_log(t, *ahead, *behind, sort=False)
    rows = events.build_examples(unsorted, [t], 7).set_index("item_id")
    assert (rows.loc["a", "item_price"], rows.loc["b", "item_price"]) == (1.0, 199.0)


def test_labels_are_purchases_within_the_horizon(log: synthetic.SyntheticLog) -> None:
    t = events.snapshot_times(log.events, 28, 7, 7)[0]
    examples = events.build_examples(log.events, [t], 7)
    ev = log.events
    window = ev[(ev["event_type"] == "purchase") & (ev["event_time"] >= t) & (ev["event_time"] < t + 7 * DAY)]
    bought = set(zip(window["user_id"], window["product_id"]))
    assert examples["label"].tolist() == [int(pair in bought) for pair in zip(examples["user_id"], examples["item_id"])]
    assert 0 < examples["label"].mean() < 0.5


def test_derived_features_match_a_hand_count(log: synthetic.SyntheticLog) -> None:
    t = events.snapshot_times(log.events, 28, 7, 7)[0]
    row = events.build_examples(log.events, [t], 7).iloc[0]
    ev = log.events
    mine = ev[(ev["user_id"] == row["user_id"]) & (ev["event_time"] < t)]
    views_7d = mine[(mine["event_type"] == "view") & (mine["event_time"] >= t - 7 * DAY)]
    item_views = mine[(mine["event_type"] == "view") & (mine["product_id"] == row["item_id"])]
    assert row["view_count_7d"] == len(views_7d)
    assert row["item_view_count"] == len(item_views[item_views["event_time"] >= t - 30 * DAY])
    assert row["days_since_last_item_view"] == pytest.approx((t - item_views["event_time"].max()) / DAY)
    item = ev[ev["product_id"] == row["item_id"]]
    upcoming = item[(item["event_time"] >= t) & (item["event_time"] < t + 7 * DAY)]["price"]
    price = upcoming.iloc[0] if len(upcoming) else item[item["event_time"] < t]["price"].iloc[-1]
    assert row["item_price"] == price
    recent = item[(item["event_time"] < t) & (item["event_time"] >= t - 30 * DAY)]["price"]
    assert row["item_base_price"] == max(recent.max(), price)


def test_oracle_is_the_known_propensity(log: synthetic.SyntheticLog) -> None:
    t = events.snapshot_times(log.events, 28, 7, 7)[0]
    examples = events.build_examples(log.events, [t], 7)
    oracle = log.oracle(examples["user_id"].to_numpy(), examples["item_id"].to_numpy(), examples["as_of"], 7)
    assert ((oracle > 0) & (oracle < 1)).all()
    # Calibrated by construction: the mean propensity matches the observed purchase rate.
    assert oracle.mean() == pytest.approx(examples["label"].mean(), abs=0.03)


def test_time_split_keeps_the_future_out_of_training(dataset: Dataset) -> None:
    train, val, test = split_by_time(dataset.examples)
    assert train["as_of"].max() < val["as_of"].min() <= val["as_of"].max() < test["as_of"].min()


def test_training_is_deterministic_and_reports_every_metric(dataset: Dataset, v1: Trained) -> None:
    again = fit(dataset, SMALL, quiet)
    assert again.metrics == v1.result.metrics
    assert set(again.metrics) == {"xgboost", "logistic_regression", "oracle"}
    assert all(set(scores) == set(METRICS) for scores in again.metrics.values())
    other = fit(load_dataset(replace(SMALL, seed=8), None, quiet), SMALL, quiet)
    assert other.metrics != again.metrics


def test_model_beats_chance_and_the_oracle_bounds_it(v1: Trained) -> None:
    metrics = v1.result.metrics
    assert 0.6 < metrics["xgboost"]["auc"] < metrics["oracle"]["auc"]


def test_saved_model_carries_tag_labels_and_metadata(v1: Trained) -> None:
    info = v1.model.info
    assert re.fullmatch(r"xgboost_\d{8}_\d{6}", v1.version)
    assert {k: info.labels[k] for k in ("stage", "framework")} == {"stage": "production", "framework": "xgboost"}
    assert datetime.fromisoformat(info.labels["promoted_at"]).tzinfo is not None
    assert info.metadata["metrics"] == v1.result.metrics
    assert info.metadata["feature_names"] == v1.result.preprocessor.feature_names
    assert info.metadata["categories"] == list(v1.result.preprocessor.categories)
    assert re.fullmatch(r"[0-9a-f]{16}", info.metadata["data_fingerprint"])
    assert {"xgboost", "bentoml", "scikit-learn"} <= set(info.metadata["library_versions"])


def test_calibration_error() -> None:
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert expected_calibration_error(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0])) == pytest.approx(1.0)
    # By hand, ten bins: 0.45 and 0.46 share bin 4 (|0.5 - 0.455| x 2), 0.85 is bin 8, 0.95 bin 9.
    hand = expected_calibration_error(y[[0, 2, 1, 3]], np.array([0.45, 0.46, 0.85, 0.95]))
    assert hand == pytest.approx((0.09 + 0.85 + 0.05) / 4)


LOG_CSV = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
    "2024-01-02 11:00:00+01:00,view,007,2,12,b,9.5,0042,007\n"
    "2024-01-02 11:30:00+01:00,purchase,007,2,,b,9.5,0042,007\n"
)


def test_read_events_keeps_ids_as_text_and_times_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(LOG_CSV)
    log = events.read_events(path)
    assert log["product_id"].tolist() == ["007", "007"] and log["user_id"].tolist() == ["0042", "0042"]
    assert log["user_session"].tolist() == ["007", "007"] and log["category_code"].iloc[0] == "12"
    assert log["event_time"].tolist() == [pd.Timestamp("2024-01-02 10:00:00"), pd.Timestamp("2024-01-02 10:30:00")]
    assert log["event_time"].dt.tz is None


def test_read_events_names_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"event_time": ["2024-01-01"], "event_type": ["view"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match=r"missing columns \['product_id', 'category_id', 'category_code', 'brand'"):
        events.read_events(bad)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(LOG_CSV.replace(",purchase,", ",refund,").replace(",view,", ",wishlist,"))
    with pytest.raises(ValueError, match=r"unknown.csv: unknown event_type values \['refund', 'wishlist'\]"):
        events.read_events(unknown)


def test_stored_metrics_are_those_of_the_test_split(dataset: Dataset, v1: Trained) -> None:
    """Recomputed from the stored booster on the last as-of time: not the validation split, not training."""
    _, val, test = split_by_time(dataset.examples)
    booster, preprocessor = v1.result.booster, v1.result.preprocessor
    stored = v1.model.info.metadata["metrics"]

    def scores(frame: pd.DataFrame) -> dict[str, float]:
        p = booster.inplace_predict(preprocessor.transform(frame))
        return evaluate(frame["label"].to_numpy(), p, weighted(frame, SMALL)[1])

    assert stored["xgboost"] == pytest.approx(scores(test), rel=1e-9)
    assert stored["xgboost"]["auc"] != pytest.approx(scores(val)["auc"], rel=1e-9)
    unweighted = evaluate(test["label"].to_numpy(), booster.inplace_predict(preprocessor.transform(test)))
    assert stored["xgboost"]["auc"] != pytest.approx(unweighted["auc"], rel=1e-9)  # the serving mix, not the rows'
    assert dataset.oracle is not None
    oracle = evaluate(test["label"].to_numpy(), dataset.oracle(test), weighted(test, SMALL)[1])
    assert stored["oracle"] == pytest.approx(oracle, rel=1e-9)
    assert v1.model.info.metadata["rows"] == {
        "train": len(dataset.examples) - len(val) - len(test),
        "validation": len(val),
        "test": len(test),
    }


def test_the_comparison_table_lists_every_model_and_metric() -> None:
    table = format_table({"xgboost": dict.fromkeys(METRICS, 0.5), "oracle": dict.fromkeys(METRICS, 0.25)}).splitlines()
    assert table[0].split() == ["model", *METRICS]
    assert set(table[1]) == {"-"} and len(table[1]) == len(table[0])
    assert table[2].split() == ["xgboost", *["0.5000"] * len(METRICS)]
    assert table[3].split() == ["oracle", *["0.2500"] * len(METRICS)]


def test_metrics_bound_certain_wrong_answers() -> None:
    """A probability of exactly 0 or 1 that is wrong costs -log(1e-7) in log loss, not infinity."""
    scores = evaluate(np.array([1, 0, 1, 0]), np.array([0.0, 1.0, 0.9, 0.1]))
    assert scores["log_loss"] == pytest.approx((2 * -np.log(1e-7) + 2 * -np.log(0.9)) / 4, rel=1e-6)


def test_as_of_times_leave_a_whole_label_window_after_each() -> None:
    """Days 0 to 41 of events: as-of midnights after 28 days of warm-up, every 7 days, while the 7-day
    label window still ends by the midnight after the last event (day 42)."""
    start = pd.Timestamp("2026-01-01")
    times = [start + pd.Timedelta(days=d, hours=10) for d in range(42)]
    log = pd.DataFrame({"event_time": times})
    assert events.snapshot_times(log, 28, 7, 7) == [start + 28 * DAY, start + 35 * DAY]
    assert events.snapshot_times(log.iloc[:-1], 28, 7, 7) == [start + 28 * DAY]  # day 41 missing: 35 + 7 > 41


def test_examples_of_several_as_of_times_have_one_row_index(log: synthetic.SyntheticLog) -> None:
    times = events.snapshot_times(log.events, 28, 7, 7)[:2]
    examples = events.build_examples(log.events, times, 7)
    assert examples["as_of"].nunique() == 2
    assert examples.index.equals(pd.RangeIndex(len(examples)))


def test_a_log_too_short_for_the_time_split_is_refused_before_any_derivation() -> None:
    with pytest.raises(ValueError, match=r"^2 as-of times, and the time split needs 3 \(train, validation, test\)"):
        load_dataset(replace(SMALL, n_days=45), None, quiet)
