"""One loaded model version: checked at load, scored through its own batching queue and cache."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import bentoml
import numpy as np
import xgboost as xgb

from ... import store
from ...errors import Overloaded, PredictionFailed
from ...explanations import Contributions, Method, contributions
from ...features import Preprocessor
from ...scoring import score_matrix
from ...settings import Settings
from .. import metrics
from .batching import Batcher
from .cache import RowCache
from .drift_counting import VersionDrift
from .shared_cache import SharedCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Explained:
    matrix: np.ndarray  # what the model saw
    probabilities: np.ndarray  # as /predict answers them
    contributions: Contributions


@dataclass
class ServingModel:
    """One loaded version with its own batching queue, so a batch never mixes two versions."""

    model: bentoml.Model
    booster: xgb.Booster
    preprocessor: Preprocessor
    loaded_at: datetime
    source_path: str | None
    max_batch_rows: int
    max_queued_rows: int
    cache_rows: int = 0  # 0: no cache
    shared: SharedCache | None = None  # the fleet's level, behind this worker's own
    drift: VersionDrift | None = None  # None: stored without a reference distribution

    def __post_init__(self) -> None:
        assert self.model.tag.version is not None  # a stored model always has one
        self.version: str = self.model.tag.version
        self.tag = str(self.model.tag)
        self._batcher = Batcher(self._score_batch, self.max_batch_rows, self.max_queued_rows)
        self.cache = RowCache(self.cache_rows) if self.cache_rows else None

    def _score_batch(self, matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Rows of concurrent requests scored in one model call (run in a worker thread)."""
        stacked = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
        metrics.record_batch(len(matrices), len(stacked))
        probabilities = score_matrix(self.booster, stacked)
        return np.split(probabilities, np.cumsum([len(m) for m in matrices])[:-1])

    async def score(self, columns: dict[str, Sequence[object]]) -> np.ndarray:
        matrix = self.preprocessor.transform(columns)
        probabilities = await self._score_matrix(matrix) if self.cache is None else await self._cached(matrix)
        if self.drift is not None:
            self.drift.note(matrix, probabilities)
        return probabilities

    async def _cached(self, matrix: np.ndarray) -> np.ndarray:
        assert self.cache is not None
        keys = [row.tobytes() for row in matrix]
        found = [self.cache.get(key) for key in keys]
        missing = [i for i, p in enumerate(found) if p is None]
        metrics.record_cache("local", hits=len(keys) - len(missing), misses=len(missing))
        shared_keys: list[str] = []
        if missing and self.shared is not None:
            missing, shared_keys = await self._from_shared(keys, found, missing)
        if missing:
            scored = (await self._score_matrix(matrix[missing])).tolist()
            for i, p in zip(missing, scored):
                found[i] = p
                self.cache.put(keys[i], p)
            if self.shared is not None:
                self.shared.put(list(zip(shared_keys, scored)))
        return np.array(found, dtype=np.float64)

    async def _from_shared(
        self, keys: list[bytes], found: list[float | None], missing: list[int]
    ) -> tuple[list[int], list[str]]:
        """Fill `found` from the shared level; returns the rows still missing and their shared keys."""
        assert self.shared is not None and self.cache is not None
        shared_keys = [self.shared.key(self.version, keys[i]) for i in missing]
        still: list[int] = []
        still_keys: list[str] = []
        for i, key, p in zip(missing, shared_keys, await self.shared.get(shared_keys)):
            if p is None:
                still.append(i)
                still_keys.append(key)
            else:
                found[i] = p
                self.cache.put(keys[i], p)
        metrics.record_cache("shared", hits=len(missing) - len(still), misses=len(still))
        return still, still_keys

    async def _score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        try:
            probabilities = await self._batcher.score(matrix)
        except Overloaded:
            raise
        except Exception as exc:
            logger.exception("prediction failed with model %s", self.version)
            raise PredictionFailed("Prediction failed") from exc
        return probabilities

    async def explain(self, columns: dict[str, Sequence[object]], method: Method) -> Explained:
        """Outside the batching queue, in a worker thread: contributions cost more than scores."""
        matrix = self.preprocessor.transform(columns)

        def run() -> Explained:
            found = contributions(self.booster, self.preprocessor, matrix, method)
            return Explained(matrix, score_matrix(self.booster, matrix), found)

        try:
            return await anyio.to_thread.run_sync(run, limiter=_explaining())
        except Exception as exc:
            logger.exception("explanation failed with model %s", self.version)
            raise PredictionFailed("Explanation failed") from exc

    async def close(self) -> None:
        """Let the requests already queued for this version finish before it is dropped, and count their
        rows for drift (the monitor only flushes the versions serving)."""
        while not self._batcher.idle:
            await asyncio.sleep(0.05)
        if self.drift is not None and (pending := self.drift.take()):
            await anyio.to_thread.run_sync(self.drift.count, pending)


@functools.cache
def _explaining() -> anyio.CapacityLimiter:
    """One explanation at a time per worker: the other threads stay free for /predict's batches."""
    return anyio.CapacityLimiter(1)


def load_version(
    model: bentoml.Model, settings: Settings, source_path: str | None = None, shared: SharedCache | None = None
) -> ServingModel:
    """Load and check a model without touching the ones serving (blocking: call off the event loop)."""
    started = time.perf_counter()
    booster, preprocessor = store.load(model)
    booster.set_param({"nthread": settings.xgb_threads})
    serving = ServingModel(
        model=model,
        booster=booster,
        preprocessor=preprocessor,
        loaded_at=datetime.now(UTC),
        source_path=source_path,
        max_batch_rows=settings.max_batch_size,
        max_queued_rows=settings.max_queued_rows,
        cache_rows=settings.cache_size if settings.enable_caching else 0,
        shared=shared if settings.enable_caching else None,
        drift=VersionDrift.of(model, preprocessor) if settings.drift_monitoring else None,
    )
    # A model that cannot score a row must fail here, not on live traffic.
    serving.booster.inplace_predict(np.full((1, preprocessor.num_features), np.nan, dtype=np.float32))
    logger.debug("loaded %s in %.1f ms", model.tag, (time.perf_counter() - started) * 1000)
    return serving
