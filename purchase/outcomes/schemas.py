"""GET /performance's answer (docs/how-to/ab-and-outcomes.md)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from .quality import Verdict


class LiveFigures(BaseModel):
    rows: int = Field(description="matured predictions")
    purchase_rate: float
    mean_probability: float
    auc: float | None = Field(description="None until both classes are seen")
    auc_95: tuple[float, float] | None = Field(description="DeLong's 95 % interval")
    log_loss: float
    ece: float


class DayFigures(LiveFigures):
    day: date = Field(description="the day (UTC) the predictions were made")


class DaySummary(BaseModel):
    """A day's predictions after the log dropped them: the figures that add up (no AUC)."""

    day: date = Field(description="the day (UTC) the predictions were made")
    version: str
    arm: str
    rows: int
    purchase_rate: float
    mean_probability: float
    log_loss: float
    ece: float


class VersionPerformance(BaseModel):
    version: str
    live: LiveFigures
    arms: dict[str, LiveFigures] = Field(description="by the role the version had when it answered")
    segments: dict[str, LiveFigures]
    training: dict[str, float] = Field(description="the version's test-split metrics, as stored by training")
    daily: list[DayFigures]


class ABVerdict(BaseModel):
    primary: str
    candidate: str
    verdict: Verdict = Field(description="the candidate against the primary on live log loss, at 95 %")
    log_loss_difference: float | None = Field(description="candidate minus primary: below 0 is better")
    interval_95: tuple[float, float] | None
    min_rows: int
    reason: str


class Recording(BaseModel):
    share: float = Field(description="of users whose predictions are judged (OUTCOME_SHARE)")
    kept: int = Field(description="predictions the log holds now")
    bytes: int = Field(description="disk (embedded) or Redis memory the log takes")
    gaps: int = Field(description="predictions this worker could not record since it started")


class PerformanceReport(BaseModel):
    as_of: datetime = Field(description="the clock (default now)")
    events_until: datetime | None = Field(
        description="the newest event /events received; predictions made by min(as_of, this) - horizon are judged"
    )
    window_start: datetime = Field(description="predictions made from here to window_end are judged")
    window_end: datetime = Field(description="before any event has arrived, nothing is judged")
    horizon_days: float
    recording: Recording
    versions: list[VersionPerformance]
    ab: ABVerdict | None = Field(description="while a candidate is served")
    history: list[DaySummary] = Field(
        description="daily summaries of the predictions dropped past their retention, for HISTORY_DAYS (400)"
    )
