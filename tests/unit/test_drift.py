"""The drift contract: the bins training stores and the bins serving counts are the same bins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from purchase.drift import (
    MONITORED,
    NUMBERS,
    PROBABILITY,
    Binning,
    Reference,
    psi,
    reference_of,
    status,
)
from purchase.features import CATEGORY_FEATURE
from purchase.training.train import split_by_time
from tests.helpers import Trained


@pytest.fixture(scope="module")
def reference(v1: Trained) -> Reference:
    return Reference.model_validate(v1.model.info.metadata["drift_reference"])


def test_training_stores_shares_that_serving_s_counts_reproduce(
    v1: Trained, dataset: object, reference: Reference
) -> None:
    train = split_by_time(dataset.examples)[0]  # type: ignore[attr-defined]
    pre, booster = v1.result.preprocessor, v1.result.booster
    matrix = pre.transform(train)
    binning = Binning.of(reference, pre)
    counted = binning.split(binning.counts(matrix, booster.inplace_predict(matrix)))
    assert reference.rows == len(train)
    for name in MONITORED:
        np.testing.assert_allclose(counted[name] / len(train), reference.shares[name], atol=1e-12)
        assert counted[name].sum() == len(train)
        assert len(reference.shares[name]) == binning.sizes[name]


def test_bins_hold_values_up_to_their_edge_and_missing_values_apart(v1: Trained) -> None:
    pre = v1.result.preprocessor
    edges = {name: np.array([1.0, 5.0]) for name in (*NUMBERS, PROBABILITY)}
    binning = Binning(edges, len(pre.categories))
    frame = pd.DataFrame(
        {"item_price": [0.5, 1.0, 3.0, 5.0, 9.0, np.nan], "item_base_price": [1.0] * 6, CATEGORY_FEATURE: "x"}
    )
    frame.loc[0, CATEGORY_FEATURE] = pre.categories[0]
    matrix = pre.transform(frame)
    counted = binning.split(binning.counts(matrix, np.array([0.0, 1.0, 2.0, 5.0, 6.0, np.nan])))
    assert counted["item_price"].tolist() == [2, 2, 1, 1]  # (-inf, 1], (1, 5], (5, inf), missing
    assert counted[PROBABILITY].tolist() == [2, 2, 1, 1]
    expected_category = [1] + [0] * (len(pre.categories) - 1) + [5]  # the first category, then unknown ones
    assert counted[CATEGORY_FEATURE].tolist() == expected_category
    assert counted["view_count_7d"].tolist() == [6, 0, 0, 0]  # not given: a count of 0
    assert counted["days_since_last_view"].tolist() == [0, 0, 0, 6]  # not given: missing


def test_the_index_grows_with_the_shift_and_its_statuses() -> None:
    expected = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(expected, np.array([250, 250, 250, 250])) == 0.0
    small, large = psi(expected, np.array([300, 250, 250, 200])), psi(expected, np.array([700, 100, 100, 100]))
    assert 0 < small < 0.1 < 0.25 < large
    assert psi(expected, np.array([1000, 0, 0, 0])) < np.inf  # an empty bin is smoothed, not infinite
    assert [status(x) for x in (0.0, 0.0999, 0.1, 0.2499, 0.25)] == ["ok", "ok", "watch", "watch", "drift"]


def test_the_test_split_is_ok_and_doubled_prices_drift_only_where_prices_count(
    v1: Trained, test_rows: pd.DataFrame, reference: Reference
) -> None:
    pre, booster = v1.result.preprocessor, v1.result.booster
    binning = Binning.of(reference, pre)

    def indexes(frame: pd.DataFrame) -> dict[str, float]:
        matrix = pre.transform(frame)
        counted = binning.split(binning.counts(matrix, booster.inplace_predict(matrix)))
        return {name: psi(np.asarray(reference.shares[name]), counted[name]) for name in MONITORED}

    assert {name for name, x in indexes(test_rows).items() if status(x) != "ok"} == set()
    doubled = indexes(test_rows.assign(item_price=test_rows["item_price"] * 2))
    assert {name for name, x in doubled.items() if status(x) == "drift"} == {
        "item_price",
        "log_item_price",
        "price_ratio",
    }


def test_reference_of_merges_tied_deciles(v1: Trained) -> None:
    pre = v1.result.preprocessor
    frame = pd.DataFrame({"item_price": [1.0] * 90 + [2.0] * 10, "item_base_price": 1.0, CATEGORY_FEATURE: "x"})
    matrix = pre.transform(frame)
    found = reference_of(pre, matrix, np.linspace(0, 1, 100))
    assert found.edges["item_price"] == pytest.approx([1.0, 1.1])  # eight deciles at 1.0 merged; the ninth between
    assert found.edges["days_since_last_view"] == [] and found.shares["days_since_last_view"] == [0.0, 1.0]
    assert found.edges["view_count_7d"] == [0.0] and found.shares["view_count_7d"] == [1.0, 0.0, 0.0]  # all 0
