"""Faults against real servers: a killed worker, a corrupted archive, clients that vanish, a log file that
cannot be written, a full prediction queue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from devtools.server import ServerProcess
from purchase.examples import SPEC_CURL
from tests.helpers import Trained


def predict_versions(server: ServerProcess, n: int = 30) -> Counter[str]:
    def one(_: int) -> str:
        response = requests.post(server.url + "/predict", json=SPEC_CURL, timeout=30)
        return response.json()["model_version"] if response.status_code == 200 else f"status {response.status_code}"

    with ThreadPoolExecutor(6) as pool:
        return Counter(pool.map(one, range(n)))


def worker_pids(server: ServerProcess) -> list[int]:
    out = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(server.process.pid)], capture_output=True, text=True
    ).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "_bentoml_impl.worker.service" in line]


def test_a_killed_worker_comes_back_and_rejoins_the_fleet(
    fault_server: ServerProcess, v1: Trained, v2: Trained
) -> None:
    assert (
        requests.post(fault_server.url + "/load-model", json={"model_tag": str(v2.model.tag)}, timeout=60).json()[
            "workers_switched"
        ]
        == 2
    )
    victim, survivor = worker_pids(fault_server)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        pids = worker_pids(fault_server)
        if len(pids) == 2 and victim not in pids and predict_versions(fault_server, 20) == {v2.version: 20}:
            break  # the new worker serves the fleet's version (v2), not its start-up default (v1)
        assert time.monotonic() < deadline, f"workers {pids} did not recover within 30 s"
        time.sleep(0.5)
    assert survivor in pids
    requests.post(fault_server.url + "/load-model", json={"model_tag": str(v1.model.tag)}, timeout=60)


def test_an_archive_corrupted_on_disk_is_refused(
    fault_server: ServerProcess, v1: Trained, v2: Trained, model_dir: Path
) -> None:
    original = model_dir / f"{v2.model.tag.name}-{v2.version}.bentomodel"
    damaged = model_dir / "damaged.bentomodel"
    shutil.copy(original, damaged)
    with damaged.open("r+b") as handle:
        handle.truncate(original.stat().st_size // 2)
    response = requests.post(fault_server.url + "/load-model", json={"model_path": damaged.name}, timeout=60)
    assert response.status_code == 400 and "valid model archive" in response.json()["detail"]
    assert predict_versions(fault_server) == {v1.version: 30}


def test_clients_that_vanish_mid_request_do_not_break_the_next_ones(fault_server: ServerProcess, v1: Trained) -> None:
    row = {
        "user_id": "u",
        "item_id": "i",
        "item_price": 5,
        "item_base_price": 9,
        "item_discount_pct": 10,
        "item_category": "b",
    }
    big = json.dumps({"features": [row] * 1000}).encode()
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(big)}\r\n\r\n".encode()
    for sent in (head + big[: len(big) // 2], head + big):  # half a body; a whole one, answer never read
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", fault_server.port)) as conn:
                conn.sendall(sent)
    assert predict_versions(fault_server) == {v1.version: 30}
    assert requests.get(fault_server.url + "/health", timeout=10).json()["status"] == "healthy"


def test_a_log_file_that_cannot_be_written_does_not_stop_predictions(fault_server: ServerProcess, v1: Trained) -> None:
    assert fault_server.env["LOG_FILE"] == "/dev/full"  # every write fails with ENOSPC
    assert predict_versions(fault_server) == {v1.version: 30}


def test_a_full_queue_answers_503_with_retry_after_and_nothing_else_fails(overload_server: ServerProcess) -> None:
    """8 clients sending 1000 items each at a queue that holds 1000 rows: whoever finds it full gets
    503 and Retry-After, everyone else their answer; no 500, and the service serves on."""
    rows = [{**SPEC_CURL["features"][0], "user_id": f"user_{i:06d}"} for i in range(1000)]

    def one(_: int) -> requests.Response:
        return requests.post(overload_server.url + "/predict", json={"features": rows}, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, range(48)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) == {200, 503}, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
            assert response.json() == {"detail": "Service overloaded: the prediction queue is full, retry shortly"}
        else:
            assert len(response.json()["predictions"]) == 1000
    assert requests.post(overload_server.url + "/predict", json=SPEC_CURL, timeout=30).status_code == 200
