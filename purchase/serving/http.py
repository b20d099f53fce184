"""The FastAPI app the service mounts: its OpenAPI document, the route table, and domain errors
mapped to HTTP statuses in one place.

The routes live in a FastAPI app mounted into the BentoML service, because BentoML's own
`@bentoml.api` routes are POST-only and answer errors in their own shape; the spec needs GET
routes, `{"detail": ...}` errors and one OpenAPI document for /docs and /redoc. BentoML still
runs the server: workers, /livez, /readyz, /metrics, CORS, configuration, build and containerize.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel

from .. import __version__
from ..errors import Overloaded, PurchaseError
from ..schemas import ErrorResponse, PredictRequest, StorePredictRequest, describe_validation_errors
from ..settings import get_settings
from .oip import InferenceRequest
from .routes import DeclaredRoutes, RouteTable
from .security import Access

logger = logging.getLogger("purchase.service")
TITLE = "E-Commerce Purchase Prediction API"
DESCRIPTION = (
    "Will this user buy this item? Purchase predictions for 1 to MAX_BATCH_SIZE (user, item) pairs per request, "
    "from an XGBoost model in the BentoML model store; with the online store, the ids are enough. "
    "With API_KEYS set, send a key as `X-API-Key` or `Authorization: Bearer` (Authorize, above). "
    'Errors are JSON `{"detail": ...}` (`{"error": ...}` under /v2): 400 invalid input (naming the field and the '
    "item's index), 401 no key, 403 wrong key, 404 unknown model, 409 a change some worker cannot serve, 413 body "
    "too large, 429 rate limit (Retry-After), 500 prediction failed, 503 no model loaded or overloaded (Retry-After), "
    "507 no room left for batch jobs."
)
TAG_OF_PATH = {
    "/predict": "Prediction",
    "/client/predict": "Prediction",
    "/explain": "Understanding the model",
    "/models": "Understanding the model",  # the model page (HTML), its reports and comparisons
    "/models/compare": "Understanding the model",
    "/models/{version}/report": "Understanding the model",
    "/models/{version}/report/{file}": "Understanding the model",
    "/models/{version}/promote": "Models",
    "/models/rollback": "Models",
    "/drift": "Understanding the model",
    "/jobs": "Batch jobs",
    "/jobs/{job_id}": "Batch jobs",
    "/jobs/{job_id}/cancel": "Batch jobs",
    "/jobs/{job_id}/result": "Batch jobs",
    "/jobs/{job_id}/errors": "Batch jobs",
    "/features": "Online features",
    "/events": "Online features",
    "/load-model": "Models",
    "/traffic": "Models",
    "/model-info": "Models",
}
# For routes declared outside the service class: the service instance (its models, scorer, ...).
SERVICE: Any = Depends(bentoml.get_current_service)
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}
# BentoML's own routes, served beside ours: listed so the docs show the whole API, declared with their access.
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
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
    }
}

# With the online store, /predict needs only the ids (and takes as_of); without, the spec's contract.
PREDICT_REQUEST: type[PredictRequest] | type[StorePredictRequest] = (
    StorePredictRequest if get_settings().online_features else PredictRequest
)
# Bodies that routes read themselves, documented by name: "#/components/schemas/<name>".
BODY_SCHEMAS: dict[str, type[BaseModel]] = {"PredictRequest": PREDICT_REQUEST, "InferenceRequest": InferenceRequest}
ROUTE_TABLE = RouteTable()
for path in (
    "/livez",
    "/readyz",
    "/healthz",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/schema.json",
    "/docs.json",
):
    ROUTE_TABLE.declare("GET", path, Access.PUBLIC)
ROUTE_TABLE.declare_prefix("/static-offline-docs/", Access.PUBLIC)
ROUTE_TABLE.declare("GET", "/metrics", Access.METRICS)
CLIENT_PREDICT = "/client/predict"  # BentoML's client (`client.predict`); its document is /predict's
ROUTE_TABLE.declare("POST", CLIENT_PREDICT, Access.PREDICT)

app = FastAPIOffline(
    title=TITLE, version=__version__, description=DESCRIPTION, swagger_ui_parameters={"validatorUrl": None}
)
routes = DeclaredRoutes(app, ROUTE_TABLE)


def errors(*codes: int, shape: type[BaseModel] = ErrorResponse) -> dict[int | str, dict[str, object]]:
    """The documented error answers of a route (in the protocol's `shape` under /v2)."""
    return {code: {"model": shape} for code in codes}


def _openapi_document() -> dict[str, object]:
    """FastAPI's document, corrected: invalid input is 400 here, not 422, and BentoML's probes are listed."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in schema["paths"].values():
            for operation in operations.values():
                operation["responses"].pop("422", None)
        for unused in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(unused, None)
        for name, model in BODY_SCHEMAS.items():
            body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update(body_schema.pop("$defs", {}), **{name: body_schema})
        schema["paths"].update(BENTOML_ROUTES)
        predict = schema["paths"]["/predict"]["post"]
        schema["paths"][CLIENT_PREDICT] = {
            "post": {**predict, "summary": "Predict, for BentoML's Python client", "operationId": "client_predict"}
        }
        schema["components"]["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                operation.setdefault("tags", [TAG_OF_PATH.get(path, "Service")])
                if ROUTE_TABLE.access(method.upper(), path) in (Access.PREDICT, Access.ADMIN):
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        app.openapi_schema = schema
    return app.openapi_schema


app.openapi = _openapi_document  # type: ignore[method-assign]


async def _current_service() -> object:
    return bentoml.get_current_service()


# BentoML hands `self` to route methods through Depends(get_current_service), a sync function that
# FastAPI runs in its thread pool: a thread hop on every request. An async override is awaited in place.
app.dependency_overrides[bentoml.get_current_service] = _current_service


@contextmanager
def as_bentoml_errors() -> Iterator[None]:
    """Domain errors inside a `@bentoml.api` method, as BentoML answers them (the client raises them)."""
    try:
        yield
    except PurchaseError as exc:
        raise BentoMLException(exc.detail, error_code=HTTPStatus(exc.status_code)) from None


@app.exception_handler(PurchaseError)
async def _domain_error(_: Request, exc: PurchaseError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Overloaded) else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


@app.exception_handler(RequestValidationError)
async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_validation_errors(exc.errors())}, status_code=400)


@app.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)
