"""The /events contract in-process: what an event may be, and how the stores identify it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from purchase.online.records import stored
from purchase.online.schemas import Event, EventsRequest
from purchase.schemas import describe_validation_errors

GOOD = {"event_time": "2026-01-01T10:00:00Z", "event_type": "view", "product_id": "p1", "price": 9.5, "user_id": "u1"}


def refusal(**change: object) -> str:
    with pytest.raises(ValidationError) as info:
        EventsRequest.model_validate({"events": [GOOD, GOOD | change]})
    return describe_validation_errors(info.value.errors())


def test_times_are_utc_whatever_their_form() -> None:
    expected = datetime(2026, 1, 1, 10, tzinfo=UTC)
    for text in ("2026-01-01 10:00:00 UTC", "2026-01-01T10:00:00", "2026-01-01T11:00:00+01:00", "2026-01-01T10:00Z"):
        assert Event.model_validate(GOOD | {"event_time": text}).event_time == expected, text


def test_numeric_ids_are_text_and_optional_fields_may_be_left_out() -> None:
    event = Event.model_validate(GOOD | {"product_id": 44600062, "user_id": 7, "category_id": 2053013555631882655})
    assert (event.product_id, event.user_id, event.category_id) == ("44600062", "7", "2053013555631882655")
    assert event.user_session is None and event.event_id is None and event.category_code is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_type": "click"}, "event_type"),
        ({"price": -0.01}, "price"),
        ({"product_id": True}, "product_id"),
        ({"user_id": "a\x1fb"}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({"event_time": "soon"}, "event_time"),
        ({"colour": "red"}, "colour"),
        ({"price": "9.5"}, "price"),
    ],
)
def test_bad_events_name_the_event_and_the_field(change: dict[str, object], field: str) -> None:
    assert refusal(**change).startswith(f"events[1].{field}: ")


def test_the_future_is_refused_beyond_the_tolerance() -> None:
    near = datetime.now(UTC) + timedelta(seconds=200)
    assert Event.model_validate(GOOD | {"event_time": near.isoformat()}).event_time == near
    far = datetime.now(UTC) + timedelta(seconds=400)
    assert "lies in the future (more than 300 s" in refusal(event_time=far.isoformat())


def test_a_request_holds_one_to_the_maximum_events() -> None:
    with pytest.raises(ValidationError):
        EventsRequest.model_validate({"events": []})
    with pytest.raises(ValidationError):
        EventsRequest.model_validate({"events": [GOOD] * 1001})
    assert len(EventsRequest.model_validate({"events": [GOOD] * 1000}).events) == 1000


def test_an_event_is_identified_by_its_id_else_by_all_of_its_content() -> None:
    event = Event.model_validate(GOOD | {"user_session": "s", "category_code": "a.b", "brand": "x"})
    kept = stored(event)
    assert kept.t == datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp()
    assert (kept.event_type, kept.user_id, kept.item_id, kept.session, kept.price, kept.category_code) == (
        "view", "u1", "p1", "s", 9.5, "a.b"
    )  # fmt: skip
    assert stored(Event.model_validate(event.model_dump())).event_id == kept.event_id
    for change in ({"brand": "y"}, {"price": 9.51}, {"user_session": None}, {"category_id": "3"},
                   {"event_time": "2026-01-01T10:00:01Z"}, {"event_type": "cart"}):  # fmt: skip
        assert stored(Event.model_validate(event.model_dump() | change)).event_id != kept.event_id, change
    assert stored(Event.model_validate(GOOD | {"event_id": "e-7"})).event_id == "e-7"


def test_a_time_without_a_zone_is_utc_whatever_the_server_s_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        event = Event.model_validate(GOOD | {"event_time": "2026-01-01T10:00:00"})
        assert event.event_time == datetime(2026, 1, 1, 10, tzinfo=UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
