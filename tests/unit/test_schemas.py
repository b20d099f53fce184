"""The API contract: what the request models accept and how errors are worded (unit tests)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from purchase.errors import InvalidInput
from purchase.examples import SPEC_CURL
from purchase.features import CATEGORY_FEATURE, COUNT_FEATURES, ID_FIELDS, NUMERIC_FEATURES, REQUIRED_FEATURES
from purchase.schemas import FeatureRow, LoadModelRequest, PredictRequest, describe_validation_errors
from purchase.serving.routes.codec import parse_predict_request

MINIMAL = SPEC_CURL["features"][0]


def error_text(body: dict[str, object]) -> str:
    """The 400 detail /predict gives for `body`, from the route's own parser."""
    with pytest.raises(InvalidInput) as info:
        parse_predict_request("application/json", json.dumps(body).encode(), PredictRequest)
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
    assert "features[0].avg_session_duration" in error_text(
        {"features": [{**MINIMAL, "avg_session_duration": float("inf")}]}
    )


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


def test_the_request_row_carries_exactly_the_feature_contract() -> None:
    """FeatureRow and purchase.features list the same features, with the same required ones."""
    fields = FeatureRow.model_fields
    assert set(fields) == {*ID_FIELDS, *NUMERIC_FEATURES, CATEGORY_FEATURE}
    assert {name for name, field in fields.items() if field.is_required()} == {*ID_FIELDS, *REQUIRED_FEATURES}
    counts = {name for name, field in fields.items() if "int" in str(field.annotation)}
    assert counts == set(COUNT_FEATURES)


def test_validation_errors_are_one_line_each_naming_field_and_index() -> None:
    errors = [
        {"type": "float_type", "loc": ("body", "features", 3, "item_price"), "msg": "Input should be a valid number"},
        {"type": "missing", "loc": ("threshold",), "msg": "Field required"},
        {"type": "missing", "loc": ("X_field",), "msg": "Field required"},
        {"type": "value_error", "loc": (), "msg": "give exactly one of model_tag or model_path"},
    ]
    assert describe_validation_errors(errors) == (
        "features[3].item_price: Input should be a valid number; threshold: Field required; X_field: Field required; "
        "give exactly one of model_tag or model_path"
    )
    assert (
        describe_validation_errors([{"type": "json_invalid", "loc": ("body", 12), "msg": "EOF"}]) == "Invalid JSON body"
    )
