"""Bounds on what a client can hold in a worker before any route runs: uvicorn's httptools protocol
has no limit on header size and no deadline for receiving headers, and BentoML exposes no per-worker
connection limit. This protocol adds the three, and answers uvicorn's own malformed-request 400 in
the spec's JSON shape. It replaces uvicorn's automatic choice (`http="auto"`), which BentoML's workers
use, when the service module is imported (checked against uvicorn 0.54.0)."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

import uvicorn.protocols.http.auto
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ...settings import Settings


def error_response(status: int, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class HeadersTooLarge(Exception):
    """Raised in a parser callback: httptools stops, and uvicorn answers through send_400_response."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 16 * 1024
    header_timeout_s = 10.0
    max_connections = 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0  # received since the current request began, while its headers are incomplete
        self._in_headers = True
        self._parsed_bytes = 0  # request line and complete header lines of the current request
        self._refusal: tuple[int, str] | None = None
        self._header_deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            self._close_with(503, "Too many connections to this worker: retry shortly")
            return
        self._await_headers()

    def _await_headers(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        self._header_deadline = asyncio.get_running_loop().call_later(self.header_timeout_s, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        self._close_with(408, f"Request headers not received within {self.header_timeout_s:g} seconds")

    def _close_with(self, status: int, detail: str) -> None:
        if not self.transport.is_closing():
            self.transport.write(error_response(status, detail))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # The parser keeps an unfinished header line whole: count what arrives until the headers end.
        if self._in_headers and self._header_bytes > self.max_header_bytes:
            self._close_with(431, self._too_large())

    def _too_large(self) -> str:
        return f"Request line and headers larger than {self.max_header_bytes} bytes"

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_bytes = 0
        if not self._in_headers:  # the next request on a kept-alive connection
            self._in_headers = True
            self._header_bytes = 0
            self._await_headers()

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_bytes += len(name) + len(value)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._parsed_bytes > self.max_header_bytes:  # arrived whole, in one read
            self._refusal = (431, self._too_large())
            raise HeadersTooLarge
        self._in_headers = False
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._close_with(*(self._refusal or (400, "Invalid HTTP request")))


def install(settings: Settings) -> None:
    """Make BentoML's workers (uvicorn, `http="auto"`) use the bounded protocol."""
    BoundedHttpToolsProtocol.max_header_bytes = settings.max_header_bytes
    BoundedHttpToolsProtocol.header_timeout_s = settings.header_timeout_s
    BoundedHttpToolsProtocol.max_connections = settings.max_connections_per_worker
    uvicorn.protocols.http.auto.AutoHTTPProtocol = BoundedHttpToolsProtocol
