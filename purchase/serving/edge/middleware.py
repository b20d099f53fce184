"""The HTTP edge, in front of every route (BentoML's own included): request ids, body size limit,
API keys, rate limits, one JSON access-log line per request, and responses counted by status.

Plain ASGI rather than a framework middleware: it sits on the hot path of every request.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

from ...settings import Settings
from .. import metrics
from ..redis_client import connect
from .error_bodies import JsonErrors, error_key
from .fleet_rate_limit import FleetRateLimiter
from .route_table import RouteTable
from .security import Access, Caller, KeyRing, RateLimiter, authorize, digest, identify, parse_rate, presented_key

access_log = logging.getLogger("purchase.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
CROSS_ORIGIN_ADMIN = (
    "Cross-origin requests to admin routes are refused: set ADMIN_API_KEYS and list the origin in CORS_ORIGINS"
)
RECORD = "purchase.access"  # the scope key of the request's access-log record, which routes may add to
KEY_RINGS = "purchase.key_rings"  # the scope key of the edge's (API, admin) key rings, for caller_of


def note_model_version(scope: MutableMapping[str, Any], version: str) -> None:
    """Name the version that answered, for the access log."""
    record = scope.get(RECORD)
    if record is not None:
        record["model_version"] = version


def caller_of(scope: MutableMapping[str, Any]) -> Caller:
    """Who sent a request the edge let through; computed only by the routes that ask (batch jobs)."""
    rings = scope.get(KEY_RINGS)
    if rings is None:  # not behind the edge: a tenant of its own, seeing nothing of others
        return Caller("", sees_all=False)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return identify(presented_key(headers), *rings)


class BodyTooLarge(Exception):
    pass


class Edge:
    def __init__(self, app: Any, settings: Settings, routes: RouteTable) -> None:
        self.app = app
        self.settings = settings
        self.routes = routes
        self.api_keys = KeyRing(settings.api_keys, settings.api_keys_file)
        self.admin_keys = KeyRing(settings.admin_api_keys, settings.admin_api_keys_file)
        self.limiter: RateLimiter | FleetRateLimiter | None = None
        if settings.rate_limit:
            capacity, per_second = parse_rate(settings.rate_limit)
            # Each worker limits on its own; splitting the rate keeps the server's total near RATE_LIMIT.
            # A burst of at least one request, or a low limit over many workers would refuse everything.
            self.limiter = RateLimiter(max(1.0, capacity / settings.api_workers), per_second / settings.api_workers)
            client = connect(settings)
            if client is not None:  # the fleet's bucket; this worker's share of it while Redis fails
                self.limiter = FleetRateLimiter(client, capacity, per_second, fallback=self.limiter)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given_id = headers.get("x-request-id", "")
        request_id = given_id if REQUEST_ID.match(given_id) else uuid.uuid4().hex
        method, path = scope["method"], scope["path"]
        client = scope.get("client")
        client_host = client[0] if client else None
        outcome: dict[str, Any] = {"status": 500, "model_version": None}
        scope[RECORD] = outcome
        scope[KEY_RINGS] = self.api_keys, self.admin_keys

        json_errors = JsonErrors(send, error_key(path))

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await json_errors(message)

        if method == "HEAD":  # answered as GET; the server sends the headers only
            scope = {**scope, "method": "GET"}
        try:
            refusal = await self._refusal(method, path, headers, client_host)
            if refusal is None and not self.routes.known(path):
                refusal = 404, "Not Found", {}
            if refusal is not None:
                await _respond(send_with_id, *refusal)
            elif "content-length" in headers:  # checked in _refusal; the server reads no more than it says
                await self.app(scope, receive, send_with_id)
            else:
                await self._call_limited(scope, receive, send_with_id)
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            metrics.record_response(self.routes.label(path), outcome["status"])
            access_log.info(
                "%s %s %s",
                method,
                path,
                outcome["status"],
                extra={
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": outcome["status"],
                    "latency_ms": round(latency_ms, 3),
                    "model_version": outcome["model_version"],
                    "client": client_host,
                },
            )

    async def _refusal(
        self, method: str, path: str, headers: dict[str, str], client_host: str | None
    ) -> tuple[int, str, dict[str, str]] | None:
        access = self.routes.access(method, path)
        if method == "OPTIONS":  # a CORS preflight: judged by the request it announces
            announced = self.routes.access(headers.get("access-control-request-method", "").upper(), path)
        else:
            announced = access
        origin = headers.get("origin")
        if announced is Access.ADMIN and origin is not None and not self._trusted_origin(origin, headers):
            return 403, CROSS_ORIGIN_ADMIN, {}
        key = presented_key(headers)
        denied = authorize(access, key, client_host, self.api_keys, self.admin_keys, self.settings.metrics_require_key)
        if self.limiter is not None and access is not Access.PUBLIC:  # the model page and /metrics too
            # A bucket per accepted key; everything else (no key, a wrong or made-up one) counts against
            # the client's address, so neither fresh random keys nor key guessing escapes the limit.
            keys_on = self.api_keys.enabled or self.admin_keys.enabled
            accepted = key is not None and denied is None and keys_on
            wait = await self.limiter.acquire(
                digest(key).hex() if key is not None and accepted else f"client:{client_host}"
            )
            if wait > 0:
                return 429, "Rate limit exceeded: retry later", {"Retry-After": str(max(1, round(wait + 0.5)))}
        if denied is not None:
            return denied.status, denied.detail, denied.headers
        length = headers.get("content-length")
        limit = self.routes.body_limit(path, self.settings.max_body_bytes)
        if length is not None and (not length.isdigit() or int(length) > limit):
            return 413, f"Request body larger than {limit} bytes", {}
        if self.routes.takes_only_json(path) and not _is_json(headers.get("content-type", "")):
            return 415, "Content-Type: this route takes application/json only", {}
        return None

    def _trusted_origin(self, origin: str, headers: dict[str, str]) -> bool:
        """A page may call admin routes from its own origin, or from one listed in CORS_ORIGINS (never "*")
        when admin keys are set: otherwise any page a user opens could act from the user's loopback address."""
        if origin in (f"http://{headers.get('host', '')}", f"https://{headers.get('host', '')}"):
            return True
        return self.admin_keys.enabled and origin in self.settings.cors_origins

    async def _call_limited(self, scope: dict, receive: Any, send: Any) -> None:
        """Limit bodies sent without a Content-Length (chunked), as they arrive. The app may turn the
        aborted read into an answer of its own (FastAPI says 400); a 413 goes out in its place."""
        limit = self.routes.body_limit(scope["path"], self.settings.max_body_bytes)
        state = {"received": 0, "exceeded": False, "answered": False}
        too_large: tuple[int, str, dict[str, str]] = (413, f"Request body larger than {limit} bytes", {})

        async def counting_receive() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: dict) -> None:
            if not state["exceeded"]:
                await send(message)
            elif message["type"] == "http.response.start" and not state["answered"]:
                state["answered"] = True
                await _respond(send, *too_large)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if state["exceeded"] and not state["answered"]:
            await _respond(send, *too_large)


def _is_json(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


async def _respond(send: Any, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
