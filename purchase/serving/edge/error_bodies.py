"""Every error answer in one shape whichever layer produced it: `{"detail": "..."}` (the spec's), or
`{"error": "..."}` under /v2 (the Open Inference Protocol's). Other layers answer BentoML's timeout
(`{"error": ...}`, 504), BentoML's validation errors (`{"error": ..., "detail": [pydantic errors]}`),
its own errors of a `@bentoml.api` (`[{"error": ...}]`), Starlette's plain-text 404 and 405. Answers
under 400 pass untouched; error answers are small, so holding one until its body is complete costs little."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from ...schemas import describe_validation_errors

Send = Callable[[dict[str, Any]], Awaitable[None]]
PROTOCOL_PREFIX = "/v2/"


def error_key(path: str) -> str:
    return "error" if path.startswith(PROTOCOL_PREFIX) or path == "/v2" else "detail"


def message_of(status: int, body: bytes) -> str:
    """The one line an error body says, whatever its shape."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    if isinstance(parsed, dict):
        if isinstance(parsed.get("detail"), list):  # BentoML's validation errors: name the fields
            return describe_validation_errors(parsed["detail"])
        for key in ("detail", "error"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def reshaped(status: int, body: bytes, key: str = "detail") -> bytes | None:
    """The body to send instead, or None when it is already `{key: "..."}` and nothing else."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and list(parsed) == [key] and isinstance(parsed[key], str):
        return None
    return json.dumps({key: message_of(status, body)}).encode()


class JsonErrors:
    """An ASGI `send` that rewrites error bodies not in the route's shape (`error_key`)."""

    def __init__(self, send: Send, key: str = "detail") -> None:
        self._send = send
        self._key = key
        self._start: dict[str, Any] | None = None
        self._body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self._start = message
            return
        if self._start is None or message["type"] != "http.response.body":
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if message.get("more_body", False):
            return
        start, body = self._start, self._body
        self._start, self._body = None, b""
        replaced = reshaped(start["status"], body, self._key)
        if replaced is not None:
            kept = [
                (k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-type", b"content-length")
            ]
            body = replaced
            start = {
                **start,
                "headers": [
                    *kept,
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})
