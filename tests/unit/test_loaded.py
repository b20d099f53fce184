"""One loaded version, in-process with a real model: scoring through its batcher and cache, failures mapped."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from purchase.errors import PredictionFailed
from purchase.features import CATEGORY_FEATURE, ID_FIELDS
from purchase.serving.models.version import load_version
from purchase.settings import Settings
from tests.helpers import Trained, request_row


def test_a_model_that_fails_to_score_gives_prediction_failed(v1: Trained) -> None:
    """A real booster of another width raises inside XGBoost; the client sees 500 'Prediction failed'."""
    serving = load_version(v1.model, Settings())
    narrow = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(np.random.rand(20, 3), label=np.arange(20) % 2), 2)
    broken = replace(serving, booster=narrow)
    with pytest.raises(PredictionFailed) as info:
        asyncio.run(broken.score({"item_category": ["books"], "item_price": [1.0]}))
    assert info.value.status_code == 500 and info.value.detail == "Prediction failed"


def test_scoring_through_the_batcher_equals_the_booster(v1: Trained) -> None:
    serving = load_version(v1.model, Settings())
    rows = [
        {"item_category": [category], "item_price": [price]} for category, price in (("books", 5.0), ("toys", 50.0))
    ]

    async def many() -> list[np.ndarray]:
        return await asyncio.gather(*(serving.score(rows[i % 2]) for i in range(20)))

    for i, result in enumerate(asyncio.run(many())):
        expected = v1.result.booster.inplace_predict(serving.preprocessor.transform(rows[i % 2]))
        assert result.tolist() == pytest.approx(expected.tolist(), abs=1e-7)


def test_the_cache_keeps_rows_that_differ_only_in_category_apart(v1: Trained, test_rows: pd.DataFrame) -> None:
    """Two rows equal but for the category, scored differently by the model: each cached answer is its own.
    The first test row whose category moves its probability is the base (found, not assumed)."""
    serving = load_version(v1.model, Settings(enable_caching=True, cache_size=100))
    categories = serving.preprocessor.categories

    def variants(row: pd.Series) -> list[dict[str, list[object]]]:
        base = {name: [value] for name, value in request_row(row).items() if name not in ID_FIELDS}
        return [{**base, CATEGORY_FEATURE: [category]} for category in categories]

    def scores(rows: list[dict[str, list[object]]]) -> list[float]:
        return [float(v1.result.booster.inplace_predict(serving.preprocessor.transform(row))[0]) for row in rows]

    rows, direct = next(
        (rows, direct)
        for rows in map(variants, (row for _, row in test_rows.head(500).iterrows()))
        if max(direct := scores(rows)) - min(direct) > 1e-4
    )
    first, other = 0, next(i for i, p in enumerate(direct) if abs(p - direct[0]) > 1e-4)

    async def twice() -> list[float]:
        return [float((await serving.score(rows[i]))[0]) for i in (first, other, first, other)]

    assert asyncio.run(twice()) == pytest.approx([direct[first], direct[other]] * 2, abs=1e-7)
    assert serving.cache is not None and len(serving.cache) == 2
