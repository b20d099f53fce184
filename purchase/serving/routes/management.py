"""The spec's model management routes: `/load-model` and `/model-info`, and `/traffic` (A/B split and
shadow). Every change reaches every worker of every replica before it answers."""

from __future__ import annotations

from typing import Protocol

import anyio

from ... import store
from ...schemas import LoadModelRequest, LoadModelResponse, ModelInfo, TrafficInfo, TrafficRequest
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..fleet import Coordinator, ModelRef
from ..models.manager import ModelManager
from ..monitoring.counts import counts_by_version
from .codec import traffic_info
from .deps import SERVICE, errors

router = DeclaredRouter()


class Serving(Protocol):
    models: ModelManager
    fleet: Coordinator


@router.post(
    "/load-model",
    Access.ADMIN,
    response_model=LoadModelResponse,
    responses=errors(400, 401, 403, 404, 409, 413, 429, 500, 503),
)
async def load_model(request: LoadModelRequest, serving: Serving = SERVICE) -> LoadModelResponse:
    """Serve another version on every worker of every replica; answers once all have switched."""
    if request.model_path is not None:
        changed = await serving.models.load_archive(request.model_path)
    else:
        assert request.model_tag is not None  # the request model asks for exactly one of the two
        model = await anyio.to_thread.run_sync(store.get, request.model_tag)
        changed = await serving.models.load(ModelRef(str(model.tag)))
    return LoadModelResponse(
        status="success",
        message="Model loaded successfully",
        model_version=changed.routing.primary.version,
        loaded_at=changed.routing.primary.loaded_at,
        workers_switched=changed.switched,
        workers_total=changed.total,
    )


@router.get("/traffic", Access.PREDICT, response_model=TrafficInfo, responses=errors(401, 403, 429, 503))
async def traffic(serving: Serving = SERVICE) -> TrafficInfo:
    return traffic_info(serving.models.require().target())


@router.post(
    "/traffic", Access.ADMIN, response_model=TrafficInfo, responses=errors(400, 401, 403, 404, 409, 413, 429, 503)
)
async def set_traffic(request: TrafficRequest, serving: Serving = SERVICE) -> TrafficInfo:
    """A/B split (sticky per user_id) and shadow scoring, on every worker."""
    changed = await serving.models.set_traffic(request.candidate, request.candidate_share, request.shadow)
    return traffic_info(changed.routing.target(), workers_switched=changed.switched, workers_total=changed.total)


@router.get("/model-info", Access.PREDICT, response_model=ModelInfo, responses=errors(401, 403, 429, 503))
async def model_info(serving: Serving = SERVICE) -> ModelInfo:
    routing = serving.models.require()
    primary = routing.primary
    stage = await anyio.to_thread.run_sync(store.current_stage, primary.model)  # promotions happen meanwhile
    return ModelInfo(
        model_version=primary.version,
        model_path=primary.source_path,
        loaded_at=primary.loaded_at,
        model_type=type(primary.booster).__name__,
        has_preprocessor=True,
        num_features=primary.preprocessor.num_features,
        model_tag=primary.tag,
        stage=stage,
        metrics=store.stored_metrics(primary.model),
        segments=store.stored_segments(primary.model),
        traffic=traffic_info(routing.target()),
        versions=await counts_by_version(serving.fleet),
    )
