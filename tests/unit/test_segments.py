"""The population: segments read from the features, the sampled pairs, the weights, and the quality by
segment a version stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from purchase.features import NUMERIC_FEATURES, Preprocessor
from purchase.segments import SEGMENTS, Segment, matrix_segment_codes, segment_codes, segment_names
from purchase.training import events, synthetic
from purchase.training.sampling import Sampling, segment_weights
from purchase.training.train import Dataset, fit, split_by_time
from tests.helpers import SMALL, Trained

DAY = pd.Timedelta(days=1)


def test_a_segment_is_read_from_the_counts_and_a_missing_count_is_zero() -> None:
    columns = {
        "item_view_count": [2, 0, 0, None, 0],
        "view_count_30d": [5, 3, 0, None, 0],
        "cart_count_30d": [0, 0, 0, None, 0],
        "purchase_count_30d": [0, 0, 0, None, 0],
        "session_item_count": [1, 1, 0, None, 2],  # a session alone makes a user known
    }
    assert segment_names(segment_codes(columns)) == ["viewed", "unviewed", "new_user", "new_user", "unviewed"]
    matrix = Preprocessor(categories=()).transform({**columns, "item_category": ["x"] * 5})
    assert matrix_segment_codes(matrix).tolist() == segment_codes(columns).tolist()
    assert not np.isnan(matrix[:, NUMERIC_FEATURES.index("view_count_30d")]).any()  # counts reach the model as 0


@pytest.fixture(scope="module")
def log() -> synthetic.SyntheticLog:
    return synthetic.generate(n_users=120, n_days=45, seed=3)


def test_sampled_pairs_are_each_user_s_own_and_the_unviewed_ones_were_not_viewed(log: synthetic.SyntheticLog) -> None:
    t = events.snapshot_times(log.events, 28, 7, 7)[0]
    sampling = Sampling(seed=1, unviewed_per_user=5, new_user_items=7)
    full = events.build_examples(log.events, [t], 7, sampling)
    window = log.events[(log.events["event_time"] < t) & (log.events["event_time"] >= t - 30 * DAY)]
    viewed = set(map(tuple, window.loc[window["event_type"] == "view", ["user_id", "product_id"]].to_numpy()))
    codes = segment_codes(full)
    pairs = list(zip(full["user_id"], full["item_id"]))
    assert len(set(pairs)) == len(pairs)
    assert all((pair in viewed) == (code == 0) for pair, code in zip(pairs, codes))
    per_user = full[codes == SEGMENTS.index(Segment.UNVIEWED)].groupby("user_id").size()
    assert per_user.max() == 5 and len(per_user) > 100
    # A user's pairs depend on that user's events alone: the Spark path derives each bucket of users apart.
    some = sorted(log.events["user_id"].unique())[::3]
    alone = events.candidates(
        log.events[log.events["user_id"].isin(some)], t, 7, sampling, events.catalog(events.item_prices(log.events, t))
    )
    both = events.candidates(log.events, t, 7, sampling, events.catalog(events.item_prices(log.events, t)))
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), both[both["user_id"].isin(some)].reset_index(drop=True))
    assert not events.build_examples(log.events, [t], 7, Sampling(seed=2, unviewed_per_user=5)).equals(full)


def test_a_purchase_of_an_item_not_yet_viewed_is_a_positive_of_the_unviewed_segment() -> None:
    t = pd.Timestamp("2026-03-01")
    rows = [
        ("2026-02-20 10:00", "view", "a", "u"),
        ("2026-02-20 10:00", "view", "b", "v"),
        ("2026-03-02 10:00", "view", "b", "u"),
        ("2026-03-02 10:05", "purchase", "b", "u"),
    ]
    log = pd.DataFrame(
        {
            "event_time": pd.to_datetime([r[0] for r in rows]),
            "event_type": [r[1] for r in rows],
            "product_id": [r[2] for r in rows],
            "category_id": 1,
            "category_code": "home.kitchen",
            "brand": "x",
            "price": 10.0,
            "user_id": [r[3] for r in rows],
            "user_session": [f"s-{r[3]}" for r in rows],
        }
    )
    examples = events.build_examples(log, [t], 7, Sampling(unviewed_per_user=5)).set_index(["user_id", "item_id"])
    assert examples.loc[("u", "b"), "label"] == 1
    assert segment_names(segment_codes(examples.loc[[("u", "b")]])) == ["unviewed"]
    assert examples.loc[("u", "b"), "item_view_count"] == 0 and np.isnan(
        examples.loc[("u", "b"), "days_since_last_item_view"]
    )


def test_each_segment_gets_its_share_of_an_as_of_time_and_its_rows_weigh_the_same() -> None:
    codes = np.array([0, 0, 0, 1, 2, 0, 1])
    as_of = np.array([1, 1, 1, 1, 1, 2, 2])
    weights = segment_weights(codes, as_of, (0.5, 0.3, 0.2))
    first = weights[as_of == 1]
    assert first.sum() == pytest.approx(5)
    assert [first[codes[as_of == 1] == k].sum() / 5 for k in range(3)] == pytest.approx([0.5, 0.3, 0.2])
    # No new user at the second time: the other two shares are spread over its rows, 5 to 3.
    assert weights[as_of == 2].tolist() == pytest.approx([2 * 0.5 / 0.8, 2 * 0.3 / 0.8])


def test_every_segment_is_calibrated_on_the_test_split(v1: Trained) -> None:
    """The calibration rule of the population issue: per segment, the mean probability within
    max(0.01, 20%) of the observed rate, and ECE at most 0.02."""
    quality = v1.result.metadata["segments"]
    assert set(quality) == {"overall", *(s.value for s in SEGMENTS)}
    for name, entry in quality.items():
        rate, figures = entry["purchase_rate"], entry["xgboost"]
        assert abs(figures["mean_probability"] - rate) <= max(0.01, 0.2 * rate), name
        assert figures["ece"] <= 0.02, name


def test_the_stored_quality_is_that_of_the_test_split_s_rows(v1: Trained, dataset: Dataset) -> None:
    test = split_by_time(dataset.examples)[2]
    assert len(v1.result.evaluation.labels) == len(test)
    quality = v1.result.metadata["segments"]
    evaluation = v1.result.evaluation
    assert evaluation.segments is not None and evaluation.weights is not None
    for k, segment in enumerate(SEGMENTS):
        rows = evaluation.segments == k
        assert quality[segment.value]["rows"] == int(rows.sum())
        assert quality[segment.value]["purchase_rate"] == pytest.approx(float(evaluation.labels[rows].mean()))
        mean = float(np.clip(evaluation.scores["xgboost"][rows], 1e-7, 1 - 1e-7).mean())
        assert quality[segment.value]["xgboost"]["mean_probability"] == pytest.approx(mean)
    overall = np.average(evaluation.labels, weights=evaluation.weights)
    assert quality["overall"]["purchase_rate"] == pytest.approx(overall)


def test_a_log_without_a_segment_trains_on_the_others_and_says_so_in_one_line(dataset: Dataset) -> None:
    codes = segment_codes(dataset.examples)
    without = Dataset(dataset.examples[codes != SEGMENTS.index(Segment.NEW_USER)], dataset.source, dataset.oracle)
    said: list[str] = []
    result = fit(without, SMALL, said.append)
    assert "new_user" not in result.metadata["segments"] and "viewed" in result.metadata["segments"]
    assert [line for line in said if line.startswith("new_user:")] == [
        "new_user: no rows in the test split (the log is too small to sample it): not evaluated"
    ]
