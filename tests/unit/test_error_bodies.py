"""Error answers of every layer in the spec's `{"detail": ...}` shape."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from purchase.serving.edge.error_bodies import JsonErrors, error_key, reshaped


def test_error_bodies_become_detail() -> None:
    assert reshaped(404, b"Not Found") == b'{"detail": "Not Found"}'
    assert (
        reshaped(504, b'{"error": "Not able to process the request in 30 seconds"}')
        == json.dumps({"detail": "Not able to process the request in 30 seconds"}).encode()
    )
    assert reshaped(400, b'{"detail": "features: bad"}') is None
    assert reshaped(405, b"") == b'{"detail": "Method Not Allowed"}'
    assert reshaped(599, b"[1]") == b'{"detail": "Error"}'


def test_bentoml_s_own_error_shapes_become_one_line() -> None:
    validation = {
        "error": "1 validation error for Input",
        "detail": [{"type": "greater_than", "loc": ["features", 0, "item_price"], "msg": "Input should be > 0"}],
    }
    assert json.loads(reshaped(400, json.dumps(validation).encode()) or b"") == {
        "detail": "features[0].item_price: Input should be > 0"
    }
    assert reshaped(404, b'[{"error": "no such version"}]') == b'{"detail": "no such version"}'


def test_the_inference_protocol_s_routes_answer_error() -> None:
    assert [error_key(p) for p in ("/v2", "/v2/models/m/infer", "/predict", "/v2x")] == [
        "error",
        "error",
        "detail",
        "detail",
    ]
    assert reshaped(400, b'{"detail": "bad input"}', "error") == b'{"error": "bad input"}'
    assert reshaped(400, b'{"error": "bad input"}', "error") is None


def run(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def replay() -> None:
        wrapped = JsonErrors(send)
        for message in messages:
            await wrapped(message)

    asyncio.run(replay())
    return sent


def test_only_error_answers_are_held_and_rewritten() -> None:
    ok = [{"type": "http.response.start", "status": 200, "headers": []}, {"type": "http.response.body", "body": b"x"}]
    assert run(ok) == ok
    start = {
        "type": "http.response.start",
        "status": 404,
        "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
    }
    sent = run(
        [
            start,
            {"type": "http.response.body", "body": b"Not ", "more_body": True},
            {"type": "http.response.body", "body": b"Found"},
        ]
    )
    assert sent[0]["status"] == 404
    assert sent[0]["headers"] == [(b"x-a", b"1"), (b"content-type", b"application/json"), (b"content-length", b"23")]
    assert sent[1] == {"type": "http.response.body", "body": b'{"detail": "Not Found"}'}
    kept = [
        {"type": "http.response.start", "status": 400, "headers": []},
        {"type": "http.response.body", "body": b'{"detail": "d"}'},
    ]
    assert run(kept) == kept


def test_a_chunked_error_body_is_read_whole_and_headers_replaced() -> None:
    """At exactly 400, a JSON body sent in pieces (and a piece without a body), its old length dropped."""

    def chunked(key: str) -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def replay() -> None:
            wrapped = JsonErrors(send, key)
            await wrapped({"type": "http.response.start", "status": 400, "headers": [(b"content-length", b"16")]})
            await wrapped({"type": "http.response.body", "body": b'{"error": ', "more_body": True})
            await wrapped({"type": "http.response.body", "more_body": True})
            await wrapped({"type": "http.response.body", "body": b'"gone"}'})

        asyncio.run(replay())
        return sent

    start, body = chunked("detail")
    assert body["body"] == b'{"detail": "gone"}' and (b"content-length", b"16") not in start["headers"]
    assert start["headers"] == [(b"content-type", b"application/json"), (b"content-length", b"18")]
    assert chunked("error")[1]["body"] == b'{"error": "gone"}'
    no_headers = run([{"type": "http.response.start", "status": 500}, {"type": "http.response.body", "body": b"x"}])
    assert no_headers[1]["body"] == b'{"detail": "Internal Server Error"}'
