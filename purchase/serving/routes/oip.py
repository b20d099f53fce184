"""The Open Inference Protocol's REST routes (KServe V2), beside the spec's: clients written for KServe,
MLServer or Triton work unchanged. Errors are `{"error": ...}` under /v2 (purchase.serving.edge.error_bodies)."""

from __future__ import annotations

from typing import Any, Protocol

from fastapi import Request

from ... import __version__
from ...errors import ModelNotFound
from ...examples import SPEC_EXAMPLE
from ...store import MODEL_NAME
from ..dataplane import DataPlane
from ..edge.route_table import DeclaredRouter
from ..edge.security import Access
from ..models.manager import ModelManager
from ..models.traffic import Routing
from .deps import SERVICE
from .deps import errors as documented_errors
from .oip_codec import (
    INPUT_TYPES,
    InferenceRequest,
    ProtocolError,
    infer_response,
    model_metadata,
    parse_infer,
    read_infer,
)

MODEL = f"/v2/models/{MODEL_NAME}"
router = DeclaredRouter()
router.declare_prefix(f"{MODEL}/versions/", Access.PREDICT)
router.document_body("InferenceRequest", InferenceRequest)
TAGS = ["Open Inference Protocol (KServe V2)"]


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return documented_errors(*codes, shape=ProtocolError)


class Serving(Protocol):
    models: ModelManager
    dataplane: DataPlane


def _pinned(routing: Routing, version: str | None) -> str | None:
    """A version in the path must be one this worker serves (primary, A/B candidate or shadow)."""
    if version is not None and version not in {m.version for m in routing.models().values()}:
        served = ", ".join(sorted(m.version for m in routing.models().values()))
        raise ModelNotFound(f"version {version} of {MODEL_NAME} is not served here (served: {served})")
    return version


@router.get("/v2/health/live", Access.PUBLIC, tags=TAGS)
async def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", Access.PUBLIC, tags=TAGS)
async def ready(serving: Serving = SERVICE) -> dict[str, bool]:
    return {"ready": serving.models.current is not None}


@router.get("/v2", Access.PUBLIC, tags=TAGS)
async def server_metadata() -> dict[str, Any]:
    return {"name": "purchase-prediction", "version": __version__, "extensions": []}


# The routes of one served version, which the model's metadata links to with its first version.
VERSION_LINKS = {
    name: {"operationId": operation, "parameters": {"version": "$response.body#/versions/0"}}
    for name, operation in [
        ("VersionMetadata", "version_metadata"),
        ("VersionReady", "version_ready"),
        ("InferVersion", "infer_version"),
    ]
}


@router.get(MODEL, Access.PREDICT, tags=TAGS, responses={**errors(503), 200: {"links": VERSION_LINKS}})
async def metadata(serving: Serving = SERVICE) -> dict[str, Any]:
    routing = serving.models.require()
    return model_metadata([m.version for m in routing.models().values()])


@router.get(
    MODEL + "/versions/{version}",
    Access.PREDICT,
    tags=TAGS,
    responses=errors(404, 503),
    operation_id="version_metadata",
)
async def version_metadata(version: str, serving: Serving = SERVICE) -> dict[str, Any]:
    _pinned(serving.models.require(), version)
    return model_metadata([version])


@router.get(MODEL + "/ready", Access.PUBLIC, tags=TAGS)
async def model_ready(serving: Serving = SERVICE) -> dict[str, Any]:
    return {"name": MODEL_NAME, "ready": serving.models.current is not None}


@router.get(MODEL + "/versions/{version}/ready", Access.PREDICT, tags=TAGS, operation_id="version_ready")
async def version_ready(version: str, serving: Serving = SERVICE) -> dict[str, Any]:
    routing = serving.models.routing
    return {"name": MODEL_NAME, "ready": routing is not None and version in routing.roles()}


async def _infer(serving: Serving, raw: Request, version: str | None) -> dict[str, Any]:
    pinned = _pinned(serving.models.require(), version)
    body = read_infer(await raw.body())
    _, scored, _ = await serving.dataplane.predict(parse_infer(body, serving.dataplane.request_type), pinned)
    return infer_response(body, scored)


# The body is read whatever its Content-Type: Triton's client sends none, and FastAPI reads JSON only with one.
# Its example is the spec example's row as named inputs, which a client (or a fuzzer) can send as it is.
INFER_EXAMPLE = {
    "inputs": [
        {"name": name, "shape": [1], "datatype": kind, "data": [SPEC_EXAMPLE["features"][0][name]]}
        for name, kind in INPUT_TYPES.items()
    ]
}
INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}, "example": INFER_EXAMPLE}
        },
    }
}
INFER_DOC = {"tags": TAGS, "openapi_extra": INFER_BODY, "responses": errors(400, 401, 403, 404, 413, 429, 503)}


@router.post(MODEL + "/infer", Access.PREDICT, **INFER_DOC)
async def infer(raw: Request, serving: Serving = SERVICE) -> dict[str, Any]:
    """/predict's scoring (A/B split, shadow, batching, metrics) for named inputs, one per feature."""
    return await _infer(serving, raw, None)


@router.post(MODEL + "/versions/{version}/infer", Access.PREDICT, **INFER_DOC, operation_id="infer_version")
async def infer_version(version: str, raw: Request, serving: Serving = SERVICE) -> dict[str, Any]:
    """Scored by `version` alone, which must be served here (primary, A/B candidate or shadow)."""
    return await _infer(serving, raw, version)
