"""The API contract: request and response models of every route, as in the spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .examples import SPEC_EXAMPLE, SPEC_IDS
from .settings import get_settings

MAX_ID_LENGTH = 128
MAX_CATEGORY_LENGTH = 128
MAX_PATH_LENGTH = 1024
# BentoML's tag rules: name[:version], each 1-63 of [a-z0-9._-], starting and ending alphanumeric.
_TAG_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?"
TAG_PATTERN = rf"^{_TAG_PART}(?::{_TAG_PART})?$"
# Far above any real value, and inside float32, so every accepted number reaches the model unchanged.
# A count may be written 3.0 (JSON Schema calls that an integer), not "3" or true.
MAX_COUNT = 10**9
MAX_AMOUNT = 1e9
Count = Annotated[
    int, Field(ge=0, le=MAX_COUNT), BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)
]
Amount = Annotated[float, Field(ge=0, le=MAX_AMOUNT)]


def not_in_the_future(value: datetime) -> datetime:
    """A time (an event's, a request's as_of) at most EVENT_TIME_TOLERANCE_S ahead of the server's clock."""
    tolerance = get_settings().event_time_tolerance_s
    if value > datetime.now(UTC) + timedelta(seconds=tolerance):
        raise ValueError(f"lies in the future (more than {tolerance:g} s ahead of the server's clock)")
    return value


class _Strict(BaseModel):
    # Unknown keys are refused: a misspelt optional feature would otherwise reach the model as missing.
    # Strict types: "3" is not a count, "yes" not a boolean (a JSON integer still counts as a float).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class _Behaviour(_Strict):
    """The ids and the behaviour features of one (user, item) pair; each feature may be left out."""

    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, examples=["user_000123"])
    item_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, examples=["item_00456"])
    days_since_last_view: Amount | None = None
    days_since_last_item_view: Amount | None = None
    view_count_7d: Count | None = None
    view_count_30d: Count | None = None
    cart_count_7d: Count | None = None
    cart_count_30d: Count | None = None
    purchase_count_7d: Count | None = None
    purchase_count_30d: Count | None = None
    cart_to_purchase_ratio: Amount | None = None
    avg_session_duration: Amount | None = None
    session_item_count: Count | None = None
    session_duration_minutes: Amount | None = None
    item_view_count: Count | None = None
    item_cart_count: Count | None = None


Price = Annotated[float, Field(gt=0, le=MAX_AMOUNT, examples=[89.99])]
Discount = Annotated[float, Field(ge=0, le=100, examples=[30.0])]
Category = Annotated[str, Field(min_length=1, max_length=MAX_CATEGORY_LENGTH, examples=["Electronics"])]


class FeatureRow(_Behaviour):
    """One (user, item) pair. Behaviour features are optional: leave out what you do not know."""

    item_price: Price
    item_base_price: Price
    item_discount_pct: Discount
    item_category: Category


class SparseFeatureRow(_Behaviour):
    """With the online store: only the ids are required; what is left out comes from the store."""

    item_price: Price | None = None
    item_base_price: Price | None = None
    item_discount_pct: Discount | None = None
    item_category: Category | None = None


class _PredictOptions(_Strict):
    return_probabilities: bool = True
    threshold: float | None = Field(None, ge=0, le=1, description="default: DEFAULT_THRESHOLD")
    return_segments: bool = Field(
        False, description="give each prediction its segment: viewed, unviewed or new_user (docs: the population)"
    )


class PredictRequest(_PredictOptions):
    model_config = ConfigDict(json_schema_extra={"examples": [SPEC_EXAMPLE]})

    features: list[FeatureRow] = Field(min_length=1, max_length=get_settings().max_batch_size)


