"""POST /explain: why each row got its score, from the version that scored it (docs/how-to/understanding.md)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

import orjson
from fastapi import Response
from pydantic import ValidationError

from ...errors import InvalidInput
from ...explain_schemas import ExplainRequest, ExplainResponse
from ...schemas import PredictRequest, describe_validation_errors
from ...settings import get_settings
from ..dataplane import DataPlane
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..models.explaining import Explainer
from .deps import SERVICE, errors

router = DeclaredRouter()


class Serving(Protocol):
    explainer: Explainer
    dataplane: DataPlane


@router.post(
    "/explain", Access.PREDICT, response_model=ExplainResponse, responses=errors(400, 401, 403, 413, 429, 500, 503)
)
async def explain(request: ExplainRequest, serving: Serving = SERVICE) -> Response:
    """Each feature's contribution to each row's score, in log-odds: `base_value` plus the contributions
    is the logit of `probability`. At most MAX_EXPLAIN_ITEMS rows; `method` exact (default) or approximate."""
    started = time.perf_counter()
    limit = get_settings().max_explain_items
    if len(request.features) > limit:
        raise InvalidInput(
            f"features: at most {limit} items per /explain request (MAX_EXPLAIN_ITEMS), got {len(request.features)}"
        )
    complete = await _complete(request, serving.dataplane)
    explanations = await serving.explainer.explain(complete, request.method, request.top_k)
    answer = {
        "explanations": explanations,
        "method": request.method,
        "timestamp": datetime.now(UTC),
        "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
    }
    return Response(orjson.dumps(answer, option=orjson.OPT_UTC_Z), media_type="application/json")


async def _complete(request: ExplainRequest, dataplane: DataPlane) -> PredictRequest:
    """The rows with every feature: from the online store where one runs, else as /predict requires them."""
    if dataplane.filler is not None:
        complete, _ = await dataplane.complete(request)
        return complete
    given = request.model_dump(exclude_unset=True, exclude={"top_k", "method"})  # as_of too: refused here
    try:
        return PredictRequest.model_validate(given)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
