"""The online store's routes: `/events` writes behaviour events, `/features` shows what /predict would
score for given rows (docs/concepts/features.md)."""

from __future__ import annotations

from typing import Protocol

from ...errors import FeaturesOff, StoreUnavailable
from ...online.records import FeatureStore, stored
from ...online.schemas import EventsRequest, EventsResponse, FeaturesResponse
from ...schemas import StorePredictRequest
from .. import metrics
from ..dataplane import DataPlane
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..monitoring.outcomes import OutcomeMonitor
from .deps import SERVICE, errors

router = DeclaredRouter()


class Serving(Protocol):
    dataplane: DataPlane
    feature_store: FeatureStore | None
    outcomes: OutcomeMonitor


@router.post(
    "/features", Access.PREDICT, response_model=FeaturesResponse, responses=errors(400, 401, 403, 404, 413, 429)
)
async def features(request: StorePredictRequest, serving: Serving = SERVICE) -> FeaturesResponse:
    """The features /predict would score for these rows, completed from the online store as of `as_of`."""
    completed, source = await serving.dataplane.complete(request)
    return FeaturesResponse.model_validate({"features": [vars(row) for row in completed.features], "source": source})


@router.post(
    "/events", Access.PREDICT, response_model=EventsResponse, responses=errors(400, 401, 403, 404, 413, 429, 503)
)
async def events(request: EventsRequest, serving: Serving = SERVICE) -> EventsResponse:
    """Behaviour events into the online store, all or nothing; purchases also judge the predictions
    before them (GET /performance)."""
    if serving.feature_store is None:
        raise FeaturesOff()
    try:
        events = [stored(event) for event in request.events]
        result = await serving.feature_store.write(events)
    except StoreUnavailable:
        metrics.record_events(failed=len(request.events))
        raise
    await serving.outcomes.purchases(events)
    metrics.record_events(stored=result.stored, duplicate=result.duplicates, expired=result.expired)
    return EventsResponse(
        accepted=len(request.events), stored=result.stored, duplicates=result.duplicates, expired=result.expired
    )
