"""The route table: each route's access level, declared next to the route itself. The edge reads it
to authorize a request and the metrics to label it; a path nobody declared needs an API key (when
keys are set) and shares the metrics label "other", so scanners cannot grow the label set."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from .security import Access

OTHER = "other"
LEAST_RESTRICTED_FIRST = [Access.PUBLIC, Access.METRICS, Access.PREDICT, Access.ADMIN]


class RouteTable:
    def __init__(self) -> None:
        self._access: dict[tuple[str, str], Access] = {}
        self._by_path: dict[str, Access] = {}  # for other methods on a known path, which get a 405
        self._prefixes: dict[str, Access] = {}
        # Paths with parameters (`/models/{version}/report`): a request path matches one segment per parameter.
        self._templates: dict[str, re.Pattern[str]] = {}
        self._body_limits: dict[str, int] = {}  # routes that take more than MAX_BODY_BYTES (job uploads)
        self._json_only: set[str] = set()  # routes whose body is parsed by BentoML, which fails on others

    def declare(self, method: str, path: str, access: Access) -> None:
        self._access[(method.upper(), path)] = access
        known = self._by_path.get(path)
        self._by_path[path] = access if known is None else min(known, access, key=LEAST_RESTRICTED_FIRST.index)
        if "{" in path:
            self._templates[path] = re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + r"\Z")

    def declare_prefix(self, prefix: str, access: Access) -> None:
        """Every path under `prefix` (static files of the docs pages)."""
        self._prefixes[prefix] = access

    def include(self, app: FastAPI, declared: DeclaredRouter) -> None:
        """`declared`'s routes served by `app`, each with its access level in this table."""
        for route in declared.routes:
            app.add_api_route(route.path, route.endpoint, methods=[route.method], **route.options)
            self.declare(route.method, route.path, route.access)
        for prefix, access in declared.prefixes.items():
            self.declare_prefix(prefix, access)
        self._body_limits.update(declared.body_limits)

    def body_limit(self, path: str, default: int) -> int:
        return self._body_limits.get(path, default)

    def take_only_json(self, path: str) -> None:
        self._json_only.add(path)

    def takes_only_json(self, path: str) -> bool:
        return path in self._json_only

    def declared(self, method: str, path: str) -> Access | None:
        return self._access.get((method.upper(), path))

    def access(self, method: str, path: str) -> Access:
        if method == "OPTIONS":  # CORS preflight: answered by the CORS layer, never a route
            return Access.PUBLIC
        template = self._template(path)
        found = self._access.get((method, template)) or self._by_path.get(template)
        if found is not None:
            return found
        for prefix, access in self._prefixes.items():
            if path.startswith(prefix):
                return access
        return Access.PREDICT

    def _template(self, path: str) -> str:
        """The declared path `path` matches: itself, or a template with parameters."""
        if path in self._by_path:
            return path
        return next((template for template, pattern in self._templates.items() if pattern.match(path)), path)

    def known(self, path: str) -> bool:
        """Whether any route (or declared prefix) serves `path`; the edge answers 404 for the others."""
        return self._template(path) in self._by_path or path.startswith(tuple(self._prefixes))

    def label(self, path: str) -> str:
        """The metrics label of a request: its route's path, else "other"."""
        return path if path in self._by_path else OTHER


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    access: Access
    endpoint: Callable[..., Any]
    options: dict[str, Any]  # FastAPI's: response_model, responses, ...


class DeclaredRouter:
    """A router whose routes each declare their access level (`@router.post("/x", Access.ADMIN)`);
    `RouteTable.include(app, router)` serves them and learns their levels in one step, so a route is
    known to the edge exactly when the app serves it. The routes are added to the app itself, not as an
    included APIRouter: they match as fast as the app's own and see its dependency overrides."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.prefixes: dict[str, Access] = {}
        self.body_limits: dict[str, int] = {}
        self.body_schemas: dict[str, type[BaseModel]] = {}

    def _route(self, method: str, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        def declare(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.routes.append(Route(method, path, access, endpoint, kwargs))
            return endpoint

        return declare

    def get(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        return self._route("GET", path, access, **kwargs)

    def post(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        return self._route("POST", path, access, **kwargs)

    def delete(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        return self._route("DELETE", path, access, **kwargs)

    def declare_prefix(self, prefix: str, access: Access) -> None:
        """Every path under `prefix` that a route of this router serves (`/v2/models/m/versions/...`)."""
        self.prefixes[prefix] = access

    def limit_body(self, path: str, max_bytes: int) -> None:
        """A route that takes more than MAX_BODY_BYTES (job uploads)."""
        self.body_limits[path] = max_bytes

    def document_body(self, name: str, model: type[BaseModel]) -> None:
        """A body a route reads itself, documented as "#/components/schemas/<name>"."""
        self.body_schemas[name] = model