class StorePredictRequest(_PredictOptions):
    """/predict with the online store: features left out are filled as of `as_of` (default: now)."""

    model_config = ConfigDict(
        title="PredictRequest", json_schema_extra={"examples": [SPEC_EXAMPLE, {"features": [SPEC_IDS]}]}
    )

    features: list[SparseFeatureRow] = Field(min_length=1, max_length=get_settings().max_batch_size)
    as_of: Annotated[AwareDatetime, AfterValidator(not_in_the_future)] | None = Field(
        None, strict=False, description="features as of this time (backtests, replay); default now"
    )


class Prediction(BaseModel):
    user_id: str
    item_id: str
    prediction: Literal[0, 1]
    probability: float | None = Field(None, description="left out when return_probabilities is false")
    confidence: Literal["high", "medium", "low"]
    model_version: str | None = Field(None, description="only during an A/B test: the version that scored this row")
    segment: Literal["viewed", "unviewed", "new_user"] | None = Field(None, description="only with return_segments")


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str
    timestamp: datetime
    latency_ms: float


class LoadModelRequest(_Strict):
    # "Exactly one of the two" in the document too, so clients and generated tests know it.
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "oneOf": [
                {"required": [given], "properties": {given: {"type": "string"}, other: {"type": "null"}}}
                for given, other in (("model_tag", "model_path"), ("model_path", "model_tag"))
            ]
        },
    )

    model_tag: str | None = Field(None, pattern=TAG_PATTERN, examples=["purchase_model:xgboost_20240101_120000"])
    model_path: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_PATH_LENGTH,
        pattern=r"\.bentomodel$",
        examples=["models/purchase_model-xgboost_20240101_120000.bentomodel"],
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> LoadModelRequest:
        if (self.model_tag is None) == (self.model_path is None):
            raise ValueError("give exactly one of model_tag or model_path")
        return self


class LoadModelResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: Literal["success"]
    message: str
    model_version: str
    loaded_at: datetime
    workers_switched: int = Field(description="workers serving the new version when this answer was sent")
    workers_total: int


class TrafficRequest(_Strict):
    candidate: str | None = Field(
        None,
        pattern=TAG_PATTERN,
        description="tag of the A/B candidate; null ends the test",
        examples=["purchase_model:xgboost_20240101_120000"],
    )
    candidate_share: float = Field(
        0.0, ge=0, le=1, description="share of users (by a stable hash of user_id) sent to the candidate"
    )
    shadow: str | None = Field(
        None, pattern=TAG_PATTERN, description="tag of a version that scores every row without affecting answers"
    )


class TrafficInfo(BaseModel):
    primary: str
    candidate: str | None
    candidate_share: float
    shadow: str | None
    generation: int
    workers_switched: int | None = None
    workers_total: int | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    model_path: str | None = Field(description="the archive it was loaded from, if any")
    loaded_at: datetime
    model_type: str
    has_preprocessor: bool
    num_features: int
    model_tag: str
    stage: str
    metrics: dict[str, Any] = Field(description="as stored at training: per model, AUC, PR-AUC, log loss, Brier, ECE")
    segments: dict[str, Any] = Field(
        description="as stored at training: per segment and overall, rows, purchase rate and each model's "
        "mean probability, AUC, log loss and ECE on the test split"
    )
    traffic: TrafficInfo
    versions: dict[str, dict[str, int]] = Field(
        description="per version: requests by role, rows by predicted class, shadow agreement"
    )


class Health(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    status: Literal["healthy", "degraded"]
    model_loaded: bool
    model_version: str | None
    uptime_seconds: float
    timestamp: datetime


class ApiInfo(BaseModel):
    name: str
    version: str
    status: str
    docs: str
    health: str


class ErrorResponse(BaseModel):
    detail: str


def describe_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line per problem, naming the field and the item's index: `features[3].item_price: ...`."""
    lines = []
    for error in errors:
        if error["type"] == "json_invalid":  # its location is a character offset, not a field
            lines.append("Invalid JSON body")
            continue
        loc = [part for part in error["loc"] if part != "body"]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        lines.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(lines)
