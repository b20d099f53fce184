"""The feature contract and its one transform (unit tests, in-process)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from purchase.features import (
    ENGINEERED_FEATURES,
    NUMERIC_FEATURES,
    REQUIRED_FEATURES,
    Preprocessor,
)
from purchase.schemas import FeatureRow
from purchase.serving.models.scoring import feature_columns
from tests.helpers import request_row

PRE = Preprocessor(categories=("books", "electronics"))


def columns(**overrides: object) -> dict[str, list[object]]:
    base: dict[str, object] = {
        "item_price": 80.0,
        "item_base_price": 100.0,
        "item_discount_pct": 20.0,
        "item_category": "books",
    }
    return {k: [v] for k, v in {**base, **overrides}.items()}


def value(matrix: np.ndarray, name: str) -> float:
    return float(matrix[0, PRE.feature_names.index(name)])


def test_feature_order_is_the_contract() -> None:
    names = PRE.feature_names
    assert names[: len(NUMERIC_FEATURES)] == list(NUMERIC_FEATURES)
    assert names[len(NUMERIC_FEATURES) : len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES)] == list(ENGINEERED_FEATURES)
    assert names[-2:] == ["category=books", "category=electronics"]
    assert PRE.num_features == len(names) == 17 + 5 + 2
    assert set(REQUIRED_FEATURES) == {"item_price", "item_base_price", "item_discount_pct", "item_category"}


def test_missing_counts_are_zero_other_missing_features_nan_and_ratios_computed() -> None:
    m = PRE.transform(columns(view_count_7d=3, view_count_30d=12))
    assert m.dtype == np.float32 and m.shape == (1, PRE.num_features)
    assert math.isnan(value(m, "days_since_last_view"))
    assert value(m, "cart_count_30d") == 0 and value(m, "cart_rate_30d") == 0  # a count left out: none known
    assert math.isnan(value(PRE.transform(columns()), "cart_rate_30d"))  # 0 / 0: missing
    assert value(m, "price_ratio") == pytest.approx(0.8)
    assert value(m, "recent_view_share") == pytest.approx(0.25)
    assert value(m, "log_item_price") == pytest.approx(math.log1p(80.0), rel=1e-6)


@pytest.mark.filterwarnings("error")  # and silently: no RuntimeWarning in the service log
def test_division_by_zero_is_missing_not_infinite() -> None:
    m = PRE.transform(columns(view_count_7d=0, view_count_30d=0, item_view_count=2))
    assert math.isnan(value(m, "recent_view_share")) and math.isnan(value(m, "item_view_share_30d"))
    assert np.isfinite(m[~np.isnan(m)]).all()


def test_categories_one_hot_case_insensitive_and_unknown_is_all_zero() -> None:
    three_rows = {name: values * 3 for name, values in columns().items()}
    three_rows["item_category"] = ["Books ", "ELECTRONICS", "Garden"]
    assert PRE.transform(three_rows)[:, -2:].tolist() == [[1, 0], [0, 1], [0, 0]]


def test_fit_keeps_categories_seen_often_enough() -> None:
    pre = Preprocessor.fit(["Books", "books", "Toys", "books", "toys", "garden"], min_count=2)
    assert pre.categories == ("books", "toys")


def test_fit_from_counts_merges_spellings_before_the_minimum() -> None:
    """Spark counts raw categories where the rows are: "Toys" once and "toys " once are two of one."""
    counts = {"Books": 1, "books": 2, "Toys": 1, "toys ": 1, "garden": 1, "Zoo": 5}
    assert Preprocessor.fit_counts(counts, min_count=2).categories == ("books", "toys", "zoo")
    assert Preprocessor.fit_counts(counts, min_count=2) == Preprocessor.fit(
        [name for name, n in counts.items() for _ in range(n)], min_count=2
    )


def test_round_trip_and_contract_check() -> None:
    assert Preprocessor.from_dict(PRE.to_dict()) == PRE
    broken = {**PRE.to_dict(), "feature_names": list(reversed(PRE.feature_names))}
    with pytest.raises(ValueError, match="feature"):
        Preprocessor.from_dict(broken)


def test_serving_rows_and_training_frames_give_the_same_matrix(test_rows: pd.DataFrame) -> None:
    """The request path (pydantic rows) and the training path (a DataFrame) meet in one transform."""
    frame = test_rows.head(200)
    rows = [FeatureRow(**request_row(r)) for _, r in frame.iterrows()]
    served = PRE.transform(feature_columns(rows))
    trained = PRE.transform(frame)
    np.testing.assert_array_equal(served, trained)


def test_the_stored_form_names_the_feature_order() -> None:
    assert PRE.to_dict() == {"categories": ["books", "electronics"], "feature_names": PRE.feature_names}


def test_each_engineered_feature_on_a_hand_made_row() -> None:
    """Every engineered feature from its own inputs: distinct values, so a feature computed from the
    wrong column shows (training and serving share the transform, so parity tests cannot)."""
    m = PRE.transform(
        columns(
            item_price=60.0,
            item_base_price=80.0,
            view_count_7d=4,
            view_count_30d=16,
            cart_count_30d=2,
            item_view_count=12,
            item_cart_count=1,
        )
    )
    assert value(m, "price_ratio") == 0.75
    assert value(m, "log_item_price") == pytest.approx(math.log1p(60.0), rel=1e-7)
    assert value(m, "recent_view_share") == 0.25
    assert value(m, "cart_rate_30d") == 0.125
    assert value(m, "item_view_share_30d") == 0.75
    for name, given in (
        ("item_price", 60.0),
        ("view_count_30d", 16.0),
        ("item_view_count", 12.0),
        ("item_cart_count", 1.0),
    ):
        assert value(m, name) == given
