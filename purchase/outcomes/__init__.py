"""Outcomes: a sticky share of the predictions served, joined to the purchases that follow them, and
the live quality of each version and A/B arm they give (docs/how-to/ab-and-outcomes.md)."""

from __future__ import annotations

from ..settings import Settings
from .records import OutcomeLog


def open_log(settings: Settings) -> OutcomeLog | None:
    """Redis with REDIS_URL (the fleet judges as one), else an SQLite file; None when switched off."""
    if settings.outcome_share == 0:
        return None
    retention_s, horizon_s = settings.outcome_retention_s, settings.outcome_horizon_days * 86_400.0
    if settings.redis_url:
        from .redis_log import RedisLog

        return RedisLog(settings.redis_url, retention_s, horizon_s, settings.feature_store_timeout_s)
    from .sqlite_log import SqliteLog

    return SqliteLog(settings.outcome_db, retention_s, horizon_s, settings.feature_store_timeout_s)
