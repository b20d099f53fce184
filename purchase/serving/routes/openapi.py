"""The OpenAPI document of /docs and /redoc: FastAPI's, with invalid input as 400 (not 422), the
bodies that routes read themselves, BentoML's probes, tags and security per route."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from ..edge.error_bodies import error_key
from ..edge.route_table import RouteTable
from ..edge.security import Access

TAG_OF_PATH = {
    "/predict": "Prediction",
    "/client/predict": "Prediction",
    "/explain": "Understanding the model",
    "/models": "Understanding the model",  # the model page (HTML), its reports and comparisons
    "/models/compare": "Understanding the model",
    "/models/{version}/report": "Understanding the model",
    "/models/{version}/report/{file}": "Understanding the model",
    "/models/{version}/promote": "Models",
    "/models/rollback": "Models",
    "/drift": "Understanding the model",
    "/jobs": "Batch jobs",
    "/jobs/{job_id}": "Batch jobs",
    "/jobs/{job_id}/cancel": "Batch jobs",
    "/jobs/{job_id}/result": "Batch jobs",
    "/jobs/{job_id}/errors": "Batch jobs",
    "/features": "Online features",
    "/events": "Online features",
    "/load-model": "Models",
    "/traffic": "Models",
    "/model-info": "Models",
}
SECURITY_SCHEMES = {
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "Bearer": {"type": "http", "scheme": "bearer"},
}
# BentoML's own routes, served beside ours: listed so the docs show the whole API, declared with their access.
BENTOML_ROUTES = {
    "/livez": {"get": {"summary": "Liveness (BentoML)", "responses": {"200": {"description": "alive"}}}},
    "/readyz": {
        "get": {
            "summary": "Readiness (BentoML): 503 while no model is loaded",
            "responses": {"200": {"description": "ready"}, "503": {"description": "no model loaded"}},
        }
    },
    "/metrics": {"get": {"summary": "Prometheus metrics (BentoML)", "responses": {"200": {"description": "text"}}}},
}


def openapi_document(
    app: FastAPI, table: RouteTable, bodies: dict[str, type[BaseModel]], client_predict: str
) -> dict[str, object]:
    """Built once, at the first request for it."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                _as_answered(path, operation["responses"])
        for unused in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(unused, None)
        for name, model in bodies.items():
            body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schema["components"]["schemas"].update(body_schema.pop("$defs", {}), **{name: body_schema})
        schema["paths"].update(BENTOML_ROUTES)
        predict = schema["paths"]["/predict"]["post"]
        refused = {"description": "not JSON", "content": {"application/json": _error_body(client_predict)}}
        schema["paths"][client_predict] = {
            "post": {
                **predict,
                "summary": "Predict, for BentoML's Python client",
                "operationId": "client_predict",
                "responses": {**predict["responses"], "415": refused},
            }
        }
        schema["components"]["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                operation.setdefault("tags", [TAG_OF_PATH.get(path, "Service")])
                if table.access(method.upper(), path) in (Access.PREDICT, Access.ADMIN):
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
        app.openapi_schema = schema
    return app.openapi_schema


def _error_body(path: str) -> dict[str, object]:
    shape = "ProtocolError" if error_key(path) == "error" else "ErrorResponse"
    return {"schema": {"$ref": f"#/components/schemas/{shape}"}}


def _as_answered(path: str, responses: dict[str, dict]) -> None:
    """FastAPI documents invalid parameters as 422; the service answers 400 (app._invalid_request). And
    it documents an HTML route's errors as HTML; they are JSON, as on every route, in the shape of
    error_bodies.error_key."""
    body = _error_body(path)
    if responses.pop("422", None) is not None:
        responses.setdefault("400", {"description": "Bad Request", "content": {"application/json": body}})
    for code, response in responses.items():
        content = response.get("content", {})
        if code[0] in "45" and "application/json" not in content:
            response["content"] = {"application/json": content.pop("text/html", body)}
