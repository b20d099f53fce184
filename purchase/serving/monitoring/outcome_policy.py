"""The opt-in outcome policy (OUTCOME_POLICY=true): the lead worker acts on GET /performance's figures
through the same two-phase change as /load-model and /traffic. A candidate found better is promoted
(served as the primary), one found worse is removed from the split; a primary whose live calibration
error passes OUTCOME_ROLLBACK_ECE is rolled back to the registry's previous production version."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio

from ... import store
from ...errors import ModelNotFound
from ...outcomes.schemas import PerformanceReport
from ...settings import Settings
from ..fleet import ModelRef
from ..models.manager import ModelManager

logger = logging.getLogger(__name__)
KEPT_ACTIONS = 20  # shown on the model page


@dataclass(frozen=True)
class Action:
    at: datetime
    action: str  # promoted, removed, rolled back
    version: str
    why: str


class OutcomePolicy:
    def __init__(self, manager: ModelManager, settings: Settings) -> None:
        self.manager = manager
        self.enabled = settings.outcome_policy
        self.rollback_ece = settings.outcome_rollback_ece
        self.min_rows = settings.outcome_min_rows
        self.actions: deque[Action] = deque(maxlen=KEPT_ACTIONS)

    async def act(self, report: PerformanceReport) -> None:
        if not self.enabled:
            return
        ab, routing = report.ab, self.manager.require()
        if ab is not None and routing.candidate is not None and routing.candidate.version == ab.candidate:
            why = f"live log loss {ab.log_loss_difference or 0.0:+.5f} against {ab.primary}: {ab.reason}"
            if ab.verdict == "better":
                await self.manager.load(ModelRef(routing.candidate.tag))
                return self._done("promoted", ab.candidate, why)
            if ab.verdict == "worse":
                shadow = routing.shadow.tag if routing.shadow else None
                await self.manager.set_traffic(None, 0.0, shadow)
                return self._done("removed", ab.candidate, why)
        primary = next((v for v in report.versions if v.version == routing.primary.version), None)
        live = primary.arms.get("primary") if primary else None
        if live is not None and live.rows >= self.min_rows and live.ece > self.rollback_ece:
            previous = await anyio.to_thread.run_sync(_previous_production, routing.primary.tag)
            if previous is not None:
                await self.manager.load(ModelRef(previous))
                why = f"live ECE {live.ece:.4f} over {live.rows:,} rows, above {self.rollback_ece:g}"
                self._done(f"rolled back to {previous}", routing.primary.version, why)

    def _done(self, action: str, version: str, why: str) -> None:
        logger.warning("outcome policy: %s %s (%s)", action, version, why)
        self.actions.appendleft(Action(datetime.now(UTC), action, version, why))


def _previous_production(serving: str) -> str | None:
    """The registry's production version; when that is the one failing, the one before it (the registry
    rolls back too). None when there is none to go back to."""
    production = store.production_tag()
    if production is not None and production != serving:
        return production
    try:
        return str(store.rollback().tag)
    except ModelNotFound:
        return None
