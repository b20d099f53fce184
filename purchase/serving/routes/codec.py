"""JSON in and out of the hot path: the /predict body validated straight from its bytes, and the answer
encoded from plain values. Both were measured to matter (docs/performance.md)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, TypeVar, cast

import numpy as np
import orjson
from pydantic import ValidationError

from ...errors import InvalidInput
from ...schemas import PredictRequest, StorePredictRequest, TrafficInfo, describe_validation_errors
from ...segments import SEGMENTS, segment_names
from ..fleet import Target
from ..models.scoring import Scored

Request = TypeVar("Request", bound=PredictRequest | StorePredictRequest)


def parse_predict_request(content_type: str | None, body: bytes, model: type[Request]) -> Request:
    """Validated by pydantic-core from the raw bytes, with no dicts in between."""
    if content_type is not None and not _is_json(content_type):
        raise InvalidInput(f"Content-Type must be application/json, not {content_type[:100]}")
    try:
        request = cast(Request, model.model_validate_json(body))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    # JSON parsers keep the last of two equal keys; a client that sends two prices has a bug to hear about.
    # Every key is followed by a colon, so fewer colons than given fields means no key came twice.
    given = len(request.model_fields_set) + sum(len(row.model_fields_set) for row in request.features)
    if _keys(body) != given and (duplicate := _first_duplicate(body)) is not None:
        raise InvalidInput(f"{duplicate}: duplicate key")
    return request


_SPACED_KEY_END = re.compile(rb'"\s+:')


def _keys(body: bytes) -> int:
    r"""The number of `"\s*:` in the body: a count of the usual `":` and a search for the rare others,
    with no match object per key."""
    return body.count(b'":') + len(_SPACED_KEY_END.findall(body))


_DUPLICATE = object()  # marks a parsed object that had a key twice


def _first_duplicate(body: bytes) -> str | None:
    """Where a key occurs twice in one object: `features[3].item_price`, or None."""

    def check(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key, value in pairs:
            if key in seen and _DUPLICATE not in seen:
                seen[_DUPLICATE] = key
            seen[key] = value
        return seen

    document = json.loads(body, object_pairs_hook=check)
    if _DUPLICATE in document:
        return str(document[_DUPLICATE])
    for index, row in enumerate(document["features"]):  # validated: the body has its features
        if _DUPLICATE in row:
            return f"features[{index}].{row[_DUPLICATE]}"
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def encode_predict_response(
    scored: Scored, return_probabilities: bool, timestamp: datetime, latency_ms: float, return_segments: bool = False
) -> bytes:
    """A PredictResponse as JSON, from plain dicts (orjson): building and re-validating a thousand
    pydantic objects per answer costs more than scoring them. Keys left out are absent, as with exclude_none."""
    predictions: list[dict[str, Any]] = [
        {"user_id": row.user_id, "item_id": row.item_id, "prediction": label, "probability": p, "confidence": level}
        for row, label, p, level in zip(scored.rows, scored.classes, scored.probabilities, scored.confidence)
    ]
    if not return_probabilities:
        for prediction in predictions:
            del prediction["probability"]
    if scored.row_versions is not None:
        for prediction, version in zip(predictions, scored.row_versions):
            prediction["model_version"] = version
    if return_segments:
        for prediction, segment in zip(predictions, segment_names(scored.segments)):
            prediction["segment"] = segment
    answer = {
        "predictions": predictions,
        "model_version": scored.model_version,
        "timestamp": timestamp,
        "latency_ms": latency_ms,
    }
    return orjson.dumps(answer, option=orjson.OPT_UTC_Z)


def segment_summary(segments: np.ndarray) -> str:
    """The X-Segments header: rows per segment, `viewed=2,unviewed=0,new_user=1`."""
    counts = np.bincount(segments, minlength=len(SEGMENTS)).tolist()
    return ",".join(f"{segment.value}={n}" for segment, n in zip(SEGMENTS, counts))


def traffic_info(target: Target, **counts: int) -> TrafficInfo:
    return TrafficInfo(
        primary=target.primary.tag,
        candidate=target.candidate.tag if target.candidate else None,
        candidate_share=target.candidate_share,
        shadow=target.shadow.tag if target.shadow else None,
        generation=target.generation,
        **counts,
    )
