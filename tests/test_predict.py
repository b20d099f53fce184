"""Serving internals in-process, with a real model: confidence, failure mapping, archive paths."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from purchase import store
from purchase.batching import Batcher
from purchase.cache import RowCache
from purchase.errors import InvalidInput, OutsideModelDir, PredictionFailed
from purchase.predict import Predictor, confidence
from purchase.settings import Settings

from .conftest import Trained


def test_confidence_rule() -> None:
    p = np.array([0.78, 0.65, 0.55, 0.1, 0.35, 0.45, 1.0, 0.0])
    assert confidence(p, 0.5) == ["high", "medium", "low", "high", "medium", "low", "high", "high"]
    assert confidence(np.array([0.0, 1.0]), 0.0) == ["low", "high"]
    assert confidence(np.array([1.0]), 1.0) == ["high"]  # no room above the threshold: p = 1 is certain


def test_a_model_that_fails_to_score_gives_prediction_failed(v1: Trained) -> None:
    """A real booster of another width raises inside XGBoost; the client sees 500 'Prediction failed'."""
    serving = Predictor(Settings()).build(v1.model)
    narrow = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(np.random.rand(20, 3), label=np.arange(20) % 2), 2)
    broken = replace(serving, booster=narrow)
    with pytest.raises(PredictionFailed) as info:
        asyncio.run(broken.score({"item_category": ["books"], "item_price": [1.0]}))
    assert info.value.status_code == 500 and info.value.detail == "Prediction failed"


def test_scoring_through_the_batcher_equals_the_booster(v1: Trained) -> None:
    serving = Predictor(Settings()).build(v1.model)
    rows = [{"item_category": [category], "item_price": [price]} for category, price in (("books", 5.0), ("toys", 50.0))]

    async def many() -> list[np.ndarray]:
        return await asyncio.gather(*(serving.score(rows[i % 2]) for i in range(20)))

    for i, result in enumerate(asyncio.run(many())):
        expected = v1.result.booster.inplace_predict(serving.preprocessor.transform(rows[i % 2]))
        assert result.tolist() == pytest.approx(expected.tolist(), abs=1e-7)


def test_a_lone_request_is_scored_on_the_event_loop_and_a_batch_in_a_thread() -> None:
    calls: list[tuple[bool, int]] = []

    def first_column(matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        calls.append((threading.current_thread() is threading.main_thread(), len(matrices)))
        return [m[:, 0] for m in matrices]

    batcher = Batcher(first_column, max_batch_rows=1000, max_queued_rows=10_000)

    async def requests() -> list[np.ndarray]:
        await batcher.score(np.zeros((1, 2)))
        return await asyncio.gather(*(batcher.score(np.full((i + 1, 2), float(i))) for i in range(5)))

    answers = asyncio.run(requests())
    assert calls == [(True, 1), (False, 5)]
    assert [a.tolist() for a in answers] == [[float(i)] * (i + 1) for i in range(5)]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("a.bentomodel", "a.bentomodel"), ("models/a.bentomodel", "a.bentomodel"), ("sub/b.bentomodel", "sub/b.bentomodel")],
)
def test_archive_paths_resolve_inside_model_dir(tmp_path: Path, requested: str, expected: str) -> None:
    root = tmp_path / "models"
    assert store.archive_path(root, requested) == root.resolve() / expected


@pytest.mark.parametrize("requested", ["../a.bentomodel", "/etc/a.bentomodel", "models/../../a.bentomodel"])
def test_archive_paths_outside_model_dir_are_refused(tmp_path: Path, requested: str) -> None:
    with pytest.raises(OutsideModelDir):
        store.archive_path(tmp_path / "models", requested)


def test_archive_paths_must_name_an_exported_archive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        store.archive_path(tmp_path / "models", "a.pkl")


def test_row_cache_evicts_the_least_recently_used() -> None:
    cache = RowCache(max_rows=2)
    cache.put(b"a", 0.1)
    cache.put(b"b", 0.2)
    assert cache.get(b"a") == 0.1  # a is now the most recent
    cache.put(b"c", 0.3)
    assert (cache.get(b"b"), cache.get(b"a"), cache.get(b"c"), len(cache)) == (None, 0.1, 0.3, 2)

