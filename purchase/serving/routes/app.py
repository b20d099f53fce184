"""The FastAPI app the service mounts: the routers service.py lists, included in one place with their
access levels; the OpenAPI document; domain errors mapped to HTTP statuses in one place.

The routes live in a FastAPI app mounted into the BentoML service, because BentoML's own
`@bentoml.api` routes are POST-only and answer errors in their own shape; the spec needs GET
routes, `{"detail": ...}` errors and one OpenAPI document for /docs and /redoc. BentoML still
runs the server: workers, /livez, /readyz, /metrics, CORS, configuration, build and containerize.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http import HTTPStatus

import bentoml
from bentoml.exceptions import BentoMLException
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from ... import __version__
from ...errors import Overloaded, PurchaseError
from ...schemas import describe_validation_errors
from ..edge.route_table import DeclaredRouter, RouteTable
from ..edge.security import Access
from .openapi import openapi_document

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
CLIENT_PREDICT = "/client/predict"  # BentoML's client (`client.predict`); its document is /predict's
# BentoML's own routes and the docs pages, served beside the routers'.
PUBLIC_PATHS = (
    "/livez",
    "/readyz",
    "/healthz",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/docs/oauth2-redirect",
    "/schema.json",
    "/docs.json",
)


def create_app(routers: Sequence[DeclaredRouter]) -> tuple[FastAPI, RouteTable]:
    """The app serving `routers`, and the route table the edge authorizes and labels requests by."""
    table = RouteTable()
    for path in PUBLIC_PATHS:
        table.declare("GET", path, Access.PUBLIC)
    table.declare_prefix("/static-offline-docs/", Access.PUBLIC)
    table.declare("GET", "/metrics", Access.METRICS)
    table.declare("POST", CLIENT_PREDICT, Access.PREDICT)
    table.take_only_json(CLIENT_PREDICT)  # BentoML's own parser answered a multipart body with a 500
    app = FastAPIOffline(
        title=TITLE, version=__version__, description=DESCRIPTION, swagger_ui_parameters={"validatorUrl": None}
    )
    bodies = {}
    for router in routers:
        table.include(app, router)
        bodies.update(router.body_schemas)
    app.openapi = lambda: openapi_document(app, table, bodies, CLIENT_PREDICT)  # type: ignore[method-assign]
    # BentoML hands `self` to route methods through Depends(get_current_service), a sync function that
    # FastAPI runs in its thread pool: a thread hop on every request. An async override is awaited in place.
    app.dependency_overrides[bentoml.get_current_service] = _current_service
    app.add_exception_handler(PurchaseError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    return app, table


async def _current_service() -> object:
    return bentoml.get_current_service()


@contextmanager
def as_bentoml_errors() -> Iterator[None]:
    """Domain errors inside a `@bentoml.api` method, as BentoML answers them (the client raises them)."""
    try:
        yield
    except PurchaseError as exc:
        raise BentoMLException(exc.detail, error_code=HTTPStatus(exc.status_code)) from None


async def _domain_error(_: Request, exc: PurchaseError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Overloaded) else None
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": describe_validation_errors(exc.errors())}, status_code=400)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s", request.url.path)
    return JSONResponse({"detail": "Internal server error"}, status_code=500)
