"""The route table: each route's access level, declared next to the route itself. The edge reads it
to authorize a request and the metrics to label it; a path nobody declared needs an API key (when
keys are set) and shares the metrics label "other", so scanners cannot grow the label set."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

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

    def declare(self, method: str, path: str, access: Access) -> None:
        self._access[(method.upper(), path)] = access
        known = self._by_path.get(path)
        self._by_path[path] = access if known is None else min(known, access, key=LEAST_RESTRICTED_FIRST.index)
        if "{" in path:
            self._templates[path] = re.compile(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(path)) + r"\Z")

    def declare_prefix(self, prefix: str, access: Access) -> None:
        """Every path under `prefix` (static files of the docs pages)."""
        self._prefixes[prefix] = access

    def limit_body(self, path: str, max_bytes: int) -> None:
        self._body_limits[path] = max_bytes

    def body_limit(self, path: str, default: int) -> int:
        return self._body_limits.get(path, default)

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


class DeclaredRoutes:
    """`app.get` / `app.post` that also declare the route's access level: `@routes.post("/x", Access.ADMIN)`."""

    def __init__(self, app: FastAPI, table: RouteTable) -> None:
        self.app = app
        self.table = table

    def get(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        self.table.declare("GET", path, access)
        return self.app.get(path, **kwargs)

    def post(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        self.table.declare("POST", path, access)
        return self.app.post(path, **kwargs)

    def delete(self, path: str, access: Access, **kwargs: Any) -> Callable[[Any], Any]:
        self.table.declare("DELETE", path, access)
        return self.app.delete(path, **kwargs)
