"""Requests and predictions per version, as /model-info and the model page show them."""

from __future__ import annotations

import anyio

from ...errors import FleetUnavailable
from .. import metrics
from ..fleet.target import Coordinator


async def counts_by_version(fleet: Coordinator) -> dict[str, dict[str, int]]:
    """The fleet's counts with REDIS_URL (each server's as of its last heartbeat), else this server's."""
    try:
        shared = await fleet.fleet_counts()
    except FleetUnavailable:
        shared = None
    # Off the event loop: reading every worker's metrics files grows with the series.
    counts = shared if shared is not None else await anyio.to_thread.run_sync(metrics.counts_by_version)
    return {version: {name: round(n) for name, n in by_name.items()} for version, by_name in counts.items()}
