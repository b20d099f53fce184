"""GET /drift's answer: per monitored feature, the population stability index of recent traffic."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from .drift import Status


class FeatureDrift(BaseModel):
    feature: str
    psi: float | None = Field(description="population stability index against the training reference")
    status: Status


class DriftReport(BaseModel):
    model_version: str
    window_s: float = Field(description="DRIFT_WINDOW_S: how far back traffic is counted")
    since: datetime = Field(description="the start of the traffic counted (later than the window after a start)")
    rows: int = Field(description="rows this server scored with the version since then")
    status: Status = Field(description="the worst feature's")
    features: list[FeatureDrift] = Field(description="largest index first")
