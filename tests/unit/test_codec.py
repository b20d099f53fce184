"""The /predict body parsed from bytes and the answer encoded from a scored request."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from purchase.errors import InvalidInput
from purchase.examples import SPEC_CURL
from purchase.schemas import FeatureRow, PredictRequest, PredictResponse
from purchase.serving.fleet import ModelRef, Target
from purchase.serving.models.scoring import Scored
from purchase.serving.routes.codec import encode_predict_response, parse_predict_request, segment_summary, traffic_info


def test_a_body_that_is_not_json_is_refused_clearly() -> None:
    for content_type, body, expected in (
        ("application/json", b'{"features": [', "Invalid JSON body"),
        ("application/json", b"", "Invalid JSON body"),
        ("text/plain", json.dumps(SPEC_CURL).encode(), "Content-Type must be application/json, not text/plain"),
    ):
        with pytest.raises(InvalidInput) as info:
            parse_predict_request(content_type, body, PredictRequest)
        assert info.value.detail == expected
    for accepted in (None, "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.api+json"):
        assert len(parse_predict_request(accepted, json.dumps(SPEC_CURL).encode(), PredictRequest).features) == 1


def scored(row_versions: list[str] | None) -> Scored:
    rows = [
        FeatureRow.model_validate({**SPEC_CURL["features"][0], "user_id": u, "item_id": i})
        for u, i in (("u1", "i1"), ("u2", "i2"))
    ]
    return Scored(rows, [0.75, 0.25], [1, 0], ["high", "low"], "v1", row_versions, np.array([0, 2], dtype=np.int8))


def test_encoded_response_is_the_documented_contract() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    body = encode_predict_response(scored(["v1", "v2"]), True, stamp, 1.25)
    assert json.loads(body)["timestamp"] == "2026-01-02T03:04:05.678901Z"
    answer = PredictResponse.model_validate_json(body)
    assert answer.model_dump(exclude_none=True) == {
        "predictions": [
            {
                "user_id": "u1",
                "item_id": "i1",
                "prediction": 1,
                "probability": 0.75,
                "confidence": "high",
                "model_version": "v1",
            },
            {
                "user_id": "u2",
                "item_id": "i2",
                "prediction": 0,
                "probability": 0.25,
                "confidence": "low",
                "model_version": "v2",
            },
        ],
        "model_version": "v1",
        "timestamp": stamp,
        "latency_ms": 1.25,
    }


def test_probabilities_and_row_versions_are_left_out_unless_asked_for() -> None:
    body = json.loads(encode_predict_response(scored(None), False, datetime.now(UTC), 0.5))
    assert [sorted(p) for p in body["predictions"]] == [["confidence", "item_id", "prediction", "user_id"]] * 2


def test_segments_are_given_when_asked_for_and_summarised_in_a_header() -> None:
    body = json.loads(encode_predict_response(scored(None), True, datetime.now(UTC), 0.5, return_segments=True))
    assert [p["segment"] for p in body["predictions"]] == ["viewed", "new_user"]
    assert segment_summary(np.array([0, 2, 2, 1], dtype=np.int8)) == "viewed=1,unviewed=1,new_user=2"
    assert segment_summary(np.array([0, 0], dtype=np.int8)) == "viewed=2,unviewed=0,new_user=0"  # every segment


def test_traffic_info_names_each_role() -> None:
    target = Target(ModelRef("m:1"), ModelRef("m:2"), 0.25, ModelRef("m:3", "models/x.bentomodel"), 9)
    assert traffic_info(target, workers_switched=1, workers_total=2).model_dump() == {
        "primary": "m:1",
        "candidate": "m:2",
        "candidate_share": 0.25,
        "shadow": "m:3",
        "generation": 9,
        "workers_switched": 1,
        "workers_total": 2,
    }
    alone = traffic_info(Target(ModelRef("m:1")))
    assert (alone.candidate, alone.shadow, alone.candidate_share, alone.workers_total) == (None, None, 0.0, None)


def test_only_json_media_types_are_read() -> None:
    body = json.dumps(SPEC_CURL).encode()
    for refused in (
        "application/xml",
        "text/plain+json",
        "application/json-seq",
        "application/jsonx; a=1",
    ):
        with pytest.raises(InvalidInput):
            parse_predict_request(refused, body, PredictRequest)
    assert len(parse_predict_request("application/json; charset=utf-8; x=y", body, PredictRequest).features) == 1
    with pytest.raises(InvalidInput) as info:
        parse_predict_request("text/" + "x" * 300, body, PredictRequest)
    assert info.value.detail == "Content-Type must be application/json, not text/" + "x" * 95


def test_a_key_given_twice_is_refused_with_its_place() -> None:
    row = json.dumps(SPEC_CURL["features"][0])
    twice = row[:-1] + ', "item_price": 1.0}'
    spaced = json.dumps(SPEC_CURL["features"][0], separators=(", ", " : "))
    for body, where in (
        ('{"features": [' + twice + "]}", "features[0].item_price"),
        ('{"features": [' + row + ", " + twice + "]}", "features[1].item_price"),
        ('{"threshold": 0.5, "features": [' + row + '], "threshold": 0.4}', "threshold"),
        # One key spaced before its colon and one given twice: as many `":` as fields, yet a duplicate.
        ('{"features": [' + twice.replace('"user_id":', '"user_id" :') + "]}", "features[0].item_price"),
        # Two keys twice and one spaced; every key spaced but the one given twice.
        (
            '{"features": [' + twice.replace('"user_id":', '"user_id" :')[:-1] + ', "item_id": "x"}]}',
            "features[0].item_price",
        ),
        ('{"features" : [' + spaced[:-1] + ', "item_price": 1.0}]}', "features[0].item_price"),
    ):
        with pytest.raises(InvalidInput) as info:
            parse_predict_request(None, body.encode(), PredictRequest)
        assert info.value.detail == f"{where}: duplicate key"
    # Colons inside string values and spaces before a colon are not keys.
    tricky = {**SPEC_CURL["features"][0], "user_id": 'a":b', "item_id": '":'}
    spaced = json.dumps({"features": [tricky]}, separators=(", ", " : "))
    assert parse_predict_request(None, spaced.encode(), PredictRequest).features[0].user_id == 'a":b'
