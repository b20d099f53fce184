"""Outcomes in serving: the judged users' predictions are noted on the request path (no I/O there) and
written to the outcome log once a second; their purchases are written as `/events` receives them. The
lead worker keeps the live-quality gauges fresh for alerting (so does every GET /performance of now)
and, when opted in, lets the outcome policy act on them;
GET /performance computes the figures."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from ... import store
from ...errors import ModelNotFound, StoreUnavailable
from ...online.records import StoredEvent
from ...outcomes.history import days
from ...outcomes.records import Judged, OutcomeLog, Purchase, judged_user
from ...outcomes.report import ab_verdict, version_figures
from ...outcomes.schemas import PerformanceReport, Recording
from ...settings import Settings
from ..background import Background
from ..models.manager import ModelManager
from ..models.scoring import Scored
from .outcome_policy import OutcomePolicy

logger = logging.getLogger(__name__)
FLUSH_S = 1.0
MAX_PENDING = 100_000  # rows noted but not yet written; beyond, the newest are dropped and counted


@functools.cache
def _gauges() -> Any:
    import prometheus_client as prom

    labels = ["model_version", "arm"]
    return {
        name: prom.Gauge(f"purchase_live_{name}", text, labels, multiprocess_mode="livemax")
        for name, text in (
            ("rows", "Matured predictions in the outcome window, by version and arm"),
            ("auc", "AUC of the matured predictions, by version and arm"),
            ("auc_ratio", "Live AUC over the version's training AUC"),
            ("log_loss", "Log loss of the matured predictions"),
            ("ece", "Expected calibration error of the matured predictions"),
        )
    } | {
        "gaps": prom.Counter("purchase_outcome_gaps", "Predictions the outcome log could not record"),
        "checks": prom.Counter("purchase_outcome_checks", "Times the lead worker refreshed the live figures"),
    }


class OutcomeMonitor:
    def __init__(self, log: OutcomeLog | None, manager: ModelManager, settings: Settings, lead: bool) -> None:
        self.log = log
        self.manager = manager
        self.share = settings.outcome_share
        self.horizon_s = settings.outcome_horizon_days * 86_400.0
        self.window_s = settings.outcome_window_days * 86_400.0
        self.min_rows = settings.outcome_min_rows
        self.lead = lead
        self.check_s = settings.outcome_check_s
        self.policy = OutcomePolicy(manager, settings)
        self.gaps = 0
        self._pending: list[Judged] = []
        self._background = Background()
        self._gap_logged = False
        self._events_until = -math.inf  # the log's event clock, as this worker last moved it

    def start(self) -> None:
        if self.log is not None:
            self._background.spawn(self._run())

    def note(self, scored: Scored, as_of: datetime | None) -> None:
        """On the request path: the judged users' rows, kept in memory until the next flush."""
        if self.log is None:
            return
        t = (as_of or datetime.now(UTC)).timestamp()
        roles = self.manager.require().roles()
        versions = scored.row_versions or [scored.model_version] * len(scored.rows)
        picked = [
            Judged(t, row.user_id, row.item_id, v, roles.get(v, "pinned"), int(segment), p)
            for row, v, segment, p in zip(scored.rows, versions, scored.segments, scored.probabilities)
            if judged_user(row.user_id, self.share)
        ]
        room = MAX_PENDING - len(self._pending)
        if len(picked) > room:
            self._gap(len(picked) - room, "the outcome log is behind")
        self._pending += picked[: max(room, 0)]

    async def purchases(self, events: Sequence[StoredEvent]) -> None:
        """The judged users' purchases, as `/events` stored them (a failure is counted, never raised)."""
        if self.log is None or not events:
            return
        bought = [
            Purchase(e.event_id, e.t, e.user_id, e.item_id)
            for e in events
            if e.event_type == "purchase" and judged_user(e.user_id, self.share)
        ]
        newest = max(e.t for e in events)
        if not bought and newest <= self._events_until:
            return  # nothing to write: the clock is ahead already
        try:
            await self.log.purchases(bought, newest)
            self._events_until = max(self._events_until, newest)
        except StoreUnavailable as exc:
            self._gap(len(bought), exc.detail)

    def _gap(self, rows: int, why: str) -> None:
        self.gaps += rows
        _gauges()["gaps"].inc(rows)
        if not self._gap_logged:  # once: a log that is down would otherwise log every second
            logger.warning("outcomes not recorded (%s); counted in purchase_outcome_gaps_total", why)
            self._gap_logged = True

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if self.log is not None and pending:
            try:
                await self.log.add(pending)
            except StoreUnavailable as exc:
                self._gap(len(pending), exc.detail)

    async def _run(self) -> None:
        next_check = time.monotonic() + self.check_s
        while True:
            await asyncio.sleep(FLUSH_S)
            try:
                await self.flush()
                if self.lead and time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.check_s
                    await self.policy.act(await self.report(None, None))
                    _gauges()["checks"].inc()
            except Exception:
                logger.exception("recording outcomes failed; retrying")

    async def report(self, version: str | None, as_of: datetime | None) -> PerformanceReport:
        """Predictions made in [known - horizon - window, known - horizon], with their outcomes, where
        known is the earlier of as_of (default now) and the newest event received."""
        if self.log is None:
            raise ModelNotFound("outcomes are not recorded (OUTCOME_SHARE=0)")
        if version is not None:  # an exact version of the store, else 404
            await anyio.to_thread.run_sync(store.get, f"{store.MODEL_NAME}:{version}")
        clock = as_of or datetime.now(UTC)
        events_until = await self.log.events_until()
        # Judged once the horizon has passed on the clock and on the events received: purchases that are
        # late in arriving (a lagging event pipeline) would otherwise make predictions look negative.
        known = clock.timestamp() if events_until is None else min(clock.timestamp(), events_until)
        end = known - self.horizon_s
        start = end - self.window_s
        await self.flush()
        matured = [] if events_until is None else await self.log.matured(start, end, self.horizon_s)
        usage = await self.log.usage()
        history = days(await self.log.history(), version)
        served = self.manager.require()
        training = await anyio.to_thread.run_sync(_training_metrics, sorted({r.version for r, _ in matured}))
        wanted = [(r, y) for r, y in matured if version is None or r.version == version]
        figures = await anyio.to_thread.run_sync(version_figures, wanted, training)
        verdict = None
        if served.candidate is not None:
            verdict = ab_verdict(matured, served.primary.version, served.candidate.version, self.min_rows)
        report = PerformanceReport(
            as_of=clock,
            events_until=None if events_until is None else datetime.fromtimestamp(events_until, UTC),
            window_start=datetime.fromtimestamp(start, UTC),
            window_end=datetime.fromtimestamp(end, UTC),
            horizon_days=self.horizon_s / 86_400.0,
            recording=Recording(share=self.share, kept=usage.predictions, bytes=usage.bytes, gaps=self.gaps),
            versions=figures,
            ab=verdict,
            history=history,
        )
        if version is None and as_of is None:  # the live figures: what the gauges show
            self._export(report)
        return report

    def _export(self, report: PerformanceReport) -> None:
        gauges = _gauges()
        for entry in report.versions:
            for arm, live in entry.arms.items():
                gauges["rows"].labels(entry.version, arm).set(live.rows)
                gauges["log_loss"].labels(entry.version, arm).set(live.log_loss)
                gauges["ece"].labels(entry.version, arm).set(live.ece)
                if live.auc is not None:
                    gauges["auc"].labels(entry.version, arm).set(live.auc)
                    if entry.training.get("auc"):
                        gauges["auc_ratio"].labels(entry.version, arm).set(live.auc / entry.training["auc"])

    async def stop(self) -> None:
        """Nothing noted is lost at a restart: it is written before the worker goes."""
        await self.flush()
        if self.log is not None:
            await self.log.close()


def _training_metrics(versions: Sequence[str]) -> dict[str, dict[str, float]]:
    """Each version's stored XGBoost test metrics; {} for one no longer in the store."""
    out = {}
    for version in versions:
        try:
            out[version] = store.stored_metrics(store.get(f"{store.MODEL_NAME}:{version}")).get("xgboost", {})
        except ModelNotFound:
            out[version] = {}
    return out
