"""Typed settings, read once from the environment and an optional `.env` file (the spec's names)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Keys = Annotated[list[str], NoDecode]  # comma-separated in the environment


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())

    api_host: str = "0.0.0.0"
    api_port: int = Field(8000, ge=1, le=65535)
    api_workers: int = Field(1, ge=1)
    model_dir: Path = Path("models")
    default_model: str | None = None  # a tag; None means the production model, else the newest
    max_batch_size: int = Field(1000, ge=1)
    max_explain_items: int = Field(100, ge=1)  # /explain: exact contributions cost far more than a score
    default_threshold: float = Field(0.5, ge=0.0, le=1.0)
    cors_origins: list[str] = ["*"]
    log_level: str = "INFO"
    log_file: Path | None = None
    # Adaptive batching: rows waiting for the model beyond this are refused with 503 and Retry-After.
    max_queued_rows: int = Field(20_000, ge=1)
    # The spec's caching tip: an LRU of probabilities by feature row, per loaded version.
    enable_caching: bool = False
    cache_size: int = Field(100_000, ge=1)  # rows
    # Model lifecycle: serve whatever the registry promotes; A/B candidate and shadow versions.
    follow_production: bool = False
    ab_model: str | None = None
    ab_share: float = Field(0.0, ge=0.0, le=1.0)
    shadow_model: str | None = None
    # Security: API keys (comma-separated, and/or a file of one key per line, re-read when it changes).
    api_keys: Keys = []
    api_keys_file: Path | None = None
    admin_api_keys: Keys = []
    admin_api_keys_file: Path | None = None
    metrics_require_key: bool = False
    rate_limit: str | None = Field(None, pattern=r"^[1-9]\d*/(second|minute|hour)$")  # per API key, else per client
    # Room for a 1000-item request with every feature given, and little more.
    max_body_bytes: int = Field(2_000_000, ge=1024)
    # Proxies whose X-Forwarded-For names the client (rate limits, the admin loopback rule, the access
    # log): none by default. Comma-separated addresses or networks, as uvicorn's FORWARDED_ALLOW_IPS.
    trusted_proxies: Keys = []
    # Per worker, before any route runs: request line and headers, the time to send them, open connections.
    max_header_bytes: int = Field(16 * 1024, ge=1024)
    header_timeout_s: float = Field(10.0, gt=0)
    max_connections_per_worker: int = Field(1024, ge=1)
    # Model archives (/load-model, the registry's import): refused from their headers beyond these.
    max_archive_bytes: int = Field(256 * 2**20, ge=2**20)  # unpacked
    max_archive_members: int = Field(64, ge=3)

    # Online features (docs/concepts/features.md): /events writes the store, /predict fills what a request leaves out.
    # The embedded store (SQLite) by default; Redis when REDIS_URL is set; "false": today's contract only.
    online_features: bool = True
    redis_url: str | None = None
    feature_db: Path = Path("data/features.sqlite")
    # Event time kept beyond the newest event: the 30-day window and the base price's 30 whole days.
    feature_retention_days: float = Field(32.0, ge=1)
    feature_store_timeout_s: float = Field(0.5, gt=0)
    max_events_per_request: int = Field(1000, ge=1)
    # Several replicas (docs/how-to/replicas.md): with REDIS_URL they share model changes, the
    # A/B split, a level of the response cache and the rate limits. Hot-path calls give up after this.
    redis_timeout_s: float = Field(0.25, gt=0)
    shared_cache_ttl_s: float = Field(600.0, gt=0)
    event_time_tolerance_s: float = Field(300.0, ge=0)  # how far in the future an event_time may lie
    # Drift (docs/how-to/understanding.md): /drift counts this much recent traffic, and calls fewer
    # rows than drift_min_rows too little to judge (a few hundred rows alone give indexes near 0.1).
    drift_monitoring: bool = True
    drift_window_s: float = Field(3600.0, ge=1)
    drift_min_rows: int = Field(1000, ge=1)
    # Batch jobs (docs/how-to/batch-jobs.md): files of /predict rows scored in the background. Inputs given as a
    # path must lie under DATA_DIR; the job table, uploads and results live in DATA_DIR/jobs.
    data_dir: Path = Path("data")
    job_concurrency: int = Field(1, ge=1)  # jobs running at once in the whole server; the rest queue
    max_job_file_bytes: int = Field(2**30, ge=1024)  # an uploaded file
    job_storage_bytes: int = Field(10 * 2**30, ge=2**20)  # uploads and results together
    job_retention_hours: float = Field(24.0, gt=0)  # a finished job's results, then removed
    job_max_bad_row_share: float = Field(0.01, ge=0, le=1)  # beyond it the job fails
    job_chunk_rows: int = Field(10_000, ge=1)  # rows scored and saved together: what a restart redoes at most
    job_nice: int = Field(4, ge=0, le=19)  # the job process yields most of the cores to online requests
    job_stale_s: float = Field(10.0, gt=0)  # a running job unheard of this long is taken over
    job_max_attempts: int = Field(3, ge=1)  # starts of one job (restarts included) before it is failed
    # Outcomes (docs/how-to/ab-and-outcomes.md): a sticky share of users' predictions, judged by later purchases.
    outcome_share: float = Field(0.1, ge=0, le=1)  # of users; 0 records nothing
    outcome_horizon_days: float = Field(7.0, gt=0)  # training's label horizon (train --horizon-days)
    outcome_window_days: float = Field(7.0, gt=0)  # of prediction time, judged together
    outcome_min_rows: int = Field(1000, ge=2)  # matured rows in each arm before an A/B verdict
    outcome_check_s: float = Field(60.0, gt=0)  # the lead refreshes the gauges (and the policy acts) this often
    # Off by default: promote a better candidate, remove a worse one, roll back a miscalibrated primary.
    outcome_policy: bool = False
    outcome_rollback_ece: float = Field(0.05, gt=0, le=1)

    @field_validator("api_keys", "admin_api_keys", "trusted_proxies", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        return [k.strip() for k in value.split(",") if k.strip()] if isinstance(value, str) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must look like redis://host:6379/0 (or rediss://, unix://)")
        return value or None

    @property
    def outcome_db(self) -> Path:
        """The embedded outcome log, beside the batch jobs' table."""
        return self.data_dir / "outcomes.sqlite"

    @property
    def outcome_retention_s(self) -> float:
        """Prediction time the outcome log keeps behind its newest: the horizon, the window and a day."""
        return (self.outcome_horizon_days + self.outcome_window_days + 1) * 86_400.0

    @property
    def xgb_threads(self) -> int:
        """Threads per model call: the cores shared out among the workers, so workers do not oversubscribe."""
        return max(1, (os.cpu_count() or 1) // self.api_workers)


@functools.cache
def get_settings(dotenv: bool = True) -> Settings:
    """`dotenv=False`: the environment only (what a build must not bake in from a developer's .env)."""
    return Settings() if dotenv else Settings(_env_file=None)
