"""Serving-time prediction: the loaded model, adaptive batching, atomic swaps, response assembly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import anyio
import bentoml
import numpy as np
import xgboost as xgb
from bentoml._internal.marshal.dispatcher import CorkDispatcher

from . import store
from .errors import ModelNotLoaded, Overloaded, PredictionFailed
from .features import CATEGORY_FEATURE, NUMERIC_FEATURES, Preprocessor
from .schemas import FeatureRow, PredictRequest, PredictResponse, Prediction
from .settings import Settings

logger = logging.getLogger(__name__)

# Confidence is how far the probability sits from the threshold, as a share of the way to 0 or 1.
HIGH_CONFIDENCE_MARGIN = 0.5
MEDIUM_CONFIDENCE_MARGIN = 0.2


def confidence(probability: np.ndarray, threshold: float) -> list[str]:
    above = probability >= threshold
    room = np.where(above, 1.0 - threshold, threshold)
    with np.errstate(divide="ignore", invalid="ignore"):
        margin = np.where(room > 0, np.abs(probability - threshold) / room, 1.0)
    levels = np.where(margin >= HIGH_CONFIDENCE_MARGIN, "high", np.where(margin >= MEDIUM_CONFIDENCE_MARGIN, "medium", "low"))
    return levels.tolist()


def feature_columns(rows: Sequence[FeatureRow]) -> dict[str, list[object]]:
    """Validated request rows → the columns `Preprocessor.transform` takes (None stays missing)."""
    return {name: [getattr(row, name) for row in rows] for name in (*NUMERIC_FEATURES, CATEGORY_FEATURE)}


@dataclass
class ServingModel:
    """One loaded version with its own batching queue, so a batch never mixes two versions."""

    model: bentoml.Model
    booster: xgb.Booster
    preprocessor: Preprocessor
    loaded_at: datetime
    source_path: str | None
    max_batch_rows: int
    max_latency_ms: int

    def __post_init__(self) -> None:
        self.version = self.model.tag.version
        self._in_flight = 0
        self._dispatcher: CorkDispatcher[np.ndarray, np.ndarray | None] = CorkDispatcher(
            self.max_latency_ms,
            self.max_batch_rows,
            fallback=lambda: None,  # what a request cancelled for overload receives
            get_batch_size=len,
            batch_dim=(0, 0),
        )
        self._batched_score = self._dispatcher(self._score_batch)

    def _score_batch(self, matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Rows of concurrent requests scored in one model call (run in a worker thread)."""
        stacked = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
        probabilities = self.booster.inplace_predict(stacked)
        return np.split(probabilities, np.cumsum([len(m) for m in matrices])[:-1])

    async def score(self, matrix: np.ndarray) -> np.ndarray:
        self._in_flight += 1
        try:
            probabilities = await self._batched_score(matrix)
        except Exception as exc:
            logger.exception("prediction failed with model %s", self.version)
            raise PredictionFailed("Prediction failed") from exc
        finally:
            self._in_flight -= 1
        if probabilities is None:
            raise Overloaded("Service overloaded: the prediction queue is full, retry shortly")
        return probabilities

    async def close(self) -> None:
        """Stop batching once the requests already queued for this version are answered."""
        while self._in_flight:
            await asyncio.sleep(0.05)
        self._dispatcher.shutdown()


class Predictor:
    """Holds the serving model. A swap replaces one reference, so each request sees one whole model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.current: ServingModel | None = None
        self._load_lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    def build(self, model: bentoml.Model, source_path: str | None = None) -> ServingModel:
        """Load and check a model without touching the one serving (blocking: call off the event loop)."""
        booster, preprocessor = store.load(model)
        booster.set_param({"nthread": self.settings.xgb_threads})
        serving = ServingModel(
            model=model,
            booster=booster,
            preprocessor=preprocessor,
            loaded_at=datetime.now(timezone.utc),
            source_path=source_path,
            max_batch_rows=self.settings.max_batch_size,
            max_latency_ms=self.settings.batch_max_latency_ms,
        )
        # A model that cannot score a row must fail here, not on live traffic.
        serving.booster.inplace_predict(np.full((1, preprocessor.num_features), np.nan, dtype=np.float32))
        return serving

    async def load(self, model: bentoml.Model, source_path: str | None = None) -> ServingModel:
        async with self._load_lock:  # concurrent loads run one after another
            serving = await anyio.to_thread.run_sync(self.build, model, source_path)
            previous, self.current = self.current, serving
        logger.info("now serving %s", model.tag)
        if previous is not None:
            task = asyncio.create_task(previous.close())
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return serving

    async def load_archive(self, model_path: str) -> ServingModel:
        path = store.archive_path(self.settings.model_dir, model_path)
        model = await anyio.to_thread.run_sync(store.import_archive, path)
        return await self.load(model, source_path=model_path)

    def require(self) -> ServingModel:
        if self.current is None:
            raise ModelNotLoaded()
        return self.current

    async def predict(self, request: PredictRequest) -> PredictResponse:
        started = time.perf_counter()
        serving = self.require()
        matrix = serving.preprocessor.transform(feature_columns(request.features))
        probabilities = (await serving.score(matrix)).astype(np.float64)
        threshold = self.settings.default_threshold if request.threshold is None else request.threshold
        labels = (probabilities >= threshold).astype(int).tolist()
        levels = confidence(probabilities, threshold)
        shown = probabilities.tolist() if request.return_probabilities else [None] * len(labels)
        predictions = [
            Prediction(user_id=row.user_id, item_id=row.item_id, prediction=label, probability=p, confidence=level)
            for row, label, p, level in zip(request.features, labels, shown, levels)
        ]
        return PredictResponse(
            predictions=predictions,
            model_version=serving.version,
            timestamp=datetime.now(timezone.utc),
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
        )
