"""The route table: every route declares its access level, and the edge and the metrics read it there."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from purchase.serving.edge.route_table import OTHER, DeclaredRouter, RouteTable
from purchase.serving.edge.security import Access


@pytest.fixture(scope="module")
def service_app() -> FastAPI:
    import service

    return service.app


@pytest.fixture(scope="module")
def table() -> RouteTable:
    import service

    return service.ROUTE_TABLE


def test_every_documented_route_declares_its_access_level(service_app: FastAPI, table: RouteTable) -> None:
    operations = [(method.upper(), path) for path, ops in service_app.openapi()["paths"].items() for method in ops]
    assert len(operations) >= 10
    undeclared = [op for op in operations if table.declared(*op) is None]
    assert undeclared == []


def test_routes_map_to_access_levels(table: RouteTable) -> None:
    assert table.access("GET", "/health") is Access.PUBLIC
    assert table.access("GET", "/static-offline-docs/redoc.standalone.js") is Access.PUBLIC
    assert table.access("OPTIONS", "/predict") is Access.PUBLIC  # CORS preflight carries no key
    assert table.access("POST", "/predict") is Access.PREDICT
    assert table.access("GET", "/model-info") is Access.PREDICT
    assert table.access("GET", "/traffic") is Access.PREDICT
    assert table.access("POST", "/traffic") is Access.ADMIN
    assert table.access("POST", "/load-model") is Access.ADMIN
    assert table.access("GET", "/metrics") is Access.METRICS
    assert table.access("GET", "/no-such-route") is Access.PREDICT  # unknown paths need a key when keys are set


def test_other_methods_on_a_known_path_get_its_least_restricted_level() -> None:
    table = RouteTable()
    table.declare("GET", "/x", Access.PREDICT)
    table.declare("POST", "/x", Access.ADMIN)
    assert table.access("PUT", "/x") is Access.PREDICT  # answered 405 by the app, after the key check
    assert table.access("POST", "/x") is Access.ADMIN


def test_metrics_labels_are_route_paths_or_other(table: RouteTable) -> None:
    assert table.label("/predict") == "/predict"
    assert table.label("/livez") == "/livez"
    assert table.label("/wp-admin.php") == OTHER
    assert table.label("/static-offline-docs/swagger-ui.css") == OTHER


def test_a_declared_router_is_served_and_its_access_levels_known_once_included() -> None:
    app, table = FastAPI(), RouteTable()
    router = DeclaredRouter()
    router.get("/x", Access.PUBLIC, summary="read x")(lambda: None)
    router.post("/x", Access.ADMIN, summary="write x")(lambda: None)
    router.declare_prefix("/files/", Access.METRICS)
    router.limit_body("/x", 10)
    assert table.declared("GET", "/x") is None and not [route for route in app.routes if route.path == "/x"]
    table.include(app, router)
    assert table.body_limit("/x", 5) == 10 and table.body_limit("/y", 5) == 5
    assert (table.declared("GET", "/x"), table.declared("POST", "/x"), table.declared("PUT", "/x")) == (
        Access.PUBLIC,
        Access.ADMIN,
        None,
    )
    assert table.access("DELETE", "/x") is Access.PUBLIC  # the least restricted of the path's routes
    assert table.access("GET", "/files/a") is Access.METRICS and table.access("GET", "/filesx") is Access.PREDICT
    assert {(route.path, tuple(route.methods), route.summary) for route in app.routes if route.path == "/x"} == {
        ("/x", ("GET",), "read x"),
        ("/x", ("POST",), "write x"),
    }


def test_known_paths_are_routes_and_declared_prefixes(table: RouteTable) -> None:
    assert table.known("/predict") and table.known("/livez") and table.known("/schema.json")
    assert table.known("/static-offline-docs/swagger-ui.css")
    assert not table.known("/wp-admin.php") and not table.known("/predict/")


def test_paths_with_parameters_match_one_segment_per_parameter() -> None:
    table = RouteTable()
    table.declare("GET", "/models/{version}/report/{file}", Access.METRICS)
    table.declare("POST", "/models/{version}/promote", Access.ADMIN)
    assert table.access("GET", "/models/v1/report/roc.png") is Access.METRICS
    assert table.access("POST", "/models/v1/promote") is Access.ADMIN
    assert table.access("POST", "/models/v1/report/roc.png") is Access.METRICS  # 405, after the key check
    assert table.known("/models/v1/report/roc.png") and table.known("/models/v1/promote")
    assert not table.known("/models/v1/report/../model.yaml") and not table.known("/models/v1/report/")
    assert table.access("POST", "/models/a/b/promote") is Access.PREDICT  # no route: a key, then 404
    assert table.declared("POST", "/models/{version}/promote") is Access.ADMIN
