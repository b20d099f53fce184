"""The Open Inference Protocol at the boundary: named inputs → /predict rows, every problem naming the
input; the response's outputs; the model's metadata. In-process (the routes run in test_clients.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from purchase.errors import InvalidInput
from purchase.examples import SPEC_CURL
from purchase.schemas import FeatureRow, PredictRequest, StorePredictRequest
from purchase.serving.models.scoring import Scored
from purchase.serving.routes.oip_codec import (
    INPUT_TYPES,
    InferenceRequest,
    infer_response,
    model_metadata,
    parse_infer,
    read_infer,
)

ROW = SPEC_CURL["features"][0]


def column(name: str, values: list, shape: list[int] | None = None, datatype: str | None = None) -> dict:
    return {"name": name, "shape": shape or [len(values)], "datatype": datatype or INPUT_TYPES[name], "data": values}


def request(*inputs: dict, **extra: object) -> InferenceRequest:
    return read_infer(json.dumps({"inputs": list(inputs), **extra}).encode())


def spec_inputs(n: int = 2) -> list[dict]:
    return [column(name, [value] * n) for name, value in ROW.items()]


def test_inputs_become_the_rows_predict_takes() -> None:
    parsed = parse_infer(request(*spec_inputs(2), parameters={"threshold": 0.7}), PredictRequest)
    assert parsed.threshold == 0.7 and len(parsed.features) == 2
    assert parsed.features[1] == FeatureRow.model_validate(ROW)
    counts = column("view_count_7d", [3.0, 4], datatype="FP32")  # a whole float is a count
    parsed = parse_infer(request(*spec_inputs(2), counts), PredictRequest)
    assert [type(r.view_count_7d) for r in parsed.features] == [int, int]
    assert [r.view_count_7d for r in parsed.features] == [3, 4] and type(parsed.features[0].item_price) is float


def test_column_shapes_and_missing_values() -> None:
    """[n, 1] as well as [n]; an input left out, or a null in one, is a feature left out."""
    ids = [column("user_id", [["u1"], ["u2"]], [2, 1]), column("item_id", [["i1"], ["i2"]], [2, 1])]
    views = column("view_count_7d", [3, None], datatype="FP64")
    parsed = parse_infer(request(*ids, views), StorePredictRequest)
    assert [(r.user_id, r.item_id, r.view_count_7d, r.item_price) for r in parsed.features] == [
        ("u1", "i1", 3, None),
        ("u2", "i2", None, None),
    ]


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (
            [column("item_colour", ["red"], datatype="BYTES")],
            "input 'item_colour': unknown; inputs are user_id, item_id,",
        ),
        ([column("user_id", ["u"]), column("user_id", ["v"])], "input 'user_id': given twice"),
        ([column("item_price", ["9.99"], datatype="BYTES")], "input 'item_price': datatype BYTES where a numeric"),
        ([column("user_id", [1], datatype="INT64")], "input 'user_id': datatype INT64 where BYTES"),
        ([column("item_price", [9.99], datatype="FP128")], "input 'item_price': datatype FP128"),
        ([column("user_id", ["u", "v"], [1, 2])], "input 'user_id': shape [1, 2], expected [n] or [n, 1]"),
        ([column("user_id", ["u"], [2])], "input 'user_id': shape [2] but 1 values"),
        ([column("user_id", [], [0])], "input 'user_id': shape [0] but 0 values"),
        ([column("user_id", ["u", "v"]), column("item_id", ["i"])], "different numbers of rows: [1, 2]"),
        ([column("view_count_7d", [1.5], datatype="FP32")], "input 'view_count_7d': 1.5 is not a whole number"),
        ([column("view_count_7d", [True], datatype="INT64")], "input 'view_count_7d': True is not a number"),
        ([column("item_price", ["x"], datatype="FP32")], "input 'item_price': 'x' is not a number"),
    ],
)
def test_every_problem_names_the_input(inputs: list[dict], problem: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_infer(request(*inputs), StorePredictRequest)
    assert problem in raised.value.detail


def test_a_row_the_request_model_refuses_names_the_row_and_field() -> None:
    inputs = [*spec_inputs(2)[:-1], column("item_category", ["Books", ""])]
    with pytest.raises(InvalidInput, match=r"row \[1\]\.item_category"):
        parse_infer(request(*inputs), PredictRequest)
    with pytest.raises(InvalidInput, match=r"^inputs: Field required"):
        read_infer(b"{}")
    with pytest.raises(InvalidInput, match=r"outputs\[0\]\.name"):
        read_infer(json.dumps({"inputs": spec_inputs(1), "outputs": [{"name": "logit"}]}).encode())


def scored(row_versions: list[str] | None = None) -> Scored:
    return Scored([], [0.25, 0.75], [0, 1], ["low", "low"], "v2", row_versions, np.array([0, 1], dtype=np.int8))


def test_the_response_carries_the_outputs_asked_for() -> None:
    both = infer_response(request(*spec_inputs(2), id="r-1"), scored())
    assert both == {
        "model_name": "purchase_model",
        "model_version": "v2",
        "id": "r-1",
        "outputs": [
            {"name": "probability", "datatype": "FP64", "shape": [2], "data": [0.25, 0.75]},
            {"name": "prediction", "datatype": "INT64", "shape": [2], "data": [0, 1]},
        ],
    }
    one = infer_response(request(*spec_inputs(2), outputs=[{"name": "prediction"}]), scored(["v1", "v2"]))
    assert [o["name"] for o in one["outputs"]] == ["prediction"] and one["parameters"] == {"row_versions": ["v1", "v2"]}
    assert len(one["id"]) == 32  # one is made up when the request has none


def test_the_metadata_lists_one_input_per_feature() -> None:
    metadata = model_metadata(["v1", "v2"])
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == ("purchase_model", ["v1", "v2"], "xgboost")
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (name, kind, [-1]) for name, kind in INPUT_TYPES.items()
    ]
    assert set(INPUT_TYPES) == set(FeatureRow.model_fields) and INPUT_TYPES["view_count_7d"] == "INT64"
    assert INPUT_TYPES["item_price"] == "FP32" and INPUT_TYPES["item_category"] == "BYTES"
    assert metadata["outputs"] == [
        {"name": "probability", "datatype": "FP64", "shape": [-1]},
        {"name": "prediction", "datatype": "INT64", "shape": [-1]},
    ]
