"""POST /explain's request and answer: /predict's rows, and per row each feature's contribution."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .examples import SPEC_EXAMPLE
from .explanations import EXPLAINED_FEATURES, Method
from .schemas import StorePredictRequest


class ExplainRequest(StorePredictRequest):
    """/predict's body (ids alone where the online store fills the features), and how to explain."""

    model_config = ConfigDict(
        title="ExplainRequest", json_schema_extra={"examples": [{**SPEC_EXAMPLE, "top_k": 5, "method": "exact"}]}
    )

    top_k: int | None = Field(None, ge=1, le=len(EXPLAINED_FEATURES), description="the largest k; default all")
    method: Method = Field("exact", description="exact (TreeSHAP) or approximate (Saabas, about a prediction's cost)")


class Contribution(BaseModel):
    feature: str
    value: float | str | None = Field(description="what the model saw: the input, or the engineered value")
    contribution: float = Field(description="in log-odds; positive pushes towards buying")


class Explanation(BaseModel):
    user_id: str
    item_id: str
    prediction: Literal[0, 1]
    probability: float
    model_version: str = Field(description="the version that scored the row (A/B routing as /predict)")
    base_value: float = Field(description="base_value + every contribution = logit(probability)")
    contributions: list[Contribution] = Field(description="largest |contribution| first")


class ExplainResponse(BaseModel):
    explanations: list[Explanation]
    method: Method
    timestamp: datetime
    latency_ms: float
