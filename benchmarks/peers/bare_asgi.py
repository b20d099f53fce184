"""The ceiling for a Python server: a bare ASGI app (uvicorn with httptools and uvloop, orjson) doing
peer_model's work for POST /predict, nothing else. Run by benchmarks/peers.py as
`uvicorn bare_asgi:app --app-dir benchmarks/peers --workers 2`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from peer_model import BadRequest, PeerModel

MODEL = PeerModel()
JSON = [(b"content-type", b"application/json")]


Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    status, body = 404, b'{"detail":"not found"}'
    if scope["path"] == "/predict" and scope["method"] == "POST":
        try:
            status, body = 200, MODEL.answer_json(b"".join(chunks))
        except BadRequest as exc:
            status, body = 422, b'{"detail":"%s"}' % str(exc).encode()
    elif scope["path"] == "/readyz":
        status, body = 200, b"{}"
    await send({"type": "http.response.start", "status": status, "headers": JSON})
    await send({"type": "http.response.body", "body": body})
