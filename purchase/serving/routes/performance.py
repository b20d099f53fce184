"""GET /performance: each version's and each A/B arm's live quality, from the purchases that followed
its predictions (docs/how-to/ab-and-outcomes.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import Query

from ...outcomes.schemas import PerformanceReport
from ...schemas import MAX_ID_LENGTH
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..monitoring.outcomes import OutcomeMonitor
from .deps import SERVICE, errors

router = DeclaredRouter()
VERSION = r"^[a-z0-9]([-._a-z0-9]*[a-z0-9])?$"  # a BentoML version


class Serving(Protocol):
    outcomes: OutcomeMonitor


@router.get(
    "/performance", Access.PREDICT, response_model=PerformanceReport, responses=errors(400, 401, 403, 404, 429, 503)
)
async def performance(
    version: str | None = Query(None, max_length=MAX_ID_LENGTH, pattern=VERSION, description="default: every version"),
    as_of: datetime | None = Query(None, description="the clock (replays, tests); default now"),
    serving: Serving = SERVICE,
) -> PerformanceReport:
    """Matured predictions only: those made at least OUTCOME_HORIZON_DAYS before `as_of`, over the
    OUTCOME_WINDOW_DAYS before that. With a candidate served, whether it beats the primary."""
    return await serving.outcomes.report(version, as_of)
