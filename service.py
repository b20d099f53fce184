"""The purchase-prediction service: the spec's routes on BentoML, wiring only.

The routes live in a FastAPI app mounted into the BentoML service, because BentoML's own
`@bentoml.api` routes are POST-only and answer errors in their own shape; the spec needs GET
routes, `{"detail": ...}` errors and one OpenAPI document for /docs and /redoc. BentoML still
runs the server: workers, /livez, /readyz, /metrics, CORS, configuration, build and containerize.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import anyio  # noqa: E402
import bentoml  # noqa: E402
from fastapi import Request, Response  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.openapi.utils import get_openapi  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402

from purchase import __version__, metrics, store  # noqa: E402
from purchase.edge import Edge  # noqa: E402
from purchase.errors import PurchaseError  # noqa: E402
from purchase.fleet import Fleet, ModelRef  # noqa: E402
from purchase.logs import configure_logging  # noqa: E402
from purchase.predict import Predictor  # noqa: E402
from purchase.runtime import UNTRACED, tune_garbage_collector  # noqa: E402
from purchase.schemas import (  # noqa: E402
    ApiInfo,
    ErrorResponse,
    Health,
    LoadModelRequest,
    LoadModelResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    TrafficInfo,
    TrafficRequest,
    describe_validation_errors,
    parse_predict_request,
)
from purchase.settings import get_settings  # noqa: E402

settings = get_settings()
# A built Bento names its model (purchase.packaging); DEFAULT_MODEL in the environment still wins.
PACKAGED_MODEL: str | None = getattr(bentoml.use_arguments(), "model", None)
configure_logging(settings)
logger = logging.getLogger("purchase.service")
TITLE = "E-Commerce Purchase Prediction API"
DESCRIPTION = (
    "Will this user buy this item? Purchase predictions for 1 to MAX_BATCH_SIZE (user, item) pairs per request, "
    "from an XGBoost model in the BentoML model store. Errors are JSON `{\"detail\": ...}`: 400 invalid input "
    "(naming the field and the item's index), 404 unknown model, 500 prediction failed, 503 no model loaded."
)
# BentoML's own routes, served beside ours; listed so the docs show the whole API.
BENTOML_ROUTES = {
    "/livez": {"get": {"summary": "Liveness (BentoML)", "responses": {"200": {"description": "alive"}}}},
    "/readyz": {
        "get": {
            "summary": "Readiness (BentoML): 503 while no model is loaded",
            "responses": {"200": {"description": "ready"}, "503": {"description": "no model loaded"}},
        }
    },
    "/metrics": {"get": {"summary": "Prometheus metrics (BentoML)", "responses": {"200": {"description": "text"}}}},
}


# /predict reads its body itself, so its document is given here (and the models added in _openapi_document).
PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}}}


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorResponse} for code in codes}


app = FastAPIOffline(title=TITLE, version=__version__, description=DESCRIPTION, swagger_ui_parameters={"validatorUrl": None})


def _openapi_document() -> dict[str, object]:
    """FastAPI's document, corrected: invalid input is 400 here, not 422, and BentoML's probes are listed."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(unused, None)
        request_schema = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        schema["components"]["schemas"].update(request_schema.pop("$defs"), PredictRequest=request_schema)
        schema["paths"].update(BENTOML_ROUTES)
        app.openapi_schema = schema
    return app.openapi_schema


app.openapi = _openapi_document  # type: ignore[method-assign]


async def _current_service() -> object:
    return bentoml.get_current_service()


# BentoML hands `self` to route methods through Depends(get_current_service), a sync function that
# FastAPI runs in its thread pool: a thread hop on every request. An async override is awaited in place
# (1 item, c=1, 1 worker, three alternating wrk runs: p50 1.6-1.9 -> 1.4-1.6 ms).
app.dependency_overrides[bentoml.get_current_service] = _current_service


@app.exception_handler(PurchaseError)
async def _domain_error(_: Request, exc: PurchaseError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if hasattr(exc, "retry_after_s") else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


@app.exception_handler(RequestValidationError)
async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_validation_errors(exc.errors())}, status_code=400)


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


