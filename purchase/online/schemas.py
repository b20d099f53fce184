"""The /events contract: events in the public e-commerce behaviour schema, validated at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from ..schemas import SparseFeatureRow, not_in_the_future
from ..settings import get_settings

EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
MAX_TEXT = 128
# Ids and codes are joined with control characters in the stores, so they may not carry any.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


def _text_of_number(value: object) -> object:
    """The public dataset's ids are numbers; they are kept as text, as training reads them."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _parse_utc_suffix(value: object) -> object:
    """The public dataset writes "2019-10-01 00:00:00 UTC"."""
    return value[:-4] + "+00:00" if isinstance(value, str) and value.endswith(" UTC") else value


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = Annotated[str, BeforeValidator(_text_of_number), Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=_PRINTABLE)]
EventTime = Annotated[
    datetime,
    BeforeValidator(_parse_utc_suffix),
    AfterValidator(_as_utc),
    AfterValidator(not_in_the_future),
    Field(strict=False),
]


class Event(BaseModel):
    """One event. `event_id` makes a retry idempotent; without one, an event's identity is its content."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    event_time: EventTime = Field(examples=["2026-11-27T10:15:00Z"])
    event_type: Literal["view", "cart", "remove_from_cart", "purchase"]
    product_id: Id = Field(examples=["item_00123"])
    category_id: Id | None = None
    category_code: Text | None = Field(None, examples=["electronics.smartphone"])
    brand: Text | None = None
    price: float = Field(ge=0, le=1e9, examples=[89.99])
    user_id: Id = Field(examples=["user_000042"])
    user_session: Id | None = None
    event_id: Id | None = None


class EventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[Event] = Field(min_length=1, max_length=get_settings().max_events_per_request)


class EventsResponse(BaseModel):
    accepted: int = Field(description="events in the request")
    stored: int = Field(description="new events now in the store")
    duplicates: int = Field(description="events the store already held (retries: same event_id or content)")
    expired: int = Field(description="events older than the store keeps; they change nothing")


class FeaturesResponse(BaseModel):
    """What /predict would score for these rows: the request's features completed from the store."""

    features: list[SparseFeatureRow]
    source: Literal["request", "store", "unavailable"] = Field(description="as the X-Feature-Source header")
