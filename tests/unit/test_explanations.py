"""Contributions named by the request's features: the category's one-hot columns summed into one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from purchase.explanations import EXPLAINED_FEATURES, contributions, mean_absolute
from purchase.features import CATEGORY_FEATURE, ENGINEERED_FEATURES, NUMERIC_FEATURES
from tests.helpers import Trained


@pytest.mark.parametrize("method", ["exact", "approximate"])
def test_contributions_group_the_category_and_sum_to_the_margin(
    v1: Trained, test_rows: pd.DataFrame, method: str
) -> None:
    booster, pre = v1.result.booster, v1.result.preprocessor
    matrix = pre.transform(test_rows.head(200))
    found = contributions(booster, pre, matrix, method)  # type: ignore[arg-type]
    raw = booster.predict(
        xgb.DMatrix(matrix, feature_names=pre.feature_names),
        pred_contribs=True,
        approx_contribs=method == "approximate",
    )
    named = len(NUMERIC_FEATURES) + len(ENGINEERED_FEATURES)
    assert found.values.shape == (200, len(EXPLAINED_FEATURES)) == (200, named + 1)
    np.testing.assert_allclose(found.values[:, :named], raw[:, :named])
    np.testing.assert_allclose(
        found.values[:, EXPLAINED_FEATURES.index(CATEGORY_FEATURE)], raw[:, named:-1].sum(1), atol=1e-6
    )
    assert np.abs(raw[:, named:-1]).sum() > 0  # the category columns do contribute on these rows
    np.testing.assert_allclose(found.base, raw[:, -1])
    margin = booster.predict(xgb.DMatrix(matrix, feature_names=pre.feature_names), output_margin=True)
    np.testing.assert_allclose(found.logits, margin, atol=1e-5)


def test_global_importance_is_the_mean_absolute_contribution_largest_first(
    v1: Trained, test_rows: pd.DataFrame
) -> None:
    booster, pre = v1.result.booster, v1.result.preprocessor
    found = contributions(booster, pre, pre.transform(test_rows.head(300)))
    importance = mean_absolute(found)
    assert list(importance) == sorted(importance, key=importance.__getitem__, reverse=True)
    assert set(importance) == set(EXPLAINED_FEATURES)
    price = EXPLAINED_FEATURES.index("item_price")
    assert importance["item_price"] == pytest.approx(np.abs(found.values[:, price]).mean())
