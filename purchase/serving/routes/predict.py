"""The spec's service routes: `/` and `/health`, and `/predict`, the hot path, which reads its raw body
itself (purchase.serving.routes.codec) and answers with bytes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import Request, Response

from ... import __version__
from ...schemas import ApiInfo, Health, PredictResponse
from ..dataplane import DataPlane
from ..edge.middleware import note_model_version
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..models.manager import ModelManager
from .app import TITLE
from .codec import encode_predict_response, parse_predict_request, segment_summary
from .deps import PREDICT_REQUEST, SERVICE, errors

router = DeclaredRouter()
router.document_body("PredictRequest", PREDICT_REQUEST)
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
    }
}


class Serving(Protocol):
    started: float
    worker: int
    models: ModelManager
    dataplane: DataPlane


@router.get("/", Access.PUBLIC, response_model=ApiInfo)
async def root() -> ApiInfo:
    return ApiInfo(name=TITLE, version=__version__, status="running", docs="/docs", health="/health")


@router.get("/health", Access.PUBLIC, response_model=Health)
async def health(serving: Serving = SERVICE) -> Health:
    current = serving.models.current
    return Health(
        status="healthy" if current else "degraded",
        model_loaded=current is not None,
        model_version=current.version if current else None,
        uptime_seconds=round(time.monotonic() - serving.started, 3),
        timestamp=datetime.now(UTC),
    )


@router.post(
    "/predict",
    Access.PREDICT,
    response_model=PredictResponse,
    responses=errors(400, 401, 403, 413, 429, 500, 503),
    openapi_extra=PREDICT_BODY,
)
async def predict(request: Request, serving: Serving = SERVICE) -> Response:
    """Will each user buy each item? With the online store only the ids are required: features left
    out are computed from the events it holds as of `as_of` (header `X-Feature-Source`)."""
    body, headers = await answer(serving, request.headers.get("content-type"), await request.body(), request.scope)
    return Response(body, media_type="application/json", headers=headers)


async def answer(serving: Serving, content_type: str | None, body: bytes, scope: Any) -> tuple[bytes, dict[str, str]]:
    """/predict from the raw body to the encoded answer and its headers (also BentoML's client route's)."""
    started = time.perf_counter()
    dataplane = serving.dataplane
    parsed, scored, source = await dataplane.predict(parse_predict_request(content_type, body, dataplane.request_type))
    latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    note_model_version(scope, scored.model_version)
    # X-Worker: which worker answered, for debugging multi-worker serving.
    headers = {"X-Worker": str(serving.worker)}
    if source is not None:
        headers["X-Feature-Source"] = source
    headers["X-Segments"] = segment_summary(scored.segments)
    answer = encode_predict_response(
        scored, parsed.return_probabilities, datetime.now(UTC), latency_ms, parsed.return_segments
    )
    return answer, headers
