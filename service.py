"""The purchase-prediction service: the spec's routes on BentoML. Wiring only: each route hands its
request to the serving core (purchase.serving) and answers with what it returns."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import bentoml
import orjson
from fastapi import Request, Response

from purchase import __version__, store
from purchase.errors import FeaturesOff, PurchaseError, StoreUnavailable
from purchase.jobs.runner import JobRunner
from purchase.jobs.submit import Submissions
from purchase.jobs.work import places
from purchase.online import open_store
from purchase.online.records import stored
from purchase.online.schemas import EventsRequest, EventsResponse, FeaturesResponse
from purchase.schemas import (
    ApiInfo,
    Health,
    LoadModelRequest,
    LoadModelResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    SparseFeatureRow,
    StorePredictRequest,
    TrafficInfo,
    TrafficRequest,
)
from purchase.serving import (  # the route modules declare their routes on the same app
    drift_routes,  # noqa: F401  (/drift)
    explain_routes,  # noqa: F401  (/explain)
    http_limits,
    job_routes,  # noqa: F401  (/jobs: batch jobs)
    metrics,
    model_page,  # noqa: F401  (/models: the versions, their reports, promotion)
    oip_routes,  # noqa: F401  (the Open Inference Protocol's /v2 routes)
)
from purchase.serving.codec import encode_predict_response, parse_predict_request, traffic_info
from purchase.serving.counts import counts_by_version
from purchase.serving.drift_monitor import DriftMonitor
from purchase.serving.edge import Edge, note_model_version
from purchase.serving.explaining import Explainer
from purchase.serving.filling import FeatureFiller
from purchase.serving.fleet import ModelRef, open_fleet
from purchase.serving.following import Follower
from purchase.serving.http import (
    CLIENT_PREDICT,
    PREDICT_BODY,
    ROUTE_TABLE,
    TITLE,
    app,
    as_bentoml_errors,
    errors,
    routes,
)
from purchase.serving.lifecycle import ModelManager
from purchase.serving.logs import configure_logging
from purchase.serving.outermost import wrap_outermost
from purchase.serving.runtime import UNTRACED, tune_garbage_collector
from purchase.serving.scoring import Scorer
from purchase.serving.security import Access
from purchase.serving.shared import connect
from purchase.serving.shared_cache import SharedCache
from purchase.serving.startup import building, refuse_a_bento_without_model, refuse_a_taken_port
from purchase.settings import get_settings

settings = get_settings(dotenv=not building())  # .env configures a run, never a built Bento
# uvicorn reads this when it builds each worker's server, after importing this module; "" trusts no proxy.
os.environ["FORWARDED_ALLOW_IPS"] = ",".join(settings.trusted_proxies)
http_limits.install(settings)
# A built Bento names its model (purchase.cli.build); DEFAULT_MODEL in the environment still wins.
PACKAGED_MODEL: str | None = getattr(bentoml.use_arguments(), "model", None)
refuse_a_bento_without_model(PACKAGED_MODEL)
if bentoml.server_context.worker_index is None:
    refuse_a_taken_port(settings.api_host, settings.api_port)
configure_logging(settings)
logger = logging.getLogger("purchase.service")


@bentoml.service(
    workers=settings.api_workers,
    traffic={"timeout": 30},
    logging={"access": {"enabled": False}},  # as configuration.yaml, for a `bentoml serve` without it
    tracing=UNTRACED,
    http={
        "host": settings.api_host,
        "port": settings.api_port,
        "cors": {
            "enabled": True,
            "access_control_allow_origins": settings.cors_origins,
            "access_control_allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
            "access_control_allow_headers": ["*"],
        },
    },
)
@bentoml.asgi_app(app, path="/")
class PurchasePrediction:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.worker = bentoml.server_context.worker_index or 1
        self.redis = connect(settings)
        self.fleet = open_fleet(store.home(), self.worker, self.redis)
        shared_cache = SharedCache(self.redis, settings.shared_cache_ttl_s) if self.redis else None
        self.models = ModelManager(settings, self.fleet, shared_cache)
        self.follower = Follower(self.models, self.fleet, self.worker == 1, settings.follow_production)
        self.scorer = Scorer(self.models, settings.default_threshold)
        self.explainer = Explainer(self.models, settings.default_threshold)
        self.drift = DriftMonitor(self.models, settings, lead=self.worker == 1)
        self.feature_store = open_store(settings)
        self.filler = FeatureFiller(self.feature_store) if self.feature_store else None
        self.job_table, self.job_files = places(settings)
        self.submissions = Submissions(self.job_table, self.job_files, settings)
        self.job_runner = JobRunner(self.job_table, self.job_files, settings, self.worker)
        try:
            self.models.load_initial(settings.default_model or PACKAGED_MODEL)
        except PurchaseError as exc:  # start anyway: /readyz stays 503 and /load-model can fix it
            logger.error("no model loaded at start: %s", exc.detail)

    @bentoml.on_startup
    async def start(self) -> None:
        self.follower.start()
        self.drift.start()
        self.job_runner.start()
        tune_garbage_collector()

    @bentoml.on_shutdown
    async def stop(self) -> None:
        await self.job_runner.stop()
        if self.feature_store is not None:
            await self.feature_store.close()
        await self.fleet.close()

    def __is_ready__(self) -> bool:
        return self.models.current is not None and self.follower.synced

    @routes.get("/", Access.PUBLIC, response_model=ApiInfo)
    async def root(self) -> ApiInfo:
        return ApiInfo(name=TITLE, version=__version__, status="running", docs="/docs", health="/health")

    @routes.get("/health", Access.PUBLIC, response_model=Health)
    async def health(self) -> Health:
        current = self.models.current
        return Health(
            status="healthy" if current else "degraded",
            model_loaded=current is not None,
            model_version=current.version if current else None,
            uptime_seconds=round(time.monotonic() - self.started, 3),
            timestamp=datetime.now(UTC),
        )

    @routes.post(
        "/predict",
        Access.PREDICT,
        response_model=PredictResponse,
        responses=errors(400, 401, 403, 413, 429, 500, 503),
        openapi_extra=PREDICT_BODY,
    )
    async def predict_route(self, request: Request) -> Response:
        """Will each user buy each item? With the online store only the ids are required: features left
        out are computed from the events it holds as of `as_of` (header `X-Feature-Source`)."""
        # The hot path reads the raw body itself (purchase.serving.codec).
        body, headers = await self._answer(request.headers.get("content-type"), await request.body(), request.scope)
        return Response(body, media_type="application/json", headers=headers)

    @bentoml.api(route=CLIENT_PREDICT)
    async def predict(
        self,
        features: list[SparseFeatureRow],
        threshold: float | None = None,
        return_probabilities: bool = True,
        as_of: datetime | None = None,
    ) -> dict[str, Any]:
        """/predict for BentoML's Python client: `client.predict(features=[...])`. The same checks and
        answer; an error is the client's exception, naming the field."""
        given = {"features": [row.model_dump(exclude_unset=True) for row in features]}
        options = {"threshold": threshold, "return_probabilities": return_probabilities, "as_of": as_of}
        body = orjson.dumps({**given, **{k: v for k, v in options.items() if v is not None}})
        with as_bentoml_errors():
            answer, _ = await self._answer("application/json", body, {})
        return dict(orjson.loads(answer))

    async def _answer(self, content_type: str | None, body: bytes, scope: Any) -> tuple[bytes, dict[str, str]]:
        started = time.perf_counter()
        # X-Worker: which worker answered, for debugging multi-worker serving.
        headers = {"X-Worker": str(self.worker)}
        if self.filler is not None:
            sparse = parse_predict_request(content_type, body, StorePredictRequest)
            parsed, headers["X-Feature-Source"] = await self.filler.complete(sparse)
        else:
            parsed = parse_predict_request(content_type, body, PredictRequest)
        scored = await self.scorer.predict(parsed)
        latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
        note_model_version(scope, scored.model_version)
        return encode_predict_response(scored, parsed.return_probabilities, datetime.now(UTC), latency_ms), headers

    @routes.post(
        "/features", Access.PREDICT, response_model=FeaturesResponse, responses=errors(400, 401, 403, 404, 413, 429)
    )
    async def features(self, request: StorePredictRequest) -> FeaturesResponse:
        """The features /predict would score for these rows, completed from the online store as of `as_of`."""
        if self.filler is None:
            raise FeaturesOff()
        completed, source = await self.filler.complete(request)
        return FeaturesResponse.model_validate(
            {"features": [vars(row) for row in completed.features], "source": source}
        )

    @routes.post(
        "/events", Access.PREDICT, response_model=EventsResponse, responses=errors(400, 401, 403, 404, 413, 429, 503)
    )
    async def events(self, request: EventsRequest) -> EventsResponse:
        """Behaviour events into the online store, all or nothing (README, "Features")."""
        if self.feature_store is None:
            raise FeaturesOff()
        try:
            result = await self.feature_store.write([stored(event) for event in request.events])
        except StoreUnavailable:
            metrics.record_events(failed=len(request.events))
            raise
        metrics.record_events(stored=result.stored, duplicate=result.duplicates, expired=result.expired)
        return EventsResponse(
            accepted=len(request.events), stored=result.stored, duplicates=result.duplicates, expired=result.expired
        )

    @routes.post(
        "/load-model",
        Access.ADMIN,
        response_model=LoadModelResponse,
        responses=errors(400, 401, 403, 404, 409, 413, 429, 500, 503),
    )
    async def load_model(self, request: LoadModelRequest) -> LoadModelResponse:
        """Serve another version on every worker of every replica; answers once all have switched."""
        if request.model_path is not None:
            changed = await self.models.load_archive(request.model_path)
        else:
            assert request.model_tag is not None  # the request model asks for exactly one of the two
            model = await anyio.to_thread.run_sync(store.get, request.model_tag)
            changed = await self.models.load(ModelRef(str(model.tag)))
        return LoadModelResponse(
            status="success",
            message="Model loaded successfully",
            model_version=changed.routing.primary.version,
            loaded_at=changed.routing.primary.loaded_at,
            workers_switched=changed.switched,
            workers_total=changed.total,
        )

    @routes.get("/traffic", Access.PREDICT, response_model=TrafficInfo, responses=errors(401, 403, 429, 503))
    async def traffic(self) -> TrafficInfo:
        return traffic_info(self.models.require().target())

    @routes.post(
        "/traffic", Access.ADMIN, response_model=TrafficInfo, responses=errors(400, 401, 403, 404, 409, 413, 429, 503)
    )
    async def set_traffic(self, request: TrafficRequest) -> TrafficInfo:
        """A/B split (sticky per user_id) and shadow scoring, on every worker."""
        changed = await self.models.set_traffic(request.candidate, request.candidate_share, request.shadow)
        return traffic_info(changed.routing.target(), workers_switched=changed.switched, workers_total=changed.total)

    @routes.get("/model-info", Access.PREDICT, response_model=ModelInfo, responses=errors(401, 403, 429, 503))
    async def model_info(self) -> ModelInfo:
        routing = self.models.require()
        serving = routing.primary
        stage = await anyio.to_thread.run_sync(store.current_stage, serving.model)  # promotions happen meanwhile
        return ModelInfo(
            model_version=serving.version,
            model_path=serving.source_path,
            loaded_at=serving.loaded_at,
            model_type=type(serving.booster).__name__,
            has_preprocessor=True,
            num_features=serving.preprocessor.num_features,
            model_tag=serving.tag,
            stage=stage,
            metrics=store.stored_metrics(serving.model),
            traffic=traffic_info(routing.target()),
            versions=await counts_by_version(self.fleet),
        )


wrap_outermost(PurchasePrediction, lambda app: Edge(app, settings, ROUTE_TABLE))
