"""Every error answer in the spec's shape, `{"detail": "..."}`, whichever layer produced it: BentoML's
timeout (`{"error": ...}`, 504) and concurrency limit, Starlette's plain-text 404 and 405. Answers under
400 pass untouched; error answers are small, so holding one until its body is complete costs little."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

Send = Callable[[dict[str, Any]], Awaitable[None]]


def as_detail(status: int, body: bytes) -> bytes | None:
    """The body to send instead, or None when it is already `{"detail": ...}`."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "detail" in parsed:
        return None
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        detail = parsed["error"]
    else:
        try:
            detail = HTTPStatus(status).phrase
        except ValueError:
            detail = "Error"
    return json.dumps({"detail": detail}).encode()


class JsonErrors:
    """An ASGI `send` that rewrites error bodies not in the `{"detail": ...}` shape."""

    def __init__(self, send: Send) -> None:
        self._send = send
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
        replaced = as_detail(start["status"], body)
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
