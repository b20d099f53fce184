"""Drift in serving. A scored batch's rows are only noted on the request path; once a second they are
binned with the version's reference bins (purchase.drift) and added to Prometheus counters, which sum
over workers (and over replicas, in Prometheus). /drift compares the counts of the last
DRIFT_WINDOW_S with the reference; the lead worker also keeps a PSI gauge fresh for alerting."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

import anyio
import numpy as np

from ...drift import MONITORED, PROBABILITY, Binning, Status, psi, status
from ...drift_schemas import DriftReport, FeatureDrift
from ...errors import ModelNotFound
from ...settings import Settings
from .. import metrics
from ..background import Background
from ..models.manager import ModelManager
from ..models.version import ServingModel

logger = logging.getLogger(__name__)
FLUSH_S = 1.0
SNAPSHOTS_PER_WINDOW = 6
SEVERITY: tuple[Status, ...] = ("no traffic", "too little traffic", "ok", "watch", "drift")


def _vector(binning: Binning, totals: dict[tuple[str, int], float]) -> np.ndarray:
    """Counters as read from Prometheus → the flat bins of `binning`."""
    offsets = np.cumsum([0, *binning.sizes.values()])
    position = {name: offsets[i] for i, name in enumerate(MONITORED)}
    vector = np.zeros(int(offsets[-1]))
    for (feature, index), value in totals.items():
        if feature in position and index < binning.sizes[feature]:
            vector[position[feature] + index] = value
    return vector


class DriftMonitor:
    def __init__(self, manager: ModelManager, settings: Settings, lead: bool) -> None:
        self.manager = manager
        self.enabled = settings.drift_monitoring
        self.window_s = settings.drift_window_s
        self.min_rows = settings.drift_min_rows
        self.lead = lead
        # (monotonic time, wall time, {version: that version's counters}) every window/6, oldest first.
        self._snapshots: deque[tuple[float, datetime, dict[str, dict[tuple[str, int], float]]]] = deque()
        self._background = Background()
        self._exported: set[str] = set()  # versions whose index the gauge holds

    def start(self) -> None:
        if self.enabled:
            self._background.spawn(self._run())

    async def _run(self) -> None:
        next_snapshot = 0.0
        while True:
            try:
                await self._flush()
                if time.monotonic() >= next_snapshot:
                    next_snapshot = time.monotonic() + self.window_s / SNAPSHOTS_PER_WINDOW
                    await self._snapshot()
            except Exception:
                logger.exception("counting drift failed; retrying")
            await asyncio.sleep(FLUSH_S)

    async def _flush(self) -> None:
        routing = self.manager.routing
        for model in routing.models().values() if routing else ():
            if model.drift is not None and (pending := model.drift.take()):
                await anyio.to_thread.run_sync(model.drift.count, pending)

    async def _snapshot(self) -> None:
        """Every version's counters (one served again later must not count its earlier traffic as recent)."""
        totals = await anyio.to_thread.run_sync(metrics.drift_totals)
        self._snapshots.append((time.monotonic(), datetime.now(UTC), totals))
        while len(self._snapshots) > 1 and time.monotonic() - self._snapshots[1][0] >= self.window_s:
            self._snapshots.popleft()  # the next one still covers the whole window
        if self.lead:
            await self._export()

    async def _export(self) -> None:
        """The serving version's index for alerting, NaN where too few rows give noise (an alert on a
        quiet replica would be a false one) and for a version no longer serving (its alert clears)."""
        routing = self.manager.routing
        current = routing.primary if routing is not None and routing.primary.drift is not None else None
        indexes: dict[str, float] = {}
        if current is not None:
            report = await self.report(current.version)
            judged = report.rows >= self.min_rows
            indexes = {f.feature: f.psi if judged and f.psi is not None else math.nan for f in report.features}
            metrics.record_drift_psi(current.version, indexes)
        for version in self._exported - {current.version if current else ""}:
            metrics.record_drift_psi(version, dict.fromkeys(MONITORED, math.nan))
        self._exported = {current.version} if current else set()

    async def report(self, version: str | None) -> DriftReport:
        """The traffic since the oldest snapshot within the window, against the version's reference."""
        routing = self.manager.require()
        model = routing.primary if version is None else _served(routing.models().values(), version)
        drift = model.drift
        if not self.enabled:
            raise ModelNotFound("drift monitoring is off (DRIFT_MONITORING=false)")
        if drift is None:
            raise ModelNotFound(
                f"{model.version} has no stored reference distribution (trained before drift monitoring): "
                "retrain it to monitor drift"
            )
        now = (await anyio.to_thread.run_sync(metrics.drift_totals)).get(model.version, {})
        within = [s for s in self._snapshots if time.monotonic() - s[0] <= self.window_s]
        since, before = (within[0][1], within[0][2].get(model.version, {})) if within else (datetime.now(UTC), now)
        counted = drift.binning.split(_vector(drift.binning, now) - _vector(drift.binning, before))
        rows = int(counted[PROBABILITY].sum())
        features = []
        for name in MONITORED:
            index = psi(np.asarray(drift.reference.shares[name]), counted[name]) if rows else None
            judged: Status = status(index) if index is not None and rows >= self.min_rows else _scant(rows)
            features.append(FeatureDrift(feature=name, psi=index, status=judged))
        features.sort(key=lambda f: -(f.psi or 0.0))
        overall = max((f.status for f in features), key=SEVERITY.index)
        return DriftReport(
            model_version=model.version,
            window_s=self.window_s,
            since=since,
            rows=rows,
            status=overall,
            features=features,
        )


def _scant(rows: int) -> Status:
    return "no traffic" if rows == 0 else "too little traffic"


def _served(models: Iterable[ServingModel], version: str) -> ServingModel:
    served = {m.version: m for m in models}
    if version not in served:
        raise ModelNotFound(f"version {version} is not served here (served: {', '.join(sorted(served))})")
    return served[version]
