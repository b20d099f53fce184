"""The API contract: what the request models accept and how errors are worded (unit tests)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from purchase.errors import InvalidInput
from purchase.schemas import FeatureRow, LoadModelRequest, PredictRequest, PredictResponse, encode_predict_response, parse_predict_request

from .spec_examples import SPEC_CURL

MINIMAL = SPEC_CURL["features"][0]


def error_text(body: dict[str, object]) -> str:
    """The 400 detail /predict gives for `body`, from the route's own parser."""
    with pytest.raises(InvalidInput) as info:
        parse_predict_request("application/json", json.dumps(body).encode())
    return info.value.detail


def test_only_ids_prices_discount_and_category_are_required() -> None:
    row = FeatureRow(**MINIMAL)
    assert row.view_count_7d is None and row.days_since_last_view is None
    request = PredictRequest(features=[row])
    assert request.return_probabilities is True and request.threshold is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"item_price": 0}, "item_price"),
        ({"item_base_price": -1}, "item_base_price"),
        ({"item_discount_pct": 101}, "item_discount_pct"),
        ({"view_count_7d": -2}, "view_count_7d"),
        ({"view_count_7d": 1.5}, "view_count_7d"),
        ({"item_category": ""}, "item_category"),
        ({"user_id": "u" * 129}, "user_id"),
        ({"item_price": "cheap"}, "item_price"),
        ({"view_cuont_7d": 3}, "view_cuont_7d"),
        ({"item_price": "89.99"}, "item_price"),
        ({"view_count_7d": "3"}, "view_count_7d"),
        ({"view_count_7d": True}, "view_count_7d"),
    ],
)
def test_bad_values_name_the_field_and_the_index(change: dict[str, object], field: str) -> None:
    text = error_text({"features": [MINIMAL, MINIMAL, {**MINIMAL, **change}]})
    assert text.startswith(f"features[2].{field}: ")


def test_missing_required_field_is_named() -> None:
    row = {k: v for k, v in MINIMAL.items() if k != "item_category"}
    assert error_text({"features": [row]}) == "features[0].item_category: Field required"


def test_nan_and_infinity_are_refused() -> None:
    assert "features[0].item_price" in error_text({"features": [{**MINIMAL, "item_price": float("nan")}]})
    assert "features[0].avg_session_duration" in error_text({"features": [{**MINIMAL, "avg_session_duration": float("inf")}]})


def test_batch_size_and_threshold_limits() -> None:
    assert error_text({"features": []}).startswith("features: ")
    assert error_text({"features": [MINIMAL] * 1001}).startswith("features: ")
    assert error_text({"features": [MINIMAL], "threshold": 1.5}).startswith("threshold: ")
    assert PredictRequest.model_validate({"features": [MINIMAL] * 1000, "threshold": 0}).threshold == 0
    assert error_text({"features": [MINIMAL], "return_probabilities": "yes"}).startswith("return_probabilities: ")


def test_load_model_takes_exactly_one_source() -> None:
    assert LoadModelRequest(model_tag="purchase_model:x").model_path is None
    for body in ({}, {"model_tag": "a", "model_path": "b.bentomodel"}):
        with pytest.raises(ValidationError, match="exactly one"):
            LoadModelRequest.model_validate(body)


def test_a_body_that_is_not_json_is_refused_clearly() -> None:
    for content_type, body, expected in (
        ("application/json", b'{"features": [', "Invalid JSON body"),
        ("application/json", b"", "Invalid JSON body"),
        ("text/plain", json.dumps(SPEC_CURL).encode(), "Content-Type must be application/json, not text/plain"),
    ):
        with pytest.raises(InvalidInput) as info:
            parse_predict_request(content_type, body)
        assert info.value.detail == expected
    for accepted in (None, "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json"):
        assert len(parse_predict_request(accepted, json.dumps(SPEC_CURL).encode()).features) == 1


def test_encoded_response_is_the_documented_contract() -> None:
    rows = [
        {"user_id": "u1", "item_id": "i1", "prediction": 1, "probability": 0.75, "confidence": "high"},
        {"user_id": "u2", "item_id": "i2", "prediction": 0, "confidence": "low", "model_version": "v2"},
    ]
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    body = encode_predict_response(rows, "v1", stamp, 1.25)
    assert json.loads(body)["timestamp"] == "2026-01-02T03:04:05.678901Z"
    answer = PredictResponse.model_validate_json(body)
    assert answer.model_dump(exclude_none=True) == {"predictions": rows, "model_version": "v1", "timestamp": stamp, "latency_ms": 1.25}
