"""The batch jobs' API contract: what a submission takes and what a job reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ..schemas import MAX_PATH_LENGTH, TAG_PATTERN


class Status(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)


class Format(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    NDJSON = "ndjson"


class JobOptions(BaseModel):
    """How to score: the same options as /predict, plus the version (one for the whole job)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format: Format | None = Field(None, description="default: from the file name, the Content-Type or the content")
    threshold: float | None = Field(None, ge=0, le=1, description="default: DEFAULT_THRESHOLD")
    as_of: AwareDatetime | None = Field(None, description="online features as of this time; default: submission")
    model: str | None = Field(None, pattern=TAG_PATTERN, description="a stored tag; default: the version serving")


class PathJob(JobOptions):
    """A file already on the server: a path under DATA_DIR."""

    path: str = Field(min_length=1, max_length=MAX_PATH_LENGTH, examples=["candidates/tonight.parquet"])


class Summary(BaseModel):
    rows: int
    per_class: dict[str, int] = Field(description='rows predicted "0" and "1"')
    probability_histogram: list[int] = Field(description="rows per tenth of probability: [0, 0.1), ..., [0.9, 1]")
    mean_probability: float | None


class Links(BaseModel):
    self: str
    result: str
    errors: str
    cancel: str


class Job(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    job_id: str
    status: Status
    input_format: Format
    input_bytes: int
    model_version: str = Field(description="the tag that scores every row of the job")
    threshold: float
    as_of: datetime
    rows_total: int | None = Field(description="known once the job starts (at once for Parquet)")
    rows_done: int = Field(description="rows read so far, refused ones included")
    rows_failed: int = Field(description="rows refused by validation: the errors file")
    rows_per_second: float | None
    attempts: int = Field(description="starts, restarts after a crash included")
    reason: str | None = Field(description="why the job failed or was cancelled")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="when a finished job's files are removed")
    summary: Summary | None
    links: Links


class Storage(BaseModel):
    used_bytes: int
    limit_bytes: int
    retention_hours: float


class JobList(BaseModel):
    jobs: list[Job]
    storage: Storage
