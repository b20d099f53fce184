"""GET /drift: how far recent traffic has moved from a version's training data (docs/how-to/understanding.md)."""

from __future__ import annotations

from typing import Protocol

from fastapi import Query

from ...drift_schemas import DriftReport
from ...schemas import MAX_ID_LENGTH
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..monitoring.drift_monitor import DriftMonitor
from .deps import SERVICE, errors

router = DeclaredRouter()


class Serving(Protocol):
    drift: DriftMonitor


@router.get("/drift", Access.PREDICT, response_model=DriftReport, responses=errors(401, 403, 404, 429, 503))
async def drift(
    version: str | None = Query(None, max_length=MAX_ID_LENGTH, description="a version served; default the primary"),
    serving: Serving = SERVICE,
) -> DriftReport:
    """Per feature, the population stability index of this server's last DRIFT_WINDOW_S of traffic against
    the version's training reference: ok under 0.1, watch under 0.25, drift beyond."""
    return await serving.drift.report(version)
