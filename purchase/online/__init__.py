"""Online features: the behaviour and price features computed from an event stream, as training does."""

from __future__ import annotations

from ..settings import Settings
from .definitions import DAY_S
from .records import FeatureStore


def open_store(settings: Settings) -> FeatureStore | None:
    """The store the settings name: Redis with REDIS_URL, else the embedded one; None when switched off."""
    if not settings.online_features:
        return None
    retention_s = settings.feature_retention_days * DAY_S
    if settings.redis_url:
        from .redis_store import RedisStore

        return RedisStore(settings.redis_url, retention_s, settings.feature_store_timeout_s)
    from .sqlite_store import SqliteStore

    return SqliteStore(settings.feature_db, retention_s, settings.feature_store_timeout_s)
