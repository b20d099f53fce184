"""The batch jobs' Prometheus metrics, kept by each worker's runner for the jobs it runs (so each
job's rows and end are counted once) and shown at /metrics with the service's own."""

from __future__ import annotations

import functools
from types import SimpleNamespace

from .schemas import Status


@functools.cache
def _metrics() -> SimpleNamespace:
    import prometheus_client as prom  # on first use: BentoML picks multiprocess mode after import

    return SimpleNamespace(
        jobs=prom.Gauge(
            "purchase_jobs",
            "Jobs queued and running in the job table (shared by the fleet with REDIS_URL)",
            ["status"],
            multiprocess_mode="livemax",  # every worker reads the same table
        ),
        rows=prom.Counter(
            "purchase_job_rows", "Rows of batch jobs read: scored, or refused into the errors file", ["result"]
        ),
        finished=prom.Counter("purchase_jobs_finished", "Jobs ended, by how they ended", ["status"]),
    )


def record_active(queued: int, running: int) -> None:
    gauge = _metrics().jobs
    gauge.labels(Status.QUEUED.value).set(queued)
    gauge.labels(Status.RUNNING.value).set(running)


def record_rows(scored: int, refused: int) -> None:
    rows = _metrics().rows
    if scored:
        rows.labels("scored").inc(scored)
    if refused:
        rows.labels("refused").inc(refused)


def record_finished(status: Status) -> None:
    _metrics().finished.labels(status.value).inc()
