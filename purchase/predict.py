"""Serving-time prediction: loaded models, adaptive batching, traffic routing, swaps across workers."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import operator
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, NamedTuple

import anyio
import bentoml
import numpy as np
import xgboost as xgb

from . import metrics, store
from .batching import Batcher
from .cache import RowCache
from .errors import InvalidInput, ModelNotLoaded, Overloaded, PredictionFailed, PurchaseError
from .features import CATEGORY_FEATURE, NUMERIC_FEATURES, Preprocessor
from .fleet import POLL_S, Fleet, ModelRef, Target
from .schemas import FeatureRow, PredictRequest, encode_predict_response
from .settings import Settings

logger = logging.getLogger(__name__)

# Confidence is how far the probability sits from the threshold, as a share of the way to 0 or 1.
HIGH_CONFIDENCE_MARGIN = 0.5
MEDIUM_CONFIDENCE_MARGIN = 0.2
PRODUCTION_POLL_S = 1.0


def confidence(probability: np.ndarray, threshold: float) -> list[str]:
    # Plain Python: for the usual few rows numpy's per-call overhead cost 25 times as much.
    levels = []
    for p in probability.tolist():
        room = 1.0 - threshold if p >= threshold else threshold
        margin = abs(p - threshold) / room if room > 0 else 1.0
        levels.append("high" if margin >= HIGH_CONFIDENCE_MARGIN else "medium" if margin >= MEDIUM_CONFIDENCE_MARGIN else "low")
    return levels


MODEL_INPUTS = (*NUMERIC_FEATURES, CATEGORY_FEATURE)
_model_inputs_of = operator.attrgetter(*MODEL_INPUTS)


def feature_columns(rows: Sequence[FeatureRow]) -> dict[str, Sequence[object]]:
    """Validated request rows → the columns `Preprocessor.transform` takes (None stays missing)."""
    return dict(zip(MODEL_INPUTS, zip(*map(_model_inputs_of, rows))))


def user_bucket(user_id: str) -> float:
    """A stable position in [0, 1) for a user: the same on every worker, process and restart."""
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big") / 2**64


class Answer(NamedTuple):
    body: bytes  # a PredictResponse, as JSON
    model_version: str


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

    def __post_init__(self) -> None:
        self.version = self.model.tag.version
        self.tag = str(self.model.tag)
        self._batcher = Batcher(self._score_batch, self.max_batch_rows, self.max_queued_rows)
        self.cache = RowCache(self.cache_rows) if self.cache_rows else None

    def _score_batch(self, matrices: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Rows of concurrent requests scored in one model call (run in a worker thread)."""
        stacked = np.concatenate(matrices) if len(matrices) > 1 else matrices[0]
        metrics.record_batch(len(matrices), len(stacked))
        probabilities = self.booster.inplace_predict(stacked)
        return np.split(probabilities, np.cumsum([len(m) for m in matrices])[:-1])

    async def score(self, columns: dict[str, Sequence[object]]) -> np.ndarray:
        matrix = self.preprocessor.transform(columns)
        if self.cache is None:
            return await self._score_matrix(matrix)
        keys = [row.tobytes() for row in matrix]
        found = [self.cache.get(key) for key in keys]
        missing = [i for i, p in enumerate(found) if p is None]
        metrics.record_cache(hits=len(keys) - len(missing), misses=len(missing))
        if missing:
            for i, p in zip(missing, (await self._score_matrix(matrix[missing])).tolist()):
                found[i] = p
                self.cache.put(keys[i], p)
        return np.array(found, dtype=np.float64)

    async def _score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        try:
            probabilities = await self._batcher.score(matrix)
        except Overloaded:
            raise
        except Exception as exc:
            logger.exception("prediction failed with model %s", self.version)
            raise PredictionFailed("Prediction failed") from exc
        return probabilities.astype(np.float64)

    async def close(self) -> None:
        """Let the requests already queued for this version finish before it is dropped."""
        while not self._batcher.idle:
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Routing:
    """What this worker serves. Replaced whole on every change, so a request sees one consistent set."""

    primary: ServingModel
    candidate: ServingModel | None = None
    candidate_share: float = 0.0
    shadow: ServingModel | None = None
    generation: int = 0

    def models(self) -> dict[str, ServingModel]:
        return {m.tag: m for m in (self.primary, self.candidate, self.shadow) if m is not None}

    def roles(self) -> dict[str, str]:
        """{version: role}, for the serving gauge."""
        pairs = (("shadow", self.shadow), ("candidate", self.candidate), ("primary", self.primary))
        return {m.version: role for role, m in pairs if m is not None}

    def target(self) -> Target:
        def ref(m: ServingModel | None) -> ModelRef | None:
            return ModelRef(m.tag, m.source_path) if m else None

        return Target(ref(self.primary), ref(self.candidate), self.candidate_share, ref(self.shadow), self.generation)