@bentoml.service(
    workers=settings.api_workers,
    traffic={"timeout": 30},
    tracing=UNTRACED,
    http={
        "host": settings.api_host,
        "port": settings.api_port,
        "cors": {
            "enabled": True,
            "access_control_allow_origins": settings.cors_origins,
            "access_control_allow_methods": ["GET", "POST", "OPTIONS"],
            "access_control_allow_headers": ["*"],
        },
    },
)
@bentoml.asgi_app(app, path="/")
class PurchasePrediction:
    def __init__(self) -> None:
        self.started = time.monotonic()
        home = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
        self.worker = bentoml.server_context.worker_index or 1
        self.predictor = Predictor(settings, Fleet.for_this_server(home, self.worker, settings.api_workers))
        try:
            self.predictor.load_initial(settings.default_model or PACKAGED_MODEL)
        except PurchaseError as exc:  # start anyway: /readyz stays 503 and /load-model can fix it
            logger.error("no model loaded at start: %s", exc.detail)

    @bentoml.on_startup
    async def start(self) -> None:
        self.predictor.start_following()
        tune_garbage_collector()

    def __is_ready__(self) -> bool:
        return self.predictor.current is not None

    @app.get("/", response_model=ApiInfo)
    async def root(self) -> ApiInfo:
        return ApiInfo(name=TITLE, version=__version__, status="running", docs="/docs", health="/health")

    @app.get("/health", response_model=Health)
    async def health(self) -> Health:
        current = self.predictor.current
        return Health(
            status="healthy" if current else "degraded",
            model_loaded=current is not None,
            model_version=current.version if current else None,
            uptime_seconds=round(time.monotonic() - self.started, 3),
            timestamp=datetime.now(timezone.utc),
        )

    @app.post("/predict", response_model=PredictResponse, responses=errors(400, 401, 403, 413, 429, 500, 503), openapi_extra=PREDICT_BODY)
    async def predict(self, request: Request) -> Response:
        """The hot path takes the raw body: see purchase.schemas.parse_predict_request."""
        answer = await self.predictor.predict(parse_predict_request(request.headers.get("content-type"), await request.body()))
        # X-Worker: which worker answered, for debugging multi-worker serving; X-Model-Version: for the access log.
        return Response(answer.body, media_type="application/json", headers={"X-Worker": str(self.worker), "X-Model-Version": answer.model_version})

    @app.post("/load-model", response_model=LoadModelResponse, responses=errors(400, 401, 403, 404, 413, 429, 500))
    async def load_model(self, request: LoadModelRequest) -> LoadModelResponse:
        """Serve another version on every worker; answers once all have switched."""
        if request.model_path is not None:
            routing, switched = await self.predictor.load_archive(request.model_path)
        else:
            model = await anyio.to_thread.run_sync(store.get, request.model_tag)
            routing, switched = await self.predictor.load(ModelRef(str(model.tag)))
        return LoadModelResponse(
            status="success",
            message="Model loaded successfully",
            model_version=routing.primary.version,
            loaded_at=routing.primary.loaded_at,
            workers_switched=switched,
            workers_total=settings.api_workers,
        )

    @app.get("/traffic", response_model=TrafficInfo, responses=errors(401, 403, 429, 503))
    async def traffic(self) -> TrafficInfo:
        return TrafficInfo.of(self.predictor.require().target())

    @app.post("/traffic", response_model=TrafficInfo, responses=errors(400, 401, 403, 404, 413, 429, 503))
    async def set_traffic(self, request: TrafficRequest) -> TrafficInfo:
        """A/B split (sticky per user_id) and shadow scoring, on every worker."""
        routing, switched = await self.predictor.set_traffic(request.candidate, request.candidate_share, request.shadow)
        return TrafficInfo.of(routing.target(), workers_switched=switched, workers_total=settings.api_workers)

    @app.get("/model-info", response_model=ModelInfo, responses=errors(401, 403, 429, 503))
    async def model_info(self) -> ModelInfo:
        routing = self.predictor.require()
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
            metrics=serving.model.info.metadata.get("metrics", {}),
            traffic=TrafficInfo.of(routing.target()),
            versions=metrics.counts_by_version(),
        )


PurchasePrediction.add_asgi_middleware(Edge, settings=settings)
