"""A job as the API reports it, from its record in the table."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .schemas import FINISHED, Job, Links, Summary
from .table import Record


def _time(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def job_view(record: Record, retention_hours: float) -> Job:
    elapsed = ((record.finished_at or time.time()) - record.started_at) if record.started_at else None
    tallies = record.tallies()
    summary = None
    if tallies is not None:
        rows = sum(tallies["per_class"])
        summary = Summary(
            rows=rows,
            per_class={"0": tallies["per_class"][0], "1": tallies["per_class"][1]},
            probability_histogram=tallies["histogram"],
            mean_probability=tallies["probability_sum"][0] / rows if rows else None,
        )
    base = f"/jobs/{record.job_id}"
    finished = record.status in FINISHED and record.finished_at is not None
    return Job(
        job_id=record.job_id,
        status=record.status,
        input_format=record.input_format,
        input_bytes=record.input_bytes,
        model_version=record.model_tag,
        threshold=record.threshold,
        as_of=datetime.fromtimestamp(record.as_of, UTC),
        rows_total=record.rows_total,
        rows_done=record.rows_done,
        rows_failed=record.rows_failed,
        rows_per_second=round(record.rows_done / elapsed, 1) if elapsed and record.rows_done else None,
        attempts=record.attempts,
        reason=record.reason,
        created_at=datetime.fromtimestamp(record.created_at, UTC),
        started_at=_time(record.started_at),
        finished_at=_time(record.finished_at),
        expires_at=_time(record.finished_at + retention_hours * 3600) if finished and record.finished_at else None,
        summary=summary,
        links=Links(self=base, result=f"{base}/result", errors=f"{base}/errors", cancel=f"{base}/cancel"),
    )