def _subset(columns: dict[str, Sequence[object]], rows: np.ndarray) -> dict[str, Sequence[object]]:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


@dataclass
class Predictor:
    """Holds this worker's routing, applies model changes, and keeps them in step with the fleet."""

    settings: Settings
    fleet: Fleet | None = None
    routing: Routing | None = None
    _load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def current(self) -> ServingModel | None:
        return self.routing.primary if self.routing else None

    def build(self, model: bentoml.Model, source_path: str | None = None) -> ServingModel:
        """Load and check a model without touching the ones serving (blocking: call off the event loop)."""
        started = time.perf_counter()
        booster, preprocessor = store.load(model)
        booster.set_param({"nthread": self.settings.xgb_threads})
        serving = ServingModel(
            model=model,
            booster=booster,
            preprocessor=preprocessor,
            loaded_at=datetime.now(timezone.utc),
            source_path=source_path,
            max_batch_rows=self.settings.max_batch_size,
            max_queued_rows=self.settings.max_queued_rows,
            cache_rows=self.settings.cache_size if self.settings.enable_caching else 0,
        )
        # A model that cannot score a row must fail here, not on live traffic.
        serving.booster.inplace_predict(np.full((1, preprocessor.num_features), np.nan, dtype=np.float32))
        logger.debug("loaded %s in %.1f ms", model.tag, (time.perf_counter() - started) * 1000)
        return serving

    def load_initial(self, default_tag: str | None) -> None:
        """Blocking, at start: `default_tag` (else production, else newest), with AB_MODEL and SHADOW_MODEL."""
        model = store.default_model(default_tag)
        if model is None:
            raise ModelNotLoaded(f"the model store holds no {store.MODEL_NAME}: serving nothing until /load-model")
        candidate = ModelRef(str(store.get(self.settings.ab_model).tag)) if self.settings.ab_model else None
        shadow = ModelRef(str(store.get(self.settings.shadow_model).tag)) if self.settings.shadow_model else None
        share = self.settings.ab_share if candidate else 0.0
        self.routing = self.build_routing(Target(ModelRef(str(model.tag)), candidate, share, shadow))
        metrics.record_load(ok=True)
        metrics.record_serving({}, self.routing.roles())
        logger.info("serving %s", self.routing.primary.tag)

    def build_routing(self, target: Target) -> Routing:
        """Blocking: models already loaded here are reused, the others loaded and checked."""
        loaded = self.routing.models() if self.routing else {}

        def get(ref: ModelRef | None) -> ServingModel | None:
            if ref is None:
                return None
            serving = loaded.get(ref.tag)
            if serving is not None and serving.source_path == ref.source_path:
                return serving
            return self.build(store.get(ref.tag), ref.source_path)

        primary = get(target.primary)
        assert primary is not None
        return Routing(primary, get(target.candidate), target.candidate_share, get(target.shadow), target.generation)

    async def apply(self, target: Target) -> Routing:
        """Serve `target` in this worker; on any error the current routing stays."""
        async with self._load_lock:
            try:
                routing = await anyio.to_thread.run_sync(self.build_routing, target)
            except Exception:
                metrics.record_load(ok=False)
                raise
            metrics.record_load(ok=True)
            previous, self.routing = self.routing, routing
            metrics.record_serving(previous.roles() if previous else {}, routing.roles())
        kept = routing.models()
        for old in (previous.models() if previous else {}).values():
            if old.tag not in kept:
                self._spawn(old.close())
        logger.info("serving %s (generation %d)", routing.primary.tag, routing.generation)
        return routing

    async def change(self, edit: Callable[[Target | None], Target]) -> tuple[Routing, int]:
        """Apply `edit` to the fleet's target here, publish it, and wait for every worker.
        Returns the new routing and how many workers serve it."""
        if self.fleet is None:
            return await self.apply(edit(self.routing.target() if self.routing else None)), 1
        async with self.fleet.exclusive():
            current = self.fleet.read() or (self.routing.target() if self.routing else None)
            routing = await self.apply(edit(current))  # raises before anything is published
            published = self.fleet.publish(routing.target())
            self.routing = replace(routing, generation=published.generation)
            self.fleet.acknowledge(published.generation)
            switched = await anyio.to_thread.run_sync(self.fleet.wait_for, published.generation)
        return self.routing, switched

    async def load(self, ref: ModelRef) -> tuple[Routing, int]:
        """Make `ref` the primary version everywhere; an A/B candidate or shadow equal to it is dropped."""

        def edit(target: Target | None) -> Target:
            if target is None:
                return Target(ref)
            candidate = None if target.candidate and target.candidate.tag == ref.tag else target.candidate
            shadow = None if target.shadow and target.shadow.tag == ref.tag else target.shadow
            return Target(ref, candidate, target.candidate_share if candidate else 0.0, shadow)

        return await self.change(edit)

    async def load_archive(self, model_path: str) -> tuple[Routing, int]:
        path = store.archive_path(self.settings.model_dir, model_path)
        model = await anyio.to_thread.run_sync(store.import_archive, path)
        return await self.load(ModelRef(str(model.tag), model_path))

    async def set_traffic(self, candidate: str | None, share: float, shadow: str | None) -> tuple[Routing, int]:
        """A/B split and shadow; the primary stays. Tags are resolved (404) before anything changes."""
        refs = {name: ModelRef(str(store.get(tag).tag)) if tag else None for name, tag in (("candidate", candidate), ("shadow", shadow))}

        def edit(target: Target | None) -> Target:
            if target is None:
                raise ModelNotLoaded()
            for ref in refs.values():
                if ref and ref.tag == target.primary.tag:
                    raise InvalidInput(f"{ref.tag} is the primary version already")
            return Target(target.primary, refs["candidate"], share if refs["candidate"] else 0.0, refs["shadow"])

        return await self.change(edit)

    async def _follow_fleet(self) -> None:
        """Every worker, forever: serve what the fleet publishes. Never waits for the lock, so a worker
        busy publishing (or waiting to) still acknowledges the others' changes."""
        assert self.fleet is not None
        while True:
            await asyncio.sleep(POLL_S)
            try:
                if self.fleet.changed():
                    await self._catch_up(self.fleet.read())
            except Exception:  # the loop must outlive any one failure
                logger.exception("following the fleet failed; retrying")

    async def _publish_first_target(self) -> None:
        """The first worker up publishes what it serves, so a worker restarted later (after a crash)
        rejoins the fleet's models rather than its own start-up default."""
        assert self.fleet is not None
        if self.routing is None:
            return
        async with self.fleet.exclusive():
            if self.fleet.read() is None:
                published = self.fleet.publish(self.routing.target())
                self.routing = replace(self.routing, generation=published.generation)
                self.fleet.acknowledge(published.generation)

    async def _follow_production(self) -> None:
        """One worker per server (FOLLOW_PRODUCTION): publish each version promoted from now on (a
        restarted worker must not undo a /load-model made since the last promotion)."""
        last_production = await anyio.to_thread.run_sync(store.production_tag)
        while True:
            await asyncio.sleep(PRODUCTION_POLL_S)
            try:
                production = await anyio.to_thread.run_sync(store.production_tag)
                if production is not None and production != last_production:
                    last_production = production
                    if self.current is None or self.current.tag != production:
                        await self.load(ModelRef(production))
            except Exception:
                logger.exception("following the production version failed; retrying")

    async def _catch_up(self, target: Target | None) -> None:
        if target is None or (self.routing and target.generation <= self.routing.generation):
            return
        try:
            await self.apply(target)
        except PurchaseError as exc:
            logger.error("cannot serve generation %d: %s", target.generation, exc.detail)
            self.fleet.acknowledge(target.generation, error=exc.detail)
            return
        self.fleet.acknowledge(target.generation)

    def require(self) -> Routing:
        if self.routing is None:
            raise ModelNotLoaded()
        return self.routing

    async def predict(self, request: PredictRequest) -> Answer:
        started = time.perf_counter()
        routing = self.require()
        rows = request.features
        threshold = self.settings.default_threshold if request.threshold is None else request.threshold
        columns = feature_columns(rows)
        versions: list[str] | None = None
        if routing.candidate is None:
            probabilities = await routing.primary.score(columns)
            metrics.record_scored(routing.primary.version, "primary", probabilities, threshold)
        else:
            probabilities, versions = await self._split(routing, rows, columns, threshold)
        if routing.shadow is not None:
            self._spawn(self._shadow(routing.shadow, columns, probabilities >= threshold, threshold))
        labels = (probabilities >= threshold).astype(int).tolist()
        predictions: list[dict[str, Any]] = [
            {"user_id": row.user_id, "item_id": row.item_id, "prediction": label, "probability": p, "confidence": level}
            for row, label, p, level in zip(rows, labels, probabilities.tolist(), confidence(probabilities, threshold))
        ]
        if not request.return_probabilities:
            for prediction in predictions:
                del prediction["probability"]
        # During an A/B test each row names its version; the answer's is the one that scored every row,
        # or the primary's when both did.
        model_version = routing.primary.version
        if versions is not None:
            for prediction, version in zip(predictions, versions):
                prediction["model_version"] = version
            if len(set(versions)) == 1:
                model_version = versions[0]
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        return Answer(encode_predict_response(predictions, model_version, datetime.now(timezone.utc), latency_ms), model_version)

    async def _split(
        self, routing: Routing, rows: Sequence[FeatureRow], columns: dict[str, Sequence[object]], threshold: float
    ) -> tuple[np.ndarray, list[str]]:
        """A/B: each user's rows go to the candidate when the user's bucket falls in its share."""
        assert routing.candidate is not None
        to_candidate = np.array([user_bucket(row.user_id) < routing.candidate_share for row in rows])
        probabilities = np.empty(len(rows))
        versions = [""] * len(rows)
        groups = [
            (model, role, np.flatnonzero(mask))
            for model, role, mask in ((routing.primary, "primary", ~to_candidate), (routing.candidate, "candidate", to_candidate))
            if mask.any()
        ]
        scores = await asyncio.gather(*(m.score(_subset(columns, idx)) for m, _, idx in groups))
        for (model, role, idx), p in zip(groups, scores):
            probabilities[idx] = p
            for i in idx:
                versions[i] = model.version
            metrics.record_scored(model.version, role, p, threshold)
        return probabilities, versions

    async def _shadow(self, shadow: ServingModel, columns: dict[str, Sequence[object]], answered: np.ndarray, threshold: float) -> None:
        """Score the same rows with the shadow version; record agreement, never touch the response."""
        try:
            probabilities = await shadow.score(columns)
        except PurchaseError:
            return  # a shadow's failure or overload is its own business
        classes = metrics.record_scored(shadow.version, "shadow", probabilities, threshold)
        metrics.record_shadow(shadow.version, int((classes == answered).sum()), len(classes))

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        """Run in the background, holding a reference so the task is not collected mid-way."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def start_following(self) -> None:
        if self.fleet is None:
            return
        self._spawn(self._follow_fleet())
        self._spawn(self._publish_first_target())  # a task of its own: it may wait for the lock
        if self.settings.follow_production and self.fleet.worker == 1:
            self._spawn(self._follow_production())
