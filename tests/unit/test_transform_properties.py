"""Properties of the transform over generated request rows (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purchase.features import COUNT_FEATURES, NUMERIC_FEATURES, PRICE_FEATURES, Preprocessor
from purchase.schemas import MAX_AMOUNT, MAX_COUNT, FeatureRow
from purchase.serving.models.scoring import feature_columns

PRE = Preprocessor(categories=("books", "electronics", "toys"))


counts = st.none() | st.integers(0, MAX_COUNT)


amounts = st.none() | st.floats(0, MAX_AMOUNT)


rows = st.builds(
    FeatureRow,
    user_id=st.text(min_size=1, max_size=20),
    item_id=st.text(min_size=1, max_size=20),
    item_price=st.floats(min_value=0.01, max_value=MAX_AMOUNT),
    item_base_price=st.floats(min_value=0.01, max_value=MAX_AMOUNT),
    item_discount_pct=st.floats(0, 100),
    item_category=st.sampled_from(["Books", "toys", "garden", " ELECTRONICS "]),
    **{name: counts for name in COUNT_FEATURES},
    **{name: amounts for name in NUMERIC_FEATURES if name not in COUNT_FEATURES and name not in PRICE_FEATURES},
)


@given(st.lists(rows, min_size=1, max_size=20))
@settings(max_examples=200, deadline=None)
def test_transform_properties(batch: list[FeatureRow]) -> None:
    m = PRE.transform(feature_columns(batch))
    assert m.shape == (len(batch), PRE.num_features) and m.dtype == np.float32
    assert not np.isinf(m).any()  # missing is NaN, never infinite
    one_hot = m[:, -3:]
    assert set(np.unique(one_hot)) <= {0.0, 1.0} and (one_hot.sum(axis=1) <= 1).all()
    for i, row in enumerate(batch):
        for j, name in enumerate(NUMERIC_FEATURES):
            value = getattr(row, name)
            if value is None:
                assert m[i, j] == 0 if name in COUNT_FEATURES else math.isnan(m[i, j]), name
            else:
                assert m[i, j] == np.float32(value)
        ratio = m[i, PRE.feature_names.index("price_ratio")]
        assert ratio == pytest.approx(row.item_price / row.item_base_price, rel=1e-5)
    # Each row's features depend on that row alone: order and neighbours change nothing.
    np.testing.assert_array_equal(PRE.transform(feature_columns(batch[::-1])), m[::-1])
