"""Defects found by attacking a running server, each with the behaviour that replaced it."""

from __future__ import annotations

import json
import re
import socket
import time
import uuid

import requests

from devtools.server import ServerProcess
from purchase.examples import SPEC_CURL
from purchase.serving.edge.middleware import CROSS_ORIGIN_ADMIN
from tests.helpers import ADMIN_KEY, KEYS, Trained, from_address


def raw(server: ServerProcess, data: bytes, read_timeout_s: float = 10.0) -> bytes:
    """Send bytes as they are and read the answer until the server closes or stops sending."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout_s) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return int(head.split()[1]), json.loads(body)


def test_admin_routes_refuse_other_origins(server: ServerProcess, v1: Trained) -> None:
    """No admin key set: a page on any origin could otherwise swap the model from the user's loopback address."""
    for origin in ("http://evil.example", "http://shop.example", "null"):
        for path, body in (("/load-model", {"model_tag": str(v1.model.tag)}), ("/traffic", {})):
            answer = requests.post(server.url + path, json=body, headers={"Origin": origin}, timeout=30)
            assert (answer.status_code, answer.json()["detail"]) == (403, CROSS_ORIGIN_ADMIN), (origin, path)
            preflight = requests.options(
                server.url + path,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
                timeout=10,
            )
            assert preflight.status_code == 403
    # Prediction routes still take any listed origin; the service's own origin may call admin routes.
    assert requests.post(
        server.url + "/predict", json=SPEC_CURL, headers={"Origin": "http://shop.example"}, timeout=10
    ).ok
    own = requests.post(server.url + "/traffic", json={}, headers={"Origin": server.url}, timeout=30)
    assert own.status_code == 200, own.text


def test_a_listed_origin_may_call_admin_routes_with_the_admin_key(secured_server: ServerProcess, v1: Trained) -> None:
    body = {"model_tag": str(v1.model.tag)}
    listed = {"Origin": "http://admin.example", "X-API-Key": ADMIN_KEY}
    assert requests.post(secured_server.url + "/load-model", json=body, headers=listed, timeout=60).status_code == 200
    other = {"Origin": "http://evil.example", "X-API-Key": ADMIN_KEY}
    assert requests.post(secured_server.url + "/load-model", json=body, headers=other, timeout=60).status_code == 403


def test_unknown_paths_are_json_404s_and_create_no_metric_series(secured_server: ServerProcess) -> None:
    key = {"X-API-Key": KEYS["other"]}
    paths = [f"/scan-{uuid.uuid4().hex}" for _ in range(15)]
    for path in paths:
        answer = requests.get(secured_server.url + path, headers=key, timeout=10)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})
    metrics = requests.get(secured_server.url + "/metrics", headers=key, timeout=10).text
    assert not any(path in metrics for path in paths)
    assert 'path="other"' in metrics


def test_every_error_is_json_detail_with_its_status(server: ServerProcess) -> None:
    assert requests.head(server.url + "/health", timeout=10).status_code == 200
    head = requests.head(server.url + "/model-info", timeout=10)
    assert head.status_code == 200 and head.content == b""
    wrong_method = requests.delete(server.url + "/livez", timeout=10)  # a BentoML route: plain text there
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"detail": "Method Not Allowed"})
    status, body = status_and_body(raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"))
    assert (status, body) == (400, {"detail": "Invalid HTTP request"})


def test_duplicate_keys_in_an_item_are_refused(server: ServerProcess) -> None:
    row = json.dumps(SPEC_CURL["features"][0])[:-1] + ', "item_price": 1.0}'
    answer = requests.post(
        server.url + "/predict",
        data='{"features": [' + json.dumps(SPEC_CURL["features"][0]) + ", " + row + "]}",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()) == (400, {"detail": "features[1].item_price: duplicate key"})


def test_headers_are_bounded_in_size_and_time(limits_server: ServerProcess) -> None:
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    assert status_and_body(raw(limits_server, big)) == (
        431,
        {"detail": "Request line and headers larger than 8192 bytes"},
    )
    unfinished = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 50_000  # never ends
    assert status_and_body(raw(limits_server, unfinished))[0] == 431
    slow = raw(limits_server, b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the headers never end
    assert status_and_body(slow)[0] == 408  # only HEADER_TIMEOUT_S answers 408: no time bound needed


def test_connections_per_worker_are_bounded(limits_server: ServerProcess) -> None:
    held = [socket.create_connection(("127.0.0.1", limits_server.port), timeout=5) for _ in range(20)]
    try:
        extra = raw(limits_server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_and_body(extra)[0] == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.5)
    assert requests.get(limits_server.url + "/health", timeout=10).status_code == 200


def test_bentoml_timeout_is_a_json_504_and_logged_as_sent(limits_server: ServerProcess) -> None:
    body = json.dumps(SPEC_CURL).encode()
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    answer = raw(limits_server, head.encode() + body[:10], read_timeout_s=4)  # the rest never comes
    status, detail = status_and_body(answer)
    assert status == 504 and "1 seconds" in str(detail["detail"])
    time.sleep(0.5)
    lines = [
        json.loads(line)
        for line in limits_server.log().splitlines()
        if line.startswith("{") and '"purchase.access"' in line
    ]
    assert any(line["path"] == "/predict" and line["status"] == 504 for line in lines)


def test_forwarded_for_from_loopback_does_not_escape_the_rate_limit(limits_server: ServerProcess) -> None:
    with from_address("127.0.0.4") as session:  # its own client bucket: 5 requests a minute
        statuses = [
            session.get(
                limits_server.url + "/model-info", headers={"X-Forwarded-For": f"10.9.{i // 250}.{i % 250}"}, timeout=10
            ).status_code
            for i in range(30)
        ]
    assert statuses.count(429) >= 20 and set(statuses) <= {200, 429}
    lines = limits_server.log().splitlines()
    assert not any(re.search(r'"client": "10\.9\.', line) for line in lines)
