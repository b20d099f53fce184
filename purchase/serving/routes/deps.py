"""What every route module takes from the app: the service instance, the documented errors, and which
/predict body this server reads."""

from __future__ import annotations

from typing import Any

import bentoml
from fastapi import Depends, Request
from pydantic import BaseModel

from ...schemas import ErrorResponse, PredictRequest, StorePredictRequest
from ...settings import get_settings
from ..edge.middleware import caller_of
from ..edge.security import Caller

# The service instance (its models, scorer, stores, ...): a route's `serving: Serving = SERVICE`.
SERVICE: Any = Depends(bentoml.get_current_service)


def _caller(request: Request) -> Caller:
    return caller_of(request.scope)


# Who called (batch jobs belong to the key that submitted them): a route's `caller: Caller = CALLER`.
CALLER: Any = Depends(_caller)
# With the online store, /predict needs only the ids (and takes as_of); without, the spec's contract.
PREDICT_REQUEST: type[PredictRequest] | type[StorePredictRequest] = (
    StorePredictRequest if get_settings().online_features else PredictRequest
)


def errors(*codes: int, shape: type[BaseModel] = ErrorResponse) -> dict[int | str, dict[str, object]]:
    """The documented error answers of a route (in the protocol's `shape` under /v2)."""
    return {code: {"model": shape} for code in codes}
