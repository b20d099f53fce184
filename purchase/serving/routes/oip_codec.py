"""The Open Inference Protocol (KServe V2) over the /predict contract: one named input per feature,
row-major data, outputs `probability` and `prediction`. Checked here, at the boundary; scoring is
/predict's own (the same request models, routing, batching and metrics)."""

from __future__ import annotations

import math
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ...errors import InvalidInput
from ...features import CATEGORY_FEATURE, COUNT_FEATURES, ID_FIELDS, NUMERIC_FEATURES
from ...schemas import PredictRequest, StorePredictRequest, describe_validation_errors
from ...store import MODEL_NAME
from ..models.scoring import Scored

NUMERIC_TYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
# What /v2/models/... lists: ids and the category as BYTES, counts as INT64, amounts as FP32.
INPUT_TYPES = {
    **{name: "BYTES" for name in (*ID_FIELDS, CATEGORY_FEATURE)},
    **{name: "INT64" if name in COUNT_FEATURES else "FP32" for name in NUMERIC_FEATURES},
}
OUTPUT_TYPES = {"probability": "FP64", "prediction": "INT64"}


class ProtocolError(BaseModel):
    """The protocol's error answer."""

    error: str


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RequestInput(_Open):
    name: str
    shape: list[int] = Field(min_length=1, max_length=2)
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestOutput(_Open):
    name: Literal["probability", "prediction"]
    parameters: dict[str, Any] | None = None


class InferenceRequest(_Open):
    id: str | None = None
    parameters: dict[str, Any] | None = Field(None, description='{"threshold": 0.5} (default: DEFAULT_THRESHOLD)')
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


def model_metadata(versions: list[str]) -> dict[str, Any]:
    return {
        "name": MODEL_NAME,
        "versions": versions,
        "platform": "xgboost",
        "inputs": [{"name": name, "datatype": kind, "shape": [-1]} for name, kind in INPUT_TYPES.items()],
        "outputs": [{"name": name, "datatype": kind, "shape": [-1]} for name, kind in OUTPUT_TYPES.items()],
    }


def _rows(inputs: list[RequestInput]) -> list[dict[str, Any]]:
    """Named columns → /predict rows; every problem names the input."""
    columns: dict[str, list[Any]] = {}
    for given in inputs:
        if given.name not in INPUT_TYPES:
            raise InvalidInput(f"input {given.name!r}: unknown; inputs are {', '.join(INPUT_TYPES)}")
        if given.name in columns:
            raise InvalidInput(f"input {given.name!r}: given twice")
        expected = "BYTES" if INPUT_TYPES[given.name] == "BYTES" else "a numeric datatype"
        if (given.datatype == "BYTES") != (expected == "BYTES") or given.datatype not in NUMERIC_TYPES | {"BYTES"}:
            raise InvalidInput(f"input {given.name!r}: datatype {given.datatype} where {expected} is expected")
        if len(given.shape) == 2 and given.shape[1] != 1:
            raise InvalidInput(f"input {given.name!r}: shape {given.shape}, expected [n] or [n, 1]")
        if math.prod(given.shape) != len(given.data) or given.shape[0] < 1:
            raise InvalidInput(f"input {given.name!r}: shape {given.shape} but {len(given.data)} values")
        columns[given.name] = [
            _value(given.name, v[0] if isinstance(v, list) and len(v) == 1 else v) for v in given.data
        ]
    counts = {len(values) for values in columns.values()}
    if len(counts) > 1:
        raise InvalidInput(f"inputs have different numbers of rows: {sorted(counts)}")
    (n,) = counts
    return [{name: values[i] for name, values in columns.items() if values[i] is not None} for i in range(n)]


def _value(name: str, value: Any) -> Any:
    """A JSON value as the request model takes it: counts whole, amounts float; None stays missing."""
    if value is None or INPUT_TYPES[name] == "BYTES":
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"input {name!r}: {value!r} is not a number")
    if INPUT_TYPES[name] == "INT64":
        if not float(value).is_integer():
            raise InvalidInput(f"input {name!r}: {value!r} is not a whole number")
        return int(value)
    return float(value)


def read_infer(body: bytes) -> InferenceRequest:
    try:
        return InferenceRequest.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None


def parse_infer(
    body: InferenceRequest, model: type[PredictRequest] | type[StorePredictRequest]
) -> PredictRequest | StorePredictRequest:
    threshold = (body.parameters or {}).get("threshold")
    try:
        return model.model_validate({"features": _rows(body.inputs), "threshold": threshold})
    except ValidationError as exc:
        problem = describe_validation_errors(exc.errors())
        raise InvalidInput(problem.replace("features[", "row [")) from None


def infer_response(body: InferenceRequest, scored: Scored) -> dict[str, Any]:
    wanted = [o.name for o in body.outputs] if body.outputs else list(OUTPUT_TYPES)
    values: dict[str, list[Any]] = {"probability": scored.probabilities, "prediction": scored.classes}
    response: dict[str, Any] = {
        "model_name": MODEL_NAME,
        "model_version": scored.model_version,
        "id": body.id or uuid.uuid4().hex,
        "outputs": [
            {"name": name, "datatype": OUTPUT_TYPES[name], "shape": [len(values[name])], "data": values[name]}
            for name in wanted
        ],
    }
    if scored.row_versions is not None:  # an A/B split: the version that scored each row
        response["parameters"] = {"row_versions": scored.row_versions}
    return response
