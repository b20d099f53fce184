"""The purchase-prediction service: the spec's routes on BentoML. Wiring only: the service builds the
serving core (purchase.serving) once per worker, and the routers listed below answer from it."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from typing import Any

import bentoml
import orjson

from purchase import store
from purchase.errors import PurchaseError
from purchase.jobs.runner import JobRunner
from purchase.jobs.submit import Submissions
from purchase.jobs.work import places
from purchase.online import open_store
from purchase.online.filling import FeatureFiller
from purchase.outcomes import open_log
from purchase.schemas import SparseFeatureRow
from purchase.serving import metrics
from purchase.serving.dataplane import DataPlane
from purchase.serving.edge import uvicorn_limits
from purchase.serving.edge.middleware import Edge
from purchase.serving.edge.outermost import wrap_outermost
from purchase.serving.fleet import open_fleet
from purchase.serving.logs import configure_logging
from purchase.serving.models.explaining import Explainer
from purchase.serving.models.follower import Follower
from purchase.serving.models.manager import ModelManager
from purchase.serving.models.scoring import Scorer
from purchase.serving.models.shared_cache import SharedCache
from purchase.serving.monitoring.drift_monitor import DriftMonitor
from purchase.serving.monitoring.outcomes import OutcomeMonitor
from purchase.serving.page.routes import router as model_page_routes
from purchase.serving.redis_client import connect
from purchase.serving.routes.app import CLIENT_PREDICT, as_bentoml_errors, create_app
from purchase.serving.routes.drift import router as drift_routes
from purchase.serving.routes.explain import router as explain_routes
from purchase.serving.routes.features import router as features_routes
from purchase.serving.routes.jobs import router as job_routes
from purchase.serving.routes.management import router as management_routes
from purchase.serving.routes.oip import router as oip_routes
from purchase.serving.routes.performance import router as performance_routes
from purchase.serving.routes.predict import answer as answer_predict
from purchase.serving.routes.predict import router as predict_routes
from purchase.serving.runtime import UNTRACED, tune_garbage_collector
from purchase.serving.startup import building, refuse_a_bento_without_model, refuse_a_taken_port
from purchase.settings import get_settings

settings = get_settings(dotenv=not building())  # .env configures a run, never a built Bento
# uvicorn reads this when it builds each worker's server, after importing this module; "" trusts no proxy.
os.environ["FORWARDED_ALLOW_IPS"] = ",".join(settings.trusted_proxies)
uvicorn_limits.install(settings)
# A built Bento names its model (purchase.cli.build); DEFAULT_MODEL in the environment still wins.
PACKAGED_MODEL: str | None = getattr(bentoml.use_arguments(), "model", None)
refuse_a_bento_without_model(PACKAGED_MODEL)
if bentoml.server_context.worker_index is None:
    refuse_a_taken_port(settings.api_host, settings.api_port)
configure_logging(settings)
logger = logging.getLogger("purchase.service")
# Every route the service answers, besides BentoML's own probes and /client/predict below.
app, ROUTE_TABLE = create_app(
    [
        predict_routes,  # /, /health, /predict
        management_routes,  # /load-model, /model-info, /traffic
        features_routes,  # /features, /events (the online store)
        explain_routes,  # /explain
        drift_routes,  # /drift
        performance_routes,  # /performance: live quality from outcomes
        model_page_routes,  # /models: the versions, their reports, promotion (HTML)
        job_routes,  # /jobs: batch jobs
        oip_routes,  # /v2: the Open Inference Protocol
    ]
)


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
        self.explainer = Explainer(self.models, settings.default_threshold)
        self.drift = DriftMonitor(self.models, settings, lead=self.worker == 1)
        self.feature_store = open_store(settings)
        filler = FeatureFiller(self.feature_store, metrics.record_store_rows) if self.feature_store else None
        self.outcomes = OutcomeMonitor(open_log(settings), self.models, settings, lead=self.worker == 1)
        self.dataplane = DataPlane(Scorer(self.models, settings.default_threshold), filler, self.outcomes)
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
        self.outcomes.start()
        self.job_runner.start()
        tune_garbage_collector()

    @bentoml.on_shutdown
    async def stop(self) -> None:
        await self.job_runner.stop()
        await self.outcomes.stop()
        if self.feature_store is not None:
            await self.feature_store.close()
        await self.fleet.close()

    def __is_ready__(self) -> bool:
        return self.models.current is not None and self.follower.synced

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
            answer, _ = await answer_predict(self, "application/json", body, {})
        return dict(orjson.loads(answer))


wrap_outermost(PurchasePrediction, lambda app: Edge(app, settings, ROUTE_TABLE))
