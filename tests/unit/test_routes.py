"""The route table: every route declares its access level, and the edge and the metrics read it there."""

from __future__ import annotations

import pytest

from purchase.serving.http import ROUTE_TABLE, app
from purchase.serving.routes import OTHER, RouteTable
from purchase.serving.security import Access


@pytest.fixture(scope="module")
def table() -> RouteTable:
    import service  # noqa: F401  (declares the service's routes)

    return ROUTE_TABLE


def test_every_documented_route_declares_its_access_level(table: RouteTable) -> None:
    operations = [(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops]
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
